"""Tests for smartby.web.readmodel.citymap: the devices of a city read through the broker, their states,
the shared snapshot, and what changed since a client last looked (on each store backend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartby.broker import DEFAULT_TENANT, Broker
from smartby.web.readmodel.citymap import CityMap
from web.readmodel import testbed as tb

RING = [(12.53, 55.66), (12.56, 55.66), (12.56, 55.68), (12.53, 55.68), (12.53, 55.66)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def city(at: datetime) -> list[tb.Body]:
    return [
        tb.district("vesterbro", "Vesterbro", RING),
        tb.streetlight("vesterbro-0001", 12.540, 55.670, "on", "ok", at),
        tb.streetlight("vesterbro-0002", 12.541, 55.671, "low", "ok", at),
        tb.streetlight("vesterbro-0003", 12.542, 55.672, "on", "brokenLantern", at),
        tb.cabinet("vesterbro-1", 12.543, 55.673, 100.0, 2.0, at),
        tb.counter("vesterbro-1", 12.544, 55.674, "car", 900, 1000, at),
        tb.counter("vesterbro-2", 12.545, 55.675, "bicycle", 100, 1000, at),
        tb.gauge("vesterbro-1", 12.546, 55.676, 0.5, 6.0, at),
        tb.basin("vesterbro-1", 12.547, 55.677, 1.7, 2.0, at),
        tb.air_station("vesterbro-1", 12.548, 55.678, 65, at),
        tb.charger("vesterbro-1", 12.549, 55.679, 0, 2, "working", at),
        tb.building("vesterbro-1", 12.550, 55.661),
        tb.heat_meter("vesterbro-1", 12.550, 55.661, 5000.0, at),
        tb.grid_signal(700.0, 140.0, at),
    ]


async def test_every_device_with_its_domain_state_and_position(broker: Broker) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    await tb.upsert(broker, city(at))
    snapshot = await CityMap(broker).snapshot()
    found = {
        device.id.split(":", 2)[2]: (device.domain, device.state) for device in snapshot.devices.values()
    }
    assert found == {
        "Streetlight:vesterbro-0001": ("lighting", "on"),
        "Streetlight:vesterbro-0002": ("lighting", "dimmed"),
        "Streetlight:vesterbro-0003": ("lighting", "failed"),
        "StreetlightControlCabinet:vesterbro-1": ("lighting", "neutral"),
        "TrafficFlowObserved:vesterbro-1": ("traffic", "high"),
        "TrafficFlowObserved:vesterbro-2": ("bikes", "low"),
        "WeatherObserved:vesterbro-1": ("rain", "moderate"),
        "FloodMonitoring:vesterbro-1": ("water", "warning"),
        "AirQualityObserved:vesterbro-1": ("air", "poor"),
        "EVChargingStation:vesterbro-1": ("ev", "full"),
        "Building:vesterbro-1": ("heat", "neutral"),
        "SmartMeteringObservation:vesterbro-1": ("heat", "neutral"),
        "GridSignal:DK2": ("grid", "neutral"),
    }
    light = snapshot.devices["urn:ngsi-ld:Streetlight:vesterbro-0001"]
    assert (light.lon, light.lat) == (12.540, 55.670)
    assert light.values["powerConsumption"] == 35.0 and light.units["powerConsumption"] == "WTT"
    grid = snapshot.devices["urn:ngsi-ld:GridSignal:DK2"]
    assert grid.lon is None and grid.units == {"price": "DKK/MWh", "co2Intensity": "g/kWh"}
    assert snapshot.iris("TrafficFlowObserved", "intensity") == (
        "https://smartdatamodels.org/dataModel.Transportation/intensity",
    )
    # "now" is the wall clock when every reading is older
    assert abs((snapshot.now - datetime.now(UTC)).total_seconds()) < 5


async def test_now_follows_readings_ahead_of_the_wall_clock(broker: Broker) -> None:
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3, hours=2)
    await tb.upsert(broker, [tb.gauge("a", 12.5, 55.7, 0.0, 5.0, ahead)])
    assert (await CityMap(broker).snapshot()).now == ahead


async def test_district_outlines(broker: Broker) -> None:
    await tb.upsert(broker, [tb.district("vesterbro", "Vesterbro", RING)])
    (district,) = await CityMap(broker).districts()
    assert district.id == "urn:ngsi-ld:District:vesterbro"
    assert district.name == "Vesterbro" and district.population == 40_000
    assert district.rings == [RING]


async def test_one_snapshot_is_shared_until_it_is_old(broker: Broker) -> None:
    at = datetime.now(UTC)
    await tb.upsert(broker, city(at))
    clock = Clock()
    citymap = CityMap(broker, max_age=2.0, clock=clock)
    first = await citymap.snapshot()
    await tb.upsert(broker, [tb.streetlight("vesterbro-0001", 12.540, 55.670, "off", "ok", at)])
    clock.now += 0.01
    assert await citymap.snapshot() is first
    clock.now += 60
    second = await citymap.snapshot()
    assert second is not first and second.version != first.version
    assert second.devices["urn:ngsi-ld:Streetlight:vesterbro-0001"].state == "off"


async def test_changes_since_a_version(broker: Broker) -> None:
    at = datetime.now(UTC)
    await tb.upsert(broker, city(at))
    clock = Clock()
    citymap = CityMap(broker, clock=clock)
    everything = await citymap.changes(None)
    assert everything.reset and len(everything.markers) == 13
    version = everything.snapshot.version

    clock.now += 60
    unchanged = await citymap.changes(version)
    assert not unchanged.reset and unchanged.markers == [] and unchanged.removed == []
    assert unchanged.snapshot.version != version

    await tb.upsert(
        broker,
        [
            tb.streetlight("vesterbro-0002", 12.541, 55.671, "off", "ok", at),
            tb.streetlight("vesterbro-0001", 12.540, 55.670, "on", "ok", at, watts=40.0),  # same state
            tb.gauge("vesterbro-2", 12.5, 55.7, 0.0, 4.0, at),
        ],
    )
    await broker.delete_entity(DEFAULT_TENANT, "urn:ngsi-ld:EVChargingStation:vesterbro-1")
    clock.now += 60
    changed = await citymap.changes(version)
    assert not changed.reset
    assert [(m.id, m.state) for m in changed.markers] == [
        ("urn:ngsi-ld:Streetlight:vesterbro-0002", "off"),
        ("urn:ngsi-ld:WeatherObserved:vesterbro-2", "dry"),
    ]
    assert changed.removed == ["urn:ngsi-ld:EVChargingStation:vesterbro-1"]

    # A version of another process (or none this one remembers) gets every marker again.
    assert (await citymap.changes("0000.1")).reset
    assert (await citymap.changes("garbage")).reset
    assert (await CityMap(broker).changes(changed.snapshot.version)).reset
