"""How an internal entity is laid out in rows: the attribute value index and geometry boxes."""

from __future__ import annotations

from collections.abc import Callable

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity
from smartby.ngsild.geo import bounds
from smartby.ngsild.query import instance_values
from smartby.store.kinds import KIND_CODE

PROPERTY = KIND_CODE["Property"]
GEO_SLOTS = 256
"""Geometries per entity the R*Tree indexes (its row id is pk * GEO_SLOTS + ordinal)."""
ELEMENT_BITS = 16


AttrRow = tuple[int, int, int, int, float | None, str | None]
GeoRow = tuple[int, float, float, float, float, int]


def attribute_rows(
    pk: int, entity: Entity, term_id: Callable[[str], int]
) -> tuple[list[AttrRow], list[GeoRow]]:
    """The attr rows (pk, name_id, seq, kind, num, txt) and geo rows of an entity.

    An attr row exists for every instance and every value q can compare with; seq is the instance's
    position << 16 plus the value's position. An instance without a number or string to index still
    gets one row, so existence tests need no other table. Geo rows are the bounding boxes of the
    GeoProperty values, numbered in the order `geometry_slots` gives.
    """
    rows: list[AttrRow] = []
    boxes: list[GeoRow] = []
    for key, instances in entity.items():
        if key in ENTITY_MEMBERS:
            continue
        name_id = term_id(key)
        for ordinal, instance in enumerate(instances):
            base = ordinal << ELEMENT_BITS
            kind_name = instance["type"]
            if kind_name == "Property":
                value = instance["value"]
                kind = type(value)
                if kind is int or kind is float:
                    rows.append((pk, name_id, base, PROPERTY, float(value), None))
                    continue
                if kind is str:
                    rows.append((pk, name_id, base, PROPERTY, None, value))
                    continue
            elif kind_name == "GeoProperty" and len(boxes) < GEO_SLOTS:
                minx, miny, maxx, maxy = bounds(instance["value"])
                boxes.append((pk * GEO_SLOTS + len(boxes), minx, maxx, miny, maxy, name_id))
            code = KIND_CODE[kind_name]
            element = 0
            for item in instance_values(instance):
                if isinstance(item, bool):
                    continue
                if isinstance(item, int | float):
                    rows.append((pk, name_id, base + element, code, float(item), None))
                    element += 1
                elif isinstance(item, str):
                    rows.append((pk, name_id, base + element, code, None, item))
                    element += 1
            if element == 0:
                rows.append((pk, name_id, base, code, None, None))
    return rows, boxes


def geometry_slots(entity: Entity) -> range:
    """The slots (ordinals) an entity's geometries take in the geo table."""
    count = sum(
        1
        for key, instances in entity.items()
        if key not in ENTITY_MEMBERS
        for instance in instances
        if instance["type"] == "GeoProperty"
    )
    return range(min(count, GEO_SLOTS))
