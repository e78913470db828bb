"""SQLite's write transaction: the shared one (`smartby.store.sql.transaction`) on the writer's
connection, which holds the database's write lock, so keys, ordinals and instance numbers are
taken from counters without asking anyone, and rows go by `executemany`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from smartby.store.history_rows import HistoryRow
from smartby.store.rollup_plan import Bucket
from smartby.store.sql.outbox import OutboxSQL
from smartby.store.sql.series import KnownSeries
from smartby.store.sql.transaction import SQLTransaction
from smartby.store.sqlite import rollup
from smartby.store.sqlite.dialect import SQLITE
from smartby.store.sqlite.geo import RTREE
from smartby.store.sqlite.terms import SQLiteTerms

_COUNTERS = ("key", "ordinal", "instance")


class SQLiteTransaction(SQLTransaction):
    def __init__(
        self,
        connection: sqlite3.Connection,
        tenant_id: int,
        terms: SQLiteTerms,
        series: KnownSeries,
        outbox: OutboxSQL,
    ) -> None:
        known = terms.known

        def term_id(iri: str) -> int:
            found = known.get(iri)
            return found if found is not None else terms.intern(connection, iri)

        super().__init__(connection, tenant_id, SQLITE, terms, term_id, series, RTREE, outbox)
        self._counters: dict[str, int] | None = None
        self._stored_counters: dict[str, int] = {}
        self._pending_keys: dict[int, str] = {}
        """Keys taken for ids that had none, not yet written to entity_key (written once used)."""

    def _next(self, counter: str, count: int) -> int:
        """The first of `count` new values of a counter."""
        counters = self._counters
        if counters is None:
            counters = self._counters = {
                name: int(value)
                for name, value in self._db.execute(
                    "SELECT name, value FROM counter WHERE name IN ('key', 'ordinal', 'instance')"
                )
            }
            self._stored_counters = dict(counters)
        first = counters[counter] + 1
        counters[counter] += count
        return first

    def _claim(self, ids: list[str]) -> None:
        first = self._next("key", len(ids))
        for offset, entity_id in enumerate(ids):
            key = first + offset
            self._keys[entity_id] = key
            self._claimed.add(key)
            self._pending_keys[key] = entity_id
            self._temporal[key] = None

    def _ordinals(self, count: int) -> list[int]:
        first = self._next("ordinal", count)
        return list(range(first, first + count))

    def _instance_numbers(self, count: int) -> int | None:
        return self._next("instance", count)

    def _insert(self, table: str, columns: Sequence[str], rows: list[Any], conflict: str = "") -> None:
        if rows:
            marks = ", ".join("?" * len(columns))
            self._db.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {conflict}", rows
            )
            rows.clear()

    def _keys_used(self) -> None:
        if self._pending_keys:
            used = [
                (self._tenant, entity_id, key)
                for key, entity_id in self._pending_keys.items()
                if key in self._used
            ]
            if used:
                self._db.executemany("INSERT INTO entity_key (tenant_id, id, key) VALUES (?, ?, ?)", used)
                for _, _, key in used:
                    del self._pending_keys[key]

    def _send_history(self, rows: list[HistoryRow], stale: set[Bucket]) -> None:
        hourly = rollup.summed(rows, stale)
        self._db.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        rollup.add(self._db, hourly)

    def _recompute(self, stale: set[Bucket]) -> None:
        rollup.recompute(self._db, stale)

    def _flushed(self) -> None:
        counters = self._counters
        if counters is not None and counters != self._stored_counters:
            self._db.executemany(
                "UPDATE counter SET value = ? WHERE name = ?",
                [
                    (counters[name], name)
                    for name in _COUNTERS
                    if counters[name] != self._stored_counters[name]
                ],
            )
            self._stored_counters = dict(counters)
