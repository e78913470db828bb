"""Tests for smartby.web.readmodel.overview: each tile's figures from context and history written through
the broker (on each store backend), at a city time ahead of the wall clock as a simulator's is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from smartby.broker import Broker
from smartby.ingest.pipeline import Ingestion
from smartby.ingest.uplinks import Uplink
from smartby.ngsild.temporal import Bucket
from smartby.ngsild.timestamps import micros_of
from smartby.sim.city import build_city
from smartby.sim.entities import profiles, registration
from smartby.web.readmodel.citymap import CityMap
from smartby.web.readmodel.overview import ZONE, Overview, Tile, degree_days, local_midnight
from web.readmodel import testbed as tb

HOUR = timedelta(hours=1)


def city_time() -> datetime:
    """14:30 in Copenhagen, three days from now: later than the wall clock, so it is the city's now."""
    day = (datetime.now(UTC) + timedelta(days=3)).astimezone(ZONE)
    return day.replace(hour=14, minute=30, second=0, microsecond=0).astimezone(UTC)


def tiles_by_domain(tiles: list[Tile]) -> dict[str, Tile]:
    return {tile.domain: tile for tile in tiles}


async def overview_of(broker: Broker, now: datetime | None = None) -> dict[str, Tile]:
    """The tiles of the city as written so far; its now is `now` when given."""
    city = CityMap(broker, max_age=60)
    result = await Overview(broker, city).overview()
    assert result.now == (await city.snapshot()).now
    if now is not None:
        assert result.now == now
    return tiles_by_domain(result.tiles)


def test_local_midnight_and_degree_days() -> None:
    now = datetime(2026, 1, 15, 13, 30, tzinfo=UTC)  # 14:30 in Copenhagen (CET)
    midnight = local_midnight(now)
    assert midnight == datetime(2026, 1, 14, 23, 0, tzinfo=UTC)
    summer = local_midnight(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    assert summer == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    hours = [
        (Bucket(micros_of(midnight + i * HOUR), micros_of(midnight + (i + 1) * HOUR), {}), 5.0)
        for i in range(15)
    ]
    # 14 whole hours and half of the 15th, 12 degrees below 17 °C each
    assert degree_days(hours, now) == pytest.approx(14.5 * 12 / 24)
    assert degree_days([(hours[0][0], 20.0)], now) == 0.0


async def test_lighting_energy_today_and_light_states(broker: Broker) -> None:
    now = city_time()
    midnight = local_midnight(now)
    await tb.upsert(
        broker,
        [
            tb.streetlight("a", 12.50, 55.67, "on", "ok", now),
            tb.streetlight("b", 12.51, 55.67, "on", "ok", now),
            tb.streetlight("c", 12.52, 55.67, "low", "ok", now),
            tb.streetlight("d", 12.53, 55.67, "off", "ok", now),
            tb.streetlight("e", 12.54, 55.67, "on", "defectiveLamp", now),
            tb.cabinet("one", 12.55, 55.67, 130.0, 2.5, now),
            tb.cabinet("two", 12.56, 55.67, 55.0, 1.0, now),
        ],
    )
    one, two = "urn:ngsi-ld:StreetlightControlCabinet:one", "urn:ngsi-ld:StreetlightControlCabinet:two"
    readings = [(midnight - HOUR, 90.0), (midnight + HOUR / 2, 100.0), (midnight + 8 * HOUR, 112.0)]
    await tb.history(broker, "StreetlightControlCabinet", one, "energyConsumed", readings, "KWH")
    await tb.history(broker, "StreetlightControlCabinet", two, "energyConsumed", [(midnight, 50.0)], "KWH")
    tile = (await overview_of(broker, now))["lighting"]
    assert tile.value == pytest.approx((130 - 100) + (55 - 50))
    assert tile.unit == "kWh"
    assert tile.figures == {
        "lights": 5,
        "cabinets": 2,
        "on": 2,
        "dimmed": 1,
        "off": 1,
        "failed": 1,
        "power_kw": 3.5,
        "saved_kwh": None,  # the lighting service has not computed it
    }
    assert tile.alert and "1 failed" in tile.detail


async def test_traffic_index_and_bikes_today(broker: Broker) -> None:
    now = city_time()
    midnight = local_midnight(now)
    await tb.upsert(
        broker,
        [
            tb.counter("car-1", 12.50, 55.67, "car", 600, 1200, now),
            tb.counter("car-2", 12.51, 55.67, "car", 300, 1000, now),
            tb.counter("car-3", 12.52, 55.67, "car", 900, 1000, now),
            tb.counter("bike-1", 12.53, 55.67, "bicycle", 120, 2000, now),
            tb.counter("bike-2", 12.54, 55.67, "bicycle", 60, 2000, now),
        ],
    )
    half_hours = [midnight + i * HOUR / 2 for i in range(29)]  # 00:00 .. 14:00
    bike = "urn:ngsi-ld:TrafficFlowObserved:bike-1"
    await tb.history(broker, "TrafficFlowObserved", bike, "intensity", [(t, 120.0) for t in half_hours])
    yesterday = [(midnight - i * HOUR, 5000.0) for i in range(1, 5)]
    await tb.history(broker, "TrafficFlowObserved", bike, "intensity", yesterday)
    tiles = await overview_of(broker)
    traffic = tiles["traffic"]
    assert traffic.value == pytest.approx(100 * (0.5 + 0.3 + 0.9) / 3)
    assert traffic.figures == {"counters": 3, "reporting": 3, "high": 1, "levelEF": 0}
    judged = tb.counter("car-3", 12.52, 55.67, "car", 900, 1000, now)
    judged.body["levelOfService"] = tb.prop("F", observed=now)  # as the mobility service writes it
    await tb.upsert(broker, [judged])
    traffic = (await overview_of(broker))["traffic"]
    assert traffic.figures == {"counters": 3, "reporting": 3, "high": 1, "levelEF": 1}
    assert traffic.detail.endswith("; 1 of 1 at level of service E or F") and traffic.alert
    bikes = tiles["bikes"]
    # bike-1: 120 bicycles/h for 14.5 hours; bike-2 has one reading, at now (60/h for the half hour)
    assert bikes.value == round(120 * 14.5 + 60 * 0.5)
    assert bikes.figures == {"counters": 2, "flow_per_hour": 180.0}


async def test_rain_in_the_last_hour_and_cloudburst_warnings(broker: Broker) -> None:
    now = city_time()
    await tb.upsert(
        broker,
        [tb.gauge("steady", 12.50, 55.67, 1.5, 5.0, now), tb.gauge("burst", 12.51, 55.67, 3.0, 5.0, now)],
    )
    steady, burst = "urn:ngsi-ld:WeatherObserved:steady", "urn:ngsi-ld:WeatherObserved:burst"
    five = timedelta(minutes=5)
    # steady: 1.5 mm every 5 minutes for the hour (12 readings: 18 mm; 9 mm in the last 30 minutes),
    # and 5 mm at exactly an hour ago, which belongs to the hour before
    await tb.history(
        broker,
        "WeatherObserved",
        steady,
        "precipitation",
        [(now - i * five, 1.5) for i in range(1, 12)] + [(now - 12 * five, 5.0)],
        "MMT",
    )
    # burst: 3 mm every 5 minutes for the last 30 minutes (18 mm > 15: a warning), and 10 mm at
    # exactly 30 minutes ago, which counts for the hour but not for the 30 minutes
    await tb.history(
        broker,
        "WeatherObserved",
        burst,
        "precipitation",
        [(now - i * five, 3.0) for i in range(1, 6)] + [(now - 6 * five, 10.0)],
        "MMT",
    )
    tile = (await overview_of(broker))["rain"]
    assert tile.value == pytest.approx((18 + 28) / 2)
    assert tile.figures["max_mm"] == pytest.approx(28)
    assert tile.figures["warnings"] == 1 and tile.devices == (burst,)
    assert tile.alert and "1 cloudburst warning" in tile.detail


async def test_basins_above_80_percent(broker: Broker) -> None:
    now = city_time()
    await tb.upsert(
        broker,
        [
            tb.basin("a", 12.50, 55.67, 1.7, 2.0, now),
            tb.basin("b", 12.51, 55.67, 1.6, 2.0, now),
            tb.basin("c", 12.52, 55.67, 1.0, 2.0, now),
        ],
    )
    tile = (await overview_of(broker))["water"]
    assert tile.value == 2
    assert tile.devices == ("urn:ngsi-ld:FloodMonitoring:a", "urn:ngsi-ld:FloodMonitoring:b")
    assert tile.figures["max_fill"] == pytest.approx(0.85) and tile.alert


async def test_heat_use_against_degree_days(broker: Broker) -> None:
    now = city_time()
    midnight = local_midnight(now)
    week = midnight - timedelta(days=7)
    await tb.upsert(
        broker,
        [
            tb.building("b1", 12.50, 55.67),
            tb.heat_meter("b1", 12.50, 55.67, 8400 + 14.5 * 75, now),
            tb.gauge("g", 12.51, 55.67, 0.0, 7.0, now),
        ],
    )
    meter, gauge = "urn:ngsi-ld:SmartMeteringObservation:b1", "urn:ngsi-ld:WeatherObserved:g"
    before = [(week + i * HOUR, 50.0 * i) for i in range(168)]  # 50 kWh an hour for a week
    today = [(midnight + i * HOUR, 8400 + 75.0 * i) for i in range(15)]  # 75 kWh an hour today
    await tb.history(broker, "SmartMeteringObservation", meter, "totalConsumption", before + today, "KWH")
    temperatures = [(week + i * HOUR, 5.0) for i in range(168)] + [
        (midnight + i * HOUR, 7.0) for i in range(15)
    ]
    await tb.history(broker, "WeatherObserved", gauge, "temperature", temperatures, "CEL")
    tile = (await overview_of(broker))["heat"]
    normal = (167 * 50) / (7 * 12)  # kWh per degree day over the week before (max - min of it)
    degree_days_today = 14.5 * 10 / 24
    assert tile.figures["today_kwh"] == pytest.approx(14.5 * 75)
    assert tile.figures["degree_days_today"] == pytest.approx(degree_days_today, abs=1e-3)
    assert tile.figures["normal_kwh_per_degree_day"] == pytest.approx(normal)
    assert tile.value == pytest.approx(100 * 14.5 * 75 / (normal * degree_days_today))
    assert tile.unit == "% of normal" and tile.alert
    assert tile.figures["meters"] == 1 and tile.figures["buildings"] == 1


async def test_heat_without_a_week_before_has_no_normal(broker: Broker) -> None:
    now = city_time()
    await tb.upsert(broker, [tb.heat_meter("b1", 12.50, 55.67, 100.0, now)])
    tile = (await overview_of(broker))["heat"]
    assert tile.value is None and tile.figures["normal_kwh_per_degree_day"] is None


async def test_air_charging_and_grid_now(broker: Broker) -> None:
    now = city_time()
    await tb.upsert(
        broker,
        [
            tb.air_station("a", 12.50, 55.67, 12, now),
            tb.air_station("b", 12.51, 55.67, 64, now),
            tb.charger("free", 12.52, 55.67, 2, 4, "working", now),
            tb.charger("broken", 12.53, 55.67, 0, 2, "outOfService", now),
            tb.charger("full", 12.54, 55.67, 0, 2, "working", now),
            tb.grid_signal(650.0, 120.0, now),
        ],
    )
    tiles = await overview_of(broker)
    assert tiles["air"].value == 64 and tiles["air"].alert and "mean 38" in tiles["air"].detail
    assert tiles["air"].unit == "EAQI"
    assert tiles["ev"].value == 2
    assert tiles["ev"].figures == {"stations": 3, "sockets": 6, "out_of_service": 1}
    grid = tiles["grid"]
    assert (grid.value, grid.unit) == (650.0, "DKK/MWh")
    assert grid.figures == {"price": 650.0, "co2": 120.0} and grid.detail == "CO2 120 g/kWh"


async def test_the_grid_tile_shows_the_units_the_testbed_signal_reports(broker: Broker) -> None:
    """The testbed's DK2 signal through the device registry and ingestion, as in the demo: price and
    CO2 intensity have no unitCode, their unitText is what the tile shows."""
    now = city_time()
    grid = next(d for d in build_city(50, seed=1).devices if d.kind.name == "sim-grid")
    ingestion = Ingestion(broker, broker.store, broker.settings)
    try:
        await ingestion.registry.put_profile("", "sim-grid", profiles()["sim-grid"])
        _, key = await ingestion.registry.register("", registration(grid))
        payload = orjson.dumps([{"price": 612.5, "co2Intensity": 143.2, "t": tb.stamp(now)}])
        uplink = Uplink("http", "plain", "", grid.device_id, key, payload, tb.stamp(now))
        assert (await ingestion.ingest(uplink, wait=True)).status == "accepted"
    finally:
        await ingestion.close()
    tile = (await overview_of(broker))["grid"]
    assert (tile.value, tile.unit, tile.detail) == (612.5, "DKK/MWh", "CO2 143 g/kWh")


async def test_the_grid_tile_takes_its_units_from_the_signal(broker: Broker) -> None:
    now = city_time()
    signal = tb.grid_signal(80.0, 120.0, now)
    signal.body["price"]["unitText"] = tb.prop("EUR/MWh")
    await tb.upsert(broker, [signal])
    tile = (await overview_of(broker))["grid"]
    assert (tile.unit, tile.detail) == ("EUR/MWh", "CO2 120 g/kWh")
    for name in ("price", "co2Intensity"):
        del signal.body[name]["unitText"]
    await tb.upsert(broker, [signal])
    tile = (await overview_of(broker))["grid"]
    assert (tile.value, tile.unit, tile.detail) == (80.0, "", "CO2 120")


async def test_an_empty_city(broker: Broker) -> None:
    tiles = await overview_of(broker)
    assert set(tiles) == {
        "lighting",
        "traffic",
        "bikes",
        "rain",
        "water",
        "heat",
        "air",
        "ev",
        "grid",
        "reports",
    }
    assert all(
        tiles[d].value is None for d in ("lighting", "traffic", "bikes", "rain", "heat", "air", "grid")
    )
    assert tiles["water"].value == 0 and not any(tile.alert for tile in tiles.values())
    assert tiles["reports"].value == 0
