"""How attribute instances are laid out as history rows in PostgreSQL, and read back.

The row content is the layout both backends share (`smartby.store.history_rows`): the same kind
codes and flags, times in microseconds, JSON for non-numeric values and for the other members.
Numbers go to a `numeric` column as exact decimals: an integer with scale 0, a float with at least
one decimal place, so a value reads back as the type it was written with, and sums, minima and
maxima keep that type.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from smartby.store.history_rows import HistoryRow

Row = tuple[int, int, int | None, int, int | None, int, int, int, int | None, int, str | None, Any, Any]
COLUMNS = (
    "key",
    "at",
    "instance",
    "created_at",
    "modified_at",
    "tenant_id",
    "name_id",
    "dataset_id",
    "unit_id",
    "kind",
    "num",
    "value",
    "extra",
)
"""The history table's columns in the order of `Row` (the table's own order)."""


def numeric_text(value: int | float) -> str:
    """A number as the text of a `numeric`: integers with scale 0, floats exact with scale >= 1."""
    if type(value) is int:
        return str(value)
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


def from_numeric(value: Decimal) -> int | float:
    """The int or float a `numeric` holds, by its scale."""
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


def table_row(tenant_id: int, row: HistoryRow) -> Row:
    """A history row of `smartby.store.history_rows` in this table's column order."""
    key, name_id, dataset_id, at, number, created_at, modified_at, kind, num, value, unit_id, extra = row
    return (
        key,
        at,
        number or None,
        created_at,
        modified_at,
        tenant_id,
        name_id,
        dataset_id,
        unit_id,
        kind,
        None if num is None else numeric_text(num),
        value,
        extra,
    )
