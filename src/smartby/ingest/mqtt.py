"""The MQTT device transport: every uplink published on a device topic becomes an `Uplink` for the
ingestion sink, and is acknowledged to the MQTT broker only once the sink took it.

- MQTT v5, QoS 1, a persistent session (clean start off, a session expiry) under a client id that
  stays the same across restarts, so readings published while smartby restarts wait in the broker.
- Shared subscriptions (`$share/{group}/...`): several smartby workers, on one host or many, split
  the stream; each message goes to one of them.
- A message is acknowledged (PUBACK) once the sink settled it: for `Ingestion` (a sink with
  `offer`), once the batch holding its readings is committed or its dead letter stored; for a plain
  `UplinkSink`, once `accept` returned. PUBACKs go in the order the messages came, as MQTT requires.
  A crash of smartby therefore loses no acknowledged reading: the broker sends the others again to
  the resumed session.
- Backpressure: the broker may send at most SMARTBY_MQTT_RECEIVE_MAXIMUM unacknowledged messages
  (MQTT v5 Receive Maximum), so no more than that many wait in memory, read or queued for a commit.
- The hot path is paho-mqtt's, not aiomqtt's: aiomqtt connects, subscribes and reports the
  connection's loss, but each message goes from paho's `on_message` callback straight to the sink's
  synchronous `offer`, and the socket is read until it is empty each time it is readable. aiomqtt's
  own path (a Message and Topic object, an asyncio queue, a Task and `asyncio.wait` per message, and
  one event-loop round per packet) cost more than the ingestion behind it did.
- paho reads a PUBLISH's MQTT v5 properties with `publish_properties.PublishProperties`, which
  does not rebuild paho's tables of property names for each message (in the paho versions that
  was tested with; in others, with paho's own, slower).
- When the broker goes away the transport logs it and connects again with backoff, for ever; it
  never raises into the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import socket
import ssl
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from smartby.ingest import publish_properties
from smartby.ingest.topics import DeviceTopic, parse_topic, subscriptions
from smartby.ingest.uplinks import Uplink, UplinkSink
from smartby.settings import Settings

log = logging.getLogger("smartby.ingest.mqtt")

API_KEY_PROPERTY = "api-key"
"""The MQTT v5 user property a device may put its key in."""
KEEPALIVE = 30
"""Seconds between pings; a broker that stops answering is noticed within 1.5 times this."""
READ_BURST = 256
"""Packets read at most each time the socket is readable, before other work gets a turn."""
TOPICS_KEPT = 100_000
"""Topics whose parse a connection remembers (a device publishes on one topic again and again)."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the MQTT broker is, from SMARTBY_MQTT_URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def broker_address(url: str) -> BrokerAddress:
    """`mqtt://user:password@host:1883` (or `mqtts://`, TLS, port 8883 by default); ValueError
    for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"not an MQTT URL (mqtt://host:1883 or mqtts://host:8883): {url!r}")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"the port of the MQTT URL is not a number: {url!r}") from None
    return BrokerAddress(
        parts.hostname,
        port,
        None if parts.username is None else unquote(parts.username),
        None if parts.password is None else unquote(parts.password),
        tls,
    )


def base_client_id(settings: Settings) -> str:
    return settings.mqtt_client_id or f"smartby-{socket.gethostname()}"


def claim_client_id(settings: Settings) -> tuple[str, int | None]:
    """This process's MQTT client id and the descriptor of the lock that holds it.

    One worker: the configured id. Several: the id with `-w{n}`, n the first worker slot no other
    process on this host holds (an flock on a file in the temporary folder). The id must not change
    when smartby restarts, or the session holding the messages queued meanwhile would be orphaned;
    a process id would change, a slot does not. Two clients with one id would throw each other
    off the broker, hence the lock."""
    base = base_client_id(settings)
    if settings.workers <= 1:
        return base, None
    folder = tempfile.gettempdir()
    for slot in range(4 * settings.workers):
        descriptor = os.open(os.path.join(folder, f"{base}-w{slot}.mqtt.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            continue
        return f"{base}-w{slot}", descriptor
    return f"{base}-p{os.getpid()}", None


def received_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def uplink_of(
    topic: str,
    payload: bytes,
    api_key: str | None,
    tenants: Mapping[str, str],
    received_at: str,
) -> Uplink:
    """The uplink a message on `topic` is. A topic that names no device (an empty level, a bad
    percent escape) is still handed on, with no device, so the sink keeps it as a dead letter."""
    return uplink_from(parse_topic(topic, tenants), topic, payload, api_key, received_at)


def uplink_from(
    found: DeviceTopic | None, topic: str, payload: bytes, api_key: str | None, received_at: str
) -> Uplink:
    """The uplink a message on `topic`, which names `found`, is (see `uplink_of`)."""
    if found is None:
        return Uplink("mqtt", "plain", "", None, api_key, payload, received_at, topic)
    if found.family == "chirpstack":
        return Uplink(
            "chirpstack-mqtt",
            "chirpstack",
            found.tenant,
            found.device_id,
            api_key,
            payload,
            received_at,
            topic,
        )
    return Uplink("mqtt", "plain", found.tenant, found.device_id, api_key, payload, received_at, topic)


def api_key_of(properties: Properties | None) -> str | None:
    """The `api-key` user property of an MQTT v5 message, if it has one."""
    pairs: list[tuple[str, str]] = getattr(properties, "UserProperty", None) or []
    for name, value in pairs:
        if name == API_KEY_PROPERTY:
            return value
    return None


def _refused(code: object) -> bool:
    """Whether a SUBACK reason code (MQTT v5) or granted QoS (v3.1.1) refuses a subscription."""
    if isinstance(code, ReasonCode):
        return code.is_failure
    return isinstance(code, int) and code >= 0x80


@runtime_checkable
class OfferingSink(UplinkSink, Protocol):
    """A sink that takes uplinks without being awaited and says when each is durable."""

    def offer(self, uplink: Uplink, settled: Callable[[], None]) -> None: ...

    async def flush(self) -> None: ...


class _Received:
    __slots__ = ("mid", "qos", "settled")

    def __init__(self, mid: int, qos: int) -> None:
        self.mid = mid
        self.qos = qos
        self.settled = False


class _Delivery:
    """The messages of one connection: handed to the sink as paho parses them, and acknowledged
    in the order they came, each once the sink settled it (MQTT v5, 4.6: PUBACKs in the order of
    the PUBLISHes)."""

    def __init__(self, transport: MqttTransport, client: paho.Client) -> None:
        self.transport = transport
        self.client = client
        self.open = True
        self.received = 0
        self._order: deque[_Received] = deque()
        self._inbox: deque[tuple[Uplink, Callable[[], None]]] = deque()
        self._arrived = asyncio.Event()
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sink = transport.sink
        self._offer = sink.offer if isinstance(sink, OfferingSink) else None
        self._tenants = transport.settings.chirpstack_tenants
        self._topics: dict[str, DeviceTopic | None] = {}
        client.on_message = self._on_message

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        self.received += 1
        entry = _Received(message.mid, message.qos)
        self._order.append(entry)

        def settled() -> None:
            entry.settled = True
            if self._order and self._order[0] is entry:
                self._release()

        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", "replace")
        payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload)
        topics = self._topics
        if topic in topics:
            found = topics[topic]
        else:
            if len(topics) >= TOPICS_KEPT:
                topics.clear()
            found = topics[topic] = parse_topic(topic, self._tenants)
        api_key = api_key_of(getattr(message, "properties", None))
        uplink = uplink_from(found, topic, payload, api_key, received_now())
        if uplink.device_id is None:
            log.warning("MQTT: %r names no device; handed on as a dead letter", topic)
        if self._offer is None:
            self._inbox.append((uplink, settled))
            self._arrived.set()
            return
        try:
            self._offer(uplink, settled)
        except Exception as error:  # a bug in the sink: this connection ends, the message comes again
            if not self.failed.done():
                self.failed.set_exception(error)

    def _release(self) -> None:
        order = self._order
        while order and order[0].settled:
            entry = order.popleft()
            if not self.open:
                continue  # the connection is gone: the broker sends the message again
            if entry.qos > 0:
                self.client.ack(entry.mid, entry.qos)
            self.transport.accepted += 1

    async def hand_over(self) -> None:
        """For a sink without `offer`: await its `accept` for each message, in order."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._inbox:
                uplink, settled = self._inbox.popleft()
                await self.transport.sink.accept(uplink)
                settled()

    def read_in_bursts(self, client: aiomqtt.Client) -> None:
        """Read the socket until it is empty each time it is readable (aiomqtt reads one packet,
        then goes round the event loop)."""
        sock = self.client.socket()
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        disconnected = client._disconnected

        def read() -> None:
            try:
                for _ in range(READ_BURST):
                    before = self.received
                    self.client.loop_read()
                    if self.received == before:
                        break
                pending = getattr(self.client.socket(), "pending", None)
                while pending is not None and pending() > 0:  # TLS: bytes decrypted, not yet read
                    self.client.loop_read()
            except Exception as error:
                if not disconnected.done():
                    disconnected.set_exception(error)

        loop.remove_reader(sock.fileno())
        loop.add_reader(sock.fileno(), read)

    def stop_reading(self) -> None:
        sock = self.client.socket()
        if sock is not None and sock.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(sock.fileno())


class MqttTransport:
    """Subscribes to the device topics and hands each message to `sink`, for as long as it runs."""

    retry_first = 0.5
    """Seconds before the first reconnection attempt; doubled after each failure."""
    retry_most = 30.0

    def __init__(self, sink: UplinkSink, settings: Settings, *, client_id: str | None = None) -> None:
        self.sink = sink
        self.settings = settings
        self.address = broker_address(settings.mqtt_url)
        self.filters = subscriptions(settings.mqtt_topics, settings.mqtt_shared_group)
        publish_properties.install()
        self._lock: int | None = None
        if client_id is None:
            client_id, self._lock = claim_client_id(settings)
        self.client_id = client_id
        self.subscribed = asyncio.Event()
        """Set while connected and subscribed (tests and health checks wait on it)."""
        self.accepted = 0
        """Messages settled by the sink and acknowledged since the start."""
        self.connections = 0
        self._task: asyncio.Task[None] | None = None
        self._delivery: _Delivery | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"smartby-mqtt-{self.client_id}")

    async def close(self) -> None:
        """Disconnect, having let a sink with `flush` commit what it holds (so that it is
        acknowledged now, not sent again to the next session). Messages not yet acknowledged stay
        with the broker for the next session."""
        delivery, sink = self._delivery, self.sink
        if delivery is not None and delivery.open and isinstance(sink, OfferingSink):
            delivery.stop_reading()
            try:
                await asyncio.wait_for(sink.flush(), 10)
            except Exception:
                log.exception("Committing what the MQTT transport handed on failed before it stopped")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.subscribed.clear()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    async def _run(self) -> None:
        delay = self.retry_first
        where = f"{self.address.host}:{self.address.port}"
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as error:
                log.warning("MQTT broker %s: %s; connecting again in %.1f s", where, error, delay)
            except Exception:
                log.exception("MQTT transport failed; connecting again to %s in %.1f s", where, delay)
            if self.subscribed.is_set():
                delay = self.retry_first  # the connection worked for a while: start backing off anew
            self.subscribed.clear()
            await asyncio.sleep(delay * random.uniform(0.75, 1.0))
            delay = min(delay * 2, self.retry_most)

    def _client(self) -> tuple[aiomqtt.Client, _Delivery]:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.settings.mqtt_session_expiry
        properties.ReceiveMaximum = self.settings.mqtt_receive_maximum
        client = aiomqtt.Client(
            self.address.host,
            self.address.port,
            username=self.address.username,
            password=self.address.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            keepalive=KEEPALIVE,
            properties=properties,
            tls_context=ssl.create_default_context() if self.address.tls else None,
        )
        # aiomqtt 2.x has no manual acknowledgement yet (empicano/aiomqtt#345); paho-mqtt, which it
        # wraps, has. Both set before connecting: a resumed session's queued messages follow the
        # CONNACK.
        client._client.manual_ack_set(True)
        return client, _Delivery(self, client._client)

    async def _session(self) -> None:
        client, delivery = self._client()
        self._delivery = delivery
        handing: asyncio.Task[None] | None = None
        try:
            async with client:
                self.connections += 1
                delivery.read_in_bursts(client)
                options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
                codes = await client.subscribe([(found, options) for found in self.filters])
                for found, code in zip(self.filters, codes, strict=False):
                    if _refused(code):
                        log.error("MQTT broker refused the subscription %s: %s", found, code)
                log.info("MQTT: %s subscribed to %s", self.client_id, ", ".join(self.filters))
                self.subscribed.set()
                handing = asyncio.create_task(delivery.hand_over())
                lost = client._disconnected
                await asyncio.wait((lost, delivery.failed, handing), return_when=asyncio.FIRST_COMPLETED)
                if handing.done():
                    handing.result()  # the sink's exception
                if delivery.failed.done():
                    delivery.failed.result()
                raise aiomqtt.MqttError("Disconnected during message iteration") from lost.exception()
        finally:
            delivery.open = False
            if handing is not None:
                handing.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await handing


async def start_mqtt_transport(sink: UplinkSink, settings: Settings) -> MqttTransport | None:
    """Start the MQTT device transport feeding `sink` (the server's one ingestion pipeline, which
    HTTP uplinks share) when SMARTBY_MQTT_URL is set; None when it is not."""
    if not settings.mqtt_url:
        return None
    transport = MqttTransport(sink, settings)
    await transport.start()
    return transport
