"""The synthetic Copenhagen: ten districts that tile the city, devices inside them with the ids,
types and static attributes of the testbed contract."""

from __future__ import annotations

import re

import pytest
import shapely
from shapely.geometry import Point, shape

from smartby.ingest.decoders import Reading, build
from smartby.sim.city import KINDS, allocation, build_city
from smartby.sim.entities import lit_cabinets, profiles, reading_fragment, registration, static_entities
from smartby.sim.geography import districts, street_network

ID = re.compile(r"^urn:ngsi-ld:[A-Za-z]+:[a-z-]+-\d{4,}$")


def test_ten_districts_tile_copenhagen_without_overlapping() -> None:
    found = districts()
    assert len(found) == 10 and len({d.slug for d in found}) == 10
    for one in found:
        assert one.shape.is_valid and one.shape.area > 0
        geometry = one.geojson()
        assert geometry["type"] in ("Polygon", "MultiPolygon")
        minx, miny, maxx, maxy = shape(geometry).bounds
        assert minx >= 12.45 and maxx <= 12.65 and miny >= 55.61 and maxy <= 55.73
        for other in found:
            if other is not one:
                assert one.shape.intersection(other.shape).area < 1e-9
    # Frederiksberg is a municipality of its own, inside Copenhagen.
    assert not any(d.shape.contains(Point(12.53, 55.68)) for d in found)


def test_streets_lie_inside_their_districts() -> None:
    streets = street_network(1)
    assert len(streets) > 50
    for street in streets:
        assert districts()[street.district].shape.buffer(1e-5).contains(street.line)


def test_a_city_of_n_devices_holds_n_devices_of_every_kind() -> None:
    city = build_city(2000, seed=1)
    assert len(city.devices) == 2000 == sum(allocation(2000).values())
    assert {d.kind.name for d in city.devices} == set(KINDS)
    assert len(city.buildings) == len(city.of_kind("sim-heat"))
    ids = [d.entity_id for d in city.devices] + [b.entity_id for b in city.buildings]
    assert len(set(ids)) == len(ids)
    for device in city.devices:
        if device.kind.name != "sim-grid":
            assert ID.match(device.entity_id), device.entity_id
            slug = device.entity_id.split(":")[-1].rsplit("-", 1)[0]
            assert slug == city.districts[device.district].slug
        lon, lat = device.location
        assert 12.45 <= lon <= 12.65 and 55.61 <= lat <= 55.73
        assert city.districts[device.district].shape.buffer(1e-4).contains(Point(lon, lat))
    assert build_city(2000, seed=1).devices[500].location == city.devices[500].location
    assert build_city(2000, seed=2).devices[500].location != city.devices[500].location


def test_a_city_needs_a_device_of_each_kind() -> None:
    with pytest.raises(ValueError):
        allocation(5)
    assert min(allocation(50).values()) == 1


def test_static_entities_follow_the_contract() -> None:
    city = build_city(60, seed=1)
    entities = list(static_entities(city))
    cabinets = lit_cabinets(city)
    # the devices, and the lighting: a group per cabinet, the testbed's program
    assert len(entities) == len(city.districts) + len(city.buildings) + len(city.devices) + len(cabinets) + 1
    by_type: dict[str, list[dict[str, object]]] = {}
    for context, entity in entities:
        by_type.setdefault(str(entity["type"]), []).append(entity)
        if entity["type"] in ("District", "GridSignal"):
            assert context is None
        elif entity["type"] == "LightingProgram":
            assert context == "https://smartby.org/contexts/lighting.jsonld"
        else:
            assert context is not None and context.startswith("https://smart-data-models.github.io/")
    assert set(by_type) == {
        "District",
        "Building",
        "GridSignal",
        "StreetlightControlCabinet",
        "Streetlight",
        "StreetlightGroup",
        "LightingProgram",
        "TrafficFlowObserved",
        "AirQualityObserved",
        "WeatherObserved",
        "FloodMonitoring",
        "SmartMeteringObservation",
        "EVChargingStation",
    }
    assert {e["vehicleType"]["value"] for e in by_type["TrafficFlowObserved"]} == {"car", "bicycle"}  # type: ignore[index]
    grouped = {light for group in by_type["StreetlightGroup"] for light in group["refStreetlight"]["object"]}  # type: ignore[index]
    assert grouped == {light["id"] for light in by_type["Streetlight"]}
    counted = {e["refRoadSegment"]["object"] for e in by_type["TrafficFlowObserved"] if "refRoadSegment" in e}  # type: ignore[index]
    segment = "https://smartdatamodels.org/dataModel.Transportation/refRoadSegment"
    adaptive = [g for g in by_type["StreetlightGroup"] if segment in g]
    assert all(g[segment]["object"] in counted for g in adaptive)  # type: ignore[index]
    assert all(g["https://smartby.org/ns/lighting/lightingClass"]["value"] == "M3" for g in adaptive)  # type: ignore[index]
    for entity in by_type["Streetlight"]:
        assert entity["refStreetlightControlCabinet"]["type"] == "Relationship"  # type: ignore[index]
        assert entity["refStreetlightGroup"]["object"] in {g["id"] for g in by_type["StreetlightGroup"]}  # type: ignore[index]
        assert entity["powerRating"]["value"] > 0  # type: ignore[index,operator]
    for entity in by_type["SmartMeteringObservation"]:
        assert entity["meterType"]["value"] == "heat"  # type: ignore[index]
    for kind in ("Building", "EVChargingStation", "FloodMonitoring"):
        for entity in by_type[kind]:
            assert entity["refDistrict"]["object"].startswith("urn:ngsi-ld:District:")  # type: ignore[index]
            assert shapely.geometry.shape(entity["location"]["value"]).geom_type == "Point"  # type: ignore[index]


def test_devices_register_with_a_profile_of_their_kind() -> None:
    city = build_city(60, seed=1)
    shipped = profiles()
    for device in city.devices:
        body = registration(device)
        assert body["profile"] in shipped and "key" not in body
        assert body["entityId"] == device.entity_id and body["id"] == device.device_id
    assert shipped["sim-streetlight"]["decoder"]["observedAt"] == {"path": "t"}


def test_the_grid_signal_carries_its_units_as_unit_text() -> None:
    """Price and CO2 intensity have no UN/CEFACT code: the profile and the batch-upsert fragment
    both give them as a unitText, other kinds keep their unitCode."""
    fields = profiles()["sim-grid"]["decoder"]["fields"]
    assert fields == [
        {"attribute": "price", "unitText": "DKK/MWh"},
        {"attribute": "co2Intensity", "unitText": "g/kWh"},
    ]
    payload = b'{"price": 612.5, "co2Intensity": 143, "t": "2024-03-04T12:00:00Z"}'
    assert build(profiles()["sim-grid"]["decoder"])(payload, {}) == [
        Reading("price", 612.5, None, "2024-03-04T12:00:00Z", "DKK/MWh"),
        Reading("co2Intensity", 143, None, "2024-03-04T12:00:00Z", "g/kWh"),
    ]
    fragment = reading_fragment(
        KINDS["sim-grid"], "urn:ngsi-ld:GridSignal:DK2", {"price": 612.5, "t": "2024-03-04T12:00:00Z"}
    )
    assert fragment["price"] == {
        "type": "Property",
        "value": 612.5,
        "observedAt": "2024-03-04T12:00:00Z",
        "unitText": {"type": "Property", "value": "DKK/MWh"},
    }
    heat = reading_fragment(
        KINDS["sim-heat"], "urn:ngsi-ld:X:1", {"totalConsumption": 5, "t": "2024-03-04T12:00:00Z"}
    )
    assert heat["totalConsumption"]["unitCode"] == "KWH" and "unitText" not in heat["totalConsumption"]
