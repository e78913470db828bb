"""Heating degree days as DMI counts them: base 17 °C, a local day's HDD = max(0, 17 - the day's
mean outdoor temperature) (DMI, "graddage"; docs/renovation.md).

A day's mean is the mean of its hourly means (so readings every 5 minutes and every hour weigh
alike); a day has a mean when at least `HOURS_NEEDED` of its hours have readings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

BASE = 17.0
NORMAL_YEAR = 2906.0
"""The Danish normal year's degree days (DMI's reference year, base 17 °C)."""
HOURS_NEEDED = 18


def degree_days(mean: float) -> float:
    return max(0.0, BASE - mean)


def daily_hdd(hourly_means: Iterable[tuple[datetime, float]], zone: str) -> dict[date, float]:
    """Each local day's HDD from (hour start, mean temperature °C) pairs; days with fewer than
    `HOURS_NEEDED` hours are left out."""
    tz = ZoneInfo(zone)
    by_day: dict[date, list[float]] = {}
    for hour, mean in hourly_means:
        by_day.setdefault(hour.astimezone(tz).date(), []).append(mean)
    return {
        day: degree_days(sum(means) / len(means))
        for day, means in sorted(by_day.items())
        if len(means) >= HOURS_NEEDED
    }
