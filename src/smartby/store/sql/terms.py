"""IRIs (entity types, attribute names, units, datasetIds) interned to small integers, cached.

How a new IRI gets its id differs (`intern`): SQLite's one writer adds it in the transaction that
needs it (a rollback empties the cache); PostgreSQL commits it at once on a connection of its own,
so that an id in the cache always names a committed row.
"""

from __future__ import annotations

import threading
from typing import Any

from smartby.store.sql.dialect import Dialect


class Terms:
    """IRI <-> integer, cached in memory (only ids that name a row)."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._ids: dict[str, int] = {}
        self.known: dict[str, int] = self._ids
        """IRI -> id, for a lookup without a call on the hot path."""
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

    def lookup(self, connection: Any, iri: str) -> int | None:
        term_id = self._ids.get(iri)
        if term_id is None:
            row = connection.execute(
                self._dialect.sql("SELECT id FROM term WHERE iri = ?"), (iri,)
            ).fetchone()
            if row is None:
                return None
            term_id = int(row[0])
            self._remember(iri, term_id)
        return term_id

    def iri(self, connection: Any, term_id: int) -> str:
        iri = self._iris.get(term_id)
        if iri is None:
            row = connection.execute(
                self._dialect.sql("SELECT iri FROM term WHERE id = ?"), (term_id,)
            ).fetchone()
            if row is None:
                raise KeyError(term_id)
            iri = str(row[0])
            self._remember(iri, term_id)
        return iri
