"""What access control keeps in the store: API keys (docs/security.md).

Records only; the rules (hashing, roles, which request needs which role) live in `smartby.api.access`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["reader", "writer", "admin"]
ROLES: tuple[Role, ...] = ("reader", "writer", "admin")
"""Each role may do what the ones before it may (docs/security.md)."""
ALL_TENANTS = "*"
"""The tenant a key names to hold its role on every tenant, those created later included."""


@dataclass(frozen=True)
class ApiKey:
    """An API key: who holds it, for which tenants, with which role."""

    name: str
    key_id: str
    """The public part of the key (before its dot), by which a presented key is looked up."""
    key_hash: str
    """`sha256$<salt hex>$<hash hex>` of the whole key: the key itself is never stored."""
    owner: str
    tenants: tuple[str, ...]
    """Tenant names ("" the default tenant, `*` every tenant)."""
    role: Role
    created_at: str
    expires_at: str | None = None
    last_used: str | None = None
    revoked_at: str | None = None

    def grants(self, tenant: str) -> bool:
        return ALL_TENANTS in self.tenants or tenant in self.tenants
