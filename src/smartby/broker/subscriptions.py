"""Subscriptions in the broker: their CRUD operations (clause 5.8) and matching every change.

Matching runs inside the write transaction (`Broker.change`), so a change and the notifications it
causes commit together. It must stay cheap with a thousand subscriptions: every subscription is kept
compiled in memory, the active ones indexed per tenant by entity type, so a change is tested only
against the subscriptions that select one of its types (plus those that select by
watchedAttributes alone). The cache is rebuilt when this process changes a subscription, and when
the store's subscription version moves (another process changed one), checked at most once a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartby.broker.contexts import resolve
from smartby.broker.outbound import OutboundPolicy
from smartby.broker.queries import join_of
from smartby.ngsild.context import Context, ContextResolver
from smartby.ngsild.entity import Entity, check_entity_id
from smartby.ngsild.errors import AlreadyExists, BadRequestData, NgsiLdError, ResourceNotFound
from smartby.ngsild.query import Expr
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.subscription import (
    DEFAULT_TRIGGERS,
    Change,
    Subscription,
    compacted_subscription,
    compile_subscription,
    merge_fragment,
    notified_entity,
    parse_subscription,
)
from smartby.ngsild.timestamps import format_datetime, now, parse_datetime
from smartby.records.notifications import PendingNotification, StoredSubscription

log = logging.getLogger("smartby.subscriptions")
CONTEXT_MEMBER = "@context"
LINK_MEMBER = "@contextUrl"
"""Where a stored subscription keeps the URL of the ImplicitlyCreated context its inline @context was
kept as (clause 5.13.1): what the Link header of its JSON notifications names."""
CHANNEL_MEMBER = "@channel"
"""Where the subscription of an alert channel keeps the channel (docs/alert-channels.md)."""
INTERNAL = (CONTEXT_MEMBER, LINK_MEMBER, CHANNEL_MEMBER)
"""Where a stored subscription document keeps what is the broker's, not the standard's: the @context
it was written with, and the channel it delivers to; GET does not show them."""
REFRESH_SECONDS = 1.0


class SubscriptionStore(Protocol):
    """What subscriptions need of a store: the subscriptions of every tenant, and a version that
    tells another process's change."""

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


@dataclass
class Compiled:
    """A subscription ready to match and to render notifications for: `ctx` is the @context it was
    written with, `notify_ctx` the one its notifications are compacted with (its jsonldContext),
    `link` the URL its inline @context is served at (an ImplicitlyCreated context), if it has one."""

    subscription: Subscription
    ctx: Context
    notify_ctx: Context
    link: str | None = None
    channel: dict[str, Any] | None = None
    """The alert channel the subscription delivers to, if it is a channel's."""


@dataclass
class TenantIndex:
    """One tenant's active subscriptions: by entity id (those that only name ids), by entity type
    IRI, and those that select any entity."""

    by_id: dict[str, list[Subscription]] = field(default_factory=dict)
    by_type: dict[str, list[Subscription]] = field(default_factory=dict)
    any_type: list[Subscription] = field(default_factory=list)

    def candidates(self, entity_id: str, types: Sequence[str]) -> Sequence[Subscription]:
        by_id = self.by_id.get(entity_id)
        if not self.any_type and by_id is None and len(types) == 1:
            return self.by_type.get(types[0], ())  # The common case, without building a dict.
        found: dict[str, Subscription] = {sub.id: sub for sub in self.any_type}
        for sub in self.by_id.get(entity_id, ()):
            found[sub.id] = sub
        for entity_type in types:
            for sub in self.by_type.get(entity_type, ()):
                found[sub.id] = sub
        return list(found.values())


class Subscriptions:
    """Reached as `broker.subscriptions`: subscription CRUD, and matching changes against them."""

    def __init__(
        self, store: SubscriptionStore, contexts: ContextResolver, outbound: OutboundPolicy | None = None
    ) -> None:
        self.outbound = outbound or OutboundPolicy()
        self.store = store
        self._contexts = contexts
        self._compiled: dict[tuple[str, str], Compiled] = {}
        self._index: dict[str, TenantIndex] = {}
        self._queries: dict[Expr, Expr] = {}
        """One object per distinct compiled q, so subscriptions sharing a q evaluate it once."""
        self._criteria: dict[tuple[object, ...], tuple[object, ...]] = {}
        """One object per distinct set of matching criteria (`Subscription.criteria`)."""
        self._version = -1
        self._checked = 0.0
        self._lock = asyncio.Lock()

    # -- the cache -----------------------------------------------------------------------------

    async def load(self) -> None:
        """Read and compile every subscription; one that no longer compiles (its @context is gone)
        is logged and left out."""
        async with self._lock:
            version, stored = await self.store.all_subscriptions()
            self._queries, self._criteria = {}, {}  # Forget those of deleted subscriptions.
            compiled: dict[tuple[str, str], Compiled] = {}
            for item in stored:
                try:
                    compiled[(item.tenant, item.id)] = await self._compile(item.tenant, item.document)
                except NgsiLdError as error:
                    log.warning("Subscription %s cannot be used: %s", item.id, error.detail)
            self._compiled = compiled
            self._index = _index(compiled.values())
            self._version = version
            self._checked = time.monotonic()

    async def refresh(self, *, now: bool = False) -> None:
        """Reload when another process changed a subscription (checked at most once a second, or
        `now`)."""
        if not now and time.monotonic() - self._checked < REFRESH_SECONDS:
            return
        self._checked = time.monotonic()
        if await self.store.subscription_version() != self._version:
            await self.load()

    async def _compile(self, tenant: str, document: dict[str, Any]) -> Compiled:
        ctx = await resolve(self._contexts, document.get(CONTEXT_MEMBER), tenant)
        body = {k: v for k, v in document.items() if k not in INTERNAL}
        params = body["notification"]
        join_of(params.get("join"), params.get("joinLevel"))  # joinLevel within the query limit
        subscription = compile_subscription(tenant, body, ctx)
        if subscription.q is not None:
            shared = self._queries.setdefault(subscription.q, subscription.q)
            if shared is not subscription.q:
                subscription = dataclasses.replace(subscription, q=shared)
        key = subscription.criteria_key()
        criteria = self._criteria.setdefault(key, key)
        notify_ctx = ctx
        if "jsonldContext" in body:
            notify_ctx = await resolve(self._contexts, body["jsonldContext"], tenant)
        return Compiled(
            dataclasses.replace(subscription, criteria=criteria),
            ctx,
            notify_ctx,
            document.get(LINK_MEMBER),
            document.get(CHANNEL_MEMBER),
        )

    def _put(self, tenant: str, subscription_id: str, compiled: Compiled | None) -> None:
        """Apply this process's own change to the cache at once (a full reload per change would
        make creating a thousand subscriptions quadratic); other processes catch up by version."""
        if compiled is None:
            self._compiled.pop((tenant, subscription_id), None)
        else:
            self._compiled[(tenant, subscription_id)] = compiled
        self._index = _index(self._compiled.values())

    def cached(self, tenant: str, subscription_id: str) -> Compiled | None:
        return self._compiled.get((tenant, subscription_id))

    def all_cached(self) -> list[Compiled]:
        return list(self._compiled.values())

    def watches(self, tenant: str) -> bool:
        return tenant in self._index

    # -- matching --------------------------------------------------------------------------------

    def match(self, tenant: str, changes: Sequence[Change]) -> list[PendingNotification]:
        """One notification per subscription and trigger reason that a change of this transaction
        concerns, holding each concerned entity once (as stored: expanded names, rendered when
        delivered), with the `triggerReason` its entities share."""
        index = self._index.get(tenant)
        if index is None or not changes:
            return []
        moment = now()
        stamp = format_datetime(moment)
        data: dict[tuple[str, str], list[Entity]] = {}
        verdicts: dict[int, bool] = {}
        reasons: dict[int, str | None] = {}
        forms: dict[tuple[object, ...], Entity] = {}
        for change in changes:
            verdicts.clear()
            reasons.clear()
            forms.clear()
            entity = change.entity
            for sub in index.candidates(entity["id"], entity.get("type", ())):
                if sub.expires_at is not None and sub.expires_at <= moment:
                    continue  # Expired since indexed (the index holds only active ones).
                key = id(sub.criteria) if sub.criteria is not None else id(sub)
                if key in reasons:
                    reason = reasons[key]
                else:
                    reason = None
                    try:
                        reason = sub.reason(change, verdicts)
                    except Exception:
                        log.exception("Matching subscription %s failed; the write goes on", sub.id)
                    reasons[key] = reason
                if reason is None:
                    continue
                form = sub.notified_form(change, reason)
                if form is None:
                    shown = change.after
                    assert shown is not None
                else:
                    found = forms.get(form)
                    if found is None:
                        found = forms[form] = notified_entity(change, sub, reason, stamp)
                    shown = found
                data.setdefault((sub.id, reason), []).append(shown)
        due = time.time()
        return [
            PendingNotification(tenant, sub_id, {"data": items, "triggerReason": reason}, due)
            for (sub_id, reason), items in data.items()
        ]

    def entity_query(self, sub: Subscription, limit: int) -> EntityQuery:
        """The query giving the entities a periodic subscription reports."""
        selectors = tuple(
            EntitySelector(
                ids=(s.id,) if s.id is not None else (),
                id_pattern=s.id_pattern.pattern if s.id_pattern is not None and s.id is None else None,
                types=s.types,
            )
            for s in sub.selectors
        )
        return EntityQuery(selectors=selectors, q=sub.q, geo=sub.geo, scope=sub.scope, limit=limit)

    # -- CRUD ------------------------------------------------------------------------------------

    async def create(self, tenant: str, context: Any, body: Any, link: str | None = None) -> str:
        """POST /subscriptions: check, store, and start matching at once. Returns the id. `link` is
        the URL an inline @context is served at (an ImplicitlyCreated context), if it is one."""
        document = parse_subscription(_without_context(body), now=now())
        await self.outbound.check_endpoint(document["notification"]["endpoint"]["uri"])
        document[CONTEXT_MEMBER] = context
        if link is not None:
            document[LINK_MEMBER] = link
        await self.store_new(tenant, document)
        return str(document["id"])

    async def store_new(self, tenant: str, document: dict[str, Any]) -> None:
        """Store a checked subscription document (with its internal members) and match it at once."""
        compiled = await self._compile(tenant, document)
        stamp = format_datetime(now())
        stored = StoredSubscription(tenant, document["id"], document, stamp, stamp)
        if not await self.store.create_subscription(stored):
            raise AlreadyExists(f"Subscription {document['id']} already exists")
        self._put(tenant, document["id"], compiled)

    async def get(self, tenant: str, subscription_id: str) -> StoredSubscription:
        check_entity_id(subscription_id, "Subscription id")
        found = await self.store.get_subscription(tenant, subscription_id)
        if found is None:
            raise ResourceNotFound(f"Subscription {subscription_id} does not exist")
        return found

    async def shown(self, stored: StoredSubscription, reader: Context) -> dict[str, Any]:
        """A subscription as GET shows it to a reader with the @context `reader`: its status
        members, and its names compacted with the reader's @context (clause 5.8.3)."""
        document = render_subscription(stored)
        try:
            written = await resolve(self._contexts, stored.document.get(CONTEXT_MEMBER), stored.tenant)
        except NgsiLdError as error:
            log.warning("Subscription %s is shown as written: %s", stored.id, error.detail)
            return document
        return compacted_subscription(document, written, reader)

    async def page(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]:
        return await self.store.list_subscriptions(tenant, limit, offset, count)

    async def update(
        self, tenant: str, subscription_id: str, context: Any, fragment: Any, link: str | None = None
    ) -> None:
        """PATCH /subscriptions/{id}: members of the fragment replace the stored ones; a fragment
        written with a new @context (and its `link`, as `create` takes it) replaces the old one."""
        current = await self.get(tenant, subscription_id)
        stored = {k: v for k, v in current.document.items() if k not in INTERNAL}
        merged = merge_fragment(stored, _without_context(fragment))
        if "expiresAt" in merged and merged.get("expiresAt") == stored.get("expiresAt"):
            # An expiry already past may stay as it is; only a newly given one must lie ahead.
            merged = {k: v for k, v in merged.items() if k != "expiresAt"}
            document = parse_subscription(merged, now=now())
            document["expiresAt"] = stored["expiresAt"]
        else:
            document = parse_subscription(merged, now=now())
        await self.outbound.check_endpoint(document["notification"]["endpoint"]["uri"])
        if context is not None:
            document[CONTEXT_MEMBER] = context
            if link is not None:
                document[LINK_MEMBER] = link
        else:
            document.update({k: current.document[k] for k in INTERNAL if k in current.document})
        if CHANNEL_MEMBER in current.document:
            document[CHANNEL_MEMBER] = current.document[CHANNEL_MEMBER]
        await self.store_replacement(tenant, subscription_id, document)

    async def store_replacement(self, tenant: str, subscription_id: str, document: dict[str, Any]) -> None:
        """Replace a subscription's document with a checked one (internal members included)."""
        compiled = await self._compile(tenant, document)
        if not await self.store.replace_subscription(
            tenant, subscription_id, document, format_datetime(now())
        ):
            raise ResourceNotFound(f"Subscription {subscription_id} does not exist")
        self._put(tenant, subscription_id, compiled)

    async def delete(self, tenant: str, subscription_id: str) -> None:
        check_entity_id(subscription_id, "Subscription id")
        if not await self.store.delete_subscription(tenant, subscription_id):
            raise ResourceNotFound(f"Subscription {subscription_id} does not exist")
        self._put(tenant, subscription_id, None)


def _without_context(body: Any) -> Any:
    if isinstance(body, dict) and CONTEXT_MEMBER in body:
        return {k: v for k, v in body.items() if k != CONTEXT_MEMBER}
    if not isinstance(body, dict):
        raise BadRequestData("A subscription must be a JSON object")
    return body


def _index(compiled: Any) -> dict[str, TenantIndex]:
    index: dict[str, TenantIndex] = {}
    for item in compiled:
        sub: Subscription = item.subscription
        if not sub.active or sub.time_interval is not None:
            continue
        tenant = index.setdefault(sub.tenant, TenantIndex())
        keys = sub.type_keys()
        if sub.selectors and all(selector.id is not None for selector in sub.selectors):
            for selector in sub.selectors:
                assert selector.id is not None
                tenant.by_id.setdefault(selector.id, []).append(sub)
        elif keys is None:
            tenant.any_type.append(sub)
        else:
            for key in keys:
                tenant.by_type.setdefault(key, []).append(sub)
    return index


def render_subscription(stored: StoredSubscription, moment: Any = None) -> dict[str, Any]:
    """A stored subscription as GET shows it (clause 5.8.3): the members its subscriber gave (no
    defaults they did not ask for, but for the triggers that decide when it notifies:
    `notificationTrigger`, attributeCreated and attributeUpdated unless it names others, as the
    ETSI suite's TP 028_06 expects), `status` (clause 5.2.12), and in `notification` the delivery
    members the broker keeps (clause 5.2.14) once there is something to say: `timesSent` and
    `timesFailed` (at least 1 when present), `lastNotification`, `lastSuccess`, `lastFailure`, and
    the `status` of the last attempt."""
    document = {k: v for k, v in stored.document.items() if k not in INTERNAL}
    if "notificationTrigger" not in document:
        document["notificationTrigger"] = list(DEFAULT_TRIGGERS)
    expires = document.get("expiresAt")
    moment = moment or now()
    if expires is not None and parse_datetime(expires) <= moment:
        document["status"] = "expired"
    else:
        document["status"] = "active" if document.get("isActive", True) else "paused"
    notification = dict(document.get("notification", {}))
    for member, value in (
        ("timesSent", stored.times_sent or None),
        ("timesFailed", stored.times_failed or None),
        ("lastNotification", stored.last_notification),
        ("lastSuccess", stored.last_success),
        ("lastFailure", stored.last_failure),
    ):
        if value is not None:
            notification[member] = value
    if stored.last_notification is not None:
        failed = stored.last_failure is not None and stored.last_failure == stored.last_notification
        notification["status"] = "failed" if failed else "ok"
    document["notification"] = notification
    return document
