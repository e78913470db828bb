"""PostgreSQL's terms (`smartby.store.sql.terms`).

New IRIs are committed at once on a connection of their own, so an id in the cache always names a
committed row, whatever becomes of the transaction that first needed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import psycopg

from smartby.store.postgres.dialect import POSTGRES
from smartby.store.sql.terms import Terms


class PostgresTerms(Terms):
    """New IRIs are committed at once, on a connection of this cache's own."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        super().__init__(POSTGRES)
        self._connect = connect
        self._writer: psycopg.Connection | None = None

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

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
                    self._ids[iri] = int(term_id)
                    self._iris[int(term_id)] = iri
                    found[iri] = int(term_id)
            # A row another session added while this statement ran is seen by the next one.
            missing = [iri for iri in missing if iri not in found]
        if missing:
            raise RuntimeError(f"could not intern {missing[:3]}")
        return found
