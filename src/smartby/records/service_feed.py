"""What the store keeps for city services: the changes fed to each service and its job leases.

Records only: the broker decides which changes a service is fed, the services runtime what to do
with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FedChange:
    """One entity's change for one service, written in the transaction that made it. `before` and
    `after` hold the entity's id, types and the attributes the service watches (None: the entity did
    not exist before, or was deleted)."""

    service: str
    tenant: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class ClaimedChange:
    """A fed change claimed by one process until its lease runs out (`attempts` counts this claim:
    more than one means a process claimed it before and did not settle it, e.g. it crashed)."""

    id: int
    service: str
    tenant: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    attempts: int
