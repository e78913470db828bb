"""API keys: made, rotated, revoked and checked (docs/security.md).

A key is `<key id>.<secret>`: the key id (16 hex digits) names the stored key, the secret is 256
random bits. Only a salted SHA-256 of the whole key is stored, made and checked by the same code as
device keys (`smartby.ingest.registry`): a generated key needs no slow hash, no guess finds it. A key
once checked is trusted for `TRUST_SECONDS`; revoking or rotating it in this process forgets it at
once, in another process within that time.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from smartby.ingest.registry import hash_key, key_matches, new_key
from smartby.ngsild.errors import AlreadyExists, BadRequestData, ResourceNotFound
from smartby.ngsild.timestamps import format_datetime, now, parse_datetime
from smartby.records.keys import ALL_TENANTS, ROLES, ApiKey, Role

KEY_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
TENANT_NAME = re.compile(r"^[A-Za-z0-9_.:/\-]{1,64}$")
"""As NGSILD-Tenant (smartby.api.request)."""
TRUST_SECONDS = 5.0
LAST_USE_SECONDS = 60.0
"""A key's last use is written at most this often."""


class KeyStore(Protocol):
    async def add_key(self, key: ApiKey) -> bool: ...
    async def key_named(self, name: str) -> ApiKey | None: ...
    async def key_by_id(self, key_id: str) -> ApiKey | None: ...
    async def list_keys(self) -> list[ApiKey]: ...
    async def rekey(self, name: str, key_id: str, key_hash: str) -> bool: ...
    async def revoke_key(self, name: str, at: str) -> bool: ...
    async def key_used(self, name: str, at: str) -> None: ...
    async def create_tenant(self, name: str) -> bool: ...
    async def tenant_exists(self, tenant: str) -> bool: ...
    async def tenants(self) -> list[str]: ...
    async def own_subscription(self, tenant: str, subscription_id: str, owner: str) -> None: ...
    async def subscription_owner(self, tenant: str, subscription_id: str) -> str | None: ...
    async def others_subscriptions(self, tenant: str, owner: str) -> set[str]: ...


def _secret() -> tuple[str, str, str]:
    """(key id, the key, its stored hash) of a new key."""
    key_id = secrets.token_hex(8)
    key = f"{key_id}.{new_key()}"
    return key_id, key, hash_key(key, generated=True)


def key_view(key: ApiKey) -> dict[str, object]:
    """A key as the admin API and `smartby keys list` show it (never its hash)."""
    return {
        "name": key.name,
        "owner": key.owner,
        "tenants": list(key.tenants),
        "role": key.role,
        "createdAt": key.created_at,
        "expiresAt": key.expires_at,
        "lastUsed": key.last_used,
        "revokedAt": key.revoked_at,
    }


class Keyring:
    """The API keys of one store."""

    def __init__(self, store: KeyStore) -> None:
        self.records = store
        self._trusted: dict[bytes, tuple[ApiKey, float, float]] = {}
        """By the SHA-256 of a key checked: its record, until when it is trusted, when it expires."""
        self._used: dict[str, float] = {}
        self._tenants: set[str] = set()
        """Tenants known to exist (a tenant, once made, is never removed)."""

    async def create(
        self,
        name: str,
        tenants: list[str],
        role: str,
        owner: str = "",
        expires: str | None = None,
        days: float | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (shown this once)."""
        if not KEY_NAME.match(name):
            raise BadRequestData(f"Invalid key name {name!r}: 1 to 128 of A-Z a-z 0-9 _ . : -")
        if role not in ROLES:
            raise BadRequestData(f"Invalid role {role!r}: one of {', '.join(ROLES)}")
        for tenant in tenants:
            if tenant not in ("", ALL_TENANTS) and not TENANT_NAME.match(tenant):
                raise BadRequestData(f"Invalid tenant {tenant!r}")
            if tenant not in ("", ALL_TENANTS) and not await self.records.tenant_exists(tenant):
                raise ResourceNotFound(f"No tenant {tenant!r}: create it first (smartby tenants create)")
        expires_at = None
        if expires is not None:
            expires_at = format_datetime(parse_datetime(expires, "expiresAt"))
        elif days is not None:
            expires_at = format_datetime(now() + timedelta(days=days))
        key_id, key, key_hash = _secret()
        role_name: Role = role
        record = ApiKey(
            name=name,
            key_id=key_id,
            key_hash=key_hash,
            owner=owner or name,
            tenants=tuple(dict.fromkeys(tenants or [""])),
            role=role_name,
            created_at=format_datetime(now()),
            expires_at=expires_at,
        )
        if not await self.records.add_key(record):
            raise AlreadyExists(f"A key named {name!r} exists")
        return record, key

    async def tenant_exists(self, tenant: str) -> bool:
        """Whether an admin made `tenant`; asked of the store until it says yes."""
        if tenant in self._tenants:
            return True
        if not await self.records.tenant_exists(tenant):
            return False
        if len(self._tenants) > 10_000:
            self._tenants.clear()
        self._tenants.add(tenant)
        return True

    async def get(self, name: str) -> ApiKey:
        key = await self.records.key_named(name)
        if key is None:
            raise ResourceNotFound(f"No key named {name!r}")
        return key

    async def list(self) -> list[ApiKey]:
        return await self.records.list_keys()

    async def rotate(self, name: str) -> tuple[ApiKey, str]:
        """A new secret for a key; the old one stops working."""
        key_id, key, key_hash = _secret()
        if not await self.records.rekey(name, key_id, key_hash):
            raise ResourceNotFound(f"No key named {name!r} that is not revoked")
        self._forget(name)
        return replace(await self.get(name), key_id=key_id, key_hash=key_hash), key

    async def revoke(self, name: str) -> None:
        if not await self.records.revoke_key(name, format_datetime(now())):
            raise ResourceNotFound(f"No key named {name!r} that is not revoked")
        self._forget(name)

    def _forget(self, name: str) -> None:
        for digest in [digest for digest, (key, _, _) in self._trusted.items() if key.name == name]:
            del self._trusted[digest]

    async def verify(self, presented: str) -> ApiKey | None:
        """The key `presented` is, when it is one, not revoked and not expired."""
        digest = hashlib.sha256(presented.encode()).digest()
        trusted = self._trusted.get(digest)
        clock = time.monotonic()
        if trusted is None or trusted[1] <= clock:
            key_id, dot, _ = presented.partition(".")
            found = await self.records.key_by_id(key_id) if dot and len(key_id) == 16 else None
            if found is None or not key_matches(found.key_hash, presented):
                return None
            if len(self._trusted) > 10_000:
                self._trusted.clear()
            expires = math.inf if found.expires_at is None else parse_datetime(found.expires_at).timestamp()
            trusted = self._trusted[digest] = (found, clock + TRUST_SECONDS, expires)
        key, _, expires = trusted
        if key.revoked_at is not None or (expires != math.inf and expires <= time.time()):
            return None
        if self._used.get(key.name, 0.0) <= clock:
            self._used[key.name] = clock + LAST_USE_SECONDS
            await self.records.key_used(key.name, format_datetime(now()))
        return key
