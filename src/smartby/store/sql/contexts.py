"""The stored JSON-LD contexts (Hosted, Cached and ImplicitlyCreated, clause 5.13), in SQL both
backends run. Each belongs to one tenant: every statement names it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from smartby.ngsild.reads import StoredContext
from smartby.records import audit
from smartby.store.sql.audit import AuditedTables

_COLUMNS = "id, url, kind, document, created_at, last_used, hits, extra_info"
_INSERT = f"INSERT INTO jsonld_context (tenant, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_BY_KEY = f"SELECT {_COLUMNS} FROM jsonld_context WHERE tenant = ? AND (id = ? OR url = ?)"


def _context(row: Any) -> StoredContext:
    extra = orjson.loads(row[7]) if row[7] is not None else None
    return StoredContext(row[0], row[1], row[2], orjson.loads(row[3]), row[4], row[5], row[6], extra)


def _row(tenant: str, context: StoredContext) -> tuple[Any, ...]:
    return (
        tenant,
        context.id,
        context.url,
        context.kind,
        orjson.dumps(context.document).decode(),
        context.created_at,
        context.last_used,
        context.hits,
        orjson.dumps(context.extra).decode() if context.extra is not None else None,
    )


class ContextTables(AuditedTables):
    """The context store the broker needs (`smartby.broker.contexts.ContextStore`)."""

    async def put_context(self, tenant: str, context: StoredContext, operation: str | None = None) -> None:
        """Store a context of `tenant`, or replace the document of its one with that URL (its id,
        hits and last use stay). With `operation` (Add and Reload @context) the change is recorded
        in the audit log in its transaction; a copy cached on first use is not."""
        sql = self._sql(
            f"{_INSERT} ON CONFLICT (tenant, url) DO UPDATE SET document = excluded.document, "
            "kind = excluded.kind, created_at = excluded.created_at, extra_info = excluded.extra_info"
        )
        params = _row(tenant, context)
        if operation is None:
            await self._write(lambda db: db.execute(sql, params))
        else:
            entry = audit.change(tenant, operation, context.id)
            await self._audited(lambda db: db.execute(sql, params).rowcount > 0, entry)

    async def keep_context(self, tenant: str, context: StoredContext) -> StoredContext:
        """Store a context of `tenant` unless it has one with its id or URL already; the stored one."""
        insert = self._sql(f"{_INSERT} ON CONFLICT DO NOTHING")
        select = self._sql(_BY_KEY)
        params = _row(tenant, context)

        def run(db: Any) -> StoredContext:
            db.execute(insert, params)
            row = db.execute(select, (tenant, context.id, context.url)).fetchone()
            return _context(row)

        return await self._write(run)

    async def get_context(self, tenant: str, key: str) -> StoredContext | None:
        sql = self._sql(_BY_KEY)

        def run(db: Any) -> StoredContext | None:
            row = db.execute(sql, (tenant, key, key)).fetchone()
            return None if row is None else _context(row)

        return await self._read(run)

    async def list_contexts(self, tenant: str, kind: str | None = None) -> list[StoredContext]:
        order = " ORDER BY created_at, id"
        if kind is None:
            sql = self._sql(f"SELECT {_COLUMNS} FROM jsonld_context WHERE tenant = ?{order}")
            return await self._read(lambda db: [_context(row) for row in db.execute(sql, (tenant,))])
        by_kind = self._sql(f"SELECT {_COLUMNS} FROM jsonld_context WHERE tenant = ? AND kind = ?{order}")
        return await self._read(lambda db: [_context(row) for row in db.execute(by_kind, (tenant, kind))])

    async def delete_context(self, tenant: str, key: str) -> bool:
        sql = self._sql("DELETE FROM jsonld_context WHERE tenant = ? AND (id = ? OR url = ?)")
        return await self._audited(
            lambda db: db.execute(sql, (tenant, key, key)).rowcount > 0,
            audit.change(tenant, "context.delete", key),
        )

    async def record_context_use(self, uses: Sequence[tuple[str, str, int, str]]) -> None:
        """Add (tenant, key, hits, last used) counted in memory to the stored contexts; `key` is a
        local id or a URL. Keys no stored context of that tenant has are passed over."""
        if not uses:
            return
        sql = self._sql(
            "UPDATE jsonld_context SET hits = hits + ?, last_used = ? "
            "WHERE tenant = ? AND (id = ? OR url = ?)"
        )
        rows = [(hits, used_at, tenant, key, key) for tenant, key, hits, used_at in uses]
        await self._write(lambda db: db.cursor().executemany(sql, rows))
