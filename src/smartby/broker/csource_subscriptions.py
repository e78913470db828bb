"""Subscriptions to context source registrations (clause 5.11): their CRUD operations, and the
notifications a registration's creation, update or deletion causes (clause 5.11.7).

A csource subscription is a Subscription (clause 5.2.12) read against registrations instead of
entities: its entity selectors and watchedAttributes against the registrations' `information`, its
geoQ against their location, observationSpace or operationSpace, its q and csf against their
registration properties. Each registration change is compared before and after: one the subscription
did not match and now does is `newlyMatching`, one it matched and still does `updated`, one it
matched and no longer does (or that was deleted) `noLongerMatching`. A new subscription is sent the
registrations that match it at once.

Notifications go into an outbox of their own (`csource_notification`), written in the transaction
of the registration's change (or of the subscription's creation). A background task of each process
that delivers notifications claims them (with a lease, so each attempt is made by one process),
POSTs them over HTTP(S), and drops them when delivered or retries them with the entity
notifications' backoff and limits (SMARTBY_NOTIFICATION_RETRY_DELAY, _RETRY_MAX_DELAY,
_MAX_ATTEMPTS). A notification reads its subscription's endpoint when it is sent, so one whose
subscription was deleted is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from smartby.broker.contexts import resolve
from smartby.broker.outbound import OutboundPolicy, async_client
from smartby.broker.subscriptions import CONTEXT_MEMBER
from smartby.ngsild.context import CORE_CONTEXT_URL, Context, ContextResolver
from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import AlreadyExists, BadRequestData, OperationNotSupported, ResourceNotFound
from smartby.ngsild.geo import geo_query_from_json
from smartby.ngsild.query import parse_q
from smartby.ngsild.registration import GEO_MEMBERS, RegistrationFilter, compact_registration
from smartby.ngsild.subscription import merge_fragment, parse_subscription
from smartby.ngsild.timestamps import format_datetime, now, parse_datetime
from smartby.ngsild.typequery import parse_type_query
from smartby.records.notifications import ClaimedNotification, PendingNotification, StoredSubscription
from smartby.records.registrations import StoredRegistration
from smartby.settings import Settings

log = logging.getLogger("smartby.csource_subscriptions")
BATCH = 32
"""Most csource notifications one process claims at once."""
LEASE = 60.0
"""Seconds a claimed notification is another process's to deliver before it may be claimed again."""
JSON_LD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"


class CSourceSubscriptionStore(Protocol):
    """What csource subscriptions need of a store."""

    async def create_csource_subscription(
        self, subscription: StoredSubscription, notifications: Sequence[PendingNotification] = ()
    ) -> bool:
        """Store a new csource subscription with its first notifications, in one transaction."""
        ...

    async def get_csource_subscription(
        self, tenant: str, subscription_id: str
    ) -> StoredSubscription | None: ...

    async def list_csource_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]: ...

    async def tenant_csource_subscriptions(self, tenant: str) -> list[StoredSubscription]: ...

    async def replace_csource_subscription(
        self, tenant: str, subscription_id: str, document: dict[str, Any], modified_at: str
    ) -> bool: ...

    async def delete_csource_subscription(self, tenant: str, subscription_id: str) -> bool: ...

    async def record_csource_notification(
        self, tenant: str, subscription_id: str, at: str, success: bool
    ) -> None:
        """Count one delivery attempt in the subscription's status."""
        ...

    async def claim_csource_notifications(
        self, now: float, limit: int, lease: float
    ) -> list[ClaimedNotification]:
        """Claim due csource notifications for `lease` seconds, each by one caller at a time."""
        ...

    async def settle_csource_notification(self, notification_id: int, retry_at: float | None) -> None:
        """Drop a delivered or abandoned notification (`retry_at` None), or make it due again."""
        ...

    async def list_registrations(self, tenant: str) -> list[StoredRegistration]:
        """Every registration of a tenant, oldest first."""
        ...


@dataclass(frozen=True)
class Watch:
    """A csource subscription ready to match registrations."""

    id: str
    document: dict[str, Any]
    ctx: Context
    filters: tuple[RegistrationFilter, ...]

    def matches(self, registration: dict[str, Any] | None) -> bool:
        if registration is None or not self.document.get("isActive", True):
            return False
        moment = now()
        expires = self.document.get("expiresAt")
        if expires is not None and parse_datetime(expires) <= moment:
            return False
        return any(item.matches(registration, moment) for item in self.filters)


def watch_of(document: dict[str, Any], ctx: Context) -> Watch:
    """The matching form of a csource subscription document, names expanded with its @context."""
    attrs = frozenset(ctx.expand(name) for name in document.get("watchedAttributes", ()))
    geo = None
    if "geoQ" in document:
        geo = geo_query_from_json(document["geoQ"])
        if geo.geoproperty not in GEO_MEMBERS:
            raise BadRequestData(
                f"geoQ.geoproperty of a csource subscription is one of {', '.join(GEO_MEMBERS)}"
            )
    q = parse_q(document["q"]).map_names(ctx.expand) if "q" in document else None
    csf = parse_q(document["csf"]).map_names(ctx.expand) if "csf" in document else None
    filters = [
        RegistrationFilter(
            ids=(item["id"],) if "id" in item else (),
            id_pattern=item.get("idPattern"),
            types=parse_type_query(item["type"]).map_names(ctx.expand),
            attrs=attrs,
            geo=geo,
            q=q,
            csf=csf,
        )
        for item in document.get("entities", ())
    ]
    if not filters:
        filters = [RegistrationFilter(attrs=attrs, geo=geo, q=q, csf=csf)]
    return Watch(document["id"], document, ctx, tuple(filters))


def check_csource_subscription(document: dict[str, Any]) -> None:
    """What a csource subscription may not hold that an entity subscription may."""
    if "timeInterval" in document:
        raise OperationNotSupported("Periodic csource subscriptions (timeInterval) are not supported")
    scheme = document["notification"]["endpoint"]["uri"].split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise OperationNotSupported("Csource notifications are sent over HTTP(S) only")


class CSourceSubscriptions:
    """Reached as `broker.csource_subscriptions`."""

    def __init__(
        self, store: CSourceSubscriptionStore, contexts: ContextResolver, settings: Settings
    ) -> None:
        self.store = store
        self._contexts = contexts
        self._settings = settings
        self._timeout = settings.notification_timeout
        self.outbound = OutboundPolicy.from_settings(settings)
        self._http: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Deliver csource notifications from this process until `close`."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._delivery_loop(), name="smartby-csource-notifications")

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _watch(self, tenant: str, document: dict[str, Any]) -> Watch:
        ctx = await resolve(self._contexts, document.get(CONTEXT_MEMBER), tenant)
        body = {k: v for k, v in document.items() if k != CONTEXT_MEMBER}
        return watch_of(body, ctx)

    # -- CRUD ------------------------------------------------------------------------------------

    async def create(self, tenant: str, context: Any, body: Any) -> str:
        document = parse_subscription(_without_context(body), now=now())
        check_csource_subscription(document)
        await self.outbound.check_endpoint(document["notification"]["endpoint"]["uri"])
        document[CONTEXT_MEMBER] = context
        watch = await self._watch(tenant, document)
        stamp = format_datetime(now())
        matching = [
            item.document
            for item in await self.store.list_registrations(tenant)
            if watch.matches(item.document)
        ]
        first = [_notification(tenant, watch, matching, "newlyMatching")] if matching else []
        if not await self.store.create_csource_subscription(
            StoredSubscription(tenant, document["id"], document, stamp, stamp), first
        ):
            raise AlreadyExists(f"Subscription {document['id']} already exists")
        self._wake.set()
        return str(document["id"])

    async def get(self, tenant: str, subscription_id: str) -> StoredSubscription:
        check_entity_id(subscription_id, "Subscription id")
        found = await self.store.get_csource_subscription(tenant, subscription_id)
        if found is None:
            raise ResourceNotFound(f"Subscription {subscription_id} does not exist")
        return found

    async def page(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]:
        return await self.store.list_csource_subscriptions(tenant, limit, offset, count)

    async def update(self, tenant: str, subscription_id: str, context: Any, fragment: Any) -> None:
        current = await self.get(tenant, subscription_id)
        stored = {k: v for k, v in current.document.items() if k != CONTEXT_MEMBER}
        merged = merge_fragment(stored, _without_context(fragment))
        if "expiresAt" in merged and merged.get("expiresAt") == stored.get("expiresAt"):
            merged = {k: v for k, v in merged.items() if k != "expiresAt"}
            document = parse_subscription(merged, now=now())
            document["expiresAt"] = stored["expiresAt"]
        else:
            document = parse_subscription(merged, now=now())
        check_csource_subscription(document)
        await self.outbound.check_endpoint(document["notification"]["endpoint"]["uri"])
        document[CONTEXT_MEMBER] = context if context is not None else current.document.get(CONTEXT_MEMBER)
        await self._watch(tenant, document)
        if not await self.store.replace_csource_subscription(
            tenant, subscription_id, document, format_datetime(now())
        ):
            raise ResourceNotFound(f"Subscription {subscription_id} does not exist")

    async def delete(self, tenant: str, subscription_id: str) -> None:
        check_entity_id(subscription_id, "Subscription id")
        if not await self.store.delete_csource_subscription(tenant, subscription_id):
            raise ResourceNotFound(f"Subscription {subscription_id} does not exist")

    # -- notifications ---------------------------------------------------------------------------

    async def notifications_for(
        self, tenant: str, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> list[PendingNotification]:
        """The notifications a registration's change causes (a `ChangeNotifications`): for each
        csource subscription of the tenant that it concerns, newlyMatching, updated or
        noLongerMatching."""
        found = []
        for stored in await self.store.tenant_csource_subscriptions(tenant):
            try:
                watch = await self._watch(tenant, stored.document)
            except Exception as error:
                log.warning("Csource subscription %s cannot be used: %s", stored.id, error)
                continue
            was, now_matches = watch.matches(before), watch.matches(after)
            if now_matches:
                assert after is not None
                found.append(_notification(tenant, watch, [after], "updated" if was else "newlyMatching"))
            elif was:
                assert before is not None
                found.append(_notification(tenant, watch, [before], "noLongerMatching"))
        return found

    async def registration_changed(
        self, tenant: str, ctx: Context, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        """Wake the delivery loop after a registration's change (a `RegistrationChanged`)."""
        self._wake.set()

    async def _delivery_loop(self) -> None:
        poll = self._settings.notification_poll_interval
        while True:
            try:
                claimed = await self.store.claim_csource_notifications(time.time(), BATCH, LEASE)
                if claimed:
                    await asyncio.gather(*(self._deliver(item) for item in claimed))
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Delivering csource notifications failed; trying again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)

    async def _deliver(self, item: ClaimedNotification) -> None:
        stored = await self.store.get_csource_subscription(item.tenant, item.subscription_id)
        if stored is None:
            await self.store.settle_csource_notification(item.id, None)  # Its subscription is gone.
            return
        watch = await self._watch(item.tenant, stored.document)
        endpoint = watch.document["notification"]["endpoint"]
        body = {**item.payload, "notifiedAt": format_datetime(now())}
        headers = {"Content-Type": "application/json"}
        if endpoint.get("accept") == "application/ld+json":
            headers["Content-Type"] = "application/ld+json"
            body["@context"] = watch.ctx.source if watch.ctx.source is not None else CORE_CONTEXT_URL
        else:
            headers["Link"] = (
                f'<{watch.ctx.link_url}>; rel="{JSON_LD_CONTEXT_REL}"; type="application/ld+json"'
            )
        if item.tenant:
            headers["NGSILD-Tenant"] = item.tenant
        for pair in endpoint.get("receiverInfo", ()):
            headers[pair["key"]] = pair["value"]
        asked = endpoint.get("timeout")
        timeout = min(self._timeout, asked / 1000) if asked else self._timeout
        if self._http is None:
            self._http = async_client(self.outbound)
        success = False
        try:
            response = await self._http.post(
                endpoint["uri"], content=orjson.dumps(body), headers=headers, timeout=timeout
            )
            success = 200 <= response.status_code < 300
        except httpx.HTTPError as error:
            log.info("Csource notification for %s failed: %s", watch.id, error)
        await self.store.record_csource_notification(item.tenant, watch.id, format_datetime(now()), success)
        await self.store.settle_csource_notification(
            item.id, None if success else self._retry_at(item.attempts)
        )

    def _retry_at(self, attempts: int) -> float | None:
        """When a notification that failed `attempts` times is tried again; None: given up."""
        settings = self._settings
        if settings.notification_max_attempts and attempts >= settings.notification_max_attempts:
            return None
        delay: float = settings.notification_retry_delay * 2.0 ** (attempts - 1)
        return time.time() + min(delay, settings.notification_retry_max_delay)


def _notification(
    tenant: str, watch: Watch, registrations: list[dict[str, Any]], reason: str
) -> PendingNotification:
    """A csource notification for the outbox: the registrations in the subscriber's terms as they
    are now (notifiedAt is added when it is sent)."""
    payload = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "CsourceNotification",
        "subscriptionId": watch.id,
        "data": [compact_registration(item, watch.ctx) for item in registrations],
        "triggerReason": reason,
    }
    return PendingNotification(tenant, watch.id, payload, time.time())


def _without_context(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestData("A subscription must be a JSON object")
    return {k: v for k, v in body.items() if k != CONTEXT_MEMBER}
