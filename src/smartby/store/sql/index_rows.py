"""How an entity's attribute values are laid out as `attr` rows, so that `q` runs in SQL.

An attr row (key, name_id, seq, tenant_id, kind, num, txt) exists for every instance and for every
value q can compare with: numbers in `num` (a double), strings in `txt`. `seq` is the instance's
position << 16 plus the value's position. An instance without a number or string to index still
gets one row, so existence tests need no other table. A value the index cannot hold exactly (an
integer beyond 2^53, a string with a NUL) is flagged with UNINDEXED added to its kind, and terms on
that attribute are then decided in Python. Geometries have a table of each backend's own
(`GeoLayout`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity
from smartby.ngsild.query import instance_values
from smartby.store.kinds import KIND_CODE

PROPERTY = KIND_CODE["Property"]
UNINDEXED = 64
"""Added to an attr row's kind when its value is not in `num`/`txt` although q could compare it."""
ELEMENT_BITS = 16
EXACT_INTEGERS = 2**53
"""Integers up to this size are exact as a double precision number."""
ATTR_COLUMNS = ("key", "name_id", "seq", "tenant_id", "kind", "num", "txt")

AttrRow = tuple[int, int, int, int, int, float | None, str | None]


def _number(value: int | float) -> float | None:
    if isinstance(value, int) and not -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
        return None
    return float(value)


def attribute_rows(
    tenant_id: int,
    key: int,
    entity: Entity,
    term_id: Callable[[str], int],
    names: Iterable[str] | None = None,
) -> list[AttrRow]:
    """The attr rows of an entity (only of the attributes `names`, if given), in `ATTR_COLUMNS` order."""
    rows: list[AttrRow] = []
    items = entity.items() if names is None else [(name, entity[name]) for name in names if name in entity]
    for name, instances in items:
        if name in ENTITY_MEMBERS:
            continue
        name_id = term_id(name)
        for ordinal, instance in enumerate(instances):
            base = ordinal << ELEMENT_BITS
            kind_name = instance["type"]
            value = instance.get("value")
            if kind_name == "Property":
                kind = type(value)
                if kind is float or (kind is int and -EXACT_INTEGERS <= value <= EXACT_INTEGERS):
                    rows.append((key, name_id, base, tenant_id, PROPERTY, float(value), None))
                    continue
                if kind is str and "\x00" not in value:
                    rows.append((key, name_id, base, tenant_id, PROPERTY, None, value))
                    continue
            code = KIND_CODE[kind_name]
            element = 0
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
                    text = None if "\x00" in item else item
                    flag = 0 if text is not None else UNINDEXED
                    rows.append((key, name_id, base + element, tenant_id, code | flag, None, text))
                    element += 1
            if element == 0:
                rows.append((key, name_id, base, tenant_id, code, None, None))
    return rows
