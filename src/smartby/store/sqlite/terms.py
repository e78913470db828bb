"""IRIs (entity types, attribute names, units, datasetIds) interned to small integers."""

from __future__ import annotations

import sqlite3
import threading


class Terms:
    """IRI <-> integer interning, cached in memory (positive entries only)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.known: dict[str, int] = self._ids
        self._iris: dict[int, str] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._ids.clear()
            self._iris.clear()

    def _remember(self, iri: str, term_id: int) -> None:
        with self._lock:
            self._ids[iri] = term_id
            self._iris[term_id] = iri

    def lookup(self, connection: sqlite3.Connection, iri: str) -> int | None:
        term_id = self._ids.get(iri)
        if term_id is None:
            row = connection.execute("SELECT id FROM term WHERE iri = ?", (iri,)).fetchone()
            if row is None:
                return None
            term_id = row[0]
            self._remember(iri, term_id)
        return term_id

    def intern(self, connection: sqlite3.Connection, iri: str) -> int:
        term_id = self.lookup(connection, iri)
        if term_id is None:
            term_id = connection.execute("INSERT INTO term (iri) VALUES (?) RETURNING id", (iri,)).fetchone()[
                0
            ]
            self._ids[iri] = term_id
            self._iris[term_id] = iri
        return term_id

    def iri(self, connection: sqlite3.Connection, term_id: int) -> str:
        iri = self._iris.get(term_id)
        if iri is None:
            iri = connection.execute("SELECT iri FROM term WHERE id = ?", (term_id,)).fetchone()[0]
            self._remember(iri, term_id)
        return iri
