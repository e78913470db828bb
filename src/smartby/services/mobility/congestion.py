"""Congestion measures as pure functions (docs/mobility.md): free-flow travel time, the day's travel
time index (TTI), planning time index (PTI), buffer index and peak hour, the level of service, and
the robust z of a reading against its usual values.

- TTI, PTI and the buffer index as FHWA's Urban Congestion Report defines them: TTI = mean travel
  time / free-flow travel time; PTI = 95th percentile travel time / free-flow travel time; buffer
  index = (95th percentile - mean) / mean.
- Level of service by the share of base free-flow speed, the thresholds of HCM (6th/7th ed.) urban
  street segments (exhibit 16-8 / 18-1): > 85 % A, > 67 % B, > 50 % C, > 40 % D, > 30 % E, else F.
- Robust z with the median and the median absolute deviation (Iglewicz and Hoaglin, 1993): z = (x -
  median) / (1.4826 x MAD), 1.4826 making the MAD a consistent estimator of a normal standard deviation.

Percentiles are numpy's default (linear interpolation, Hyndman and Fan's type 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FREE_FLOW_PERCENTILE = 15.0
"""Of night travel times: the free-flow travel time."""
FREE_FLOW_SPEED_PERCENTILE = 85.0
"""Of night speeds, where a segment reports no travel time: the free-flow speed."""
PLANNING_PERCENTILE = 95.0
MAD_SCALE = 1.4826
LEVELS = (("A", 0.85), ("B", 0.67), ("C", 0.50), ("D", 0.40), ("E", 0.30))
JAMMED = frozenset({"E", "F"})
NIGHT = (22, 6)
"""Local hours [22:00, 06:00): the free-flow readings."""
DAY = (6, 20)
"""Local hours [06:00, 20:00): the readings a day's figures are made of."""


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def is_night(hour: int) -> bool:
    return hour >= NIGHT[0] or hour < NIGHT[1]


def is_day(hour: int) -> bool:
    return DAY[0] <= hour < DAY[1]


def level_of_service(share: float) -> str:
    """The HCM letter of a speed that is `share` of the free-flow speed (a share exactly at a
    threshold is the lower letter: the thresholds are 'more than')."""
    for letter, above in LEVELS:
        if share > above:
            return letter
    return "F"


@dataclass(frozen=True)
class DayFigures:
    free_flow: float
    tti: float
    pti: float
    buffer_index: float
    peak_hour: int
    readings: int

    def as_json(self) -> dict[str, Any]:
        return {
            "freeFlowTravelTime": self.free_flow,
            "tti": self.tti,
            "pti": self.pti,
            "bufferIndex": self.buffer_index,
            "peakHour": self.peak_hour,
            "readings": self.readings,
        }


def day_figures(free_flow: float, readings: Sequence[tuple[int, float]]) -> DayFigures | None:
    """A day's figures from its (local hour, travel time) readings; None without readings or a
    positive free-flow travel time. The peak hour is the one of highest mean travel time (highest
    TTI), the earliest of equals."""
    if not readings or free_flow <= 0:
        return None
    times = np.asarray([time for _, time in readings], dtype=float)
    mean = float(times.mean())
    p95 = percentile(times.tolist(), PLANNING_PERCENTILE)
    by_hour: dict[int, list[float]] = {}
    for hour, time in readings:
        by_hour.setdefault(hour, []).append(time)
    peak = max(sorted(by_hour), key=lambda hour: float(np.mean(by_hour[hour])))
    return DayFigures(
        free_flow=free_flow,
        tti=mean / free_flow,
        pti=p95 / free_flow,
        buffer_index=(p95 - mean) / mean if mean > 0 else 0.0,
        peak_hour=peak,
        readings=len(readings),
    )


def robust_z(value: float, usual: Sequence[float]) -> float | None:
    """How far `value` is from `usual` in robust standard deviations; None when the usual values
    do not vary (a MAD of 0) or there are none."""
    if not usual:
        return None
    values = np.asarray(usual, dtype=float)
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    if mad == 0:
        return None
    return (value - median) / (MAD_SCALE * mad)
