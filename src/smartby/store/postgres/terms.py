"""IRIs (entity types, attribute names, units, datasetIds) interned to small integers.

New IRIs are committed at once on a connection of their own, so an id in the cache always names a
committed row, whatever becomes of the transaction that first needed it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import psycopg


class Terms:
    """IRI <-> integer interning, cached in memory (committed entries only)."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self._connect = connect
        self._ids: dict[str, int] = {}
        self.known: dict[str, int] = self._ids
        self._iris: dict[int, str] = {}
        self._lock = threading.Lock()
        self._writer: psycopg.Connection | None = None

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def _remember(self, iri: str, term_id: int) -> None:
        self._ids[iri] = term_id
        self._iris[term_id] = iri

    def lookup(self, connection: psycopg.Connection, iri: str) -> int | None:
        term_id = self._ids.get(iri)
        if term_id is None:
            row = connection.execute("SELECT id FROM term WHERE iri = %s", (iri,)).fetchone()
            if row is None:
                return None
            term_id = int(row[0])
            self._remember(iri, term_id)
        return term_id

    def intern(self, iri: str) -> int:
        term_id = self._ids.get(iri)
        if term_id is None:
            term_id = self.intern_many((iri,))[iri]
        return term_id

    def intern_many(self, iris: Iterable[str]) -> dict[str, int]:
        """Ids for all of `iris`, adding the new ones (one round trip for all of them)."""
        found = {iri: self._ids[iri] for iri in iris if iri in self._ids}
        missing = sorted({iri for iri in iris if iri not in found})
        for _ in range(5):
            if not missing:
                break
            with self._lock:
                if self._writer is None or self._writer.closed:
                    self._writer = self._connect()
                try:
                    rows = self._writer.execute(
                        "WITH added AS (INSERT INTO term (iri) SELECT unnest(%s::text[]) ON CONFLICT (iri) "
                        "DO NOTHING RETURNING id, iri) SELECT id, iri FROM added "
                        "UNION ALL SELECT id, iri FROM term WHERE iri = ANY(%s)",
                        (missing, missing),
                    ).fetchall()
                except psycopg.OperationalError:
                    self._writer.close()
                    self._writer = None
                    raise
                for term_id, iri in rows:
                    self._remember(iri, int(term_id))
                    found[iri] = int(term_id)
            # A row another session added while this statement ran is seen by the next one.
            missing = [iri for iri in missing if iri not in found]
        if missing:
            raise RuntimeError(f"could not intern {missing[:3]}")
        return found

    def iri(self, connection: psycopg.Connection, term_id: int) -> str:
        iri = self._iris.get(term_id)
        if iri is None:
            row = connection.execute("SELECT iri FROM term WHERE id = %s", (term_id,)).fetchone()
            if row is None:
                raise KeyError(term_id)
            iri = str(row[0])
            self._remember(iri, term_id)
        return iri
