"""What a change of context works with: one tenant's entities and history inside a write transaction.

The broker's changes (in `broker.py`, `history.py` and `readings.py`) are functions of a
`Transaction`, run by a store's `transact` (`EntityStore` in `broker.py`). Declared here, by the
broker that uses it; a store's transactions satisfy it structurally.
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
    """The view of one tenant's entities inside a write transaction."""

    def changes(self) -> list[Change]:
        """What this transaction changed so far, one Change per entity (subscriptions match these)."""
        ...

    def enqueue(self, notifications: Sequence[PendingNotification]) -> None:
        """Put notifications in the outbox, committed with (and only with) this transaction."""

    def feed(self, changes: Sequence[FedChange]) -> None:
        """Put changes in the city services' feeds, committed with (and only with) this transaction."""

    def audit(self, record: AuditRecord) -> None:
        """Append a record to the audit log, committed with (and only with) this transaction."""

    def get(self, entity_id: str) -> Entity | None: ...

    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]: ...

    def insert(self, entity: Entity, earlier: Superseded | None = None) -> None:
        """Add a new entity (the caller checked it does not exist). `earlier` holds instances this
        change wrote before the entity's final ones (several readings of one attribute in one batch):
        they go to history, before the final instances, and never to the current state."""

    def replace(self, entity: Entity, earlier: Superseded | None = None) -> None:
        """Store the new state of an existing entity (`earlier` as for `insert`)."""

    def delete(self, entity_id: str, deleted_at: str | None = None) -> bool:
        """Remove an entity (its history stays, with a deletion recorded); False when there was none."""

    def temporal_entity(self, entity_id: str) -> tuple[int, Entity] | None:
        """The entity as history knows it (number, header with id, type, scope), or None."""

    def add_history(
        self,
        header: Entity,
        attributes: dict[str, list[Instance]],
        now: str,
        *,
        skip_existing: bool = False,
        replace_observed: bool = False,
    ) -> int:
        """Append attribute instances to an entity's history without touching its current state; with
        `skip_existing`, leave out instances equal in time and value to recorded ones (for imports
        that may run twice); with `replace_observed`, an instance observed at the same moment as a
        recorded one of the same attribute and datasetId replaces it (the temporal API's upsert).
        Returns how many were added."""

    def delete_history(self, entity_id: str) -> bool: ...

    def delete_attribute_history(
        self, entity_id: str, iri: str, dataset_id: str | None, delete_all: bool
    ) -> bool: ...

    def replace_instance(
        self, entity_id: str, iri: str, instance_id: str, instance: Instance, now: str
    ) -> bool: ...

    def delete_instance(self, entity_id: str, iri: str, instance_id: str) -> bool: ...

    def instance(self, entity_id: str, iri: str, instance_id: str) -> Instance | None:
        """One recorded instance by its instanceId (with instanceId, createdAt, modifiedAt)."""
