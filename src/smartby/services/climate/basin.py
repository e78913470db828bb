"""A sewer basin's or overflow chamber's state from its level readings (pure).

The fill rate is the slope of a least-squares line (numpy) through the `currentLevel` readings of the
last `window` (30 minutes by default), in metres per hour; the time until full is what is left up
to `dangerLevel` at that rate. A basin is at **flood** risk when it will be full within the horizon
(60 minutes) or is more than 80 % full, and **flooding** at or above its `dangerLevel`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from smartby.services.climate.episodes import Episode

Level = tuple[datetime, float]
"""When a level was observed, and the level (m)."""
NEVER_HOURS = 24 * 365.0
"""Full further away than a year (a level flat but for float noise): not filling."""


@dataclass(frozen=True)
class Limits:
    window: timedelta = timedelta(minutes=30)
    """Readings the fill rate is fitted to."""
    horizon: timedelta = timedelta(minutes=60)
    """Full within this is a flood risk."""
    share: float = 0.8
    """Fuller than this share of the danger level is a flood risk."""


@dataclass(frozen=True)
class BasinState:
    at: datetime
    level: float
    danger: float
    rate: float | None
    """m/h, None with fewer than two readings in the window."""
    readings: int

    @property
    def fill(self) -> float:
        return self.level / self.danger

    @property
    def until_full(self) -> timedelta | None:
        """None: not filling."""
        if self.level >= self.danger:
            return timedelta(0)
        if self.rate is None or self.rate <= 0:
            return None
        hours = (self.danger - self.level) / self.rate
        return timedelta(hours=hours) if hours <= NEVER_HOURS else None

    def as_json(self) -> dict[str, object]:
        until = self.until_full
        return {
            "observedAt": self.at.isoformat().replace("+00:00", "Z"),
            "currentLevel": self.level,
            "dangerLevel": self.danger,
            "fill": round(self.fill, 4),
            "fillRate": None if self.rate is None else round(self.rate, 4),
            "minutesUntilFull": None if until is None else round(until.total_seconds() / 60, 1),
            "readings": self.readings,
        }


def fill_rate(levels: Sequence[Level]) -> float | None:
    """m/h: the slope of the least-squares line through the levels (None: fewer than two moments)."""
    if len({moment for moment, _ in levels}) < 2:
        return None
    origin = levels[-1][0]
    hours = np.array([(moment - origin).total_seconds() / 3600 for moment, _ in levels])
    design = np.column_stack([hours, np.ones_like(hours)])
    (slope, _), *_ = np.linalg.lstsq(design, np.array([level for _, level in levels]), rcond=None)
    return float(slope)


def state(levels: Sequence[Level], at: datetime, danger: float, limits: Limits) -> BasinState | None:
    """The basin as of `at` (its latest reading at or before then), None before any reading."""
    times = [moment for moment, _ in levels]
    last = bisect_right(times, at)
    if last == 0:
        return None
    moment, level = levels[last - 1]
    first = bisect_right(times, moment - limits.window)
    inside = levels[first:last]
    return BasinState(moment, level, danger, fill_rate(inside), len(inside))


def at_risk(basin: BasinState, limits: Limits) -> bool:
    until = basin.until_full
    return basin.fill > limits.share or (until is not None and until <= limits.horizon)


def flooding(basin: BasinState, limits: Limits) -> bool:
    return basin.level >= basin.danger


Condition = Callable[[BasinState, Limits], bool]


def episodes(
    levels: Sequence[Level],
    danger: float,
    condition: Condition,
    limits: Limits,
    since: datetime,
    as_of: datetime,
) -> list[Episode]:
    """The spells in [since, as_of] when `condition` held, judged at each reading: from the first
    reading it held at to the first it did not (`end`). `peak`: the highest fill."""
    found: list[Episode] = []
    current: Episode | None = None
    first = True
    for moment, _ in levels:
        if not since <= moment <= as_of:
            continue
        basin = state(levels, moment, danger, limits)
        if basin is None:
            continue
        if condition(basin, limits):
            if current is None:
                truncated = first and levels[0][0] < moment
                current = Episode(moment, basin.fill, moment, truncated=truncated)
            else:
                current = current.seen(basin.fill, moment, False)
        elif current is not None:
            found.append(current.ended(moment))
            current = None
        first = False
    if current is not None:
        found.append(current)
    return found
