"""The daily and weekly shapes readings follow, as pure functions of local time and weather.

Traffic and bike profiles are fractions of a counter's capacity per hour of the day (weekday and
weekend apart), interpolated between hour midpoints: two rush hours on weekdays, one broad midday
hump at weekends, bikes more peaked than cars (Copenhagen commutes by bike). Heat follows heating
degree hours over a base of 17 °C plus hot water with a morning and evening peak. The air quality
index is the European one (EEA): the worst of the pollutants' sub-indices, 0-100+.
"""

from __future__ import annotations

from datetime import datetime

CAR_WEEKDAY = (
    0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.40, 0.80, 0.90, 0.65, 0.55, 0.55,
    0.58, 0.58, 0.65, 0.82, 0.92, 0.80, 0.60, 0.45, 0.35, 0.28, 0.20, 0.13,
)  # fmt: skip
CAR_WEEKEND = (
    0.12, 0.09, 0.07, 0.05, 0.04, 0.06, 0.10, 0.16, 0.25, 0.36, 0.46, 0.53,
    0.56, 0.57, 0.56, 0.54, 0.52, 0.48, 0.42, 0.36, 0.30, 0.25, 0.20, 0.16,
)  # fmt: skip
BIKE_WEEKDAY = (
    0.03, 0.02, 0.01, 0.01, 0.02, 0.06, 0.25, 0.75, 0.95, 0.50, 0.28, 0.26,
    0.28, 0.28, 0.35, 0.60, 0.88, 0.75, 0.45, 0.30, 0.22, 0.16, 0.11, 0.06,
)  # fmt: skip
BIKE_WEEKEND = (
    0.06, 0.05, 0.04, 0.03, 0.02, 0.02, 0.04, 0.07, 0.12, 0.20, 0.30, 0.37,
    0.40, 0.41, 0.40, 0.38, 0.34, 0.28, 0.22, 0.17, 0.13, 0.10, 0.08, 0.07,
)  # fmt: skip
HOT_WATER = (
    0.3, 0.2, 0.2, 0.2, 0.3, 0.6, 1.4, 2.2, 1.8, 1.2, 0.9, 0.9,
    1.0, 0.9, 0.8, 0.8, 1.0, 1.4, 1.9, 1.8, 1.5, 1.2, 0.8, 0.5,
)  # fmt: skip
"""Hot water use by hour, relative to the day's mean."""

HEATING_BASE = 17.0
"""°C: heating degree days count the degrees below this."""
SPACE_HEAT = 0.0011
"""kWh per m² per degree-hour below the base, for an energy label D building."""
HOT_WATER_MEAN = 0.0023
"""kWh per m² per hour of hot water, on average."""
LABELS = {"A": 0.45, "B": 0.6, "C": 0.8, "D": 1.0, "E": 1.2, "F": 1.45, "G": 1.7}
"""Space heating relative to label D."""


def is_weekend(at: datetime) -> bool:
    return at.weekday() >= 5


def _interpolate(profile: tuple[float, ...], at: datetime) -> float:
    clock = at.hour + at.minute / 60 + at.second / 3600 - 0.5
    hour = int(clock // 1) % 24
    share = clock - (clock // 1)
    return profile[hour] + (profile[(hour + 1) % 24] - profile[hour]) * share


def traffic_profile(at: datetime, vehicle_type: str) -> float:
    """Fraction of a counter's capacity passing at this local time (0..1)."""
    weekend = is_weekend(at)
    if vehicle_type == "bicycle":
        return _interpolate(BIKE_WEEKEND if weekend else BIKE_WEEKDAY, at)
    return _interpolate(CAR_WEEKEND if weekend else CAR_WEEKDAY, at)


def heat_kwh_per_hour(area: float, label: str, outdoor: float, at: datetime, office: bool) -> float:
    """District heat a building uses in an hour at this local time and outdoor temperature."""
    degrees = max(0.0, HEATING_BASE - outdoor)
    setback = 1.0
    if office and (at.hour < 6 or at.hour >= 19 or is_weekend(at)):
        setback = 0.55
    elif at.hour < 5 or at.hour >= 23:
        setback = 0.85
    water = HOT_WATER_MEAN * _interpolate(HOT_WATER, at) * (0.4 if office else 1.0)
    return area * (SPACE_HEAT * LABELS[label] * degrees * setback + water)


_AQI_STEPS = (0.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0)
_AQI_LIMITS = {
    "pm25": (0.0, 10.0, 20.0, 25.0, 50.0, 75.0, 800.0),
    "pm10": (0.0, 20.0, 40.0, 50.0, 100.0, 150.0, 1200.0),
    "no2": (0.0, 40.0, 90.0, 120.0, 230.0, 340.0, 1000.0),
}
AQI_BANDS = ("good", "fair", "moderate", "poor", "very poor", "extremely poor")
"""The European AQI's bands: 0-20 good, 20-40 fair, 40-60 moderate, 60-80 poor, 80-100 very poor,
100 and over extremely poor."""


def air_quality_index(no2: float, pm10: float, pm25: float) -> int:
    """The European air quality index of these concentrations (µg/m³): the worst sub-index."""
    worst = 0.0
    for name, value in (("no2", no2), ("pm10", pm10), ("pm25", pm25)):
        limits = _AQI_LIMITS[name]
        for step in range(1, len(limits)):
            if value <= limits[step] or step == len(limits) - 1:
                low, high = limits[step - 1], limits[step]
                share = min(1.0, (value - low) / (high - low))
                worst = max(worst, _AQI_STEPS[step - 1] + share * 20)
                break
    return round(worst)


def flood_status(fill: float) -> str:
    """A basin's floodLevelStatus: normal below 80 % full, warning up to full, flood above."""
    if fill >= 1.0:
        return "flood"
    return "warning" if fill >= 0.8 else "normal"
