"""Weather, sun and the grid's signals the synthetic city lives under.

Hourly weather (Open-Meteo, Aarhus, 2024) and DK2 day-ahead prices (Energinet, 2024) for one week
of each month are shipped in `smartby/data/sim/climate-2024.csv` (see `smartby/data/NOTICE.md`).
Any moment maps to the hour of that week with the same month, weekday and local hour, so
weekdays and weekends keep their price shapes; the week repeats through its month.

On top of the recorded rain, a cloudburst passes over the city once a week, at a time of week the
seed chooses: a storm cell moving west to east, over 30 mm in under an hour at its core.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from astral import LocationInfo
from astral.sun import sun

from smartby.sim.geography import LATITUDE, LONGITUDE
from smartby.sim.noise import unit
from smartby.sim.scenarios import Scenario

ZONE = ZoneInfo("Europe/Copenhagen")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""A Monday: weekly schedules (the cloudburst) count weeks from here."""
WEEK = timedelta(days=7)
CLOUDBURST_MINUTES = 50.0
"""How long the rain of a cloudburst lasts at one place."""
CLOUDBURST_PEAK = 90.0
"""mm/h at the core of the storm cell, at its peak (a cosine-squared pulse: ~37 mm in 50 minutes)."""


@dataclass(frozen=True)
class Hour:
    temperature: float
    rain: float
    """mm in the hour."""
    cloud_cover: float
    wind_speed_100m: float
    """km/h at 100 m, what wind turbines feel."""
    price_dk2: float
    """DKK/MWh, day-ahead."""


@cache
def _table() -> dict[tuple[int, int], Hour]:
    text = (resources.files("smartby.data") / "sim" / "climate-2024.csv").read_text(encoding="utf-8")
    table = {}
    for row in csv.DictReader(io.StringIO(text)):
        table[(int(row["month"]), int(row["hour_of_week"]))] = Hour(
            float(row["temperature"]),
            float(row["rain"]),
            float(row["cloud_cover"]),
            float(row["wind_speed_100m"]),
            float(row["price_dk2"]),
        )
    return table


def local(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


def hour_of(moment: datetime) -> Hour:
    """The recorded hour standing in for this moment."""
    at = local(moment)
    return _table()[(at.month, at.weekday() * 24 + at.hour)]


def temperature(moment: datetime) -> float:
    """Outdoor temperature, °C, interpolated between recorded hours."""
    start = moment.replace(minute=0, second=0, microsecond=0)
    share = (moment - start).total_seconds() / 3600
    before, after = hour_of(start).temperature, hour_of(start + timedelta(hours=1)).temperature
    return before + (after - before) * share


def wind(moment: datetime) -> float:
    return hour_of(moment).wind_speed_100m


def price(moment: datetime) -> float:
    """DK2 day-ahead price, DKK/MWh, for the hour holding this moment."""
    return hour_of(moment).price_dk2


def co2_intensity(moment: datetime) -> float:
    """g CO2/kWh of DK2's electricity: low when it blows, higher at the evening peak, lower at
    midday sun (our model; Energinet's CO2Emis data is not shipped)."""
    hour = hour_of(moment)
    at = local(moment)
    clock = at.hour + at.minute / 60
    evening = math.exp(-(((clock - 18.5) / 2.5) ** 2))
    sunny = max(0.0, math.sin(math.pi * (clock - 7) / 12)) * (1 - hour.cloud_cover / 100)
    value = 70 + 190 * math.exp(-hour.wind_speed_100m / 22) + 45 * evening - 35 * sunny
    return round(max(20.0, value), 1)


# -- the sun ---------------------------------------------------------------------------------------

_PLACE = LocationInfo("Copenhagen", "Denmark", "Europe/Copenhagen", LATITUDE, LONGITUDE)


@cache
def sun_times(day: date) -> tuple[datetime, datetime]:
    """Sunrise and sunset (UTC) at Copenhagen on this local date."""
    times = sun(_PLACE.observer, date=day, tzinfo=ZONE)
    return times["sunrise"].astimezone(UTC), times["sunset"].astimezone(UTC)


def is_dark(moment: datetime) -> bool:
    """Between sunset and sunrise at Copenhagen."""
    sunrise, sunset = sun_times(local(moment).date())
    return moment < sunrise or moment >= sunset


# -- rain ------------------------------------------------------------------------------------------


@cache
def cloudburst_start(seed: int, week: int) -> datetime:
    """When the cloudburst of week `week` (counted from EPOCH) starts over the west of the city: the
    same time of week every week, an afternoon or evening the seed chooses."""
    day = int(unit(seed, 0xC10D, 1) * 7)
    minute = 13 * 60 + int(unit(seed, 0xC10D, 2) * 7 * 60)
    local_start = (EPOCH + week * WEEK).astimezone(ZONE).replace(hour=0, minute=0) + timedelta(
        days=day, minutes=minute
    )
    return local_start.astimezone(UTC)


def cloudbursts_between(seed: int, start: datetime, end: datetime) -> list[datetime]:
    first = int((start - EPOCH) / WEEK) - 1
    last = int((end - EPOCH) / WEEK) + 1
    found = [cloudburst_start(seed, week) for week in range(first, last + 1)]
    return [t for t in found if start - timedelta(hours=3) <= t <= end]


class RainField:
    """Rain per district: the recorded hour's rain, spread over its 5-minute slots with a district's
    own share, plus the weekly cloudburst moving across the city."""

    def __init__(self, seed: int, longitudes: tuple[float, ...], scenario: Scenario | None = None) -> None:
        self.seed = seed
        self.longitudes = longitudes
        """Each district's longitude: the storm reaches the eastern districts later."""
        self.scenario = scenario
        """A replayed day's rain instead of the weekly cloudburst."""
        self._recent: dict[tuple[int, datetime], float] = {}

    def rate(self, district: int, moment: datetime) -> float:
        """mm/h at this moment in this district."""
        recorded = hour_of(moment).rain
        slot = int(moment.timestamp() // 300)
        base = recorded * (0.75 + 0.5 * unit(self.seed, 0x4A1, district, slot // 6))
        return base + self._burst(district, moment)

    def _burst(self, district: int, moment: datetime) -> float:
        west = min(self.longitudes)
        if self.scenario is not None:
            return self.scenario.rate(self.longitudes[district], west, moment)
        delay = timedelta(minutes=(self.longitudes[district] - west) / 0.2 * 25)  # 25 minutes per 0.2°
        strength = 0.55 + 0.45 * math.cos((self.longitudes[district] - 12.56) * 14) ** 2
        for start in cloudbursts_between(self.seed, moment - timedelta(hours=2), moment):
            minutes = (moment - start - delay).total_seconds() / 60
            if 0 <= minutes <= CLOUDBURST_MINUTES:
                return CLOUDBURST_PEAK * strength * math.sin(math.pi * minutes / CLOUDBURST_MINUTES) ** 2
        return 0.0

    def mm_in_5_minutes(self, district: int, end: datetime) -> float:
        """Precipitation in the five minutes up to `end` (mm), from five one-minute samples."""
        found = self._recent.get((district, end))
        if found is None:
            if len(self._recent) > 10_000:
                self._recent.clear()
            total = sum(self.rate(district, end - timedelta(minutes=m + 0.5)) for m in range(5)) / 60
            found = self._recent[(district, end)] = round(total, 2)
        return found
