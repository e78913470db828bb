"""The stored JSON-LD contexts (hosted ones and cached remote ones), in SQL both backends run."""

from __future__ import annotations

from typing import Any

import orjson

from smartby.ngsild.reads import StoredContext
from smartby.store.sql.tables import Tables

_COLUMNS = "id, url, kind, document, created_at, last_used, hits"


def _context(row: Any) -> StoredContext:
    return StoredContext(row[0], row[1], row[2], orjson.loads(row[3]), row[4], row[5], row[6])


class ContextTables(Tables):
    """The context store the broker needs (`smartby.broker.contexts.ContextStore`): hosted and
    cached @contexts."""

    async def put_context(self, context: StoredContext) -> None:
        sql = self._sql(
            f"INSERT INTO jsonld_context ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (url) DO UPDATE SET document = excluded.document, kind = excluded.kind, "
            "created_at = excluded.created_at"
        )
        params = (
            context.id,
            context.url,
            context.kind,
            orjson.dumps(context.document).decode(),
            context.created_at,
            context.last_used,
            context.hits,
        )
        await self._write(lambda db: db.execute(sql, params))

    async def get_context(self, key: str) -> StoredContext | None:
        sql = self._sql(f"SELECT {_COLUMNS} FROM jsonld_context WHERE id = ? OR url = ?")

        def run(db: Any) -> StoredContext | None:
            row = db.execute(sql, (key, key)).fetchone()
            return None if row is None else _context(row)

        return await self._read(run)

    async def list_contexts(self) -> list[StoredContext]:
        sql = f"SELECT {_COLUMNS} FROM jsonld_context ORDER BY created_at, id"
        return await self._read(lambda db: [_context(row) for row in db.execute(sql)])

    async def delete_context(self, key: str) -> bool:
        sql = self._sql("DELETE FROM jsonld_context WHERE id = ? OR url = ?")
        return await self._write(lambda db: db.execute(sql, (key, key)).rowcount > 0)

    async def touch_context(self, url: str, used_at: str) -> None:
        sql = self._sql("UPDATE jsonld_context SET hits = hits + 1, last_used = ? WHERE url = ?")
        await self._write(lambda db: db.execute(sql, (used_at, url)))
