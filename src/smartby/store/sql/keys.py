"""API keys, created tenants and subscription owners, in SQL written once for both backends
(`api_key`, `subscription_owner`, migration 14; `tenant`, migration 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from smartby.records import audit
from smartby.records.keys import ApiKey
from smartby.store.sql.audit import AuditedTables

_COLUMNS = "name, key_id, key_hash, owner, tenants, role, created_at, expires_at, last_used, revoked_at"


def _key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        name=row[0],
        key_id=row[1],
        key_hash=row[2],
        owner=row[3],
        tenants=tuple(orjson.loads(row[4])),
        role=row[5],
        created_at=row[6],
        expires_at=row[7],
        last_used=row[8],
        revoked_at=row[9],
    )


class KeyTables(AuditedTables):
    """The key store access control needs (`smartby.api.access.KeyStore`). A change of a key or a
    tenant is recorded in the audit log in its own transaction (docs/audit.md)."""

    async def _audited_statement(
        self, sql: str, params: tuple[Any, ...], operation: str, target: str, tenant: str = ""
    ) -> bool:
        """Run one statement that writes and, when it changed a row, an audit record with it."""
        return await self._audited(
            lambda db: bool(db.execute(sql, params).rowcount), audit.record(tenant, operation, target)
        )

    async def add_key(self, key: ApiKey) -> bool:
        """Store a new key; False when a key of that name exists."""
        sql = self._sql(
            f"INSERT INTO api_key ({_COLUMNS}) VALUES ({', '.join('?' * 10)}) ON CONFLICT (name) DO NOTHING"
        )
        params = (
            key.name,
            key.key_id,
            key.key_hash,
            key.owner,
            orjson.dumps(list(key.tenants)).decode(),
            key.role,
            key.created_at,
            key.expires_at,
            key.last_used,
            key.revoked_at,
        )
        return await self._audited_statement(sql, params, "key.create", key.name)

    async def key_named(self, name: str) -> ApiKey | None:
        return await self._one_key("name", name)

    async def key_by_id(self, key_id: str) -> ApiKey | None:
        return await self._one_key("key_id", key_id)

    async def _one_key(self, column: str, value: str) -> ApiKey | None:
        sql = self._sql(f"SELECT {_COLUMNS} FROM api_key WHERE {column} = ?")

        def run(db: Any) -> ApiKey | None:
            row = db.execute(sql, (value,)).fetchone()
            return None if row is None else _key(row)

        return await self._read(run)

    async def list_keys(self) -> list[ApiKey]:
        sql = self._sql(f"SELECT {_COLUMNS} FROM api_key ORDER BY name")
        return await self._read(lambda db: [_key(row) for row in db.execute(sql).fetchall()])

    async def rekey(self, name: str, key_id: str, key_hash: str) -> bool:
        """Give a key that is not revoked a new secret (the old one stops working at once)."""
        sql = self._sql("UPDATE api_key SET key_id = ?, key_hash = ? WHERE name = ? AND revoked_at IS NULL")
        return await self._audited_statement(sql, (key_id, key_hash, name), "key.rotate", name)

    async def revoke_key(self, name: str, at: str) -> bool:
        sql = self._sql("UPDATE api_key SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
        return await self._audited_statement(sql, (at, name), "key.revoke", name)

    async def key_used(self, name: str, at: str) -> None:
        sql = self._sql("UPDATE api_key SET last_used = ? WHERE name = ?")
        await self._write(lambda db: db.execute(sql, (at, name)))

    async def create_tenant(self, name: str) -> bool:
        """Make a tenant; False when it exists."""
        sql = self._sql("INSERT INTO tenant (name) VALUES (?) ON CONFLICT (name) DO NOTHING")
        return await self._audited_statement(sql, (name,), "tenant.create", name, name)

    async def own_subscription(self, tenant: str, subscription_id: str, owner: str) -> None:
        sql = self._sql(
            "INSERT INTO subscription_owner (tenant, subscription_id, owner) VALUES (?, ?, ?) "
            "ON CONFLICT (tenant, subscription_id) DO UPDATE SET owner = excluded.owner"
        )
        await self._write(lambda db: db.execute(sql, (tenant, subscription_id, owner)))

    async def subscription_owner(self, tenant: str, subscription_id: str) -> str | None:
        sql = self._sql("SELECT owner FROM subscription_owner WHERE tenant = ? AND subscription_id = ?")

        def run(db: Any) -> str | None:
            row = db.execute(sql, (tenant, subscription_id)).fetchone()
            return None if row is None else str(row[0])

        return await self._read(run)

    async def others_subscriptions(self, tenant: str, owner: str) -> set[str]:
        """The ids of the tenant's subscriptions someone other than `owner` made."""
        sql = self._sql("SELECT subscription_id FROM subscription_owner WHERE tenant = ? AND owner <> ?")
        return await self._read(
            lambda db: {str(row[0]) for row in db.execute(sql, (tenant, owner)).fetchall()}
        )
