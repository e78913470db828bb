"""The city's buildings as the energy service reads them through the broker: each `Building` with
its heated area, category and place, its heat meters (`SmartMeteringObservation`, `meterType`
`heat`, `refBuilding`), and the `WeatherObserved` entities that report `temperature`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shapely.geometry import shape

from smartby.broker import Broker
from smartby.ngsild.entity import Entity, instance_value
from smartby.ngsild.errors import ResourceNotFound
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.typequery import TypeName
from smartby.services.energy import labels
from smartby.services.energy import vocabulary as v
from smartby.services.results import first_value

PAGE = 1000
Place = tuple[float, float]
"""(longitude, latitude)."""


@dataclass(frozen=True)
class Building:
    id: str
    area: float | None
    """Heated area, m2 (None: unknown or not positive)."""
    categories: tuple[str, ...]
    place: Place | None

    @property
    def dwelling(self) -> bool:
        return labels.is_dwelling(list(self.categories))


def _number(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def place(entity: Entity) -> Place | None:
    """(longitude, latitude) of an entity's location (a shape's centroid)."""
    geometry = first_value(entity, v.LOCATION)
    try:
        centre = shape(geometry).centroid if isinstance(geometry, dict) else None
    except (ValueError, TypeError, AttributeError):
        return None
    return None if centre is None or centre.is_empty else (float(centre.x), float(centre.y))


def building_of(entity: Entity) -> Building:
    area = _number(first_value(entity, v.HEATED_AREA))
    raw = first_value(entity, v.CATEGORY)
    categories = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return Building(
        id=str(entity["id"]),
        area=area if area is not None and area > 0 else None,
        categories=tuple(c for c in categories if isinstance(c, str)),
        place=place(entity),
    )


async def entities_of(broker: Broker, tenant: str, entity_type: str) -> list[Entity]:
    found: list[Entity] = []
    while True:
        selector = EntitySelector(types=TypeName(entity_type))
        page = (
            await broker.query_entities(
                tenant, EntityQuery(selectors=(selector,), limit=PAGE, offset=len(found))
            )
        ).entities
        found.extend(page)
        if len(page) < PAGE:
            return found


async def building(broker: Broker, tenant: str, building_id: str) -> Building:
    """The Building `building_id`; ResourceNotFound when there is none (or it is not a Building)."""
    entity = await broker.retrieve_entity(tenant, building_id)
    if v.BUILDING not in (entity.get("type") or ()):
        raise ResourceNotFound(f"{building_id} is not a Building")
    return building_of(entity)


async def buildings(broker: Broker, tenant: str) -> list[Building]:
    return sorted(
        (building_of(entity) for entity in await entities_of(broker, tenant, v.BUILDING)),
        key=lambda b: b.id,
    )


async def heat_meters(broker: Broker, tenant: str) -> dict[str, list[str]]:
    """Per building id, the ids of its heat meters."""
    found: dict[str, list[str]] = {}
    for entity in await entities_of(broker, tenant, v.METER):
        if first_value(entity, v.METER_TYPE) != "heat":
            continue
        instances = entity.get(v.REF_BUILDING) or []
        target = instance_value(instances[0]) if instances else None
        if isinstance(target, str):
            found.setdefault(target, []).append(str(entity["id"]))
    return {key: sorted(ids) for key, ids in found.items()}


async def stations(broker: Broker, tenant: str) -> list[tuple[str, Place | None]]:
    """The WeatherObserved entities with their places (whether they have temperatures for a period
    is for their history to say)."""
    return sorted(
        (str(entity["id"]), place(entity)) for entity in await entities_of(broker, tenant, v.WEATHER_OBSERVED)
    )


def distance_km(a: Place, b: Place) -> float:
    """Equirectangular distance: fine within a city."""
    mean_lat = math.radians((a[1] + b[1]) / 2)
    dx = math.radians(b[0] - a[0]) * math.cos(mean_lat)
    dy = math.radians(b[1] - a[1])
    return 6371.0 * math.hypot(dx, dy)


def nearest_first(origin: Place | None, found: list[tuple[str, Place | None]]) -> list[str]:
    """Station ids, nearest to `origin` first (those without a place, and all without an origin, by id)."""

    def key(item: tuple[str, Place | None]) -> tuple[float, str]:
        station, where = item
        if origin is None or where is None:
            return (math.inf, station)
        return (distance_km(origin, where), station)

    return [station for station, _ in sorted(found, key=key)]
