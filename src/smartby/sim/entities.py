"""The city as NGSI-LD: static entities, device registrations, payload profiles, and readings as
entity fragments for brokers without smartby's device API.

Static attributes (names, locations, capacities, refDistrict, the district polygons) are
provisioned with NGSI-LD batch upserts; readings go through the device transports. Each entity is
in normalized form with the @context of its type (`Kind.context`); types without a Smart Data
Model (District, GridSignal) use the core context only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from smartby.sim.city import (
    BUILDING_CONTEXT,
    DISTRICT_CONTEXT,
    KINDS,
    LIGHTING_CONTEXT,
    LIGHTING_PROGRAM,
    City,
    Device,
    Kind,
    UnitText,
    group_of,
)
from smartby.sim.models import DIM_LEVEL, DIMMED

Entity = dict[str, Any]


def _point(location: tuple[float, float]) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": list(location)}}


def _text(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def static_entities(city: City) -> Iterator[tuple[str | None, Entity]]:
    """(@context URL or None for the core context, entity) for everything the city holds."""
    for district in city.districts:
        yield (
            DISTRICT_CONTEXT,
            {
                "id": district.entity_id,
                "type": "District",
                "name": _text(district.name),
                "location": {"type": "GeoProperty", "value": district.geojson()},
                "population": _text(district.population),
            },
        )
    for building in city.buildings:
        yield (
            BUILDING_CONTEXT,
            {
                "id": building.entity_id,
                "type": "Building",
                "name": _text(building.name),
                "category": _text([building.category]),
                "heatedArea": {"type": "Property", "value": building.area, "unitCode": "MTK"},
                "energyLabel": _text(building.label),
                "location": _point(building.location),
                "refDistrict": _district(city, building.district),
            },
        )
    for device in city.devices:
        yield device.kind.context, device_entity(city, device)
    yield LIGHTING_CONTEXT, lighting_program()
    for cabinet in lit_cabinets(city):
        yield KINDS["sim-cabinet"].context, light_group(city, cabinet)


def lit_cabinets(city: City) -> list[Device]:
    """The cabinets that feed lights (each one's lights are a group)."""
    return [cabinet for cabinet in city.of_kind("sim-cabinet") if cabinet.params.get("lights")]


LIGHTING_CLASS = "https://smartby.org/ns/lighting/lightingClass"
REF_ROAD_SEGMENT = "https://smartdatamodels.org/dataModel.Transportation/refRoadSegment"
SUMMER = ("--05-12", "--07-26")
"""Days the sun rises before 05:00 at Copenhagen (within ten minutes at the edges)."""


def lighting_program() -> Entity:
    """What the testbed's lights do, as a LightingProgram (docs/lighting.md): full from sunset, dimmed
    from 00:00 to 05:00 local while dark, off at sunrise."""
    dim, full = f"{DIMMED[0]:02d}:00", f"{DIMMED[1]:02d}:00"
    night = [{"event": "sunset", "offset": 0, "level": 1.0}, {"time": dim, "level": DIM_LEVEL}]
    off = {"event": "sunrise", "offset": 0, "level": 0.0}
    rules = [
        {"name": "summer: sunrise before 05:00", "from": SUMMER[0], "to": SUMMER[1], "steps": [*night, off]},
        {"name": "the rest of the year", "steps": [*night, {"time": full, "level": 1.0}, off]},
    ]
    return {
        "id": LIGHTING_PROGRAM,
        "type": "LightingProgram",
        "name": _text("smartby testbed: night dimming"),
        "calendarRules": _text(rules),
    }


def light_group(city: City, cabinet: Device) -> Entity:
    """The StreetlightGroup of a cabinet's lights, running the testbed's program. Where most of them
    stand on a street with a car counter, the group is lit as EN 13201 class M3 on that street's
    segment (adaptive lighting, docs/lighting.md)."""
    lights = cabinet.params.get("lights", [])
    group: Entity = {
        "id": group_of(cabinet),
        "type": "StreetlightGroup",
        "name": _text(f"Lights of {cabinet.name.lower()}"),
        "refStreetlight": {"type": "Relationship", "object": [light.entity_id for light in lights]},
        "activeProgramId": _text(LIGHTING_PROGRAM),
    }
    counted = {counter.params["segment"] for counter in city.of_kind("sim-traffic")}
    streets = Counter(light.params["segment"] for light in lights)
    segment, _ = streets.most_common(1)[0] if streets else (None, 0)
    if segment in counted:
        # Terms of smartby's lighting @context and of the Transportation models, written expanded
        group[LIGHTING_CLASS] = _text("M3")
        group[REF_ROAD_SEGMENT] = {"type": "Relationship", "object": segment}
    return group


def _district(city: City, index: int) -> dict[str, Any]:
    return {"type": "Relationship", "object": city.districts[index].entity_id}


def device_entity(city: City, device: Device) -> Entity:
    """A device's entity with its static attributes only."""
    return {
        "id": device.entity_id,
        "type": device.kind.entity_type,
        "name": _text(device.name),
        "location": _point(device.location),
        "refDistrict": _district(city, device.district),
        **device.static,
    }


LIGHT_COMMANDS: dict[str, Any] = {
    "dim": {"kind": "json", "fields": [{"path": "illuminanceLevel"}], "confirmBy": "illuminanceLevel"}
}
"""The testbed lights' commands: `dim` sends `{"illuminanceLevel": level}`, and the light's next
reading of illuminanceLevel confirms it."""


RAIN_INTERVAL = 300
"""How often the testbed's rain gauges report while it rains (seconds): their profile says so, and
the climate service judges their rain windows by it."""


def profiles() -> dict[str, dict[str, Any]]:
    """The payload profiles smartby's device registry decodes the simulated devices with (and
    encodes the street lights' commands with)."""
    found: dict[str, dict[str, Any]] = {
        name: {"description": f"smartby testbed: {kind.description}", "decoder": kind.decoder()}
        for name, kind in KINDS.items()
    }
    found["sim-streetlight"]["commands"] = LIGHT_COMMANDS
    found["sim-rain"]["reportingInterval"] = RAIN_INTERVAL
    return found


def registration(device: Device, key: str | None = None) -> dict[str, Any]:
    """The body registering a device in smartby's device registry; without a key smartby generates
    one (and answers it, once)."""
    body: dict[str, Any] = {
        "id": device.device_id,
        "entityId": device.entity_id,
        "entityType": device.kind.entity_type,
        "profile": device.kind.name,
        "location": {"type": "Point", "coordinates": list(device.location)},
        "organisation": "smartby testbed",
    }
    if key is not None:
        body["key"] = key
    if device.kind.context is not None:
        body["context"] = device.kind.context
    return body


def reading_fragment(kind: Kind, entity_id: str, payload: dict[str, Any]) -> Entity:
    """One reading as an entity fragment for a batch upsert (options=update): each attribute a
    Property with observedAt and its unitCode or unitText sub-Property, what smartby's ingestion
    makes of the same payload."""
    units = dict(kind.readings)
    fragment: Entity = {"id": entity_id, "type": kind.entity_type}
    for name, value in payload.items():
        if name == "t" or name not in units:
            continue
        attribute: dict[str, Any] = {"type": "Property", "value": value, "observedAt": payload["t"]}
        unit = units[name]
        if isinstance(unit, UnitText):
            attribute["unitText"] = {"type": "Property", "value": unit.text}
        elif unit is not None:
            attribute["unitCode"] = unit
        fragment[name] = attribute
    return fragment


def link(context: str | None) -> dict[str, str]:
    """The Link header naming a @context (none for the core context)."""
    if context is None:
        return {}
    return {"Link": f'<{context}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}
