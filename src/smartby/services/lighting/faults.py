"""Faults of a street light, judged from its power readings against the level its program sets.

A reading's watts hold until the next reading; the program's level changes at its steps. At each
moment the pair (watts, level) is judged (`condition`):

- level 0 (scheduled off): `dayBurner` when drawing over 5 % of `powerRating`;
- level L > 0, expected W = powerRating x (f + (1 - f) x L):
  `lampFailure` under 10 % of expected; `dimmingFailure` when dimmed (the expected power is outside
  the tolerance of full power) but drawing within the tolerance of full power; `powerTooHigh` /
  `powerTooLow` outside the tolerance of the expected power otherwise.

A condition is a fault once it has lasted `persist` (15 minutes), so a light's reaction time to a
step is none. `communicationLoss`: no reading for three reporting intervals; the readings held then
stop counting. Everything is judged by `observedAt` and the program's level at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

LAMP_FAILURE = "lampFailure"
DAY_BURNER = "dayBurner"
DIMMING_FAILURE = "dimmingFailure"
POWER_TOO_HIGH = "powerTooHigh"
POWER_TOO_LOW = "powerTooLow"
COMMUNICATION_LOSS = "communicationLoss"
CITIZEN_REPORTED = "citizenReported"
"""A light a citizen reported out (the reports service opens the Alert; lighting closes it when a
power reading after the report shows the light working while lit)."""
POWER_FAULTS = (LAMP_FAILURE, DAY_BURNER, DIMMING_FAILURE, POWER_TOO_HIGH, POWER_TOO_LOW)
FAULTS = (*POWER_FAULTS, COMMUNICATION_LOSS)
SEVERITY = {
    LAMP_FAILURE: "medium",
    DAY_BURNER: "low",
    DIMMING_FAILURE: "low",
    POWER_TOO_HIGH: "medium",
    POWER_TOO_LOW: "low",
    COMMUNICATION_LOSS: "medium",
}
LAMP_FAILURE_SHARE = 0.10
"""lampFailure: drawing under this share of the expected power."""
DAY_BURNER_SHARE = 0.05
"""dayBurner: drawing over this share of powerRating while scheduled off."""
PERSIST = timedelta(minutes=15)
MISSED_INTERVALS = 3


@dataclass(frozen=True)
class Limits:
    floor: float = 0.1
    """f: the share of powerRating a lit driver draws at level 0."""
    tolerance: float = 0.2
    interval: timedelta = timedelta(minutes=15)
    """How often a light reports its power."""
    persist: timedelta = PERSIST


def expected_watts(rating: float, level: float, floor: float) -> float:
    return rating * (floor + (1 - floor) * level) if level > 0 else 0.0


def condition(watts: float, rating: float, level: float, limits: Limits) -> str | None:
    """The fault a light drawing `watts` at `level` shows at one moment, if any."""
    if level <= 0:
        return DAY_BURNER if watts > DAY_BURNER_SHARE * rating else None
    expected = expected_watts(rating, level, limits.floor)
    tolerance = limits.tolerance
    if watts < LAMP_FAILURE_SHARE * expected:
        return LAMP_FAILURE
    dimmed = abs(expected - rating) > tolerance * rating
    if dimmed and abs(watts - rating) <= tolerance * rating:
        return DIMMING_FAILURE
    if watts > expected * (1 + tolerance):
        return POWER_TOO_HIGH
    if watts < expected * (1 - tolerance):
        return POWER_TOO_LOW
    return None


@dataclass(frozen=True)
class Episode:
    """A stretch of time a light showed one condition (None: normal); `end` None: still at `until`."""

    fault: str | None
    start: datetime
    end: datetime | None


Reading = tuple[datetime, float]


def episodes(
    readings: Sequence[Reading],
    rating: float,
    level_at: Callable[[datetime], float],
    switches: Sequence[datetime],
    until: datetime,
    limits: Limits,
) -> list[Episode]:
    """The light's conditions from its first reading up to `until`, in time order: the readings (sorted
    by observedAt) held until the next, judged at each reading and each program step (`switches`);
    from three reporting intervals after a reading with no other, a communicationLoss."""
    if not readings:
        return []
    silence = limits.interval * MISSED_INTERVALS
    moments: list[tuple[datetime, float | None]] = []
    for number, (at, watts) in enumerate(readings):
        if at > until:
            break
        moments.append((at, watts))
        following = readings[number + 1][0] if number + 1 < len(readings) else None
        lost = at + silence
        if lost <= until and (following is None or following > lost):
            moments.append((lost, None))
    if not moments:
        return []
    held: float | None = None
    marks: list[tuple[datetime, str | None]] = []
    steps = sorted(s for s in switches if moments[0][0] < s <= until)
    timeline = sorted(
        [(at, 0, watts) for at, watts in moments] + [(s, 1, None) for s in steps], key=lambda m: m[:2]
    )
    lost_now = False
    for at, kind, reading in timeline:
        if kind == 0:
            if reading is None:
                lost_now = True
            else:
                held, lost_now = reading, False
        if held is None:
            continue
        fault = COMMUNICATION_LOSS if lost_now else condition(held, rating, level_at(at), limits)
        marks.append((at, fault))
    found: list[Episode] = []
    for at, fault in marks:
        if found and found[-1].fault == fault:
            continue
        if found:
            found[-1] = Episode(found[-1].fault, found[-1].start, at)
        found.append(Episode(fault, at, None))
    return found


def seen_working(
    readings: Sequence[Reading],
    rating: float,
    level_at: Callable[[datetime], float],
    since: datetime,
    limits: Limits,
    factor: float = 1.0,
) -> datetime | None:
    """When a reading observed after `since` first shows the light working: lit (its program's level
    above 0) and drawing within the tolerance of the power expected at that level (or, under adaptive
    lighting, at the level `factor` of it). None: no reading shows it yet."""
    for at, watts in readings:
        level = level_at(at) if at > since else 0.0
        if level <= 0:
            continue
        if condition(watts, rating, level, limits) is None:
            return at
        if factor < 1.0 and condition(watts, rating, level * factor, limits) is None:
            return at
    return None


@dataclass(frozen=True)
class Verdict:
    """What the readings say of one fault as of a moment: on since `since` (it lasted long enough),
    or over since `ended`; both None while it has begun but not lasted yet, or nothing was read."""

    fault: str
    since: datetime | None = None
    ended: datetime | None = None


def verdicts(found: Sequence[Episode], until: datetime, limits: Limits) -> dict[str, Verdict]:
    """Per fault, as of `until`: on (and since when), or over (and since when)."""
    result: dict[str, Verdict] = {}
    current = found[-1] if found else None
    for fault in FAULTS:
        if current is None:
            result[fault] = Verdict(fault)
        elif current.fault == fault:
            lasting = fault == COMMUNICATION_LOSS or until - current.start >= limits.persist
            result[fault] = Verdict(fault, since=current.start if lasting else None)
        else:
            ends = [e.end for e in found if e.fault == fault and e.end is not None]
            result[fault] = Verdict(fault, ended=ends[-1] if ends else found[0].start)
    return result
