"""Packed history on PostgreSQL: old instances of a series, a UTC day at a time, as one row.

A history row costs about 140 bytes on PostgreSQL (a 24-byte tuple header, 13 columns, the series
index). Once a day of a series is older than `SMARTBY_HISTORY_PACK_AFTER`, `pack` moves its rows
into one `history_chunk` row (migration 0008) of arrays, one element per instance, which TOAST
compresses; times and instance numbers are stored as a line and each element's distance from it,
so a regular series stores almost nothing for them. Nothing but the layout changes: `ROWS` is
history's rows and the chunks' unnested elements together, with history's columns, and every read
of history goes through it (`PostgresHistoryReader.history_rows`), so the temporal API answers the
same before and after packing. Reading a packed day decompresses its arrays: a few milliseconds for
a day of a series, paid by reads of old history only.

Packing holds the entity as a write does (its `entity_key` row, in id order), so a write of that
entity waits for it and sees either the rows or the chunk. A write that adds to a packed day
(a back-fill) just adds a row: reads see both, and the next pass packs them together. What changes
or removes recorded instances (by instanceId, replacing an observation, pruning) unpacks the days
it touches first (`unpack`); deleting a series or an entity's history deletes its chunks too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from smartby.store.postgres.history import COLUMNS, numeric_text
from smartby.store.postgres.partitions import month_bounds

log = logging.getLogger("smartby.store")

DAY = 86_400_000_000
"""A chunk holds one UTC day of `at` (microseconds)."""
EMPTY_PARTITION = 32_768
"""Bytes (table, TOAST, indexes) under which a partition counts as already empty (`reclaim`)."""
WINDOW_DAYS = 31
"""Days of one entity packed per transaction (a writer of that entity waits for no more)."""

_SELECTED = ", ".join(COLUMNS)
_AT = "c.at_base + (u.i - 1) * c.at_step + coalesce(u.at_dev, u.at_dev4, 0)"
CHUNK_ROWS = (
    f"SELECT c.key, {_AT} AS at, "
    "c.instance_base + (u.i - 1) * c.instance_step + coalesce(u.instance_dev, u.instance_dev4, 0) "
    "AS instance, "
    "c.created_base + (u.i - 1) * c.created_step + coalesce(u.created_dev, u.created_dev4, 0) "
    f"+ CASE WHEN c.created_from_at THEN {_AT} ELSE 0 END AS created_at, "
    "u.modified_at, c.tenant_id, c.name_id, c.dataset_id, u.unit_id, u.kind, u.num, "
    'u.value COLLATE "C" AS value, u.extra '
    "FROM history_chunk c CROSS JOIN LATERAL unnest(c.kind, c.at_dev, c.at_dev4, c.instance_dev, "
    "c.instance_dev4, c.created_dev, c.created_dev4, c.modified_at, c.unit_id, c.num, c.value, c.extra) "
    "WITH ORDINALITY AS u(kind, at_dev, at_dev4, instance_dev, instance_dev4, created_dev, created_dev4, "
    "modified_at, unit_id, num, value, extra, i)"
)
"""The instances of the chunks `c` as history rows (history's columns, in its order)."""
ROWS = f"(SELECT {_SELECTED} FROM history UNION ALL {CHUNK_ROWS})"
"""History's rows and the packed ones: what reads of history read (as `h`)."""


def rows_within(start: int | None, end: int | None, *conditions: str) -> str:
    """`ROWS`, with only the chunks whose instances can lie in [start, end) unnested (`at`), and
    that meet `conditions` (on `c`) if any."""
    bounds = list(conditions)
    if start is not None:
        bounds.append(f"c.last_at >= {int(start)}")
    if end is not None:
        bounds.append(f"c.first_at < {int(end)}")
    if not bounds:
        return ROWS
    return f"(SELECT {_SELECTED} FROM history UNION ALL {CHUNK_ROWS} WHERE {' AND '.join(bounds)})"


@dataclass(frozen=True)
class Line:
    """Values as base + position * step + deviation (deviations None when all are 0)."""

    base: int
    step: int
    deviations: list[int] | None

    @property
    def largest(self) -> int:
        return max((abs(deviation) for deviation in self.deviations or ()), default=0)

    def columns(self, name: str) -> dict[str, list[int] | None]:
        """The deviations as `name` (bigint[]) or, when they fit, `name`4 (integer[], half the
        bytes to compress)."""
        small = self.largest < 2**31
        return {name: None if small else self.deviations, f"{name}4": self.deviations if small else None}


def line(values: Sequence[int]) -> Line:
    base = values[0]
    step = (values[-1] - base) // (len(values) - 1) if len(values) > 1 else 0
    deviations = [value - base - position * step for position, value in enumerate(values)]
    return Line(base, step, deviations if any(deviations) else None)


def _column(values: list[Any]) -> list[Any] | None:
    return values if any(value is not None for value in values) else None


Row = tuple[Any, ...]
"""A history row in the table's column order (`COLUMNS`)."""


def encode(rows: Sequence[Row]) -> dict[str, Any]:
    """The chunk of one series' rows (at least one; one tenant, key, name and dataset), as the
    values of history_chunk's columns but `day`."""
    ordered = sorted(rows, key=lambda row: (row[1], row[2]))
    at = line([row[1] for row in ordered])
    instance = line([row[2] for row in ordered])
    created = line([row[3] for row in ordered])
    # Recorded a moment after it was observed (live data): created_at is closer to a line after `at`.
    after_at = line([row[3] - row[1] for row in ordered])
    created_from_at = after_at.largest < created.largest
    if created_from_at:
        created = after_at
    first = ordered[0]
    return {
        "key": first[0],
        "name_id": first[6],
        "dataset_id": first[7],
        "first_at": ordered[0][1],
        "last_at": ordered[-1][1],
        "first_instance": min(row[2] for row in ordered),
        "last_instance": max(row[2] for row in ordered),
        "at_base": at.base,
        "at_step": at.step,
        "instance_base": instance.base,
        "instance_step": instance.step,
        "created_base": created.base,
        "created_step": created.step,
        "created_from_at": created_from_at,
        "tenant_id": first[5],
        "count": len(ordered),
        "kind": [row[9] for row in ordered],
        **at.columns("at_dev"),
        **instance.columns("instance_dev"),
        **created.columns("created_dev"),
        "modified_at": _column([row[4] for row in ordered]),
        "unit_id": _column([row[8] for row in ordered]),
        "num": _column([None if row[10] is None else _numeric(row[10]) for row in ordered]),
        "value": _column([row[11] for row in ordered]),
        "extra": _column([row[12] for row in ordered]),
    }


def _numeric(value: Any) -> str:
    """A `num` as read from the table (Decimal, keeping its scale) or written (int, float)."""
    if isinstance(value, int | float):
        return numeric_text(value)
    return format(value, "f")


_CHUNK_COLUMNS = (
    "key",
    "name_id",
    "dataset_id",
    "day",
    "first_at",
    "last_at",
    "first_instance",
    "last_instance",
    "at_base",
    "at_step",
    "instance_base",
    "instance_step",
    "created_base",
    "created_step",
    "created_from_at",
    "tenant_id",
    "count",
    "kind",
    "at_dev",
    "at_dev4",
    "instance_dev",
    "instance_dev4",
    "created_dev",
    "created_dev4",
    "modified_at",
    "unit_id",
    "num",
    "value",
    "extra",
)
_CASTS = {"num": "::text[]::numeric[]"}
_INSERT = (
    f"INSERT INTO history_chunk ({', '.join(_CHUNK_COLUMNS)}) VALUES ("
    + ", ".join(f"%s{_CASTS.get(column, '')}" for column in _CHUNK_COLUMNS)
    + ")"
)


def write_chunks(db: psycopg.Connection, rows: Iterable[Row]) -> int:
    """Insert the chunks of these rows (grouped by series and day); how many chunks."""
    groups: dict[tuple[int, int, int, int], list[Row]] = {}
    for row in rows:
        groups.setdefault((row[0], row[6], row[7], row[1] // DAY * DAY), []).append(row)
    chunks = []
    for (_, _, _, day), group in groups.items():
        chunk = encode(group)
        chunk["day"] = day
        chunks.append(tuple(chunk[column] for column in _CHUNK_COLUMNS))
    if chunks:
        with db.cursor() as cursor:
            cursor.executemany(_INSERT, chunks)
    return len(chunks)


def unpack(db: psycopg.Connection, where: str, params: Sequence[Any]) -> int:
    """Turn the chunks `where` selects (a condition on `c`) back into history rows; how many rows."""
    moved = db.execute(
        f"INSERT INTO history ({_SELECTED}) SELECT {_SELECTED} FROM ({CHUNK_ROWS} WHERE {where}) p",
        params,
    ).rowcount
    if moved:
        db.execute(f"DELETE FROM history_chunk c WHERE {where}", params)
    return int(moved)


def lock_keys(db: psycopg.Connection, keys: list[int]) -> None:
    """Hold these entities as a write holds them (their entity_key rows, in id order)."""
    db.execute(
        "SELECT 1 FROM temporal_entity t JOIN entity_key k ON k.tenant_id = t.tenant_id "
        "AND k.id = t.entity_id WHERE t.key = ANY(%s) ORDER BY k.id FOR UPDATE OF k",
        (keys,),
    )


def pack_window(db: psycopg.Connection, key: int, start: int, end: int) -> int:
    """In the caller's transaction: pack the rows of one entity with `at` in [start, end) (whole
    days), merging a day's existing chunk with the day's new rows; how many rows were packed."""
    lock_keys(db, [key])
    rows = db.execute(
        f"DELETE FROM history WHERE key = %s AND at >= %s AND at < %s RETURNING {_SELECTED}",
        (key, start, end),
    ).fetchall()
    if not rows:
        return 0
    days = sorted({(row[6], row[7], row[1] // DAY * DAY) for row in rows})
    names, datasets, starts = (list(column) for column in zip(*days, strict=True))
    same_day = (
        "c.key = %s AND (c.name_id, c.dataset_id, c.day) IN "
        "(SELECT * FROM unnest(%s::integer[], %s::integer[], %s::bigint[]))"
    )
    params = (key, names, datasets, starts)
    rows.extend(db.execute(f"{CHUNK_ROWS} WHERE {same_day}", params).fetchall())
    db.execute(f"DELETE FROM history_chunk c WHERE {same_day}", params)
    write_chunks(db, rows)
    return len(rows)


def prune(db: psycopg.Connection, keys: list[int], before: int) -> int:
    """Follow history's pruning of these entities before `before`: a day the cut falls inside is
    unpacked (history's own deletion then takes its older rows), the days wholly before it go; how
    many instances those held."""
    unpack(db, "c.key = ANY(%s) AND c.first_at < %s AND c.last_at >= %s", (keys, before, before))
    dropped = db.execute(
        "DELETE FROM history_chunk c WHERE c.key = ANY(%s) AND c.last_at < %s RETURNING c.count",
        (keys, before),
    ).fetchall()
    return sum(int(row[0]) for row in dropped)


def cutoff(now: int, after: int) -> int:
    """The end of the days a pass packs at `now` (microseconds): whole days older than `after`."""
    return (now - after) // DAY * DAY


def pending(db: psycopg.Connection, before: int) -> list[tuple[int, int, int]]:
    """(key, first `at`, last `at`) of the history rows before `before` of each entity that has
    some, each series' first and last row found through its index."""
    series = "h.key = s.key AND h.name_id = s.name_id AND h.dataset_id = s.dataset_id AND h.at < %s"
    rows = db.execute(
        "SELECT s.key, min(f.at), max(l.at) FROM temporal_attr s "
        f"CROSS JOIN LATERAL (SELECT h.at FROM history h WHERE {series} ORDER BY h.at LIMIT 1) f "
        f"CROSS JOIN LATERAL (SELECT h.at FROM history h WHERE {series} ORDER BY h.at DESC LIMIT 1) l "
        "GROUP BY s.key ORDER BY s.key",
        (before, before),
    ).fetchall()
    return [(int(key), int(first), int(last)) for key, first, last in rows]


def windows(first: int, last: int, before: int) -> list[tuple[int, int]]:
    """[start, end) ranges of whole days, WINDOW_DAYS at most each, from `first`'s day to the end
    of `last`'s (but not past `before`)."""
    start = first // DAY * DAY
    end = min(last // DAY * DAY + DAY, before)
    step = WINDOW_DAYS * DAY
    return [(low, min(low + step, end)) for low in range(start, end, step)]


def reclaim(db: psycopg.Connection, before: int) -> list[str]:
    """Give back the space of the history partitions that packing emptied: a month wholly before
    `before` whose table holds no row is truncated (its files, the index's too, start again empty;
    deleted rows alone leave both their size). Each is locked without waiting, so a partition a
    read or write is using is left for the next pass and nobody queues behind the lock; a row
    written into it before the lock keeps it as it is. The names of the partitions truncated."""
    names = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'history'::regclass AND c.relname <> 'history_default' "
        "AND pg_total_relation_size(c.oid) > %s ORDER BY 1",
        (EMPTY_PARTITION,),
    ).fetchall()
    truncated = []
    for (name,) in names:
        _, year, month = str(name).split("_")
        if month_bounds(int(year), int(month))[1] > before:
            continue
        try:
            with db.transaction():
                db.execute(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE NOWAIT")
                if db.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() is None:
                    db.execute(f"TRUNCATE {name}")
                    truncated.append(str(name))
        except psycopg.errors.LockNotAvailable:
            continue
    if truncated:
        log.info("gave back the space of emptied history partitions %s", ", ".join(truncated))
    return truncated
