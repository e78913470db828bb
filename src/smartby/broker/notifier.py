"""Delivering notifications from the outbox: HTTP(S) POSTs and MQTT publications, at least once.

The write path only inserts outbox rows (in the transaction of the change) and wakes this task (on
PostgreSQL, writes of processes that do not deliver wake it through LISTEN/NOTIFY). It claims due
rows with a lease, renders each notification with its subscription's @context, format, attributes
(or pick, omit), datasetId, sysAttrs, lang and join (or as GeoJSON), sends it, and records the
outcome: a delivered row goes, a failed one comes due again after an exponential backoff, until
SMARTBY_NOTIFICATION_MAX_ATTEMPTS or SMARTBY_NOTIFICATION_MAX_AGE is reached. Periodic subscriptions
are claimed one period at a time in the database, so several processes send each period once.

The subscription of an alert channel (docs/alert-channels.md) is rendered as a keyValues notification
would be, then each of its entities by the channel's template, and sent to a webhook or by e-mail
(`channel_delivery`): a failure there is a failed delivery like any other, its reason kept.

Rendering happens here, not when the row is written: the single SQLite writer (and the PostgreSQL
transaction holding entity locks) should spend its time on writes, and the row then holds the
entities once, in their stored form, whatever the subscription's options say.

A receiver that is down costs little: after a failure its endpoint cools down (the same backoff),
and its rows, the failed ones and those that come up meanwhile (put back, unsent and uncounted), are
due again when the cool-down ends. One failure counts once per interval, however many deliveries were
under way when the receiver went (they all fail together). When a cool-down ends, one delivery goes
first as a probe while the endpoint's others wait for its answer: they follow at once if it got
through, and step aside for the next, doubled, cool-down if not. The cool-down in progress when a
receiver comes back is therefore at most as long as the receiver had been down plus
SMARTBY_NOTIFICATION_RETRY_DELAY (and never longer than SMARTBY_NOTIFICATION_RETRY_MAX_DELAY): that
bounds how long delivery takes to resume (docs/subscriptions.md). Deliveries run concurrently, at most
SMARTBY_NOTIFICATION_CONCURRENCY in all and a few per endpoint at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiomqtt
import httpx
import orjson

from smartby.broker.channel_delivery import ChannelSender, messages
from smartby.broker.outbound import UNREACHABLE, OutboundRefused, async_client
from smartby.broker.queries import join_of, relationship_targets, selection
from smartby.broker.subscriptions import Compiled, Subscriptions
from smartby.metrics import NOTIFICATION_FAILURES, NOTIFICATIONS_SENT
from smartby.ngsild.context import CORE_CONTEXT_URL, Context
from smartby.ngsild.entity import Entity, LanguagePreference, Renderer
from smartby.ngsild.linked import feature_collection, linked_view
from smartby.ngsild.reads import EntityQuery, QueryResult
from smartby.ngsild.subscription import KEY_VALUES, MQTT_QOS, MQTT_VERSION
from smartby.ngsild.timestamps import format_datetime, now
from smartby.records.channels import Channel
from smartby.records.notifications import ClaimedNotification, DeliveryOutcome, PendingNotification
from smartby.settings import Settings

log = logging.getLogger("smartby.notifier")
JSON_LD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
TENANT_HEADER = "NGSILD-Tenant"
PER_ENDPOINT = 8
"""Deliveries in flight to one endpoint at once."""
COALESCE = 100
"""Most outbox rows sent together as one notification."""
GEO_JSON = "application/geo+json"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
"""The GeoProperty a GeoJSON notification takes each Feature's geometry from."""
LinkedEntities = Callable[[str, Sequence[Entity], int], Awaitable[dict[str, Entity]]]
"""The entities the Relationships of some entities of a tenant point at, so many hops deep
(`Broker.linked_entities`): what a joining notification embeds."""


class OutboxStore(Protocol):
    """What the notifier needs of a store: the outbox, the schedule of periodic subscriptions, and
    the entities a periodic notification reports."""

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

    async def pending_notifications(self) -> int:
        """Notifications in the outbox, due or not (the depth the operations metrics show)."""
        ...

    def watch_outbox(self, wake: Callable[[], None]) -> None:
        """From now until the store closes, call `wake` (on this event loop) when a transaction of
        any process that queued notifications commits; a backend that cannot tell does nothing."""
        ...

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult: ...


def _coalesced(group: list[ClaimedNotification], *, latest_only: bool) -> list[Entity]:
    """The entities of several outbox rows of one subscription, oldest first: every change, or
    (throttled) each entity once in its latest state."""
    if not latest_only:
        return [entity for item in group for entity in item.payload.get("data", ())]
    entities: dict[str, Entity] = {}
    for item in group:
        for entity in item.payload.get("data", ()):
            entities.pop(entity["id"], None)
            entities[entity["id"]] = entity
    return list(entities.values())


class DeliveryFailed(Exception):
    pass


def _scheme(uri: str) -> str:
    """An endpoint's scheme as the metrics label it (a few values, not one per URL)."""
    scheme = urlsplit(uri).scheme.lower()
    return scheme if scheme in ("http", "https", "mqtt", "mqtts") else "other"


@dataclass
class Endpoint:
    """What the notifier remembers of one endpoint: how it has fared lately."""

    failures: int = 0
    """Failures counted since the last delivery that got through, one per cool-down interval."""
    cool_until: float = 0.0
    """No delivery to the endpoint starts before this moment (the notifier's clock)."""
    epoch: int = 0
    """Counted failures so far: a failing delivery that began before the last count is not another."""
    probe: asyncio.Event | None = None
    """Set while the probe after a cool-down is under way; it fires with the probe's answer."""
    semaphore: asyncio.Semaphore | None = None


def notification_renderer(compiled: Compiled) -> Renderer:
    """How a subscription's notifications show entities: its @context, format, sysAttrs, lang,
    datasetId, and attributes (or pick, or omit) as queries read them."""
    sub = compiled.subscription
    params = sub.document["notification"]
    chosen = selection(
        compiled.ctx, attrs=params.get("attributes"), pick=params.get("pick"), omit=params.get("omit")
    )
    datasets = sub.document.get("datasetId")
    form = params.get("format", "normalized")
    return Renderer(
        compiled.notify_ctx,
        form="keyValues" if form in KEY_VALUES else form,
        sys_attrs=params.get("sysAttrs", False),
        pick=chosen.pick,
        omit=chosen.omit,
        lang=LanguagePreference(sub.document["lang"]) if "lang" in sub.document else None,
        dataset_ids={None if d == "@none" else d for d in datasets} if datasets else None,
    )


def notification_body(
    compiled: Compiled,
    entities: list[Entity],
    linked: dict[str, Entity] | None = None,
    reason: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The Notification (clause 5.3.1) for these entities, and the HTTP headers that go with it.
    `linked` holds the entities their Relationships point at when the subscription asks for a join
    (clause 4.5.23); with `accept: application/geo+json` the data is a FeatureCollection. `reason`
    is the notificationTrigger value the change fired (`triggerReason`). Names are compacted with
    the subscription's `jsonldContext` when it has one, else with the @context it was written with
    (clause 5.2.12); that context goes in a Link header (JSON) or in the body (JSON-LD)."""
    sub = compiled.subscription
    params = sub.document["notification"]
    endpoint = params["endpoint"]
    ctx = compiled.notify_ctx
    renderer = notification_renderer(compiled)
    accept = endpoint.get("accept", "application/json")
    data: Any
    if accept == GEO_JSON:
        features = []
        for entity in entities:
            feature = renderer.feature(entity, LOCATION)
            if "deletedAt" in entity:
                feature["properties"]["deletedAt"] = entity["deletedAt"]
            features.append(feature)
        data = feature_collection(features)
    else:
        join, hops = join_of(params.get("join"), params.get("joinLevel"))
        data = linked_view(renderer, entities, linked or {}, join, hops)
        for rendered, entity in zip(data, entities, strict=False):
            if "deletedAt" in entity:
                rendered["deletedAt"] = entity["deletedAt"]
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": sub.id,
        "notifiedAt": format_datetime(now()),
        "data": data,
    }
    if reason is not None:
        body["triggerReason"] = reason
    context_url = sub.document.get("jsonldContext")
    context = context_url or (ctx.source if ctx.source is not None else CORE_CONTEXT_URL)
    headers = {"Content-Type": accept}
    receiver_info = {pair["key"].lower(): pair["value"] for pair in endpoint.get("receiverInfo", ())}
    if accept == "application/ld+json":
        body["@context"] = context
        for rendered in data:
            rendered["@context"] = context  # Each entity stands alone in JSON-LD, as in query answers.
    elif accept == GEO_JSON and receiver_info.get("prefer", "").replace(" ", "") != "body=json":
        data["@context"] = context
    else:
        link = context_url or compiled.link or _link_url(ctx)
        headers["Link"] = f'<{link}>; rel="{JSON_LD_CONTEXT_REL}"; type="application/ld+json"'
    if sub.tenant:
        headers[TENANT_HEADER] = sub.tenant
    for pair in endpoint.get("receiverInfo", ()):
        headers[pair["key"]] = pair["value"]
    return body, headers


def _link_url(ctx: Context) -> str:
    """The URL a JSON notification's Link header names for a context: its own URL, also when it was
    written as an array of that one URL (the test suite's habit); the core context otherwise."""
    source = ctx.source
    if isinstance(source, list) and len(source) == 1 and isinstance(source[0], str):
        return source[0]
    return ctx.link_url


class Notifier:
    """The background task that empties the outbox; `wake` it after a commit that enqueued rows."""

    def __init__(
        self,
        store: OutboxStore,
        subscriptions: Subscriptions,
        linked: LinkedEntities,
        settings: Settings,
        channels: ChannelSender | None = None,
    ) -> None:
        self.store = store
        self.channels = channels or ChannelSender(settings, subscriptions.outbound)
        """What sends the messages of alert channels (docs/alert-channels.md)."""
        self.subscriptions = subscriptions
        self._linked_entities = linked
        self.settings = settings
        self.timeout = settings.notification_timeout
        self.base_delay = settings.notification_retry_delay
        self.max_delay = settings.notification_retry_max_delay
        self.max_attempts = settings.notification_max_attempts
        self.max_age = settings.notification_max_age
        self.poll = settings.notification_poll_interval
        self.capacity = settings.notification_concurrency
        self.lease = self.timeout * 2 + 5
        self.clock: Callable[[], float] = time.time
        """The time deliveries are scheduled by (seconds since the epoch); tests move it on."""
        self._event = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._full = False
        self._outcomes: list[DeliveryOutcome] = []
        self._settled = asyncio.Event()
        self._endpoints: dict[str, Endpoint] = defaultdict(Endpoint)
        self._last_sent: dict[tuple[str, str], float] = {}
        self._http: httpx.AsyncClient | None = None
        self._mqtt: dict[tuple[str, int, bool, str], aiomqtt.Client] = {}
        self._mqtt_lock = asyncio.Lock()

    def start(self) -> None:
        self._stopping = False
        self._http = async_client(self.subscriptions.outbound, timeout=self.timeout)
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="smartby-notifier"),
            asyncio.create_task(self._settle_loop(), name="smartby-notifier-settle"),
            asyncio.create_task(self._periodic_loop(), name="smartby-notifier-periodic"),
        ]
        self.store.watch_outbox(self.wake)

    async def stop(self) -> None:
        """Stop claiming; deliveries under way are cancelled (their rows come due again when their
        lease runs out, in this process or another), outcomes already known are recorded."""
        self._stopping = True
        self._event.set()
        for task in self._tasks[:1] + self._tasks[2:] + list(self._inflight):
            task.cancel()
        for task in self._tasks[:1] + self._tasks[2:] + list(self._inflight):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if len(self._tasks) > 1:
            self._tasks[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tasks[1]
        await self._flush_outcomes()
        self._tasks = []
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await self.channels.close()
        for client in self._mqtt.values():
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)
        self._mqtt.clear()

    def wake(self) -> None:
        self._event.set()

    # -- claiming --------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            # Cleared before looking, not after: a wake during the claim then makes another round.
            self._event.clear()
            room = self.capacity - len(self._inflight)
            self._full = room <= 0
            claimed: list[ClaimedNotification] = []
            if room > 0:
                try:
                    await self.subscriptions.refresh()
                    claimed = await self.store.claim_notifications(self.clock(), room, self.lease)
                except Exception:
                    log.exception("Claiming notifications failed; trying again")
                    await asyncio.sleep(self.poll)
                    continue
            for group in self._grouped(claimed):
                task = asyncio.create_task(self._deliver(group))
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if claimed and len(claimed) >= room:
                await asyncio.sleep(0)
                continue
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._event.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("A delivery failed unexpectedly", exc_info=task.exception())
        if self._full:
            self._event.set()  # A delivery slot is free for the rows that waited for one.

    @staticmethod
    def _grouped(claimed: list[ClaimedNotification]) -> list[list[ClaimedNotification]]:
        """The rows claimed together for one subscription and trigger reason travel as one
        notification (at most COALESCE rows each): under a burst, or after a receiver was down, a
        receiver gets fewer, larger notifications instead of falling further behind."""
        groups: dict[tuple[str, str, object], list[list[ClaimedNotification]]] = {}
        for item in claimed:
            reason = item.payload.get("triggerReason")
            chunks = groups.setdefault((item.tenant, item.subscription_id, reason), [[]])
            if len(chunks[-1]) >= COALESCE:
                chunks.append([])
            chunks[-1].append(item)
        return [chunk for chunks in groups.values() for chunk in chunks]

    # -- delivering ------------------------------------------------------------------------------

    async def _deliver(self, group: list[ClaimedNotification]) -> None:
        try:
            await self._attempt(group)
        except asyncio.CancelledError:
            # Stopping: put the rows back for the next process rather than wait out their lease.
            stamp = format_datetime(now())
            self._record([DeliveryOutcome(i, stamp, False, self.clock(), attempted=False) for i in group])
            raise

    async def _attempt(self, group: list[ClaimedNotification]) -> None:
        first = group[0]
        subscriptions = self.subscriptions
        compiled = subscriptions.cached(first.tenant, first.subscription_id)
        if compiled is None:
            # Perhaps another process created it a moment ago: look before giving the rows up.
            await subscriptions.refresh(now=True)
            compiled = subscriptions.cached(first.tenant, first.subscription_id)
        stamp = format_datetime(now())
        if compiled is None:
            # The subscription is gone: nothing to deliver to.
            self._record([DeliveryOutcome(item, stamp, True, attempted=False) for item in group])
            return
        sub = compiled.subscription
        key = (sub.tenant, sub.id)
        moment = self.clock()
        if sub.throttling:
            allowed = self._last_sent.get(key, 0.0) + sub.throttling
            if moment < allowed:
                self._record([DeliveryOutcome(i, stamp, False, allowed, attempted=False) for i in group])
                return
            self._last_sent[key] = moment
        uri = sub.document["notification"]["endpoint"]["uri"]
        endpoint = self._endpoints[uri]
        if endpoint.semaphore is None:
            endpoint.semaphore = asyncio.Semaphore(PER_ENDPOINT)
        try:
            async with endpoint.semaphore:
                while endpoint.probe is not None:
                    await endpoint.probe.wait()  # The answer to the probe under way decides.
                # Looked at once a turn comes: deliveries that waited behind failing ones step aside.
                if self.clock() < endpoint.cool_until:
                    until = endpoint.cool_until
                    self._record([DeliveryOutcome(i, stamp, False, until, attempted=False) for i in group])
                    return
                epoch = endpoint.epoch
                probe = asyncio.Event() if endpoint.failures else None
                endpoint.probe = probe
                try:
                    entities = _coalesced(group, latest_only=bool(sub.throttling))
                    linked = await self._linked(compiled, entities)
                    body, headers = notification_body(
                        compiled, entities, linked, first.payload.get("triggerReason")
                    )
                    await self._send(uri, compiled, body, headers)
                except Exception:
                    self._count_failure(endpoint, epoch)
                    raise
                finally:
                    if probe is not None:
                        endpoint.probe = None
                        probe.set()
        except Exception as error:
            reason = str(error) or type(error).__name__
            log.info("Notification for %s to %s failed: %s", sub.id, uri, error)
            NOTIFICATION_FAILURES.labels(_scheme(uri)).inc()
            until = endpoint.cool_until
            self._record(
                [DeliveryOutcome(i, stamp, False, self._retry_at(i, until), reason=reason) for i in group]
            )
            return
        endpoint.failures = 0
        endpoint.cool_until = 0.0
        NOTIFICATIONS_SENT.labels(_scheme(uri)).inc()
        self._record([DeliveryOutcome(item, stamp, True) for item in group])

    def _count_failure(self, endpoint: Endpoint, epoch: int) -> None:
        """Count a failed delivery that began in `epoch` against its endpoint, unless a failure was
        counted since it began: deliveries under way together when a receiver goes fail together,
        and that is one failure, not one per delivery (which would stretch the cool-down far past
        the outage)."""
        if epoch != endpoint.epoch:
            return
        endpoint.epoch += 1
        endpoint.failures += 1
        endpoint.cool_until = self.clock() + self._backoff(endpoint.failures)

    def cool_down(self, uri: str) -> tuple[int, float]:
        """The failures counted against an endpoint and the moment its cool-down ends (0: none)."""
        endpoint = self._endpoints.get(uri)
        return (endpoint.failures, endpoint.cool_until) if endpoint is not None else (0, 0.0)

    async def _linked(self, compiled: Compiled, entities: list[Entity]) -> dict[str, Entity] | None:
        """The entities a joining subscription's notification embeds, as they are now."""
        params = compiled.subscription.document["notification"]
        join, hops = join_of(params.get("join"), params.get("joinLevel"))
        if join is None or params["endpoint"].get("accept") == GEO_JSON:
            return None
        present = [entity for entity in entities if "deletedAt" not in entity]
        if not any(relationship_targets(entity) for entity in present):
            return None
        return await self._linked_entities(compiled.subscription.tenant, present, hops)

    def _backoff(self, attempts: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1)))

    def _retry_at(self, item: ClaimedNotification, until: float) -> float | None:
        """When a failed notification is tried again (`until`, when its endpoint's cool-down
        ends); None when it is given up."""
        moment = self.clock()
        if self.max_attempts and item.attempts >= self.max_attempts:
            log.warning(
                "Notification %d for %s given up after %d attempts",
                item.id,
                item.subscription_id,
                item.attempts,
            )
            return None
        if self.max_age and moment - item.created_at > self.max_age:
            log.warning(
                "Notification %d for %s given up: older than %ss", item.id, item.subscription_id, self.max_age
            )
            return None
        return max(until, moment)

    async def _send(
        self, uri: str, compiled: Compiled, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        if compiled.channel is not None:
            # An alert channel: its template's rendering of each entity, instead of the Notification.
            channel = Channel.from_document(compiled.channel)
            if channel.kind == "webhook":
                channel = dataclasses.replace(channel, target=(uri,))  # The subscription's, if changed.
            rendered = messages(channel, body["data"], body["notifiedAt"], body["subscriptionId"])
            await self.channels.send(channel, rendered)
            return
        scheme = urlsplit(uri).scheme.lower()
        if scheme in ("mqtt", "mqtts"):
            await self._publish(uri, compiled, body, headers)
            return
        assert self._http is not None
        asked = compiled.subscription.document["notification"]["endpoint"].get("timeout")
        timeout = min(self.timeout, asked / 1000) if asked else self.timeout
        try:
            response = await self._http.post(
                uri, content=orjson.dumps(body), headers=headers, timeout=timeout
            )
        except httpx.TransportError:
            # Refused, not resolving, closed, filtered or slow: one reason for all (docs/outbound.md).
            raise DeliveryFailed(UNREACHABLE) from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}")

    async def _publish(
        self, uri: str, compiled: Compiled, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        """MQTT binding (clause 7.2 of GS CIM 009): the payload holds the would-be HTTP headers as
        `metadata` and the notification as `body`."""
        parts = urlsplit(uri)
        info = {
            p["key"]: p["value"]
            for p in compiled.subscription.document["notification"]["endpoint"].get("notifierInfo", ())
        }
        qos = int(info.get(MQTT_QOS, "0"))
        version = info.get(MQTT_VERSION, "mqtt5.0")
        secure = parts.scheme.lower() == "mqtts"
        host = parts.hostname or "localhost"
        port = parts.port or (8883 if secure else 1883)
        try:
            await self.subscriptions.outbound.resolve(host, port)
        except OutboundRefused:
            raise DeliveryFailed(UNREACHABLE) from None
        key = (host, port, secure, f"{parts.username}:{parts.password}:{version}")
        topic = parts.path.lstrip("/") or "notifications"
        payload = orjson.dumps({"metadata": headers, "body": body})
        client = await self._mqtt_client(key, parts.username, parts.password, version)
        try:
            async with asyncio.timeout(self.timeout):
                await client.publish(topic, payload, qos=qos)
        except Exception:
            self._mqtt.pop(key, None)
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)
            raise

    async def _mqtt_client(
        self, key: tuple[str, int, bool, str], username: str | None, password: str | None, version: str
    ) -> aiomqtt.Client:
        async with self._mqtt_lock:
            client = self._mqtt.get(key)
            if client is None:
                client = aiomqtt.Client(
                    key[0],
                    key[1],
                    username=username,
                    password=password,
                    protocol=aiomqtt.ProtocolVersion.V5
                    if version == "mqtt5.0"
                    else aiomqtt.ProtocolVersion.V311,
                    tls_context=ssl.create_default_context() if key[2] else None,
                    timeout=self.timeout,
                )
                async with asyncio.timeout(self.timeout):
                    await client.__aenter__()
                self._mqtt[key] = client
            return client

    # -- outcomes --------------------------------------------------------------------------------

    def _record(self, outcomes: list[DeliveryOutcome]) -> None:
        self._outcomes.extend(outcomes)
        self._settled.set()

    async def _settle_loop(self) -> None:
        """Record outcomes in batches, so a burst of deliveries costs a few writes."""
        while True:
            await self._settled.wait()
            self._settled.clear()
            await self._flush_outcomes()

    async def _flush_outcomes(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                await self.store.settle_notifications(batch)
            except Exception:
                log.exception("Recording %d delivery outcomes failed; they will be retried", len(batch))
                self._outcomes = batch + self._outcomes
                await asyncio.sleep(self.poll)
                return
            if any(outcome.retry_at is not None for outcome in batch):
                self._event.set()

    # -- periodic subscriptions ------------------------------------------------------------------

    async def _periodic_loop(self) -> None:
        """Every timeInterval, a periodic subscription gets the entities it selects as they are."""
        while not self._stopping:
            try:
                await self._periodic_round()
            except Exception:
                log.exception("Periodic notifications failed; trying again")
            await asyncio.sleep(min(1.0, self.poll))

    async def _periodic_round(self) -> None:
        """Send the periodic subscriptions that are due. Their schedule lives in the database: a
        subscription is claimed for one period there, so of several processes exactly one sends it,
        and a restarted process goes on where the schedule stands."""
        moment = self.clock()
        claimed = await self.store.claim_periodic(moment)
        if not claimed:
            return
        subscriptions = self.subscriptions
        if any(subscriptions.cached(tenant, sub_id) is None for tenant, sub_id in claimed):
            await subscriptions.refresh(now=True)  # Created through another process a moment ago.
        pending: list[PendingNotification] = []
        clock = now()
        for tenant, sub_id in claimed:
            compiled = subscriptions.cached(tenant, sub_id)
            if compiled is None:
                continue
            sub = compiled.subscription
            if sub.time_interval is None or sub.status(clock) != "active":
                continue
            query = subscriptions.entity_query(sub, self.settings.max_limit)
            result = await self.store.query_entities(sub.tenant, query)
            if result.entities:
                pending.append(PendingNotification(sub.tenant, sub.id, {"data": result.entities}, moment))
        if pending:
            await self.store.enqueue_notifications(pending)
            self.wake()
