"""The city's street lighting as the service sees it: groups, their lights, and the programs they run.

A light belongs to the group that lists it in `refStreetlight` or that it names in
`refStreetlightGroup`. A group runs the program its `activeProgramId` names, or the default
dusk-to-dawn program; its place (for sun times) is its `location`, or the centroid of its lights'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from shapely.geometry import MultiPoint, shape

from smartby.broker import Broker
from smartby.ngsild.entity import Entity, instance_value
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.timestamps import parse_datetime
from smartby.ngsild.typequery import TypeName
from smartby.services.lighting import vocabulary as v
from smartby.services.lighting.program import (
    DEFAULT_PROGRAM_ID,
    DUSK_TO_DAWN,
    Program,
    ProgramError,
    parse_program,
)
from smartby.services.lighting.schedule import Place

PAGE = 1000
COPENHAGEN = Place(55.6761, 12.5683)
"""Where a group with no location and no located light is taken to be."""


def value(entity: Entity, name: str) -> Any:
    instances = entity.get(name) or []
    return instance_value(instances[0]) if instances else None


def value_of_any(entity: Entity, names: tuple[str, ...]) -> Any:
    return next((found for name in names if (found := value(entity, name)) is not None), None)


def references(entity: Entity, name: str) -> list[str]:
    found = value(entity, name)
    if isinstance(found, str):
        return [found]
    if isinstance(found, list):
        return [item for item in found if isinstance(item, str)]
    return []


def number(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def point(entity: Entity) -> tuple[float, float] | None:
    """(longitude, latitude) of an entity's location (a shape's centroid)."""
    geometry = value(entity, v.LOCATION)
    if not isinstance(geometry, dict):
        return None
    try:
        centre = shape(geometry).centroid
    except (ValueError, TypeError, AttributeError):
        return None
    if centre.is_empty:
        return None
    return (float(centre.x), float(centre.y))


@dataclass
class Light:
    id: str
    power_rating: float | None
    location: tuple[float, float] | None
    device: str | None
    lighting_class: str | None
    segment: str | None
    last_power: tuple[datetime, float] | None = None
    """Its latest power reading (observedAt, W)."""
    cabinet: str | None = None
    group: str | None = None


@dataclass
class Group:
    id: str
    program_id: str
    location: tuple[float, float] | None
    lighting_class: str | None
    segment: str | None
    lights: list[Light] = field(default_factory=list)

    @cached_property
    def place(self) -> Place:
        """Its location, else its lights' centroid, else Copenhagen (read once: an inventory is read
        afresh for every batch and run)."""
        if self.location is not None:
            return Place(self.location[1], self.location[0])
        located = [light.location for light in self.lights if light.location is not None]
        if not located:
            return COPENHAGEN
        centre = MultiPoint(located).centroid
        return Place(round(float(centre.y), 6), round(float(centre.x), 6))


@dataclass
class Lighting:
    """One tenant's lighting: groups by id (with their lights), lights by id, programs by id."""

    groups: dict[str, Group]
    lights: dict[str, Light]
    programs: dict[str, Program]

    def program_of(self, group: Group) -> Program:
        return self.programs.get(group.program_id) or self.programs.get(DEFAULT_PROGRAM_ID) or DUSK_TO_DAWN

    def group_of(self, light_id: str) -> Group | None:
        light = self.lights.get(light_id)
        return None if light is None or light.group is None else self.groups.get(light.group)


async def entities_of(broker: Broker, tenant: str, entity_type: str) -> list[Entity]:
    types = TypeName(entity_type)
    found: list[Entity] = []
    while True:
        query = EntityQuery(selectors=(EntitySelector(types=types),), limit=PAGE, offset=len(found))
        page = (await broker.query_entities(tenant, query)).entities
        found.extend(page)
        if len(page) < PAGE:
            return found


def light_of(entity: Entity) -> Light:
    return Light(
        entity["id"],
        number(value(entity, v.POWER_RATING)),
        point(entity),
        next(iter(references(entity, v.REF_DEVICE)), None),
        _class(value_of_any(entity, v.LIGHTING_CLASS)),
        next(iter(references(entity, v.REF_ROAD_SEGMENT)), None),
        _last_power(entity),
        next(iter(references(entity, v.REF_CABINET)), None),
    )


def _last_power(entity: Entity) -> tuple[datetime, float] | None:
    for instance in entity.get(v.POWER_CONSUMPTION) or []:
        watts, observed = number(instance.get("value")), instance.get("observedAt")
        if "datasetId" not in instance and watts is not None and isinstance(observed, str):
            return (parse_datetime(observed), watts)
    return None


def _class(raw: Any) -> str | None:
    return raw.strip().upper() if isinstance(raw, str) else None


def program_of(entity: Entity) -> Program | None:
    try:
        name = value(entity, v.NAME)
        return parse_program(
            entity["id"], value(entity, v.CALENDAR_RULES), name if isinstance(name, str) else ""
        )
    except ProgramError:
        return None


async def programs(broker: Broker, tenant: str) -> dict[str, Program]:
    found = {DEFAULT_PROGRAM_ID: DUSK_TO_DAWN}
    for entity in await entities_of(broker, tenant, v.PROGRAM):
        program = program_of(entity)
        if program is not None:
            found[program.id] = program
    return found


async def lighting(broker: Broker, tenant: str) -> Lighting:
    lights = {
        entity["id"]: (entity, light_of(entity))
        for entity in await entities_of(broker, tenant, v.STREETLIGHT)
    }
    groups: dict[str, Group] = {}
    for entity in await entities_of(broker, tenant, v.GROUP):
        program_id = value(entity, v.ACTIVE_PROGRAM)
        group = Group(
            entity["id"],
            program_id if isinstance(program_id, str) and program_id else DEFAULT_PROGRAM_ID,
            point(entity),
            _class(value_of_any(entity, v.LIGHTING_CLASS)),
            next(iter(references(entity, v.REF_ROAD_SEGMENT)), None),
        )
        groups[group.id] = group
        for light_id in references(entity, v.REF_STREETLIGHT):
            if light_id in lights and lights[light_id][1].group is None:
                lights[light_id][1].group = group.id
    for entity, light in lights.values():
        if light.group is None:
            named = next(iter(references(entity, v.REF_GROUP)), None)
            if named in groups:
                light.group = named
    for _, light in lights.values():
        if light.group is not None:
            groups[light.group].lights.append(light)
    return Lighting(groups, {light.id: light for _, light in lights.values()}, await programs(broker, tenant))
