"""SQLite's terms: a new IRI is added by the writer, in the transaction that needs it."""

from __future__ import annotations

import sqlite3

from smartby.store.sql.terms import Terms
from smartby.store.sqlite.dialect import SQLITE


class SQLiteTerms(Terms):
    def __init__(self) -> None:
        super().__init__(SQLITE)

    def intern(self, connection: sqlite3.Connection, iri: str) -> int:
        """The id of `iri`, added if new (the cache is emptied if the transaction rolls back)."""
        term_id = self.lookup(connection, iri)
        if term_id is None:
            row = connection.execute("INSERT INTO term (iri) VALUES (?) RETURNING id", (iri,)).fetchone()
            term_id = int(row[0])
            self._remember(iri, term_id)
        return term_id
