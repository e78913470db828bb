"""How attribute instances are laid out as history rows, and read back, on either backend.

A row is (key, name_id, dataset_id, at, instance, created_at, modified_at, kind, num, value,
unit_id, extra): SQLite's history table as it is; PostgreSQL adds the tenant and puts the columns in
its table's order (`store/postgres/history.py`). Times are in
microseconds; `kind` is the attribute's kind code with the HAS_OBSERVED and DELETED flags. Numbers
go to `num` so aggregations run in SQL; other values are JSON in `value`; everything else an
instance carries (sub-attributes, objectType, ...) is JSON in `extra`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from smartby.ngsild.entity import NULL_URI, VALUE_MEMBER, Instance
from smartby.ngsild.timestamps import from_micros, to_micros
from smartby.store.kinds import KIND_CODE, KIND_NAME

HAS_OBSERVED = 16
DELETED = 32
KIND_MASK = 15
INSTANCE_PREFIX = "urn:ngsi-ld:instance:"
_COLUMNS = frozenset(
    {"type", "observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt", "deletedAt", "instanceId"}
)
_PLAIN = frozenset({*_COLUMNS, "value"})
"""Members of a Property instance with nothing for `extra` (the usual reading)."""

HistoryRow = tuple[int, int, int, int, int, int, int | None, int, Any, str | None, int | None, str | None]


class Clock:
    """Date-time strings to microseconds, remembering the last few (a batch shares its timestamps)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        found = self._seen.get(text)
        if found is None:
            found = to_micros(text)
            if len(self._seen) > 64:
                self._seen.clear()
            self._seen[text] = found
        return found


def instance_row(
    key: int,
    name_id: int,
    dataset_id: int,
    number: int,
    instance: Instance,
    recorded_at: int,
    clock: Clock,
    term_id: Callable[[str], int],
) -> HistoryRow:
    """The history row of one instance, recorded at `recorded_at` (microseconds)."""
    kind = instance["type"]
    member = VALUE_MEMBER[kind]
    value = instance.get(member)
    code = KIND_CODE[kind]
    observed = instance.get("observedAt")
    if observed is not None:
        code |= HAS_OBSERVED
    number_value: Any = None
    json_value: str | None = None
    if kind == "Property" and type(value) in (int, float):
        number_value = value
    elif value is not None:
        json_value = orjson.dumps(value).decode()
    unit = instance.get("unitCode")
    extra = (
        None
        if member == "value" and instance.keys() <= _PLAIN
        else {k: v for k, v in instance.items() if k not in _COLUMNS and k != member}
    )
    return (
        key,
        name_id,
        dataset_id,
        clock(observed) if observed is not None else recorded_at,
        number,
        recorded_at,
        None,
        code,
        number_value,
        json_value,
        term_id(unit) if unit is not None else None,
        orjson.dumps(extra).decode() if extra else None,
    )


def deletion_row(
    key: int, name_id: int, dataset_id: int, number: int, kind: str, deleted_at: int
) -> HistoryRow:
    """The row that records an attribute instance's deletion (rendered with deletedAt)."""
    code = KIND_CODE[kind] | DELETED
    return (key, name_id, dataset_id, deleted_at, number, deleted_at, None, code, None, None, None, None)


def instance_from_row(
    at: int,
    number: int,
    created_at: int,
    modified_at: int | None,
    code: int,
    num: Any,
    value: str | None,
    unit: str | None,
    extra: str | None,
    dataset: str | None,
) -> Instance:
    """The instance a history row holds, with instanceId, createdAt and modifiedAt."""
    kind = KIND_NAME[code & KIND_MASK]
    instance: Instance = {"type": kind}
    member = VALUE_MEMBER[kind]
    if code & DELETED:
        instance[member] = NULL_URI
        instance["deletedAt"] = from_micros(at)
    else:
        instance[member] = num if value is None else orjson.loads(value)
        if code & HAS_OBSERVED:
            instance["observedAt"] = from_micros(at)
    if unit is not None:
        instance["unitCode"] = unit
    if dataset is not None:
        instance["datasetId"] = dataset
    if extra is not None:
        instance.update(orjson.loads(extra))
    instance["instanceId"] = f"{INSTANCE_PREFIX}{number}"
    instance["createdAt"] = from_micros(created_at)
    instance["modifiedAt"] = from_micros(modified_at if modified_at is not None else created_at)
    return instance


def instance_number(instance_id: str) -> int | None:
    """The row number an instanceId names, or None if it is not one of ours."""
    if not instance_id.startswith(INSTANCE_PREFIX):
        return None
    digits = instance_id[len(INSTANCE_PREFIX) :]
    if (
        not (digits.isascii() and digits.isdigit())
        or (digits[0] == "0" and len(digits) > 1)
        or len(digits) > 19
    ):
        return None  # only the digits we write: ASCII, no leading zero
    number = int(digits)
    return number if number < 2**63 else None
