"""A group's switching events: its program's steps on a date, at its place, as UTC moments.

`day_schedule` resolves the steps of the rule that matches a local date (fixed local times in the
time zone, astronomical events from `sun.py` plus their offsets), in time order; `level_at` is the
level the program sets at a moment: the last step at or before it, from that day or the days before
(a program's level holds until its next step, over midnight and over days no rule matches).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from smartby.services.lighting.program import Program, Step
from smartby.services.lighting.sun import sun_event

LOOK_BACK = 8
"""Days `level_at` looks back for the last step (a weekly program's last one is within a week)."""


@dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Switch:
    at: datetime
    level: float
    reason: str

    def as_json(self) -> dict[str, object]:
        return {
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "illuminanceLevel": self.level,
            "reason": self.reason,
        }


def step_time(step: Step, day: date, place: Place, zone: str) -> datetime | None:
    if step.event is None:
        assert step.at is not None
        local = datetime.combine(day, step.at, tzinfo=ZoneInfo(zone))
        return local.astimezone(UTC)
    moment = sun_event(step.event, day, place.latitude, place.longitude, zone)
    if moment is None:
        return None
    return moment.replace(microsecond=0) + timedelta(minutes=step.offset)


@lru_cache(maxsize=4096)
def day_schedule(program: Program, day: date, place: Place, zone: str) -> tuple[Switch, ...]:
    """The switching events of the local date `day`, in time order (none if no rule matches)."""
    rule = program.rule_for(day)
    if rule is None:
        return ()
    found = []
    for step in rule.steps:
        moment = step_time(step, day, place, zone)
        if moment is not None:
            found.append(Switch(moment, step.level, step.reason))
    return tuple(sorted(found, key=lambda switch: switch.at))


def local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()


def last_switch(program: Program, place: Place, zone: str, moment: datetime) -> Switch | None:
    """The program's last step at or before `moment` (None: none in the days looked back)."""
    today = local_date(moment, zone)
    found: list[Switch] = []
    for back in range(-1, LOOK_BACK):  # tomorrow's steps may fall before midnight (negative offsets)
        day = today - timedelta(days=back)
        found.extend(s for s in day_schedule(program, day, place, zone) if s.at <= moment)
        if found and back >= 1:
            break
    return max(found, key=lambda switch: switch.at) if found else None


def level_at(program: Program, place: Place, zone: str, moment: datetime) -> float:
    switch = last_switch(program, place, zone, moment)
    return 0.0 if switch is None else switch.level


def switches_between(
    program: Program, place: Place, zone: str, start: datetime, end: datetime
) -> list[Switch]:
    """The steps in (start, end], in time order."""
    found: list[Switch] = []
    day = local_date(start, zone) - timedelta(days=1)
    last = local_date(end, zone) + timedelta(days=1)
    while day <= last:
        found.extend(s for s in day_schedule(program, day, place, zone) if start < s.at <= end)
        day += timedelta(days=1)
    return sorted(found, key=lambda switch: switch.at)
