"""Hourly rollups of history (`history_hour`): kept with every write of history, read by aggregations.

A rollup row sums up one attribute instance series over one hour of `at`: how many instances (not
deletions) it holds, the largest kind code, and of its numbers how many, their sum, sum of squares,
minimum and maximum. `at` is what the raw aggregation buckets by for `timeproperty=observedAt` (the
observedAt of an instance, or when it was recorded if it has none), so the rollup holds exactly what
that aggregation reads: an aggregation gets the same answer from one row per series and whole hour,
plus the instances of the few hours a window edge or period bound cuts, as from every instance (see
`hourly_plan`).

Appending rows adds to the rollup: the rows of one transaction are summed per hour here, then one
upsert per hour. Removing or replacing instances marks their hours, which are then recomputed from
history in the same transaction; deleting a series or an entity's history deletes its rollup rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from smartby.store.base import Buckets, HistoryQuery
from smartby.store.sqlite.history import DELETED, HistoryRow

HOUR = 3_600_000_000
"""One hour in microseconds: the width of a rollup bucket."""
ROLLUP_METHODS = frozenset({"totalCount", "sum", "avg", "min", "max", "stddev", "sumsq"})
"""The aggregation methods a rollup can answer (not distinctCount: it needs every value)."""
_INTEGER = 2**63 - 1

Bucket = tuple[int, int, int, int]
"""(temporal entity, attribute, dataset, start of the hour) of one rollup row."""

_UPSERT = (
    "INSERT INTO history_hour (tentity, name_id, dataset_id, hour, kind, instances, numbers, num_sum, "
    "num_sumsq, num_min, num_max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tentity, name_id, dataset_id, hour) DO UPDATE SET "
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


def hour_of(at: int) -> int:
    """The start of the hour that holds `at` (also before 1970)."""
    return at - at % HOUR


@dataclass(frozen=True)
class HourlyPlan:
    """How an aggregation reads the rollup: fixed periods of `width` from `origin`, or the `bounds`
    (calendar periods, or one period for the whole range) when `width` is None.

    Whole hours of the window that no period bound cuts come from the rollup (from `first` on, and
    before `last` unless it is None); the `cut` hours (a window edge or a period bound within them)
    come from the instances, those of them in the window (`partial` ranges)."""

    origin: int
    width: int | None = None
    bounds: tuple[tuple[int, int], ...] = ()
    first: int | None = None
    last: int | None = None
    cut: tuple[int, ...] = ()
    partial: tuple[tuple[int, int], ...] = ()


MAX_CUT = 2000
"""At most this many hours read from the instances (bounds within hours), else the plan is not worth it."""


def hourly_plan(query: HistoryQuery, methods: Sequence[str], buckets: Buckets) -> HourlyPlan | None:
    """The plan to aggregate from the rollup, or None when only the instances give the same answer
    (other methods than ROLLUP_METHODS, another time property than observedAt, periods that start
    at each entity's first instance or end at its last) or when most hours would be cut by period
    bounds within them (periods shorter than an hour, or not aligned on hours and few hours long)."""
    if query.timeproperty != "observedAt" or not set(methods) <= ROLLUP_METHODS:
        return None
    origin, start, end = buckets.origin, query.start, query.end
    if origin is None:
        return None
    if buckets.width is not None:
        width = buckets.width
        if end is None or start is None:
            # An open window: only periods and edges on whole hours need no list of the bounds.
            aligned = origin % HOUR == 0 and width % HOUR == 0
            if not aligned or any(edge is not None and edge % HOUR for edge in (start, end)):
                return None
            return HourlyPlan(origin, width, first=start, last=end)
        edges: list[int] = []
        if width % HOUR or origin % HOUR:
            first_bound = origin + -((origin - start) // width) * width
            if (end - first_bound) // width > MAX_CUT:
                return None
            edges = list(range(first_bound, end, width))
        plan_bounds: tuple[tuple[int, int], ...] = ()
    else:
        if buckets.end is None:
            return None
        calendar = buckets.calendar
        plan_bounds = tuple(calendar(origin, buckets.end)) if calendar else ((origin, buckets.end),)
        edges = [moment for bound in plan_bounds for moment in bound]
        width = None
    edges += [edge for edge in (start, end) if edge is not None]
    cut = sorted({hour_of(edge) for edge in edges if edge % HOUR and _inside(edge, start, end)})
    if len(cut) > MAX_CUT or (start is not None and end is not None and len(cut) * HOUR * 2 > end - start):
        return None
    partial = tuple(
        (
            max(hour, start) if start is not None else hour,
            min(hour + HOUR, end) if end is not None else hour + HOUR,
        )
        for hour in cut
    )
    return HourlyPlan(
        origin,
        width,
        plan_bounds,
        first=hour_of(start) if start is not None else None,
        last=end if end is None or end % HOUR == 0 else hour_of(end) + HOUR,
        cut=tuple(cut),
        partial=partial,
    )


def _inside(moment: int, start: int | None, end: int | None) -> bool:
    """Whether `moment`'s hour holds instances of the window [start, end)."""
    hour = hour_of(moment)
    return (start is None or hour + HOUR > start) and (end is None or hour < end)


def summed(rows: Iterable[HistoryRow], skip: set[Bucket]) -> list[tuple[Any, ...]]:
    """The rollup rows to add for history rows (deletions left out), one per hour, except for the
    hours in `skip` (they are recomputed from history instead)."""
    buckets: dict[Bucket, list[Any]] = {}
    for row in rows:
        kind = row[7]
        if kind & DELETED:
            continue
        at = row[3]
        key = (row[0], row[1], row[2], at - at % HOUR)
        if key in skip:
            continue
        found = buckets.get(key)
        if found is None:
            found = buckets[key] = [kind, 0, 0, None, None, None, None]
        elif kind > found[0]:
            found[0] = kind
        found[1] += 1
        num = row[8]
        if num is None:
            continue
        found[2] += 1
        if found[3] is None:
            found[3], found[4], found[5], found[6] = num, num * num, num, num
        else:
            found[3] += num
            found[4] += num * num
            if num < found[5]:
                found[5] = num
            if num > found[6]:
                found[6] = num
    return [
        (*key, *values[:3], _bounded(values[3]), _bounded(values[4]), *values[5:])
        for key, values in buckets.items()
    ]


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
    for tentity, name_id, dataset_id, hour in sorted(buckets):
        series = (tentity, name_id, dataset_id)
        db.execute(
            "DELETE FROM history_hour WHERE tentity = ? AND name_id = ? AND dataset_id = ? AND hour = ?",
            (*series, hour),
        )
        db.execute(
            f"INSERT INTO history_hour SELECT tentity, name_id, dataset_id, ?, {_SUMMED} "
            "AND tentity = ? AND name_id = ? AND dataset_id = ? AND at >= ? AND at < ? "
            "GROUP BY tentity, name_id, dataset_id",
            (hour, *series, hour, hour + HOUR),
        )


def prune(db: sqlite3.Connection, tentity: int, before: int) -> None:
    """Follow history's pruning of an entity's instances before `before`: hours wholly before it
    go, the hour it falls in is recomputed."""
    hour = hour_of(before)
    db.execute("DELETE FROM history_hour WHERE tentity = ? AND hour < ?", (tentity, hour))
    if before != hour:
        db.execute("DELETE FROM history_hour WHERE tentity = ? AND hour = ?", (tentity, hour))
        db.execute(
            f"INSERT INTO history_hour SELECT tentity, name_id, dataset_id, ?, {_SUMMED} "
            "AND tentity = ? AND at >= ? AND at < ? GROUP BY tentity, name_id, dataset_id",
            (hour, tentity, hour, hour + HOUR),
        )
