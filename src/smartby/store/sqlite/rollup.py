"""SQLite's hourly rollup of history (`history_hour`, laid out as `smartby.store.rollup_plan`
describes), kept with every write of history.

Appending rows adds to the rollup: the rows of one transaction are summed per hour here, then one
upsert per hour. Removing or replacing instances marks their hours, which are then recomputed from
history in the same transaction; deleting a series or an entity's history deletes its rollup rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from smartby.store.history_rows import DELETED, HistoryRow
from smartby.store.rollup_plan import HOUR, Bucket, hour_of

_INTEGER = 2**63 - 1

_UPSERT = (
    "INSERT INTO history_hour (key, name_id, dataset_id, hour, kind, instances, numbers, num_sum, "
    "num_sumsq, num_min, num_max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (key, name_id, dataset_id, hour) DO UPDATE SET "
    "kind = max(kind, excluded.kind), instances = instances + excluded.instances, "
    "numbers = numbers + excluded.numbers, "
    "num_sum = coalesce(num_sum + excluded.num_sum, num_sum, excluded.num_sum), "
    "num_sumsq = coalesce(num_sumsq + excluded.num_sumsq, num_sumsq, excluded.num_sumsq), "
    "num_min = coalesce(min(num_min, excluded.num_min), num_min, excluded.num_min), "
    "num_max = coalesce(max(num_max, excluded.num_max), num_max, excluded.num_max)"
)
_SUMMED = (
    "max(kind), count(*), count(num), sum(num), sum(num * num), min(num), max(num) "
    f"FROM history WHERE kind & {DELETED} = 0"
)


def summed(rows: Iterable[HistoryRow], skip: set[Bucket]) -> list[tuple[Any, ...]]:
    """The rollup rows to add for history rows (deletions left out), one per hour, except for the
    hours in `skip` (they are recomputed from history instead)."""
    buckets: dict[Bucket, tuple[Any, ...]] = {}
    for row in rows:
        kind = row[7]
        if kind & DELETED:
            continue
        at = row[3]
        key = (row[0], row[1], row[2], at - at % HOUR)
        if skip and key in skip:
            continue
        num = row[8]
        found = buckets.get(key)
        if found is None:
            # (kind, instances, numbers, sum, sum of squares, min, max)
            buckets[key] = (
                (kind, 1, 0, None, None, None, None)
                if num is None
                else (kind, 1, 1, num, num * num, num, num)
            )
        else:
            buckets[key] = _merged(found, kind, num)
    return [
        (*key, kind, instances, numbers, _bounded(total), _bounded(squares), low, high)
        for key, (kind, instances, numbers, total, squares, low, high) in buckets.items()
    ]


def _merged(found: tuple[Any, ...], kind: int, num: Any) -> tuple[Any, ...]:
    """A bucket's sums with one more instance."""
    old_kind, instances, numbers, total, squares, low, high = found
    kind = max(kind, old_kind)
    if num is None:
        return (kind, instances + 1, numbers, total, squares, low, high)
    if total is None:
        return (kind, instances + 1, 1, num, num * num, num, num)
    return (kind, instances + 1, numbers + 1, total + num, squares + num * num, min(low, num), max(high, num))


def _bounded(value: Any) -> Any:
    """An integer SQLite cannot hold as one becomes a float (as SQLite's own arithmetic does)."""
    if type(value) is int and not -_INTEGER <= value <= _INTEGER:
        return float(value)
    return value


def add(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Add the rows `summed` gave to the rollup."""
    if rows:
        db.executemany(_UPSERT, rows)


def recompute(db: sqlite3.Connection, buckets: Iterable[Bucket]) -> None:
    """Sum these hours of their series up again from history (after instances left or changed)."""
    for key, name_id, dataset_id, hour in sorted(buckets):
        series = (key, name_id, dataset_id)
        db.execute(
            "DELETE FROM history_hour WHERE key = ? AND name_id = ? AND dataset_id = ? AND hour = ?",
            (*series, hour),
        )
        db.execute(
            f"INSERT INTO history_hour SELECT key, name_id, dataset_id, ?, {_SUMMED} "
            "AND key = ? AND name_id = ? AND dataset_id = ? AND at >= ? AND at < ? "
            "GROUP BY key, name_id, dataset_id",
            (hour, *series, hour, hour + HOUR),
        )


def prune(db: sqlite3.Connection, keys: list[int], before: int) -> None:
    """Follow history's pruning of these entities' instances before `before`: hours wholly before
    it go, the hour it falls in is recomputed."""
    hour = hour_of(before)
    for key in keys:
        db.execute("DELETE FROM history_hour WHERE key = ? AND hour < ?", (key, hour))
        if before != hour:
            db.execute("DELETE FROM history_hour WHERE key = ? AND hour = ?", (key, hour))
            db.execute(
                f"INSERT INTO history_hour SELECT key, name_id, dataset_id, ?, {_SUMMED} "
                "AND key = ? AND at >= ? AND at < ? GROUP BY key, name_id, dataset_id",
                (hour, key, hour, hour + HOUR),
            )
