"""Hourly rollups of history in PostgreSQL (`history_hour`), kept with every write of history.

What a rollup row holds and when aggregations read it is shared with SQLite
(`smartby.store.rollup_plan`). Here the rows of one transaction are summed per hour by PostgreSQL
itself, in one statement over arrays of their columns: the numbers stay exact `numeric` from history
row to rollup sum, so a sum from the rollup is the very number the raw aggregation gives. The upsert
takes hours in key order, so concurrent writers to the same hours wait for each other rather than
deadlock. The arrays go in binary (`%b`): psycopg renders a text array element by element through a
regular expression, four times slower for a transaction's thousands of rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from smartby.store.history_rows import DELETED
from smartby.store.postgres.history import Row
from smartby.store.rollup_plan import HOUR, Bucket, hour_of

_HOUR_OF_AT = f"at - ((at %% {HOUR}) + {HOUR}) %% {HOUR}"
_COLUMNS = "key, name_id, dataset_id, hour, kind, instances, numbers, num_sum, num_sumsq, num_min, num_max"
_SUMS = "max(kind), count(*), count(num), sum(num), sum(num * num), min(num), max(num)"
_ADD = (
    f"INSERT INTO history_hour AS r ({_COLUMNS}) "
    f"SELECT key, name_id, dataset_id, {_HOUR_OF_AT}, {_SUMS} "
    "FROM unnest(%b::bigint[], %b::integer[], %b::integer[], %b::bigint[], %b::smallint[], "
    "%b::text[]::numeric[]) "
    "AS u (key, name_id, dataset_id, at, kind, num) "
    "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
    "ON CONFLICT (key, name_id, dataset_id, hour) DO UPDATE SET "
    "kind = GREATEST(r.kind, excluded.kind), instances = r.instances + excluded.instances, "
    "numbers = r.numbers + excluded.numbers, "
    "num_sum = coalesce(r.num_sum + excluded.num_sum, r.num_sum, excluded.num_sum), "
    "num_sumsq = coalesce(r.num_sumsq + excluded.num_sumsq, r.num_sumsq, excluded.num_sumsq), "
    "num_min = LEAST(r.num_min, excluded.num_min), num_max = GREATEST(r.num_max, excluded.num_max)"
)
_HOURS = (
    "unnest(%s::bigint[], %s::integer[], %s::integer[], %s::bigint[]) AS s (key, name_id, dataset_id, hour)"
)


def add(db: psycopg.Connection, rows: Iterable[Row], skip: set[Bucket]) -> None:
    """Add history rows (table order; deletions left out) to the rollup, except those of the hours
    in `skip` (they are recomputed from history instead)."""
    keys: list[int] = []
    names: list[int] = []
    datasets: list[int] = []
    times: list[int] = []
    kinds: list[int] = []
    numbers: list[str | None] = []
    for row in rows:
        kind = row[9]
        if kind & DELETED:
            continue
        at = row[1]
        if skip and (row[0], row[6], row[7], at - at % HOUR) in skip:
            continue
        keys.append(row[0])
        names.append(row[6])
        datasets.append(row[7])
        times.append(at)
        kinds.append(kind)
        numbers.append(row[10])
    if keys:
        db.execute(_ADD, (keys, names, datasets, times, kinds, numbers))


def recompute(db: psycopg.Connection, buckets: Iterable[Bucket]) -> None:
    """Sum these hours of their series up again from history (after instances left or changed)."""
    ordered = sorted(buckets)
    if not ordered:
        return
    columns = [list(column) for column in zip(*ordered, strict=True)]
    db.execute(
        f"DELETE FROM history_hour r USING {_HOURS} "
        "WHERE r.key = s.key AND r.name_id = s.name_id AND r.dataset_id = s.dataset_id AND r.hour = s.hour",
        columns,
    )
    db.execute(
        f"INSERT INTO history_hour ({_COLUMNS}) "
        "SELECT h.key, h.name_id, h.dataset_id, s.hour, max(h.kind), count(*), count(h.num), sum(h.num), "
        f"sum(h.num * h.num), min(h.num), max(h.num) FROM {_HOURS} "
        "JOIN history h ON h.key = s.key AND h.name_id = s.name_id AND h.dataset_id = s.dataset_id "
        f"AND h.at >= s.hour AND h.at < s.hour + {HOUR} WHERE h.kind & {DELETED} = 0 "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        columns,
    )


def prune(db: psycopg.Connection, keys: list[int], before: int) -> None:
    """Follow history's pruning of these entities' instances before `before`: hours wholly before
    it go, the hour it falls in is recomputed."""
    hour = hour_of(before)
    db.execute("DELETE FROM history_hour WHERE key = ANY(%s) AND hour < %s", (keys, hour))
    if before == hour:
        return
    db.execute("DELETE FROM history_hour WHERE key = ANY(%s) AND hour = %s", (keys, hour))
    db.execute(
        f"INSERT INTO history_hour ({_COLUMNS}) SELECT key, name_id, dataset_id, %s, {_SUMS} FROM history "
        f"WHERE key = ANY(%s) AND at >= %s AND at < %s AND kind & {DELETED} = 0 "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        (hour, keys, hour, hour + HOUR),
    )
