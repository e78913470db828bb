"""How an internal entity is laid out in rows: the attribute value index and geometry boxes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from smartby.ngsild.entity import ATTRIBUTE_TYPES, ENTITY_MEMBERS, Entity, Instance
from smartby.ngsild.geo import bounds

KIND_CODE = {kind: code for code, kind in enumerate(ATTRIBUTE_TYPES)}
KIND_NAME = dict(enumerate(ATTRIBUTE_TYPES))
GEO_SLOTS = 256
"""Geometries per entity the R*Tree indexes (its row id is pk * GEO_SLOTS + ordinal)."""
ELEMENT_BITS = 16


def scalars(instance: Instance) -> Iterator[Any]:
    """The scalar values of an instance that q comparisons can see (arrays give every element)."""
    kind = instance["type"]
    if kind == "Property":
        value = instance["value"]
        if isinstance(value, dict) and "@value" in value:
            value = value["@value"]
        if isinstance(value, list):
            yield from value
        else:
            yield value
    elif kind == "Relationship":
        target = instance["object"]
        if isinstance(target, list):
            yield from target
        else:
            yield target
    elif kind == "LanguageProperty":
        for text in instance["languageMap"].values():
            if isinstance(text, list):
                yield from text
            else:
                yield text
    elif kind == "ListProperty":
        yield from instance["valueList"]
    elif kind == "ListRelationship":
        for item in instance["objectList"]:
            yield item["object"]


def attribute_rows(entity: Entity, term_id: Any) -> list[tuple[int, int, int, float | None, str | None]]:
    """(name_id, seq, kind, num, txt) for every instance and scalar element of the entity."""
    rows: list[tuple[int, int, int, float | None, str | None]] = []
    for key, instances in entity.items():
        if key in ENTITY_MEMBERS:
            continue
        name_id = term_id(key)
        for ordinal, instance in enumerate(instances):
            kind = KIND_CODE[instance["type"]]
            base = ordinal << ELEMENT_BITS
            element = 0
            for value in scalars(instance):
                if isinstance(value, bool):
                    continue
                if isinstance(value, int | float):
                    rows.append((name_id, base + element, kind, float(value), None))
                    element += 1
                elif isinstance(value, str):
                    rows.append((name_id, base + element, kind, None, value))
                    element += 1
            if element == 0:
                rows.append((name_id, base, kind, None, None))
    return rows


def geometries(entity: Entity) -> Iterator[tuple[int, str, tuple[float, float, float, float]]]:
    """(ordinal, attribute name, bounds) of each GeoProperty value, in a stable order."""
    ordinal = 0
    for key, instances in entity.items():
        if key in ENTITY_MEMBERS:
            continue
        for instance in instances:
            if instance["type"] == "GeoProperty" and ordinal < GEO_SLOTS:
                yield ordinal, key, bounds(instance["value"])
                ordinal += 1
