"""Rolling rain sums of one gauge and DMI's definitions of cloudburst and heavy rain (pure).

A `WeatherObserved.precipitation` reading is the mm fallen since the gauge's previous reading, so
the rain of a window (end - width, end] is the sum of the readings observed in it. A gauge reports
every `interval`; a window is complete when no stretch of it longer than 1.5 intervals went without
a reading (its start, its readings and its end, in order), and is judged on what is there otherwise.

DMI (Danmarks Meteorologiske Institut) defines a **cloudburst** (skybrud) as more than 15 mm of rain
within 30 minutes and **heavy rain** (kraftig regn) as more than 24 mm within 6 hours; exactly the
threshold is neither. DMI calls more than twice the cloudburst's threshold a double cloudburst
(dobbelt skybrud, > 30 mm in 30 minutes) and more than three times a triple one (tredobbelt,
> 45 mm): the severity here follows those multiples, for heavy rain too (docs/climate.md).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from smartby.services.climate.episodes import Episode

Reading = tuple[datetime, float]
"""When a gauge's reading was observed, and the mm fallen since its previous reading."""

WINDOWS = (
    ("PT10M", timedelta(minutes=10)),
    ("PT30M", timedelta(minutes=30)),
    ("PT1H", timedelta(hours=1)),
    ("PT6H", timedelta(hours=6)),
    ("PT24H", timedelta(hours=24)),
)
"""The rolling sums a gauge is known by, named by their ISO 8601 durations."""
GAP_TOLERANCE = 1.5
"""A window misses readings where more than this many reporting intervals pass without one."""
DIGITS = 6
"""Sums are rounded to a millionth of a mm, so float noise never crosses a threshold."""
SEVERITIES = ((3.0, "critical"), (2.0, "high"), (1.0, "medium"))
"""Severity by the amount's multiple of the threshold (DMI's double and triple cloudburst)."""


@dataclass(frozen=True)
class Definition:
    sub_category: str
    """The Alert's subCategory."""
    width: timedelta
    threshold: float
    """mm: more than this within `width` is the event."""
    name: str
    danish: str


CLOUDBURST = Definition("cloudburst", timedelta(minutes=30), 15.0, "Cloudburst", "skybrud")
HEAVY_RAIN = Definition("heavyRain", timedelta(hours=6), 24.0, "Heavy rain", "kraftig regn")
DEFINITIONS = (CLOUDBURST, HEAVY_RAIN)


@dataclass(frozen=True)
class WindowSum:
    start: datetime
    end: datetime
    mm: float
    readings: int
    complete: bool

    def as_json(self) -> dict[str, object]:
        return {"mm": self.mm, "readings": self.readings, "complete": self.complete}


def is_event(mm: float, definition: Definition) -> bool:
    """Strictly more than the threshold (DMI: 15.0 mm in 30 minutes is not a cloudburst)."""
    return mm > definition.threshold


def severity(mm: float, definition: Definition) -> str:
    """The Alert's severity for `mm` within the definition's window (above the threshold)."""
    for multiple, name in SEVERITIES:
        if mm > definition.threshold * multiple:
            return name
    return "low"


def complete(times: Sequence[datetime], start: datetime, end: datetime, interval: timedelta) -> bool:
    """Whether readings at `times` (those in (start, end], in order) leave no gap in the window."""
    limit = interval * GAP_TOLERANCE
    previous = start
    for moment in (*times, end):
        if moment - previous > limit:
            return False
        previous = moment
    return True


def window_sum(
    readings: Sequence[Reading], end: datetime, width: timedelta, interval: timedelta
) -> WindowSum:
    """The rain of (end - width, end] from `readings` (in time order)."""
    times = [moment for moment, _ in readings]
    first, last = bisect_right(times, end - width), bisect_right(times, end)
    inside = readings[first:last]
    mm = round(math.fsum(value for _, value in inside), DIGITS)
    return WindowSum(
        end - width, end, mm, len(inside), complete(times[first:last], end - width, end, interval)
    )


def sums(readings: Sequence[Reading], end: datetime, interval: timedelta) -> dict[str, WindowSum]:
    """The rolling sums of WINDOWS as of `end`."""
    return {name: window_sum(readings, end, width, interval) for name, width in WINDOWS}


def episodes(
    readings: Sequence[Reading],
    definition: Definition,
    interval: timedelta,
    since: datetime,
    as_of: datetime,
) -> list[Episode]:
    """The spells in [since, as_of] when the window's rain was over the threshold. The window's sum
    changes only when a reading enters it (at its time) or leaves it (a width later): it is judged
    at those moments. An episode begins with the first window over the threshold (`start`: that
    window's start) and ends when the window falls to the threshold or below (`end`; None while it
    has not by `as_of`). `truncated`: it was already over at `since`."""
    width = definition.width
    moments = sorted(
        {since}
        | {t for t, _ in readings if since <= t <= as_of}
        | {t + width for t, _ in readings if since <= t + width <= as_of}
    )
    if as_of < since:
        return []
    found: list[Episode] = []
    current: Episode | None = None
    for moment in moments:
        window = window_sum(readings, moment, width, interval)
        if is_event(window.mm, definition):
            if current is None:
                current = Episode(
                    start=window.start,
                    peak=window.mm,
                    peak_at=moment,
                    incomplete=not window.complete,
                    truncated=moment == since,
                )
            else:
                current = current.seen(window.mm, moment, not window.complete)
        elif current is not None:
            found.append(current.ended(moment))
            current = None
    if current is not None:
        found.append(current)
    return found
