"""Fixtures of the energy tests: a small town whose answers are known (buildings, heat meters whose
registers hold a known base and slope, a weather station whose days are each one temperature),
written through the broker, and the energy service on a runtime whose clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.one_service import OneService
from smartby.ngsild.timestamps import format_datetime
from smartby.services.energy.vocabulary import BUILDING_CONTEXT, DEVICE_CONTEXT, WEATHER_CONTEXT
from smartby.settings import Settings

ZONE = ZoneInfo("Europe/Copenhagen")
FIRST = date(2026, 1, 1)
DAYS = 20
BASE, SLOPE = 30.0, 5.0
"""kWh a day and kWh per degree day of the first building (its normalised year: 25,480 kWh)."""


def temperature(day: int) -> float:
    """The temperature all day long of the day `day` after FIRST (HDD 17 - it)."""
    return float(day % 10)


def hdd(day: int) -> float:
    return 17.0 - temperature(day)


def local_midnight(day: int) -> datetime:
    when = FIRST + timedelta(days=day)
    return datetime(when.year, when.month, when.day, tzinfo=ZONE).astimezone(UTC)


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


@dataclass(frozen=True)
class House:
    """A building with one heat meter whose day uses base + slope x HDD, spread over the day's hours."""

    number: int
    category: str
    area: float
    base: float
    slope: float
    unit: str = "KWH"

    @property
    def id(self) -> str:
        return f"urn:ngsi-ld:Building:town-{self.number:04d}"

    @property
    def meter(self) -> str:
        return f"urn:ngsi-ld:SmartMeteringObservation:town-{self.number:04d}"

    def register(self, days: int = DAYS) -> list[tuple[datetime, float]]:
        """Hourly readings (in its unit) from the first local midnight to the last."""
        scale = 1000.0 if self.unit == "MWH" else 1.0
        value, found = 1000.0, [(local_midnight(0), 1000.0 / scale)]
        for day in range(days):
            start, end = local_midnight(day), local_midnight(day + 1)
            hours = int((end - start) / timedelta(hours=1))
            for hour in range(1, hours + 1):
                value += (self.base + self.slope * hdd(day)) / hours
                found.append((start + timedelta(hours=hour), value / scale))
        return found


HOUSES = (
    House(1, "residential", 100.0, BASE, SLOPE),
    House(2, "office", 2000.0, 200.0, 40.0, unit="MWH"),
    House(3, "school", 500.0, 20.0, 2.0),
)
STATION = "urn:ngsi-ld:WeatherObserved:town-near"
FAR_STATION = "urn:ngsi-ld:WeatherObserved:town-far"


def entities() -> list[tuple[str, dict[str, Any]]]:
    """(@context, entity) of the town's current state."""
    found: list[tuple[str, dict[str, Any]]] = []
    for house in HOUSES:
        found.append(
            (
                BUILDING_CONTEXT,
                {
                    "id": house.id,
                    "type": "Building",
                    "category": {"type": "Property", "value": [house.category]},
                    "heatedArea": {"type": "Property", "value": house.area, "unitCode": "MTK"},
                    "location": point(12.57 + house.number / 1000, 55.69),
                },
            )
        )
        found.append(
            (
                DEVICE_CONTEXT,
                {
                    "id": house.meter,
                    "type": "SmartMeteringObservation",
                    "meterType": {"type": "Property", "value": "heat"},
                    "refBuilding": {"type": "Relationship", "object": house.id},
                    "totalConsumption": {
                        "type": "Property",
                        "value": house.register()[-1][1],
                        "unitCode": house.unit,
                        "observedAt": format_datetime(house.register()[-1][0]),
                    },
                },
            )
        )
    for station, lon, offset in ((STATION, 12.571, 0.0), (FAR_STATION, 10.2, 30.0)):
        found.append(
            (
                WEATHER_CONTEXT,
                {
                    "id": station,
                    "type": "WeatherObserved",
                    "location": point(lon, 55.69),
                    "temperature": {"type": "Property", "value": offset, "unitCode": "CEL"},
                },
            )
        )
    return found


def temporal() -> list[tuple[str, dict[str, Any]]]:
    """(@context, temporal entity) of the town's readings: registers and hourly temperatures (the far
    station 30 degrees warm: no degree days)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for house in HOUSES:
        instances = [
            {"type": "Property", "value": value, "unitCode": house.unit, "observedAt": format_datetime(at)}
            for at, value in house.register()
        ]
        body = {"id": house.meter, "type": "SmartMeteringObservation", "totalConsumption": instances}
        found.append((DEVICE_CONTEXT, body))
    for station, offset in ((STATION, 0.0), (FAR_STATION, 30.0)):
        readings = []
        for day in range(DAYS):
            start, end = local_midnight(day), local_midnight(day + 1)
            at = start
            while at < end:
                readings.append(
                    {
                        "type": "Property",
                        "value": temperature(day) + offset,
                        "unitCode": "CEL",
                        "observedAt": format_datetime(at),
                    }
                )
                at += timedelta(hours=1)
        found.append((WEATHER_CONTEXT, {"id": station, "type": "WeatherObserved", "temperature": readings}))
    return found


class Town(OneService):
    async def build(self) -> None:
        for context, body in entities():
            await self.broker.create_entity("", await self.broker.context([context]), body)
        for context, body in temporal():
            await self.broker.history.create("", await self.broker.context([context]), body)


@pytest.fixture
def energy_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"services": ["energy"]})


@pytest.fixture
async def town(settings: Settings) -> AsyncIterator[Town]:
    async with Town.running(settings, "energy", "2026-03-01T12:00:00+00:00") as running:
        await running.build()
        yield running
