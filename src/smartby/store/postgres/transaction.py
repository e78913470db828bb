"""PostgreSQL's write transaction: the shared one (`smartby.store.sql.transaction`) for many
writers on one database.

Each entity id has a row in `entity_key` holding the entity's key; a transaction locks the rows of
the ids it reads (`SELECT ... FOR UPDATE`, in id order), so a read-modify-write of an entity is
atomic across processes. An id without a row gets one first (`INSERT ... ON CONFLICT DO NOTHING`,
then the lock), so two transactions creating the same entity take turns and the second sees the
first's entity. Keys, ordinals and instance numbers come from sequences. Rows go by `COPY` once a
table has COPY_ROWS waiting; a smaller flush goes as one pipeline, all statements then one wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from smartby.store.history_rows import HistoryRow
from smartby.store.postgres import pack, rollup
from smartby.store.postgres.dialect import POSTGRES
from smartby.store.postgres.geo import POSTGIS
from smartby.store.postgres.history import COLUMNS, table_row
from smartby.store.postgres.partitions import Partitions
from smartby.store.postgres.terms import PostgresTerms
from smartby.store.rollup_plan import Bucket
from smartby.store.sql.outbox import OutboxSQL
from smartby.store.sql.series import KnownSeries
from smartby.store.sql.transaction import _READ, SQLTransaction

COPY_ROWS = 64
"""From this many buffered rows on, a table's rows are sent with COPY instead of executemany."""
_CASTS = {("history", "num"): "::numeric", ("geo", "geom"): "::geometry"}
"""Parameters sent as text that a column takes as another type. Only history's `num` (exact
numeric text): attr's `num` is a double sent as one, which a cast through numeric would round to
15 digits (and past the largest double, for numbers near it)."""
_COLUMN_TYPES = {
    "key": "bigint",
    "name_id": "integer",
    "seq": "integer",
    "tenant_id": "integer",
    "kind": "smallint",
    "txt": "text",
    "at": "bigint",
    "instance": "bigint",
    "created_at": "bigint",
    "modified_at": "bigint",
    "dataset_id": "integer",
    "unit_id": "integer",
    "value": "text",
    "extra": "text",
    "ordinal": "bigint",
    "id": "text",
    "doc": "bytea",
    "type_id": "integer",
    "shape": "smallint",
}
_TYPES = {
    **{
        (table, column): kind
        for table in ("attr", "history", "entity", "entity_type", "temporal_type", "geo")
        for column, kind in _COLUMN_TYPES.items()
    },
    ("attr", "num"): "double precision",
    ("history", "num"): "text[]::numeric",
    ("geo", "geom"): "text[]::geometry",
}
"""The SQL type of each column rows are inserted into (as arrays: `?::type[]`)."""


class PostgresTransaction(SQLTransaction):
    claims_first = True

    def __init__(
        self,
        connection: psycopg.Connection,
        tenant_id: int,
        terms: PostgresTerms,
        series: KnownSeries,
        partitions: Partitions,
        outbox: OutboxSQL,
        *,
        begun: bool = False,
    ) -> None:
        """`begun`: the connection is in a transaction already (BEGIN was sent)."""
        known = terms.known

        def term_id(iri: str) -> int:
            found = known.get(iri)
            return found if found is not None else terms.intern(iri)

        super().__init__(connection, tenant_id, POSTGRES, terms, term_id, series, POSTGIS, outbox)
        self._partitions = partitions
        self._begun = begun

    # -- the transaction: BEGIN and COMMIT ride with the first and the last statements ---------------

    def begin(self) -> None:
        """Start the transaction: sent with the statements that follow when a pipeline is open (the
        connection is in autocommit; BEGIN and COMMIT are ours to send)."""
        if not self._begun:
            self._db.execute("BEGIN")
            self._begun = True

    def commit(self) -> None:
        """Send what is left, give back the keys this transaction took for ids it did not use, and
        commit: all in one round trip unless a table goes by COPY."""
        if not self._begun and not self._pending():
            return
        if self._copies():
            self.begin()
            self._send()
            self._release_unused()
            self._db.execute("COMMIT")
        else:
            with self._db.pipeline():
                self.begin()
                self._send()
                self._release_unused()
                self._db.execute("COMMIT")

    def _release_unused(self) -> None:
        unused = self._claimed - self._used
        if unused:
            self._db.execute("DELETE FROM entity_key WHERE key = ANY(%s)", (sorted(unused),))

    def _pending(self) -> bool:
        """Whether anything waits to be sent."""
        return bool(
            self._new_entities
            or self._updated_entities
            or self._deleted_entities
            or self._new_types
            or self._deleted_types
            or self._attr_rows
            or self._attr_changes
            or self._deleted_attrs
            or self._geo_rows
            or self._deleted_geo
            or self._tentities
            or self._ttypes
            or self._history
            or self._stale
            or self._new_series
            or self._outbox
            or self._fed
            or self._claimed - self._used
        )

    def _execute(self, sql: str, params: Sequence[Any] = (), *, read: bool = False) -> Any:
        self.begin()
        return super()._execute(sql, params, read=read)

    def _executemany(self, sql: str, rows: Sequence[Any]) -> None:
        self.begin()
        super()._executemany(sql, rows)

    # -- keys and locks ----------------------------------------------------------------------------

    def _take(self, ids: list[str]) -> None:
        """Lock the existing key rows of `ids` and read what they hold: two statements in one
        pipeline. The read is a statement of its own, after the lock is granted, so that it sees
        what a transaction that held the lock before committed (a join in the locking statement
        would read the entity as it was when that statement began)."""
        if not ids:
            return
        with self._db.pipeline():
            self.begin()
            lock = self._db.execute(
                "SELECT key FROM entity_key WHERE tenant_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE",
                (self._tenant, ids),
            )
            read = self._db.execute(POSTGRES.sql(_READ + "k.id = ANY(?)"), (self._tenant, ids), binary=True)
        locked = {row[0] for row in lock.fetchall()}
        self._took(read.fetchall(), locked)

    def _claim(self, ids: list[str]) -> None:
        self.begin()
        added = self._db.execute(
            "INSERT INTO entity_key (tenant_id, id) SELECT %s, i FROM unnest(%s::text[]) AS i ORDER BY i "
            "ON CONFLICT DO NOTHING RETURNING id, key",
            (self._tenant, ids),
        ).fetchall()
        for entity_id, key in added:
            self._keys[entity_id] = key
            self._claimed.add(key)
            self._temporal[key] = None
        # Rows another transaction added (it has committed), or that were there: lock them too.
        self._take([entity_id for entity_id in ids if entity_id not in self._keys])

    def _ordinals(self, count: int) -> list[int]:
        return [
            int(row[0])
            for row in self._db.execute(
                "SELECT nextval('entity_ordinal_seq') FROM generate_series(1, %s) ORDER BY 1", (count,)
            )
        ]

    def _instance_numbers(self, count: int) -> int | None:
        return None

    _history_rows = pack.ROWS

    def _unpack(self, where: str, params: Sequence[Any]) -> None:
        self.begin()
        pack.unpack(self._db, POSTGRES.sql(where), params)

    def _unpack_at(self, moments: list[tuple[int, int, int, int]]) -> None:
        """One statement for all: the chunks of these series whose span holds one of the moments."""
        if moments:
            self._unpack(
                "EXISTS (SELECT 1 FROM unnest(?::bigint[], ?::integer[], ?::integer[], ?::bigint[]) "
                "m(key, name_id, dataset_id, at) WHERE m.key = c.key AND m.name_id = c.name_id "
                "AND m.dataset_id = c.dataset_id AND m.at BETWEEN c.first_at AND c.last_at)",
                [list(column) for column in zip(*moments, strict=True)],
            )

    def _drop_packed(self, where: str, params: Sequence[Any]) -> int:
        return int(self._execute(f"DELETE FROM history_chunk c WHERE {where}", params).rowcount)

    def _before_append(self, rows: list[HistoryRow]) -> None:
        covers = self._partitions.covers
        missing = [row[3] for row in rows if not covers(row[3])]
        if missing:
            self._partitions.ensure(missing)

    # -- sending -----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Small writes (every table's rows under COPY_ROWS, which COPY would send and a pipeline
        cannot) go as one pipeline: all statements, then one wait for their results, not one wait
        each."""
        if self._copies():
            self.begin()
            self._send()
        else:
            with self._db.pipeline():
                self.begin()
                self._send()

    def _copies(self) -> bool:
        """Whether a buffer holds enough rows to go by COPY."""
        type_rows = sum(len(set(types)) for types in self._ttypes.values())
        return (
            max(
                len(self._new_entities),
                len(self._new_types),
                sum(len(rows) for rows in self._attr_rows.values()),
                sum(len(rows) for rows in self._geo_rows.values()),
                len(self._history),
                type_rows,
            )
            >= COPY_ROWS
        )

    def _insert(self, table: str, columns: Sequence[str], rows: list[Any], conflict: str = "") -> None:
        """Insert rows with COPY when there are many (and no conflict to handle), else with one
        statement: the rows as one array per column, unnested (one plan and one execution for all,
        where executemany runs a statement per row)."""
        if not rows:
            return
        names = ", ".join(columns)
        if len(rows) >= COPY_ROWS and not conflict:
            with self._db.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif len(rows) == 1:
            marks = ", ".join(f"%s{_CASTS.get((table, column), '')}" for column in columns)
            self._db.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", rows[0])
        else:
            arrays = ", ".join(f"%s::{_TYPES[table, column]}[]" for column in columns)
            self._db.execute(
                f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {conflict}",
                [list(column) for column in zip(*rows, strict=True)],
            )
        rows.clear()

    def _send_history(self, rows: list[HistoryRow], stale: set[Bucket]) -> None:
        table = [table_row(self._tenant, row) for row in rows]
        numbered = [row for row in table if row[2] is not None]
        fresh = [row[:2] + row[3:] for row in table if row[2] is None]
        self._insert("history", COLUMNS, numbered)
        self._insert("history", COLUMNS[:2] + COLUMNS[3:], fresh)
        rollup.add(self._db, table, stale)

    def _recompute(self, stale: set[Bucket]) -> None:
        rollup.recompute(self._db, stale)

    def finish(self) -> None:
        """Commit (a transaction ends with `commit` or `rollback`)."""
        self.commit()
