"""The stored JSON-LD contexts (Hosted, Cached and ImplicitlyCreated, clause 5.13), in SQL both
backends run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from smartby.ngsild.reads import StoredContext
from smartby.store.sql.tables import Tables

_COLUMNS = "id, url, kind, document, created_at, last_used, hits, extra_info"
_INSERT = f"INSERT INTO jsonld_context ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def _context(row: Any) -> StoredContext:
    extra = orjson.loads(row[7]) if row[7] is not None else None
    return StoredContext(row[0], row[1], row[2], orjson.loads(row[3]), row[4], row[5], row[6], extra)


def _row(context: StoredContext) -> tuple[Any, ...]:
    return (
        context.id,
        context.url,
        context.kind,
        orjson.dumps(context.document).decode(),
        context.created_at,
        context.last_used,
        context.hits,
        orjson.dumps(context.extra).decode() if context.extra is not None else None,
    )


class ContextTables(Tables):
    """The context store the broker needs (`smartby.broker.contexts.ContextStore`)."""

    async def put_context(self, context: StoredContext) -> None:
        """Store a context, or replace the document of the one with its URL (its id, hits and last
        use stay)."""
        sql = self._sql(
            f"{_INSERT} ON CONFLICT (url) DO UPDATE SET document = excluded.document, "
            "kind = excluded.kind, created_at = excluded.created_at, extra_info = excluded.extra_info"
        )
        params = _row(context)
        await self._write(lambda db: db.execute(sql, params))

    async def keep_context(self, context: StoredContext) -> StoredContext:
        """Store a context unless one with its id or URL is stored already; the stored one."""
        insert = self._sql(f"{_INSERT} ON CONFLICT DO NOTHING")
        select = self._sql(f"SELECT {_COLUMNS} FROM jsonld_context WHERE id = ? OR url = ?")
        params = _row(context)

        def run(db: Any) -> StoredContext:
            db.execute(insert, params)
            row = db.execute(select, (context.id, context.url)).fetchone()
            return _context(row)

        return await self._write(run)

    async def get_context(self, key: str) -> StoredContext | None:
        sql = self._sql(f"SELECT {_COLUMNS} FROM jsonld_context WHERE id = ? OR url = ?")

        def run(db: Any) -> StoredContext | None:
            row = db.execute(sql, (key, key)).fetchone()
            return None if row is None else _context(row)

        return await self._read(run)

    async def list_contexts(self, kind: str | None = None) -> list[StoredContext]:
        if kind is None:
            sql = f"SELECT {_COLUMNS} FROM jsonld_context ORDER BY created_at, id"
            return await self._read(lambda db: [_context(row) for row in db.execute(sql)])
        by_kind = self._sql(f"SELECT {_COLUMNS} FROM jsonld_context WHERE kind = ? ORDER BY created_at, id")
        return await self._read(lambda db: [_context(row) for row in db.execute(by_kind, (kind,))])

    async def delete_context(self, key: str) -> bool:
        sql = self._sql("DELETE FROM jsonld_context WHERE id = ? OR url = ?")
        return await self._write(lambda db: db.execute(sql, (key, key)).rowcount > 0)

    async def record_context_use(self, uses: Sequence[tuple[str, int, str]]) -> None:
        """Add (key, hits, last used) counted in memory to the stored contexts; `key` is a local id
        or a URL. Keys no stored context has are passed over."""
        if not uses:
            return
        sql = self._sql("UPDATE jsonld_context SET hits = hits + ?, last_used = ? WHERE id = ? OR url = ?")
        rows = [(hits, used_at, key, key) for key, hits, used_at in uses]
        await self._write(lambda db: db.cursor().executemany(sql, rows))
