"""Context source registrations in the broker (clauses 5.9, 5.10): create, retrieve, update,
delete and query them. Each change is told to `on_change` listeners (the csource subscriptions) with
the registration before and after it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from smartby.broker.outbound import OutboundPolicy
from smartby.ngsild.context import Context
from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import AlreadyExists, BadRequestData, ResourceNotFound
from smartby.ngsild.registration import (
    RegistrationFilter,
    merge_registration,
    overlapping_exclusive,
    parse_registration,
)
from smartby.ngsild.timestamps import format_datetime, now
from smartby.records.notifications import PendingNotification
from smartby.records.registrations import StoredRegistration

log = logging.getLogger("smartby.registrations")
ChangeNotifications = Callable[
    [str, "dict[str, Any] | None", "dict[str, Any] | None"], Awaitable[Sequence[PendingNotification]]
]
"""Asked (tenant, before, after) before a registration is made, changed or deleted: the csource
notifications to write in the same transaction."""
RegistrationChanged = Callable[
    [str, Context, "dict[str, Any] | None", "dict[str, Any] | None"], Awaitable[None]
]
"""Told (tenant, the requester's @context, before, after) when a registration is made, changed or
deleted (None before: made; None after: deleted)."""


class RegistrationStore(Protocol):
    """What registrations need of a store: the registrations of each tenant."""

    async def create_registration(
        self, registration: StoredRegistration, notifications: Sequence[PendingNotification] = ()
    ) -> bool:
        """Store a new registration (its tenant made if new) with the csource notifications it
        causes, in one transaction; False (nothing written) when it exists already."""
        ...

    async def get_registration(self, tenant: str, registration_id: str) -> StoredRegistration | None: ...

    async def list_registrations(self, tenant: str) -> list[StoredRegistration]:
        """Every registration of a tenant, oldest first."""
        ...

    async def replace_registration(
        self,
        tenant: str,
        registration_id: str,
        document: dict[str, Any],
        modified_at: str,
        notifications: Sequence[PendingNotification] = (),
    ) -> bool: ...

    async def delete_registration(
        self, tenant: str, registration_id: str, notifications: Sequence[PendingNotification] = ()
    ) -> bool: ...


class Registrations:
    """Reached as `broker.registrations`."""

    def __init__(self, store: RegistrationStore, outbound: OutboundPolicy | None = None) -> None:
        self.store = store
        self.outbound = outbound or OutboundPolicy()
        """Where forwarded requests may go: a registration's endpoint is judged as it is made or
        changed (a 400), and again at every forwarded request (docs/outbound.md)."""
        self.listeners: list[RegistrationChanged] = []
        self.notifications: ChangeNotifications | None = None

    async def _notifications(
        self, tenant: str, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> Sequence[PendingNotification]:
        if self.notifications is None:
            return ()
        return await self.notifications(tenant, before, after)

    async def _told(
        self, tenant: str, ctx: Context, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        for listener in self.listeners:
            try:
                await listener(tenant, ctx, before, after)
            except Exception:
                log.exception("A listener of registration changes failed; the change stands")

    async def create(self, tenant: str, ctx: Context, body: Any) -> str:
        """POST /csourceRegistrations: check and store. Returns the id."""
        document = parse_registration(_without_context(body), ctx, now=now())
        await self.outbound.check_endpoint(str(document["endpoint"]), "endpoint")
        overlapping_exclusive(
            document, [item.document for item in await self.store.list_registrations(tenant)]
        )
        stamp = format_datetime(now())
        stored = StoredRegistration(tenant, document["id"], document, stamp, stamp)
        pending = await self._notifications(tenant, None, document)
        if not await self.store.create_registration(stored, pending):
            raise AlreadyExists(f"Registration {document['id']} already exists")
        await self._told(tenant, ctx, None, document)
        return str(document["id"])

    async def get(self, tenant: str, registration_id: str) -> StoredRegistration:
        check_entity_id(registration_id, "Registration id")
        found = await self.store.get_registration(tenant, registration_id)
        if found is None:
            raise ResourceNotFound(f"Registration {registration_id} does not exist")
        return found

    async def of_tenant(self, tenant: str) -> list[StoredRegistration]:
        """Every registration of a tenant, oldest first."""
        return await self.store.list_registrations(tenant)

    async def query(self, tenant: str, selection: RegistrationFilter) -> list[StoredRegistration]:
        """The registrations of a tenant that `selection` matches, oldest first."""
        return [
            item for item in await self.store.list_registrations(tenant) if selection.matches(item.document)
        ]

    async def update(self, tenant: str, registration_id: str, ctx: Context, fragment: Any) -> None:
        """PATCH /csourceRegistrations/{id}: members of the fragment replace the stored ones."""
        current = await self.get(tenant, registration_id)
        merged = merge_registration(current.document, _without_context(fragment))
        stored_expiry = current.document.get("expiresAt")
        if stored_expiry is not None and merged.get("expiresAt") == stored_expiry:
            # An expiry already past may stay as it is; only a newly given one must lie ahead.
            merged.pop("expiresAt")
            document = parse_registration(merged, ctx, now=now())
            document["expiresAt"] = stored_expiry
        else:
            document = parse_registration(merged, ctx, now=now())
        if document["endpoint"] != current.document["endpoint"]:
            await self.outbound.check_endpoint(str(document["endpoint"]), "endpoint")
        others = [item.document for item in await self.store.list_registrations(tenant)]
        overlapping_exclusive(document, others)
        pending = await self._notifications(tenant, current.document, document)
        if not await self.store.replace_registration(
            tenant, registration_id, document, format_datetime(now()), pending
        ):
            raise ResourceNotFound(f"Registration {registration_id} does not exist")
        await self._told(tenant, ctx, current.document, document)

    async def delete(self, tenant: str, registration_id: str, ctx: Context) -> None:
        current = await self.get(tenant, registration_id)
        pending = await self._notifications(tenant, current.document, None)
        if not await self.store.delete_registration(tenant, registration_id, pending):
            raise ResourceNotFound(f"Registration {registration_id} does not exist")
        await self._told(tenant, ctx, current.document, None)


def _without_context(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestData("A context source registration must be a JSON object")
    return {k: v for k, v in body.items() if k != "@context"}


def render_registration(stored: StoredRegistration, *, sys_attrs: bool = False) -> dict[str, Any]:
    """A stored registration as GET shows it (still expanded): its document with the status members
    of clause 5.2.9 once it took part in a distributed operation, and the system times if asked."""
    document = dict(stored.document)
    if stored.times_sent:
        document["timesSent"] = stored.times_sent
        document["timesFailed"] = stored.times_failed
        failed = stored.last_failure is not None and (
            stored.last_success is None or stored.last_failure > stored.last_success
        )
        document["status"] = "failed" if failed else "ok"
    for member, value in (("lastSuccess", stored.last_success), ("lastFailure", stored.last_failure)):
        if value is not None:
            document[member] = value
    if sys_attrs:
        document["createdAt"] = stored.created_at
        document["modifiedAt"] = stored.modified_at
    return document
