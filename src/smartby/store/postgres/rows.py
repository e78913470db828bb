"""How an internal entity is laid out in rows: the attribute value index and geometries."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import shapely

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity
from smartby.ngsild.geo import to_shape
from smartby.ngsild.query import instance_values
from smartby.store.kinds import KIND_CODE

PROPERTY = KIND_CODE["Property"]
UNINDEXED = 64
"""Added to an attr row's kind when its value is not in `num`/`txt` although q could compare it."""
ELEMENT_BITS = 16
EXACT_INTEGERS = 2**53
"""Integers up to this size are exact as a double precision number."""
POINT, SHAPE, UNDECIDED = 0, 1, 2
"""Geometry classes: a point; another geometry PostGIS decides as shapely does; one it may not."""

_POINT = struct.Struct("<BIIdd")
_POINT_WITH_SRID = 0x20000001
"""EWKB: a point (type 1) with the SRID flag set; little-endian."""

AttrRow = tuple[int, int, int, int, int, float | None, str | None]
GeoRow = tuple[int, int, int, int, str]


def _number(value: int | float) -> float | None:
    if isinstance(value, int) and not -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
        return None
    return float(value)


def _text(value: str) -> str | None:
    return None if "\x00" in value else value


def attribute_rows(
    tenant_id: int, key: int, entity: Entity, term_id: Callable[[str], int]
) -> tuple[list[AttrRow], list[GeoRow]]:
    """The attr rows (key, name_id, seq, tenant_id, kind, num, txt) and geo rows (key, tenant_id,
    name_id, shape, EWKB hex) of an entity.

    An attr row exists for every instance and every value q can compare with; seq is the instance's
    position << 16 plus the value's position. An instance without a number or string to index still
    gets one row, so existence tests need no other table.
    """
    rows: list[AttrRow] = []
    geometries: list[GeoRow] = []
    for name, instances in entity.items():
        if name in ENTITY_MEMBERS:
            continue
        name_id = term_id(name)
        for ordinal, instance in enumerate(instances):
            base = ordinal << ELEMENT_BITS
            kind_name = instance["type"]
            if kind_name == "GeoProperty":
                geometries.append((key, tenant_id, name_id, *_geometry(instance["value"])))
            code = KIND_CODE[kind_name]
            element = 0
            value = instance.get("value")
            scalar = kind_name == "Property" and type(value) in (int, float, str)
            values: list[Any] = [value] if scalar else instance_values(instance)
            for item in values:
                if isinstance(item, bool):
                    continue
                if isinstance(item, int | float):
                    number = _number(item)
                    flag = 0 if number is not None else UNINDEXED
                    rows.append((key, name_id, base + element, tenant_id, code | flag, number, None))
                    element += 1
                elif isinstance(item, str):
                    text = _text(item)
                    flag = 0 if text is not None else UNINDEXED
                    rows.append((key, name_id, base + element, tenant_id, code | flag, None, text))
                    element += 1
            if element == 0:
                rows.append((key, name_id, base, tenant_id, code, None, None))
    return rows, geometries


def _geometry(value: Any) -> tuple[int, str]:
    """The shape class and the EWKB (hex, SRID 4326) of a GeoJSON geometry, in two dimensions."""
    if value.get("type") == "Point":
        x, y = value["coordinates"][:2]
        return POINT, _POINT.pack(1, _POINT_WITH_SRID, 4326, float(x), float(y)).hex()
    shape = to_shape(value)
    undecided = value.get("type") == "GeometryCollection" or not shapely.is_valid(shape)
    kind = UNDECIDED if undecided else SHAPE
    wkb = shapely.to_wkb(shapely.set_srid(shape, 4326), hex=True, include_srid=True, output_dimension=2)
    return kind, str(wkb)
