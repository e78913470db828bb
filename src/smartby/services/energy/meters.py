"""A heat meter's cumulative register turned into hourly and daily use (docs/renovation.md).

The register's readings (kWh, after the unitCode: `KWH`, or `MWH` x 1000) are taken pairwise; the
increase between two readings is the use of the time between them, spread evenly over it and so
shared among the hours it covers.

- A reading lower than the one before is never negative use. Where the register rolled over (the
  earlier reading at 90 % or more of the next power of ten, the later one below 10 % of it) the use is
  what the register counted up to the power of ten and on from zero. Any other drop is a reset or a
  meter swap: the use of that interval is unknown (`resets` counts them) and the register is
  followed on from the new reading.
- Two readings further apart than an hour leave a gap: its use is spread evenly over it and its
  hours are flagged `spread`, unless the gap is longer than `max_gap`; then its hours stay unknown
  (nothing is invented).
- An hour is known when intervals of known use cover all of it; a local day when all its hours are.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)
UNIT_FACTORS = {"KWH": 1.0, "MWH": 1000.0, "": 1.0}
"""kWh per unit of `totalConsumption` by its unitCode (UN/CEFACT; none: kWh)."""
ROLLOVER_HIGH = 0.9
ROLLOVER_LOW = 0.1

Reading = tuple[datetime, float]


@dataclass
class HourUse:
    kwh: float = 0.0
    covered: float = 0.0
    """Seconds of the hour intervals of known use cover."""
    spread: bool = False

    @property
    def known(self) -> bool:
        return self.covered >= HOUR.total_seconds() - 1e-6


@dataclass
class Use:
    """A register's use by UTC hour (the hour's start), with what was made of its readings."""

    hours: dict[datetime, HourUse] = field(default_factory=dict)
    resets: int = 0
    rollovers: int = 0
    spread_gaps: int = 0
    missing_gaps: int = 0


def rollover(before: float, after: float) -> float | None:
    """The use across a rollover of a register at `before` that reads `after` next, or None when
    the drop is not one."""
    if before <= 0 or after < 0:
        return None
    span = 10.0 ** math.ceil(math.log10(before + 1e-9))
    if span <= before:
        span *= 10
    if before >= ROLLOVER_HIGH * span and after < ROLLOVER_LOW * span:
        return span - before + after
    return None


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _share(use: Use, start: datetime, end: datetime, kwh: float, spread: bool) -> None:
    """Spread `kwh` evenly over [start, end) among the hours it covers."""
    seconds = (end - start).total_seconds()
    hour = _hour_of(start)
    while hour < end:
        overlap = (min(end, hour + HOUR) - max(start, hour)).total_seconds()
        if overlap > 0:
            slot = use.hours.setdefault(hour, HourUse())
            slot.kwh += kwh * overlap / seconds
            slot.covered += overlap
            slot.spread = slot.spread or spread
        hour += HOUR


def hourly(readings: Sequence[Reading], max_gap: timedelta) -> Use:
    """The hourly use of a register's readings (oldest first, kWh)."""
    use = Use()
    for (t0, v0), (t1, v1) in itertools.pairwise(readings):
        if t1 <= t0:
            continue
        kwh: float | None = v1 - v0
        if v1 < v0:
            kwh = rollover(v0, v1)
            if kwh is None:
                use.resets += 1
                continue
            use.rollovers += 1
        gap = t1 - t0
        if gap > max_gap:
            use.missing_gaps += 1
            continue
        spread = gap > HOUR
        if spread:
            use.spread_gaps += 1
        assert kwh is not None
        _share(use, t0, t1, kwh, spread)
    return use


@dataclass(frozen=True)
class DayUse:
    day: date
    kwh: float
    known: bool
    """Every hour of the local day known."""
    spread: bool
    """Some of it spread over a gap."""


def daily(use: Use, first: date, last: date, zone: str) -> list[DayUse]:
    """The use of each local day from `first` to `last` (inclusive)."""
    tz = ZoneInfo(zone)
    found: list[DayUse] = []
    day = first
    while day <= last:
        following = day + timedelta(days=1)
        hour = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        end = datetime(following.year, following.month, following.day, tzinfo=tz).astimezone(UTC)
        kwh, known, spread = 0.0, True, False
        while hour < end:
            slot = use.hours.get(hour)
            if slot is None or not slot.known:
                known = False
            if slot is not None:
                kwh += slot.kwh
                spread = spread or slot.spread
            hour += HOUR
        found.append(DayUse(day, kwh, known, spread))
        day = following
    return found


def combined(days: Sequence[Sequence[DayUse]]) -> list[DayUse]:
    """Several meters' days of one building summed (a day known when it is for every meter)."""
    if not days:
        return []
    return [
        DayUse(
            group[0].day,
            sum(d.kwh for d in group),
            all(d.known for d in group),
            any(d.spread for d in group),
        )
        for group in zip(*days, strict=True)
    ]
