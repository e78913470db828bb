"""The audit log as the broker keeps it (docs/audit.md).

A change of context is recorded by `Broker.change` in the transaction that makes it (`change_record`).
What changes nothing (refused requests, failed writes, reads of sensitive types, reads of the log)
is collected by `AuditLog` and written in small batches, so a flood of refused requests costs one
insert per batch and never waits on, or stalls, the writes of context. Old records leave by
retention (`audit_retention_days`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from smartby.broker.batch_result import BatchResult
from smartby.ngsild.reads import AggregatedEntity, Buckets, HistoryQuery, TemporalEntity
from smartby.records import audit
from smartby.records.audit import Action, AuditFilter, AuditRecord
from smartby.settings import Settings

log = logging.getLogger("smartby.audit")

FLUSH_SECONDS = 0.5
"""Longest a collected record waits before it is written."""
FLUSH_RECORDS = 500
"""Collected records that are written at once, without waiting."""
MOST_WAITING = 10_000
"""Most records waiting to be written; more are counted, and the count recorded (`audit.dropped`)."""


class AuditStore(Protocol):
    async def record_audit(self, records: Sequence[AuditRecord]) -> None: ...
    async def audit_records(self, wanted: AuditFilter) -> tuple[list[AuditRecord], int]: ...
    async def prune_audit(self, before: str) -> int: ...


def change_record(
    tenant: str, action: Action, operation: str, ids: Sequence[str], result: Any
) -> AuditRecord:
    """The record of a change: the request's operation (or `operation`), the entities it changed,
    `partial` with the failed ids in `detail` for a batch some of whose entities failed."""
    outcome = audit.OK
    detail = None
    if isinstance(result, BatchResult):
        ids = result.success
        if result.errors:
            outcome = audit.PARTIAL
            failed, more = audit.targets([entity_id for entity_id, _ in result.errors])
            detail = f"failed: {failed}" + (f" ({more})" if more else "")
    target, more = audit.targets(list(dict.fromkeys(ids)))
    if more:
        detail = more if detail is None else f"{detail}; {more}"
    return AuditRecord(
        audit.timestamp(),
        action.actor,
        tenant,
        action.operation or operation,
        target or action.target or "",
        outcome,
        detail,
    )


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


class AuditLog:
    """Records that change nothing, collected and written in small batches; the sensitive types."""

    def __init__(self, store: AuditStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.sensitive = frozenset(settings.audit_sensitive_types)
        self._short_sensitive = frozenset(_short(name) for name in self.sensitive)
        self._waiting: list[AuditRecord] = []
        self._dropped = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- collected records ---------------------------------------------------------------------------

    def add(self, record: AuditRecord) -> None:
        """Collect a record, written within FLUSH_SECONDS (or at once by `flush`)."""
        if len(self._waiting) >= MOST_WAITING:
            self._dropped += 1
            return
        self._waiting.append(record)
        if len(self._waiting) >= FLUSH_RECORDS:
            self._wake.set()

    def refused(self, status: int, detail: str | None = None) -> None:
        """Record that access control refused the request under way (401, 403, the 404 that hides
        another tenant's resources; a rate limit's 429 calls this too)."""
        action = audit.current()
        action.recorded = True
        self.add(
            audit.record(
                action.tenant or "",
                action.operation or "request",
                action.target or "",
                f"{audit.REFUSED} {status}",
                detail,
            )
        )

    async def flush(self) -> None:
        """Write what is collected."""
        waiting, self._waiting = self._waiting, []
        if self._dropped:
            waiting.append(
                audit.record(
                    "", "audit.dropped", "", audit.OK, f"{self._dropped} records", actor=audit.SYSTEM
                )
            )
            self._dropped = 0
        try:
            await self.store.record_audit(waiting)
        except BaseException:
            self._waiting[:0] = waiting
            raise

    async def _keep_flushing(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("Writing audit records failed; trying again")

    # -- sensitive reads -----------------------------------------------------------------------------

    def is_sensitive(self, types: Iterable[str]) -> bool:
        return any(name in self.sensitive or _short(name) in self._short_sensitive for name in types)

    def read(self, tenant: str, operation: str, found: Iterable[tuple[str, Iterable[str]]]) -> None:
        """Record a read when it found entities (id, types) of a sensitive type."""
        if not self.sensitive:
            return
        ids = [entity_id for entity_id, types in found if self.is_sensitive(types)]
        if ids:
            action = audit.current()
            target, more = audit.targets(ids)
            self.add(audit.record(tenant, action.operation or operation, target, audit.OK, more))

    def read_entities(self, tenant: str, operation: str, entities: Iterable[dict[str, Any]]) -> None:
        if self.sensitive:
            self.read(tenant, operation, ((e["id"], _types(e.get("type"))) for e in entities))

    # -- reading the log -----------------------------------------------------------------------------

    async def records(self, wanted: AuditFilter) -> tuple[list[AuditRecord], int]:
        """A page of records, newest first, and how many match; this read is itself recorded, with
        what was collected so far, before the page is read."""
        action = audit.current()
        self.add(audit.record("", action.operation or "audit.read", action.target or "", audit.OK))
        await self.flush()
        return await self.store.audit_records(wanted)

    # -- life ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_flushing(), name="smartby-audit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("Writing audit records failed at shutdown")

    async def enforce_retention(self) -> int:
        """Delete the records older than `audit_retention_days`; how many went (run by the broker's
        retention pass, every `retention_interval`)."""
        days = self.settings.audit_retention_days
        if not days:
            return 0
        moment = datetime.now(UTC) - timedelta(days=days)
        return await self.store.prune_audit(audit.timestamp(moment))


def _types(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [name for name in value or () if isinstance(name, str)]


class AuditedHistory:
    """The store's history reads, recording those that return entities of a sensitive type."""

    def __init__(self, store: Any, log: AuditLog) -> None:
        self._store = store
        self._log = log

    async def history(self, tenant: str, query: HistoryQuery) -> tuple[list[TemporalEntity], int | None]:
        entities, count = await self._store.history(tenant, query)
        self._log.read(tenant, "temporal.read", ((e.id, e.types) for e in entities))
        return entities, count

    async def aggregate(
        self, tenant: str, query: HistoryQuery, methods: tuple[str, ...], buckets: Buckets
    ) -> tuple[list[AggregatedEntity], int | None]:
        entities, count = await self._store.aggregate(tenant, query, methods, buckets)
        self._log.read(tenant, "temporal.read", ((e.id, e.types) for e in entities))
        return entities, count
