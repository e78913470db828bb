"""The one declaration the backends share: the transaction `transact` hands to a change.

What a store must offer is declared by those who use it, each where it uses it: the broker
(`EntityStore` in `smartby.broker.broker`, with `ContextStore`, `SubscriptionStore`, `OutboxStore`
and `HistoryStore` of its parts), ingestion (`smartby.ingest.device_store.DeviceStore`). A backend
satisfies them structurally, without importing them; `smartby.store.Store` names the backends.

The broker also declares the transaction its changes use (`smartby.broker.transaction.Transaction`,
where each method is described). The backends name `Transaction` below as what their transactions
are and what `transact` hands to a change, so it repeats those signatures: the store cannot import
the broker, and mypy holds the two together (a backend whose `transact` hands out less than the
broker's Transaction is no `EntityStore`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from smartby.ngsild.entity import Entity, Instance
from smartby.ngsild.subscription import Change
from smartby.records.audit import AuditRecord
from smartby.records.notifications import PendingNotification
from smartby.records.service_feed import FedChange

Superseded = Mapping[str, Sequence[Instance]]
"""Instances by attribute (expanded name) that a change wrote and then overwrote in the same
transaction, oldest first: history keeps them, the current state does not."""


class Transaction(Protocol):
    """One tenant's entities and history inside a write transaction of a backend."""

    def changes(self) -> list[Change]: ...
    def enqueue(self, notifications: Sequence[PendingNotification]) -> None: ...
    def feed(self, changes: Sequence[FedChange]) -> None: ...
    def audit(self, record: AuditRecord) -> None: ...
    def get(self, entity_id: str) -> Entity | None: ...
    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]: ...
    def insert(self, entity: Entity, earlier: Superseded | None = None) -> None: ...
    def replace(self, entity: Entity, earlier: Superseded | None = None) -> None: ...
    def delete(self, entity_id: str, deleted_at: str | None = None) -> bool: ...
    def temporal_entity(self, entity_id: str) -> tuple[int, Entity] | None: ...
    def add_history(
        self,
        header: Entity,
        attributes: dict[str, list[Instance]],
        now: str,
        *,
        skip_existing: bool = False,
        replace_observed: bool = False,
    ) -> int: ...
    def delete_history(self, entity_id: str) -> bool: ...
    def delete_attribute_history(
        self, entity_id: str, iri: str, dataset_id: str | None, delete_all: bool
    ) -> bool: ...
    def replace_instance(
        self, entity_id: str, iri: str, instance_id: str, instance: Instance, now: str
    ) -> bool: ...
    def delete_instance(self, entity_id: str, iri: str, instance_id: str) -> bool: ...
    def instance(self, entity_id: str, iri: str, instance_id: str) -> Instance | None: ...
