"""The city services' side of the broker: each service's durable feed of changes, and the leases
of their periodic jobs.

A service watches entity types and attributes (`Watch`). Every write of context goes through
`Broker.change`, which asks `ChangeFeed.match` for the changes a watch concerns and writes them in
the same transaction as the change itself: a change is fed if and only if it commits. A service
then claims its changes in batches with a lease, and settles them once handled; what a process
claimed and did not settle (it crashed) is claimable again when the lease ends. Each service's feed
is its cursor: it holds exactly what the service has not handled yet.

Every process that writes must know the same watches (the composition root declares the services
`SMARTBY_SERVICES` names in each), or changes it makes would not be fed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity
from smartby.ngsild.subscription import Change
from smartby.records.service_feed import ClaimedChange, FedChange

_HEADER = ("id", "type", "scope")


class FeedStore(Protocol):
    """What the services' feed and job leases need of a store."""

    async def claim_service_changes(
        self, service: str, now: float, limit: int, lease: float
    ) -> list[ClaimedChange]:
        """Up to `limit` of a service's fed changes not claimed at `now` (seconds since the epoch),
        oldest first, each claimed until `now + lease`."""
        ...

    async def settle_service_changes(self, ids: Sequence[int]) -> None:
        """Handled: remove them from the feed."""
        ...

    async def release_service_changes(self, ids: Sequence[int]) -> None:
        """Not handled: claimable again at once."""
        ...

    async def pending_service_changes(self, service: str) -> int: ...

    async def claim_service_job(
        self, service: str, job: str, due: float, wall: float, lease: float, holder: str
    ) -> float | None:
        """The moment a job was due if `holder` may run it now (it is due at `due`, the services'
        clock, and not leased at `wall`); None otherwise."""
        ...

    async def finish_service_job(self, service: str, job: str, holder: str, next_due: float) -> bool: ...

    async def service_job_runs(self, service: str, job: str) -> int: ...


@dataclass(frozen=True)
class Watch:
    """What one service is fed: changes of entities of `types` (expanded IRIs; empty: every type
    but those in `ignored`) that touch one of `attributes` (expanded; empty: any attribute). `brief`:
    each attribute instance of the entity after the change is fed as when it was observed alone (its
    observedAt, datasetId), not its value, and the entity before the change as its id, types and
    scope only, for services that judge timing only, at a fraction of the feed's cost."""

    service: str
    types: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()
    brief: bool = False

    def concerns(self, change: Change) -> bool:
        types = set(change.entity.get("type", ()))
        if self.types and not self.types & types:
            return False
        if not self.types and types and types <= self.ignored:
            return False
        return not self.attributes or bool(self.attributes & touched(change))

    def header(self, entity: Entity | None) -> dict[str, Any] | None:
        """Only the id, types and scope: a brief watch's `before` (whether the entity existed)."""
        if entity is None:
            return None
        return {name: entity[name] for name in _HEADER if name in entity}

    def slim(self, entity: Entity | None) -> dict[str, Any] | None:
        """The entity as the service is fed it: id, types, scope and the watched attributes."""
        if entity is None:
            return None
        wanted = self.attributes
        brief = self.brief
        slim: dict[str, Any] = {}
        for name, value in entity.items():
            if name in _HEADER:
                slim[name] = value
            elif name not in ENTITY_MEMBERS and (not wanted or name in wanted):
                slim[name] = (
                    [_timing(instance) for instance in value] if brief and type(value) is list else value
                )
        return slim


def _timing(instance: Any) -> Any:
    """An attribute instance as a brief watch is fed it: when it was observed (and its datasetId)."""
    if type(instance) is not dict:
        return instance
    observed = instance.get("observedAt")
    timing = {} if observed is None else {"observedAt": observed}
    dataset = instance.get("datasetId")
    if dataset is not None:
        timing["datasetId"] = dataset
    return timing


def touched(change: Change) -> set[str]:
    """The attributes a change wrote or removed."""
    if change.attributes is not None:
        return set(change.attributes | change.removed)
    before = change.before or {}
    after = change.after or {}
    names = {name for name in (*before, *after) if name not in ENTITY_MEMBERS}
    return {name for name in names if before.get(name) != after.get(name)}


class ChangeFeed:
    """The watches of this process's services, matched against every change, and the store calls
    by which a service takes its changes and its jobs."""

    def __init__(self, store: FeedStore) -> None:
        self.store = store
        self._watches: dict[str, Watch] = {}
        self._arrivals: dict[str, asyncio.Event] = {}

    def arrivals(self, service: str) -> asyncio.Event:
        """Set when this process commits changes fed to `service` (the runtime clears it before
        each claim): a runtime in the writing process takes them at once instead of at its next
        poll; other processes poll."""
        return self._arrivals.setdefault(service, asyncio.Event())

    def fed(self, services: Iterable[str]) -> None:
        """Changes fed to these services committed."""
        for service in services:
            event = self._arrivals.get(service)
            if event is not None:
                event.set()

    def watch(self, watches: Iterable[Watch]) -> None:
        """Feed these services from now on (a watch replaces the service's previous one)."""
        for watch in watches:
            self._watches[watch.service] = watch

    @property
    def watching(self) -> bool:
        return bool(self._watches)

    def match(self, tenant: str, changes: Sequence[Change]) -> list[FedChange]:
        fed = []
        for watch in self._watches.values():
            for change in changes:
                if watch.concerns(change):
                    entity_id = change.entity["id"]
                    fed.append(
                        FedChange(
                            watch.service,
                            tenant,
                            entity_id,
                            watch.header(change.before) if watch.brief else watch.slim(change.before),
                            watch.slim(change.after),
                        )
                    )
        return fed

    async def claim(self, service: str, limit: int, lease: float) -> list[ClaimedChange]:
        return await self.store.claim_service_changes(service, time.time(), limit, lease)

    async def settle(self, claimed: Sequence[ClaimedChange]) -> None:
        await self.store.settle_service_changes([change.id for change in claimed])

    async def release(self, claimed: Sequence[ClaimedChange]) -> None:
        await self.store.release_service_changes([change.id for change in claimed])

    async def pending(self, service: str) -> int:
        return await self.store.pending_service_changes(service)

    async def claim_job(self, service: str, job: str, due: float, lease: float, holder: str) -> float | None:
        return await self.store.claim_service_job(service, job, due, time.time(), lease, holder)

    async def finish_job(self, service: str, job: str, holder: str, next_due: float) -> bool:
        return await self.store.finish_service_job(service, job, holder, next_due)

    async def job_runs(self, service: str, job: str) -> int:
        return await self.store.service_job_runs(service, job)
