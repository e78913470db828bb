"""The synthetic city: districts, streets, buildings and the devices placed on them.

`build_city(devices, seed)` places `devices` devices (the GridSignal feed, then street light control
cabinets, traffic and bike counters, air quality stations, rain gauges, sewer basins, heat meters and
EV chargers in fixed shares, street lights for the rest) and as many buildings as heat meters. The
same arguments give the same city. Each device kind is one FIWARE Smart Data Models entity type with
its @context, the readings it sends (attribute, unit) and the JSON payload profile that decodes
them in smartby's device registry.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from smartby.sim.geography import District, Street, districts, random_point, street_network

SDM = "https://smart-data-models.github.io/dataModel.{}/context.jsonld"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"


@dataclass(frozen=True)
class UnitText:
    """A unit without a UN/CEFACT code, in words (`DKK/MWh`): sent as a `unitText` sub-Property."""

    text: str


Unit = str | UnitText | None
"""A reading's unit: its UN/CEFACT unitCode, its unitText, or none."""


@dataclass(frozen=True)
class Kind:
    name: str
    """The payload profile's name in smartby's device registry, and the kind's key here."""
    entity_type: str
    context: str | None
    """The Smart Data Models @context its names expand with; None: the core context only."""
    readings: tuple[tuple[str, Unit], ...]
    """Attributes it reports, with their unit."""
    share: float
    """Its share of the city's devices."""
    description: str

    def decoder(self) -> dict[str, Any]:
        """The `json` decoder of its payloads: an object of readings and `t`, the time (ISO 8601),
        or an array of such objects."""
        fields: list[dict[str, Any]] = []
        for attribute, unit in self.readings:
            spec: dict[str, Any] = {"attribute": attribute}
            if isinstance(unit, UnitText):
                spec["unitText"] = unit.text
            elif unit is not None:
                spec["unitCode"] = unit
            fields.append(spec)
        return {"kind": "json", "fields": fields, "observedAt": {"path": "t"}}


KINDS = {
    kind.name: kind
    for kind in (
        Kind(
            "sim-grid",
            "GridSignal",
            None,
            (("price", UnitText("DKK/MWh")), ("co2Intensity", UnitText("g/kWh"))),
            0.0,
            "DK2 grid signal",
        ),
        Kind(
            "sim-cabinet",
            "StreetlightControlCabinet",
            SDM.format("Streetlighting"),
            (("energyConsumed", "KWH"), ("totalActivePower", "KWT")),
            0.03,
            "Street light control cabinet",
        ),
        Kind(
            "sim-traffic",
            "TrafficFlowObserved",
            SDM.format("Transportation"),
            (("intensity", None), ("averageVehicleSpeed", "KMH"), ("occupancy", "C62"), ("congested", None)),
            0.03,
            "Traffic counter (cars)",
        ),
        Kind(
            "sim-bikes",
            "TrafficFlowObserved",
            SDM.format("Transportation"),
            (("intensity", None),),
            0.015,
            "Bike counter",
        ),
        Kind(
            "sim-air",
            "AirQualityObserved",
            SDM.format("Environment"),
            (("no2", "GQ"), ("pm10", "GQ"), ("pm25", "GQ"), ("airQualityIndex", None)),
            0.01,
            "Air quality station",
        ),
        Kind(
            "sim-rain",
            "WeatherObserved",
            SDM.format("Weather"),
            (("precipitation", "MMT"), ("temperature", "CEL")),
            0.01,
            "Rain gauge",
        ),
        Kind(
            "sim-basin",
            "FloodMonitoring",
            SDM.format("Environment"),
            (("currentLevel", "MTR"), ("floodLevelStatus", None)),
            0.02,
            "Sewer basin level sensor",
        ),
        Kind(
            "sim-heat",
            "SmartMeteringObservation",
            SDM.format("Device"),
            (("totalConsumption", "KWH"),),
            0.12,
            "District heating meter",
        ),
        Kind(
            "sim-ev",
            "EVChargingStation",
            SDM.format("Transportation"),
            (("availableCapacity", None), ("status", None), ("powerConsumption", "KWT")),
            0.06,
            "EV charging station",
        ),
        Kind(
            "sim-streetlight",
            "Streetlight",
            SDM.format("Streetlighting"),
            (
                ("powerState", None),
                ("status", None),
                ("illuminanceLevel", "C62"),
                ("powerConsumption", "WTT"),
            ),
            0.0,
            "Street light",
        ),
    )
}
BUILDING_CONTEXT = SDM.format("Building")
LIGHTING_CONTEXT = "https://smartby.org/contexts/lighting.jsonld"
"""smartby's own @context of LightingProgram (docs/lighting.md)."""
LIGHTING_PROGRAM = "urn:ngsi-ld:LightingProgram:testbed-night-dimming"
SILENT_FAULTS = ((0.25, "deadLamp"), (0.5, "dayBurner"), (0.75, "stuckDriver"))
"""Street lights (at these shares of the list) whose fault their own reports do not show: one says it
is lit but draws nothing, one burns all day, one's driver stays at full power when dimmed."""
DISTRICT_CONTEXT: str | None = None
BUILDING_CATEGORIES = (
    ("residential", 0.62, (800, 6000)),
    ("office", 0.14, (1500, 12000)),
    ("school", 0.08, (2000, 9000)),
    ("shop", 0.10, (300, 3000)),
    ("hospital", 0.01, (8000, 40000)),
    ("sportsHall", 0.05, (800, 4000)),
)
LABEL_WEIGHTS = {"A": 0.08, "B": 0.12, "C": 0.25, "D": 0.25, "E": 0.15, "F": 0.10, "G": 0.05}


@dataclass
class Device:
    kind: Kind
    entity_id: str
    district: int
    location: tuple[float, float]
    name: str
    static: dict[str, Any] = field(default_factory=dict)
    """Static attributes beside name, location and refDistrict, in normalized NGSI-LD."""
    params: dict[str, Any] = field(default_factory=dict)
    """What the models need to know of it (capacity, rated power, catchment, ...)."""

    @property
    def device_id(self) -> str:
        """Its id in smartby's device registry: the entity id without `urn:ngsi-ld:`."""
        return self.entity_id.removeprefix("urn:ngsi-ld:")


@dataclass
class Building:
    entity_id: str
    district: int
    location: tuple[float, float]
    name: str
    category: str
    area: float
    label: str


@dataclass
class City:
    seed: int
    districts: tuple[District, ...]
    streets: tuple[Street, ...]
    devices: list[Device]
    buildings: list[Building]

    def of_kind(self, name: str) -> list[Device]:
        return [device for device in self.devices if device.kind.name == name]


def allocation(total: int) -> dict[str, int]:
    """How many devices of each kind a city of `total` devices has (at least one of each)."""
    if total < len(KINDS):
        raise ValueError(f"A city needs at least {len(KINDS)} devices, one of each kind")
    counts = {"sim-grid": 1}
    for name, kind in KINDS.items():
        if kind.share > 0:
            counts[name] = max(1, round(kind.share * total))
    counts["sim-streetlight"] = total - sum(counts.values())
    if counts["sim-streetlight"] < 1:
        raise ValueError(f"A city of {total} devices has no room for street lights")
    return counts


class _Numbers:
    def __init__(self) -> None:
        self.taken: Counter[tuple[str, str]] = Counter()

    def next_id(self, entity_type: str, slug: str) -> str:
        self.taken[(entity_type, slug)] += 1
        return f"urn:ngsi-ld:{entity_type}:{slug}-{self.taken[(entity_type, slug)]:04d}"


def build_city(devices: int = 2000, seed: int = 1) -> City:
    """The synthetic Copenhagen with `devices` devices; the same arguments give the same city."""
    rng = random.Random(f"city-{seed}-{devices}")
    places = districts()
    streets = street_network(seed, streets_per_district=max(10, min(60, round((devices / 300) ** 0.5 * 8))))
    counts = allocation(devices)
    numbers = _Numbers()
    city = City(seed, places, streets, [], [])
    weights = [d.population for d in places]

    def pick_district() -> int:
        return rng.choices(range(len(places)), weights)[0]

    def add(kind_name: str, district: int, location: tuple[float, float], name: str, **params: Any) -> Device:
        kind = KINDS[kind_name]
        device = Device(
            kind,
            numbers.next_id(kind.entity_type, places[district].slug),
            district,
            location,
            name,
            {},
            params,
        )
        city.devices.append(device)
        return device

    grid = Device(KINDS["sim-grid"], "urn:ngsi-ld:GridSignal:DK2", 0, (12.5683, 55.6761), "DK2 grid signal")
    grid.static["area"] = {"type": "Property", "value": "DK2"}
    city.devices.append(grid)

    _place_lights(city, rng, counts, add)
    mains = [s for s in streets if s.main] or list(streets)
    for kind_name, vehicle in (("sim-traffic", "car"), ("sim-bikes", "bicycle")):
        for _ in range(counts[kind_name]):
            street = rng.choice(mains)
            capacity = (
                rng.choice((1200, 1800, 2400, 3000)) if vehicle == "car" else rng.choice((800, 1500, 2500))
            )
            device = add(
                kind_name,
                street.district,
                street.point_at(rng.uniform(0.15, 0.85)),
                f"{'Traffic' if vehicle == 'car' else 'Bike'} counter, {street.name}",
                capacity=capacity,
                load=rng.uniform(0.7, 1.08),
                free_speed=rng.choice((40, 50, 50, 60)) if vehicle == "car" else 18,
            )
            device.static["vehicleType"] = {"type": "Property", "value": vehicle}
            device.static["capacity"] = {"type": "Property", "value": capacity}
            if vehicle == "car":
                device.params["segment"] = road_segment(city.streets.index(street))
                device.static["refRoadSegment"] = {"type": "Relationship", "object": device.params["segment"]}
    for number in range(counts["sim-air"]):
        district = number % len(places) if number < len(places) else pick_district()
        add(
            "sim-air",
            district,
            random_point(places[district], rng),
            f"Air quality station {places[district].name} {number + 1}",
            exposure=rng.uniform(0.3, 1.0),
        )
    for number in range(counts["sim-rain"]):
        district = number % len(places)
        add("sim-rain", district, random_point(places[district], rng), f"Rain gauge {places[district].name}")
    for number in range(counts["sim-basin"]):
        district = number % len(places) if number < len(places) else pick_district()
        danger = round(rng.uniform(2.0, 5.0), 1)
        what = "Overflow chamber" if number % 3 == 2 else "Sewer basin"
        device = add(
            "sim-basin",
            district,
            random_point(places[district], rng),
            f"{what} {places[district].name} {number + 1}",
            danger=danger,
            base=rng.uniform(0.08, 0.2),
            inflow=rng.uniform(0.85, 1.35),
            drain_hours=rng.uniform(6.0, 12.0),
        )
        device.static["dangerLevel"] = {"type": "Property", "value": danger, "unitCode": "MTR"}
    _place_buildings(city, rng, counts["sim-heat"], pick_district, add, numbers)
    for number in range(counts["sim-ev"]):
        district = pick_district()
        capacity = rng.choice((2, 2, 4, 4, 6, 8, 10))
        device = add(
            "sim-ev",
            district,
            random_point(places[district], rng),
            f"Charging station {places[district].name} {number + 1}",
            capacity=capacity,
            kw=rng.choice((11.0, 11.0, 22.0, 50.0)),
            site=rng.choice(("residential", "residential", "work", "destination")),
        )
        device.static["capacity"] = {"type": "Property", "value": capacity}
    return city


def road_segment(street: int) -> str:
    """The RoadSegment id of a street (by its index): lights and car counters on it name it."""
    return f"urn:ngsi-ld:RoadSegment:street-{street:04d}"


def group_of(cabinet: Device) -> str:
    """The StreetlightGroup of the lights a cabinet feeds."""
    return cabinet.entity_id.replace(":StreetlightControlCabinet:", ":StreetlightGroup:")


def _place_lights(city: City, rng: random.Random, counts: dict[str, int], add: Any) -> None:
    """Street lights evenly spaced along every street, each fed by the cabinet of its stretch."""
    lights, cabinets = counts["sim-streetlight"], counts["sim-cabinet"]
    total = sum(street.line.length for street in city.streets)
    spacing = total / lights
    positions: list[tuple[Street, float]] = []
    offset = spacing / 2
    for street in city.streets:
        while offset < street.line.length and len(positions) < lights:
            positions.append((street, offset / street.line.length))
            offset += spacing
        offset -= street.line.length
    while len(positions) < lights:  # rounding at the very end
        street = city.streets[-1]
        positions.append((street, rng.uniform(0, 1)))
    per_cabinet = max(1, -(-lights // cabinets))
    cabinet_devices = []
    for number in range(cabinets):
        street, fraction = positions[min(lights - 1, number * per_cabinet + per_cabinet // 2)]
        cabinet_devices.append(
            add("sim-cabinet", street.district, street.point_at(fraction), f"Control cabinet {street.name}")
        )
    for number, (street, fraction) in enumerate(positions):
        cabinet = cabinet_devices[min(number // per_cabinet, cabinets - 1)]
        light = add(
            "sim-streetlight",
            street.district,
            street.point_at(fraction),
            f"{street.name} light {number + 1}",
            watts=rng.choice((36, 48, 60, 75, 90, 110)),
            cabinet=cabinet.entity_id,
            segment=road_segment(city.streets.index(street)),
        )
        light.static["refStreetlightControlCabinet"] = {"type": "Relationship", "object": cabinet.entity_id}
        light.static["refStreetlightGroup"] = {"type": "Relationship", "object": group_of(cabinet)}
        light.static["powerRating"] = {"type": "Property", "value": light.params["watts"], "unitCode": "WTT"}
        # The device the lighting service sends its dim commands to (smartby's device id).
        light.static["refDevice"] = {
            "type": "Relationship",
            "object": f"urn:ngsi-ld:Device:{light.device_id}",
        }
        cabinet.params.setdefault("lights", []).append(light)
    placed = city.of_kind("sim-streetlight")
    for share, fault in SILENT_FAULTS:
        placed[int(share * (len(placed) - 1))].params.setdefault("fault", fault)


def _place_buildings(
    city: City, rng: random.Random, count: int, pick_district: Any, add: Any, numbers: _Numbers
) -> None:
    categories = [c for c, _, _ in BUILDING_CATEGORIES]
    weights = [w for _, w, _ in BUILDING_CATEGORIES]
    sizes = {c: size for c, _, size in BUILDING_CATEGORIES}
    for number in range(count):
        district = pick_district()
        slug = city.districts[district].slug
        category = rng.choices(categories, weights)[0]
        low, high = sizes[category]
        area = round(rng.uniform(low, high), -1)
        label = rng.choices(list(LABEL_WEIGHTS), list(LABEL_WEIGHTS.values()))[0]
        location = random_point(city.districts[district], rng)
        building = Building(
            numbers.next_id("Building", slug),
            district,
            location,
            f"{category.capitalize()} building {number + 1}, {city.districts[district].name}",
            category,
            area,
            label,
        )
        city.buildings.append(building)
        meter = add(
            "sim-heat",
            district,
            location,
            f"Heat meter, {building.name}",
            area=area,
            label=label,
            office=category in ("office", "school", "shop"),
            start=round(area * rng.uniform(200, 900)),
        )
        meter.static["meterType"] = {"type": "Property", "value": "heat"}
        meter.static["refBuilding"] = {"type": "Relationship", "object": building.entity_id}
