"""The ways a command goes down to a device (docs/commands.md), and acknowledgements coming back.

- `mqtt`: the encoded command published (QoS 1) on the device's downlink topic, by default
  `smartby/{tenant}/{device}/down`, with the command's id in the MQTT v5 user property `command-id`;
  the device may answer on `smartby/{tenant}/{device}/ack`.
- `chirpstack`: ChirpStack v4's MQTT integration, `application/{applicationId}/device/{DevEUI}/command/down`
  with `{"devEui", "confirmed", "fPort", "data": base64, "id"}`; ChirpStack reports a confirmed
  downlink's acknowledgement on `.../event/ack`.
- `http`: for a device that only makes HTTP requests, the commands wait for its next uplink
  (`POST /ingest/v1/devices/{id}/up`) and go back in the answer, as the FIWARE IoT Agents' polling
  devices get theirs.
- `tts`: The Things Stack's downlink push API, `POST {SMARTBY_TTS_URL}/api/v3/as/applications/{app}/
  webhooks/{webhook}/devices/{device}/down/push` with a Bearer API key.

A transport that cannot take the command now (no MQTT broker connection, The Things Stack not
answering or answering 5xx or 429) raises `TransportUnavailable`: the command stays pending and is
tried again until it expires. One that refuses it for good (4xx) raises `TransportRefused`: failed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import re
import secrets
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiomqtt
import httpx
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from smartby.broker.outbound import UNREACHABLE
from smartby.ingest.mqtt import base_client_id, broker_address
from smartby.ingest.topics import ACK_FILTERS
from smartby.settings import Settings

log = logging.getLogger("smartby.ingest.commands")

COMMAND_ID_PROPERTY = "command-id"
"""The MQTT v5 user property that carries a command's id on a plain MQTT downlink."""
Acknowledged = Callable[[str, bytes], Awaitable[None]]
"""Told of each message on an acknowledgement topic: the topic and the payload."""


class TransportUnavailable(Exception):
    """The transport cannot take the command now; it is tried again until it expires."""


class TransportRefused(Exception):
    """The transport refused the command for good."""


class MqttDownlink:
    """A connection to the MQTT broker for commands: it publishes them and hears acknowledgements.

    Its own client (a clean session, an id of its own per process), apart from the uplink
    transport's, so commands never queue behind a stream of readings. Acknowledgement topics are
    taken as a shared subscription (`$share/{group}-commands/...`): of several processes one hears
    each acknowledgement."""

    retry_first = 0.5
    retry_most = 30.0

    def __init__(self, settings: Settings, acknowledged: Acknowledged) -> None:
        self.settings = settings
        self.address = broker_address(settings.mqtt_url)
        self.acknowledged = acknowledged
        self.client_id = f"{base_client_id(settings)}-commands-{secrets.token_hex(4)}"
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"smartby-mqtt-{self.client_id}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected.clear()

    def _filters(self) -> list[str]:
        group = self.settings.mqtt_shared_group
        return [f"$share/{group}-commands/{found}" if group else found for found in ACK_FILTERS]

    async def _run(self) -> None:
        delay = self.retry_first
        while True:
            try:
                async with aiomqtt.Client(
                    self.address.host,
                    self.address.port,
                    username=self.address.username,
                    password=self.address.password,
                    identifier=self.client_id,
                    protocol=aiomqtt.ProtocolVersion.V5,
                    tls_context=ssl.create_default_context() if self.address.tls else None,
                ) as client:
                    await client.subscribe([(found, 1) for found in self._filters()])
                    self._client = client
                    self.connected.set()
                    delay = self.retry_first
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        try:
                            await self.acknowledged(str(message.topic), payload)
                        except Exception:
                            log.exception("Handling a command acknowledgement on %s failed", message.topic)
            except aiomqtt.MqttError as error:
                log.warning("MQTT broker for commands: %s; connecting again in %.1f s", error, delay)
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(delay * random.uniform(0.75, 1.0))
            delay = min(delay * 2, self.retry_most)

    async def publish(self, topic: str, payload: bytes, command_id: str | None = None) -> None:
        client = self._client
        if client is None:
            raise TransportUnavailable("no connection to the MQTT broker")
        properties = None
        if command_id is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.UserProperty = [(COMMAND_ID_PROPERTY, command_id)]
        try:
            await asyncio.wait_for(
                client.publish(topic, payload, qos=1, properties=properties),
                self.settings.notification_timeout,
            )
        except (aiomqtt.MqttError, TimeoutError) as error:
            raise TransportUnavailable(f"the MQTT broker did not take it: {error}") from None


def chirpstack_message(command_id: str, dev_eui: str, f_port: int, payload: bytes, confirmed: bool) -> bytes:
    """ChirpStack v4's `command/down` message (a device queue item)."""
    return orjson.dumps(
        {
            "id": command_id,
            "devEui": dev_eui,
            "confirmed": confirmed,
            "fPort": f_port,
            "data": base64.b64encode(payload).decode(),
        }
    )


def tts_push_path(application_id: str, webhook_id: str, device_id: str) -> str:
    return (
        f"/api/v3/as/applications/{quote(application_id, safe='')}/webhooks/{quote(webhook_id, safe='')}"
        f"/devices/{quote(device_id, safe='')}/down/push"
    )


def tts_message(command_id: str, f_port: int, payload: bytes, confirmed: bool) -> bytes:
    """The Things Stack's downlink push body; the correlation id comes back in its downlink events."""
    return orjson.dumps(
        {
            "downlinks": [
                {
                    "f_port": f_port,
                    "frm_payload": base64.b64encode(payload).decode(),
                    "priority": "NORMAL",
                    "confirmed": confirmed,
                    "correlation_ids": [f"smartby:command:{command_id}"],
                }
            ]
        }
    )


async def push_tts(http: httpx.AsyncClient, settings: Settings, path: str, body: bytes) -> None:
    if not settings.tts_url:
        raise TransportUnavailable("SMARTBY_TTS_URL is not set")
    headers = {"Content-Type": "application/json"}
    if settings.tts_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.tts_api_key.get_secret_value()}"
    try:
        response = await http.post(
            settings.tts_url.rstrip("/") + path,
            content=body,
            headers=headers,
            timeout=settings.notification_timeout,
        )
    except httpx.HTTPError:
        # One reason whatever went wrong: an answer must not tell an open port from a closed one.
        raise TransportUnavailable(f"The Things Stack {UNREACHABLE}") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransportUnavailable(f"The Things Stack answered HTTP {response.status_code}")
    if response.status_code >= 300:
        raise TransportRefused(
            f"The Things Stack refused it: HTTP {response.status_code} {response.text[:200]}"
        )


TRANSPORTS = ("mqtt", "chirpstack", "tts", "http")
DOWNLINK_MEMBERS = frozenset(
    {"transport", "topic", "applicationId", "fPort", "confirmed", "webhookId", "deviceId"}
)
_TOPIC_LEVEL = re.compile(r"^[^+#\x00]+$")


@dataclass(frozen=True)
class Downlink:
    """How commands reach one device (a device's `downlink`, docs/commands.md)."""

    transport: str = "mqtt"
    topic: str | None = None
    """mqtt: the topic template; None: SMARTBY_COMMANDS_TOPIC."""
    application_id: str | None = None
    """chirpstack and tts: the application id."""
    f_port: int | None = None
    """LoRaWAN port when the command's encoding names none (1 when neither does)."""
    confirmed: bool | None = None
    webhook_id: str | None = None
    """tts: the webhook the push goes through."""
    device_id: str | None = None
    """tts: the end device id in The Things Stack."""


def _text(spec: Mapping[str, Any], name: str) -> str | None:
    value = spec.get(name)
    if value is not None and (not isinstance(value, str) or not value or len(value) > 256):
        raise ValueError(f"downlink: {name} must be a non-empty string")
    return value


def merged(profile: Any, device: Any) -> Any:
    """A device's downlink: its profile's, with the members the device names itself in its place
    (both objects; otherwise the device's, else the profile's)."""
    if isinstance(profile, Mapping) and isinstance(device, Mapping):
        return {**profile, **device}
    return device if device is not None else profile


def downlink_of(spec: Any, *, complete: bool = True) -> Downlink:
    """A downlink declaration, checked (ValueError says what is wrong); None: plain MQTT. A
    profile's need not be `complete`: its devices may add what is theirs (a deviceId)."""
    if spec is None:
        return Downlink()
    if not isinstance(spec, Mapping):
        raise ValueError("downlink must be an object with a transport")
    unknown = set(spec) - DOWNLINK_MEMBERS
    if unknown:
        raise ValueError(f"downlink: unknown members {', '.join(sorted(unknown))}")
    transport = spec.get("transport", "mqtt")
    if transport not in TRANSPORTS:
        raise ValueError(f"downlink: transport must be one of {', '.join(TRANSPORTS)}")
    topic = _text(spec, "topic")
    if topic is not None and (not _TOPIC_LEVEL.match(topic) or topic.startswith("$")):
        raise ValueError("downlink: topic must be an MQTT topic without wildcards")
    f_port = spec.get("fPort")
    if f_port is not None and (
        isinstance(f_port, bool) or not isinstance(f_port, int) or not 1 <= f_port <= 223
    ):
        raise ValueError("downlink: fPort must be 1 to 223")
    confirmed = spec.get("confirmed")
    if confirmed is not None and not isinstance(confirmed, bool):
        raise ValueError("downlink: confirmed must be true or false")
    found = Downlink(
        transport,
        topic,
        _text(spec, "applicationId"),
        f_port,
        confirmed,
        _text(spec, "webhookId"),
        _text(spec, "deviceId"),
    )
    if not complete:
        return found
    if transport == "chirpstack" and found.application_id is None:
        raise ValueError("downlink: ChirpStack needs the device's applicationId")
    if transport == "tts" and None in (found.application_id, found.webhook_id, found.device_id):
        raise ValueError("downlink: The Things Stack needs applicationId, webhookId and deviceId")
    return found
