"""The MQTT device transport: every uplink published on a device topic becomes an `Uplink` for the
ingestion sink, and is acknowledged to the MQTT broker only once the sink took it.

- MQTT v5, QoS 1, a persistent session (clean start off, a session expiry) under a client id that
  stays the same across restarts, so readings published while smartby restarts wait in the broker.
- Shared subscriptions (`$share/{group}/...`): several smartby workers, on one host or many, split
  the stream; each message goes to one of them.
- Backpressure: the broker may send at most SMARTBY_MQTT_RECEIVE_MAXIMUM unacknowledged messages
  (MQTT v5 Receive Maximum); they wait in the client's queue, the sink takes them one by one, in
  order, and each is acknowledged (PUBACK) after `accept` returned. A crash of smartby therefore
  loses no acknowledged reading: the broker sends the others again to the resumed session.
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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from smartby.ingest.topics import parse_topic, subscriptions
from smartby.ingest.uplinks import Uplink, UplinkSink
from smartby.settings import Settings

log = logging.getLogger("smartby.ingest.mqtt")

API_KEY_PROPERTY = "api-key"
"""The MQTT v5 user property a device may put its key in."""
KEEPALIVE = 30
"""Seconds between pings; a broker that stops answering is noticed within 1.5 times this."""


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
    found = parse_topic(topic, tenants)
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
        self._lock: int | None = None
        if client_id is None:
            client_id, self._lock = claim_client_id(settings)
        self.client_id = client_id
        self.subscribed = asyncio.Event()
        """Set while connected and subscribed (tests and health checks wait on it)."""
        self.accepted = 0
        """Messages handed to the sink and acknowledged since the start."""
        self.connections = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"smartby-mqtt-{self.client_id}")

    async def close(self) -> None:
        """Disconnect. Messages not yet acknowledged stay with the broker for the next session."""
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

    def _client(self) -> aiomqtt.Client:
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
        # wraps, has. Set before connecting: a resumed session's queued messages follow the CONNACK.
        client._client.manual_ack_set(True)
        return client

    async def _session(self) -> None:
        client = self._client()
        async with client:
            self.connections += 1
            options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            codes = await client.subscribe([(found, options) for found in self.filters])
            for found, code in zip(self.filters, codes, strict=False):
                if _refused(code):
                    log.error("MQTT broker refused the subscription %s: %s", found, code)
            log.info("MQTT: %s subscribed to %s", self.client_id, ", ".join(self.filters))
            self.subscribed.set()
            tenants = self.settings.chirpstack_tenants
            async for message in client.messages:
                payload = message.payload
                if not isinstance(payload, bytes):
                    payload = str(payload).encode() if payload is not None else b""
                topic = message.topic.value
                uplink = uplink_of(topic, payload, api_key_of(message.properties), tenants, received_now())
                if uplink.device_id is None:
                    log.warning("MQTT: %r names no device; handed on as a dead letter", topic)
                await self.sink.accept(uplink)
                if message.qos > 0:
                    client._client.ack(message.mid, message.qos)
                self.accepted += 1


async def start_mqtt_transport(sink: UplinkSink, settings: Settings) -> MqttTransport | None:
    """Start the MQTT device transport feeding `sink` (the server's one ingestion pipeline, which
    HTTP uplinks share) when SMARTBY_MQTT_URL is set; None when it is not."""
    if not settings.mqtt_url:
        return None
    transport = MqttTransport(sink, settings)
    await transport.start()
    return transport
