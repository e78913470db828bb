"""The Store protocol: what every storage backend offers the broker.

A backend is picked by URL (`sqlite:///path.db`, `postgresql://...`); see `smartby.store.open_store`.
Reads are coroutines. Every change runs as a function inside one transaction (`Store.transact`), so
a read-modify-write (PATCH, merge, batch upsert) is atomic even with several smartby processes on
one database, and a failed change writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from smartby.ngsild.entity import Entity, Instance
from smartby.ngsild.reads import (
    AggregatedEntity,
    AttributeInfo,
    Buckets,
    EntityQuery,
    HistoryQuery,
    QueryResult,
    StoredContext,
    TemporalEntity,
    TypeInfo,
)
from smartby.ngsild.subscription import Change
from smartby.records.notifications import (
    ClaimedNotification,
    DeliveryOutcome,
    PendingNotification,
    StoredSubscription,
)

T = TypeVar("T")


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

    def kind_of(self, tentity: int, iri: str) -> str | None:
        """The attribute type last recorded in history for an attribute."""


class Store(Protocol):
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def transact(self, tenant: str, change: Callable[[Transaction], T]) -> T:
        """Run `change` in one transaction on `tenant` (created on first write) and commit it.

        If `change` raises, nothing it did is kept and the exception reaches the caller.
        """
        ...

    async def tenant_exists(self, tenant: str) -> bool: ...

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None: ...

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult: ...

    async def history(self, tenant: str, query: HistoryQuery) -> tuple[list[TemporalEntity], int | None]:
        """One page of entities with their history, and the number of matching entities if asked."""
        ...

    async def aggregate(
        self, tenant: str, query: HistoryQuery, methods: tuple[str, ...], buckets: Buckets
    ) -> tuple[list[AggregatedEntity], int | None]: ...

    async def prune_history(self, tenant: str, entity_type: str, before: int) -> int:
        """Delete the history of entities of a type older than `before`; how many instances went."""
        ...

    async def tenants(self) -> list[str]: ...

    async def entity_types(self, tenant: str) -> list[TypeInfo]: ...

    async def attributes(self, tenant: str) -> list[AttributeInfo]: ...

    async def put_context(self, context: StoredContext) -> None: ...

    async def get_context(self, key: str) -> StoredContext | None:
        """A stored context by its local id or its URL."""
        ...

    async def list_contexts(self) -> list[StoredContext]: ...

    async def delete_context(self, key: str) -> bool: ...

    async def touch_context(self, url: str, used_at: str) -> None:
        """Count one use of a stored context."""
        ...

    async def create_subscription(self, subscription: StoredSubscription) -> bool:
        """Store a new subscription; False when the tenant has one with that id already."""
        ...

    async def get_subscription(self, tenant: str, subscription_id: str) -> StoredSubscription | None: ...

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]:
        """One page of a tenant's subscriptions (oldest first), and their number if asked."""
        ...

    async def replace_subscription(
        self, tenant: str, subscription_id: str, document: dict[str, Any], modified_at: str
    ) -> bool: ...

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        """Remove a subscription and its undelivered notifications; False when there was none."""
        ...

    async def all_subscriptions(self) -> tuple[int, list[StoredSubscription]]:
        """Every tenant's subscriptions, with the version counter they were read at."""
        ...

    async def subscription_version(self) -> int:
        """A counter every subscription change increases (other processes reload on a new one)."""
        ...

    async def enqueue_notifications(self, notifications: Sequence[PendingNotification]) -> None:
        """Put notifications in the outbox outside any entity change (periodic subscriptions)."""
        ...

    async def claim_periodic(self, now: float) -> list[tuple[str, str]]:
        """The (tenant, id) of the periodic subscriptions due at `now`, each moved on to its next
        period: of several processes calling this, exactly one gets each period."""
        ...

    async def claim_notifications(self, now: float, limit: int, lease: float) -> list[ClaimedNotification]:
        """Claim up to `limit` due, unclaimed notifications for `lease` seconds, oldest first. Each
        row is claimed by one caller at a time, also across processes."""
        ...

    async def settle_notifications(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """Record delivery attempts: drop delivered (or abandoned) rows, reschedule failed ones, and
        count them in their subscriptions' status."""
        ...

    def watch_outbox(self, wake: Callable[[], None]) -> None:
        """From now until the store closes, call `wake` (on this event loop) when a transaction of
        any process that queued notifications commits; a backend that cannot tell does nothing."""
        ...

    async def pending_notifications(self) -> int:
        """How many notifications wait in the outbox."""
        ...
