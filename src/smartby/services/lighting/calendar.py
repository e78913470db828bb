"""When a program's rule applies: date ranges, weekdays and single dates (TALQ's calendar idea).

A `Calendar` matches a date when every condition it gives holds: `start`/`end` a date range (dates of
one year, or `--MM-DD` dates of every year, a range that may wrap over New Year), `weekdays` (Monday
0 to Sunday 6), `dates` single dates (the same two forms). A calendar with no condition matches every
day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_ANNUAL = re.compile(r"--([0-9]{2})-([0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class CalendarError(ValueError):
    """A date or a calendar that cannot be read."""


@dataclass(frozen=True)
class Day:
    """A date of every year (`year` None, written --MM-DD) or of one year."""

    month: int
    day: int
    year: int | None = None

    def on(self, when: date) -> bool:
        return (when.month, when.day) == (self.month, self.day) and self.year in (None, when.year)

    def text(self) -> str:
        if self.year is None:
            return f"--{self.month:02d}-{self.day:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


def parse_day(text: Any, where: str) -> Day:
    if not isinstance(text, str):
        raise CalendarError(f"{where}: a date (YYYY-MM-DD or --MM-DD), not {text!r}")
    annual = _ANNUAL.fullmatch(text)
    try:
        if annual:
            month, day = int(annual.group(1)), int(annual.group(2))
            date(2000, month, day)  # a leap year: --02-29 is a date of some years
            return Day(month, day)
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        parsed = date.fromisoformat(text)
    except ValueError:
        raise CalendarError(f"{where}: {text!r} is not a date (YYYY-MM-DD or --MM-DD)") from None
    return Day(parsed.month, parsed.day, parsed.year)


@dataclass(frozen=True)
class Calendar:
    start: Day | None = None
    end: Day | None = None
    weekdays: frozenset[int] = frozenset()
    dates: tuple[Day, ...] = ()

    def matches(self, when: date) -> bool:
        if self.weekdays and when.weekday() not in self.weekdays:
            return False
        if self.dates and not any(day.on(when) for day in self.dates):
            return False
        return self._in_range(when)

    def _in_range(self, when: date) -> bool:
        start, end = self.start, self.end
        if start is None or end is None:
            if start is not None:
                return (when.year, when.month, when.day) >= (start.year or 0, start.month, start.day)
            if end is not None:
                return (when.year, when.month, when.day) <= (end.year or 0, end.month, end.day)
            return True
        if start.year is None:  # every year; wraps over New Year when start is after end
            first, last, today = (start.month, start.day), (end.month, end.day), (when.month, when.day)
            return first <= today <= last if first <= last else today >= first or today <= last
        return (
            (start.year, start.month, start.day)
            <= (when.year, when.month, when.day)
            <= (
                end.year or 0,
                end.month,
                end.day,
            )
        )

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.start is not None:
            found["from"] = self.start.text()
        if self.end is not None:
            found["to"] = self.end.text()
        if self.weekdays:
            found["weekdays"] = [WEEKDAYS[day] for day in sorted(self.weekdays)]
        if self.dates:
            found["dates"] = [day.text() for day in self.dates]
        return found


def parse_calendar(raw: dict[str, Any], where: str) -> Calendar:
    """The calendar of a rule's `from`, `to`, `weekdays` and `dates` members."""
    weekdays = raw.get("weekdays", [])
    if not isinstance(weekdays, list) or any(not isinstance(d, str) or d not in WEEKDAYS for d in weekdays):
        raise CalendarError(f"{where}: weekdays is a list of {', '.join(WEEKDAYS)}")
    dates = raw.get("dates", [])
    if not isinstance(dates, list):
        raise CalendarError(f"{where}: dates is a list of dates")
    start = parse_day(raw["from"], f"{where}.from") if "from" in raw else None
    end = parse_day(raw["to"], f"{where}.to") if "to" in raw else None
    one = start if end is None else end if start is None else None
    if one is not None and one.year is None:
        raise CalendarError(f"{where}: an every-year range (--MM-DD) needs both from and to")
    if start is not None and end is not None:
        if (start.year is None) != (end.year is None):
            raise CalendarError(f"{where}: from and to are both YYYY-MM-DD or both --MM-DD")
        if start.year is not None and (start.year, start.month, start.day) > (
            end.year or 0,
            end.month,
            end.day,
        ):
            raise CalendarError(f"{where}: from is after to")
    return Calendar(
        start,
        end,
        frozenset(WEEKDAYS.index(day) for day in weekdays),
        tuple(parse_day(day, f"{where}.dates[{number}]") for number, day in enumerate(dates)),
    )
