"""Tests for smartby.web.readmodel.readings: one device's current attributes and its history charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartby.broker import DEFAULT_TENANT, Broker
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.web.readmodel.readings import device_history, device_readings
from web.readmodel import testbed as tb

LIGHT = "urn:ngsi-ld:Streetlight:vesterbro-0042"
COUNTER = "urn:ngsi-ld:TrafficFlowObserved:vesterbro-7"


async def test_current_attributes_with_units(broker: Broker) -> None:
    at = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    await tb.upsert(broker, [tb.streetlight("vesterbro-0042", 12.54, 55.67, "low", "ok", at, watts=21.5)])
    found = await device_readings(broker, DEFAULT_TENANT, LIGHT)
    assert (found.type, found.domain, found.state) == ("Streetlight", "lighting", "dimmed")
    assert (found.lon, found.lat) == (12.54, 55.67)
    assert found.observed_at == "2026-03-01T18:00:00Z"
    readings = {r.name: (r.value, r.unit) for r in found.readings}
    assert readings["powerConsumption"] == (21.5, "W")
    assert readings["illuminanceLevel"] == (0.5, "(0-1)")
    assert readings["powerState"] == ("low", "")
    assert readings["refDistrict"] == ("urn:ngsi-ld:District:vesterbro", "")
    assert readings["location"] == ("55.67000 N, 12.54000 E", "")


async def test_unknown_device(broker: Broker) -> None:
    with pytest.raises(ResourceNotFound):
        await device_readings(broker, DEFAULT_TENANT, "urn:ngsi-ld:Streetlight:none")
    with pytest.raises(ResourceNotFound):
        await device_history(broker, DEFAULT_TENANT, "urn:ngsi-ld:Streetlight:none", "24h", datetime.now(UTC))
    with pytest.raises(BadRequestData):
        await device_history(broker, DEFAULT_TENANT, LIGHT, "1y", datetime.now(UTC))


async def test_last_24_hours_every_reading(broker: Broker) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    await tb.upsert(broker, [tb.counter("vesterbro-7", 12.5, 55.7, "car", 500, 1000, now)])
    earlier = [(now - timedelta(minutes=30 * i), 100.0 * i) for i in range(1, 50)]  # 24.5 hours back
    await tb.history(broker, "TrafficFlowObserved", COUNTER, "intensity", earlier)
    (series,) = await device_history(broker, DEFAULT_TENANT, COUNTER, "24h", now)
    assert series.name == "intensity" and series.unit == "vehicles/h" and not series.aggregated
    # readings in [now - 24 h, now]: 48 of the history, and the current one
    assert len(series.values) == 49
    assert series.values[-1] == 500 and series.values[0] == 4800
    assert series.times[-1] == "2026-03-02T12:00:00Z"
    assert series.times == sorted(series.times)


async def test_7_days_hourly_means(broker: Broker) -> None:
    now = datetime(2026, 3, 9, 12, 10, tzinfo=UTC)
    await tb.upsert(broker, [tb.gauge("vesterbro-1", 12.5, 55.7, 0.0, 4.0, now)])
    gauge = "urn:ngsi-ld:WeatherObserved:vesterbro-1"
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    readings = [(start + timedelta(minutes=20 * i), float(i % 3)) for i in range(3 * 24 * 7)]
    await tb.history(broker, "WeatherObserved", gauge, "temperature", readings, "CEL")
    await tb.history(broker, "WeatherObserved", gauge, "precipitation", [(start, 1.0)], "MMT")
    series = {s.name: s for s in await device_history(broker, DEFAULT_TENANT, gauge, "7d", now)}
    temperature = series["temperature"]
    assert temperature.aggregated and temperature.unit == "°C"
    assert len(temperature.values) == 24 * 7 + 1  # from 12:00 seven days ago, and this hour's reading
    assert temperature.values[:-1] == [pytest.approx(1.0)] * (24 * 7)
    assert temperature.times[0] == "2026-03-02T12:00:00Z"
    assert temperature.times[-1] == "2026-03-09T12:00:00Z" and temperature.values[-1] == 4.0
    assert series["precipitation"].values[0] == 1.0 and series["precipitation"].unit == "mm"


async def test_the_grid_signal_shows_its_unit_texts(broker: Broker) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    await tb.upsert(broker, [tb.grid_signal(612.5, 143.0, now)])
    grid = "urn:ngsi-ld:GridSignal:DK2"
    found = await device_readings(broker, DEFAULT_TENANT, grid)
    readings = {r.name: (r.value, r.unit) for r in found.readings}
    assert readings["price"] == (612.5, "DKK/MWh") and readings["co2Intensity"] == (143.0, "g/kWh")
    series = {s.name: s.unit for s in await device_history(broker, DEFAULT_TENANT, grid, "24h", now)}
    assert series == {"price": "DKK/MWh", "co2Intensity": "g/kWh"}
