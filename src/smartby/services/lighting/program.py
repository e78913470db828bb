"""Lighting programs: ordered calendar rules, each with the steps it switches by (docs/lighting.md).

A program's `calendarRules` is a list of rules, first match wins (TALQ's calendar idea):

    {"name": "winter weekends", "from": "--11-01", "to": "--03-31", "weekdays": ["Sa", "Su"],
     "dates": ["2026-12-24"], "steps": [{"event": "sunset", "offset": 0, "level": 1.0},
                                        {"time": "23:30", "level": 0.5},
                                        {"event": "sunrise", "offset": -10, "level": 0}]}

A rule's `from`, `to`, `weekdays` and `dates` are its calendar (`calendar.py`): when it applies; a
rule with none applies every day. Each step is a fixed local `time` (HH:MM) or an
astronomical `event` (sunset, sunrise, civilDusk, civilDawn) with an `offset` in minutes, and a
`level` from 0 to 1. `parse_program` turns the JSON into these types or raises `ProgramError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time
from functools import cached_property
from typing import Any

from smartby.services.lighting.calendar import Calendar, CalendarError, parse_calendar

EVENTS = ("sunset", "sunrise", "civilDusk", "civilDawn")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
MAX_RULES = 100
MAX_STEPS = 48


class ProgramError(ValueError):
    """A program that cannot be read: what is wrong, and where."""


@dataclass(frozen=True)
class Step:
    level: float
    at: time | None = None
    """A fixed local time, or None for an astronomical event."""
    event: str | None = None
    offset: int = 0
    """Minutes after the event (negative: before)."""

    @property
    def reason(self) -> str:
        if self.event is None:
            assert self.at is not None
            return self.at.strftime("%H:%M")
        return f"{self.event}{self.offset:+d}"

    def as_json(self) -> dict[str, Any]:
        if self.event is None:
            return {"time": self.reason, "level": self.level}
        return {"event": self.event, "offset": self.offset, "level": self.level}


@dataclass(frozen=True)
class Rule:
    steps: tuple[Step, ...]
    calendar: Calendar = field(default_factory=Calendar)
    name: str = ""

    def matches(self, when: date) -> bool:
        return self.calendar.matches(when)

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name} if self.name else {}
        found.update(self.calendar.as_json())
        found["steps"] = [step.as_json() for step in self.steps]
        return found


@dataclass(frozen=True)
class Program:
    id: str
    rules: tuple[Rule, ...]
    name: str = ""

    @cached_property
    def _hash(self) -> int:
        return hash((self.id, self.rules, self.name))

    def __hash__(self) -> int:
        """Hashed once: schedules are cached by program."""
        return self._hash

    def rule_for(self, on: date) -> Rule | None:
        """The first rule that matches the date (None: no rule, the level stays as it was)."""
        return next((rule for rule in self.rules if rule.matches(on)), None)


DEFAULT_PROGRAM_ID = "urn:ngsi-ld:LightingProgram:dusk-to-dawn"
DUSK_TO_DAWN = Program(
    DEFAULT_PROGRAM_ID,
    (Rule((Step(0.0, event="sunrise"), Step(1.0, event="sunset")), name="every day"),),
    name="Dusk to dawn",
)


def _level(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ProgramError(f"{where}: level must be a number from 0 to 1")
    return float(value)


def parse_step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict):
        raise ProgramError(f"{where}: a step is an object")
    unknown = set(raw) - {"time", "event", "offset", "level"}
    if unknown:
        raise ProgramError(f"{where}: unknown member {sorted(unknown)[0]!r}")
    level = _level(raw.get("level"), where)
    if ("time" in raw) == ("event" in raw):
        raise ProgramError(f"{where}: a step has either a time or an event")
    if "time" in raw:
        if "offset" in raw:
            raise ProgramError(f"{where}: an offset goes with an event, not a time")
        clock = _CLOCK.fullmatch(raw["time"]) if isinstance(raw["time"], str) else None
        if clock is None:
            raise ProgramError(f"{where}: time is a local HH:MM")
        return Step(level, at=time(int(clock.group(1)), int(clock.group(2))))
    if raw["event"] not in EVENTS:
        raise ProgramError(f"{where}: event must be one of {', '.join(EVENTS)}")
    offset = raw.get("offset", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or not -720 <= offset <= 720:
        raise ProgramError(f"{where}: offset is whole minutes from -720 to 720")
    return Step(level, event=raw["event"], offset=offset)


def parse_rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise ProgramError(f"{where}: a rule is an object")
    unknown = set(raw) - {"name", "from", "to", "weekdays", "dates", "steps"}
    if unknown:
        raise ProgramError(f"{where}: unknown member {sorted(unknown)[0]!r}")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise ProgramError(f"{where}: name is a string")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise ProgramError(f"{where}: steps is a list of 1 to {MAX_STEPS} steps")
    try:
        calendar = parse_calendar(raw, where)
    except CalendarError as error:
        raise ProgramError(str(error)) from None
    return Rule(
        tuple(parse_step(step, f"{where}.steps[{number}]") for number, step in enumerate(steps)),
        calendar,
        name,
    )


def parse_rules(raw: Any) -> tuple[Rule, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_RULES:
        raise ProgramError(f"calendarRules is a list of 1 to {MAX_RULES} rules")
    return tuple(parse_rule(rule, f"calendarRules[{number}]") for number, rule in enumerate(raw))


def parse_program(program_id: str, rules: Any, name: str = "") -> Program:
    return Program(program_id, parse_rules(rules), name)


def rules_json(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    return [rule.as_json() for rule in rules]
