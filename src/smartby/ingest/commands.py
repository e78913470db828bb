"""Commands to devices: kept with their state, sent over each device's transport, confirmed, expired.

`DeviceCommands.send` encodes a command with the device's profile (`encoders`), keeps it
(`pending`) and tries its transport at once (`downlinks`): `sent` when the transport took it,
`pending` while the transport is not there (tried again every SMARTBY_COMMANDS_RETRY_INTERVAL
until it expires), `failed` when the transport refused it. A sent command is `confirmed` by an
acknowledgement (an MQTT `ack` topic, ChirpStack's `event/ack`, The Things Stack's `downlink_ack`
webhook message) or by the next reading of its `confirmBy` attribute that shows the value; one
still pending or unconfirmed when it expires is `expired`.

Every change of state is written through the broker to the device's entity as the FIWARE IoT
Agents do: `<command>_status` (PENDING, SENT, OK, ERROR, EXPIRED) and `<command>_info`.
Times are wall-clock time, whatever clock city services run on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from smartby.broker import Broker
from smartby.broker.outbound import OutboundPolicy, async_client
from smartby.broker.readings import EntityReadings
from smartby.ingest.command_store import CommandStore
from smartby.ingest.decoders import ProfileError, Reading
from smartby.ingest.downlinks import (
    Downlink,
    MqttDownlink,
    TransportRefused,
    TransportUnavailable,
    chirpstack_message,
    downlink_of,
    merged,
    push_tts,
    tts_message,
    tts_push_path,
)
from smartby.ingest.encoders import CommandEncoder, EncodeError, build_commands, command_name
from smartby.ingest.registry import DeviceRegistry
from smartby.ingest.topics import chirpstack_down_topic, downlink_topic, parse_ack_topic
from smartby.ngsild.entity import check_entity_id, check_nesting, parse_types, property_instance
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.ngsild.timestamps import parse_datetime
from smartby.records.commands import FINAL, STATES, CommandRecord
from smartby.records.devices import Device
from smartby.settings import Settings

log = logging.getLogger("smartby.ingest.commands")

STATUS = {"pending": "PENDING", "sent": "SENT", "confirmed": "OK", "failed": "ERROR", "expired": "EXPIRED"}
"""`<command>_status` of each state."""
COMMAND_MEMBERS = frozenset({"name", "value", "expires", "ttl"})
OPEN_BATCH = 1000
"""Open commands one pass of the retry loop looks at, at most."""
MAX_VALUE_BYTES = 16_384
HTTP_WAIT = "for the device's next HTTP uplink"


def stamp(moment: datetime) -> str:
    """A command's times: UTC with six fraction digits, so they compare as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def command_view(command: CommandRecord) -> dict[str, Any]:
    """A command as the API shows it."""
    view: dict[str, Any] = {
        "id": command.id,
        "device": command.device,
        "name": command.name,
        "value": command.value,
        "state": command.state,
        "createdAt": command.created_at,
        "expiresAt": command.expires_at,
        "sentAt": command.sent_at,
        "confirmedAt": command.confirmed_at,
        "info": command.info,
    }
    if command.f_port is not None:
        view["fPort"] = command.f_port
    return view


def polled_view(command: CommandRecord) -> dict[str, Any]:
    """A command as a device gets it in the answer to its HTTP uplink: the encoded payload as JSON
    (`payload`) when it is JSON, else in base64 (`data`)."""
    view: dict[str, Any] = {"id": command.id, "name": command.name, "value": command.value}
    try:
        view["payload"] = orjson.loads(command.payload)
    except orjson.JSONDecodeError:
        view["data"] = base64.b64encode(command.payload).decode()
    return view


def shows(reading: Any, value: Any) -> bool:
    """Whether a reading shows a command's value (numbers within a millionth of 1)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (
            isinstance(reading, int | float)
            and not isinstance(reading, bool)
            and math.isclose(float(reading), float(value), rel_tol=1e-6, abs_tol=1e-6)
        )
    return bool(reading == value)


class DeviceCommands:
    """The `CommandSender` of city services, and the commands part of /ingest/v1."""

    def __init__(
        self, broker: Broker, registry: DeviceRegistry, store: CommandStore, settings: Settings
    ) -> None:
        self.broker = broker
        self.registry = registry
        self.store = store
        self.settings = settings
        self.mqtt = MqttDownlink(settings, self.acknowledged_on) if settings.mqtt_url else None
        self._http: httpx.AsyncClient | None = None
        self._encoders: dict[tuple[str, str, str], CommandEncoder] = {}
        self._awaiting: dict[tuple[str, str], set[str]] = {}
        """Devices with sent commands a reading may confirm: (tenant, device) -> the attributes."""
        self._polled: set[tuple[str, str]] = set()
        """Devices whose commands wait for their next HTTP uplink (the `http` transport)."""
        self._loop: asyncio.Task[None] | None = None
        self._showing = asyncio.Lock()

    async def start(self) -> None:
        if self.mqtt is not None:
            await self.mqtt.start()
        if self._loop is None:
            self._loop = asyncio.create_task(self._keep_going(), name="smartby-commands")

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self.mqtt is not None:
            await self.mqtt.close()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- sending -----------------------------------------------------------------------------------

    async def send(
        self,
        device_id: str,
        name: str,
        value: Any,
        *,
        expires_at: datetime | None = None,
        tenant: str = "",
    ) -> CommandRecord:
        """See `smartby.records.commands.CommandSender`."""
        device = await self.registry.get(tenant, device_id)
        try:
            name = command_name(name)
        except ProfileError as error:
            raise BadRequestData(f"A command's {error}") from None
        if len(orjson.dumps(value)) > MAX_VALUE_BYTES:
            raise BadRequestData(f"A command's value is {MAX_VALUE_BYTES} bytes of JSON at most")
        encoder = await self._encoder(device)
        try:
            encoded = encoder(name, value)
        except EncodeError as error:
            raise BadRequestData(str(error)) from None
        created = datetime.now(UTC)
        expires = expires_at or created + timedelta(seconds=self.settings.commands_ttl)
        if expires.tzinfo is None:
            raise BadRequestData("A command's expiry must say its time zone")
        if expires <= created:
            raise BadRequestData("A command's expiry must lie in the future")
        try:
            downlink = await self._downlink(device)
        except TransportRefused as error:
            raise BadRequestData(str(error)) from None
        command = CommandRecord(
            id=str(uuid.uuid4()),
            tenant=tenant,
            device=device.id,
            name=name,
            value=value,
            state="pending",
            created_at=stamp(created),
            expires_at=stamp(expires),
            payload=encoded.payload,
            f_port=(encoded.f_port or downlink.f_port or 1) if downlink.transport != "mqtt" else None,
            confirm_by=encoded.confirm_by,
            next_attempt=time.time() + self.settings.commands_retry_interval,
            confirmed=encoded.confirmed or bool(downlink.confirmed),
        )
        await self.store.add_command(command)
        await self._show(device, command)
        return await self._attempt(device, command)

    async def submit(self, tenant: str, device_id: str, body: Any) -> CommandRecord:
        """A command as the API's POST gives it: {"name", "value", "expires" (ISO 8601) or "ttl" (s)}."""
        await self.registry.get(tenant, device_id)
        if not isinstance(body, dict):
            raise BadRequestData('A command is {"name": ..., "value": ..., "expires" or "ttl": ...}')
        check_nesting("A command", body)
        unknown = set(body) - COMMAND_MEMBERS
        if unknown:
            raise BadRequestData(f"Unknown command members: {', '.join(sorted(unknown))}")
        if "name" not in body or "value" not in body:
            raise BadRequestData("A command needs a name and a value")
        if not isinstance(body["name"], str):
            raise BadRequestData("A command's name is a string")
        expires, ttl = body.get("expires"), body.get("ttl")
        if expires is not None and ttl is not None:
            raise BadRequestData("Give a command expires or ttl, not both")
        at: datetime | None = None
        if expires is not None:
            if not isinstance(expires, str):
                raise BadRequestData("expires is an ISO 8601 date-time")
            at = parse_datetime(expires, "expires")
        elif ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= 366 * 86400:
                raise BadRequestData("ttl is the command's lifetime in seconds, more than 0, a year at most")
            at = datetime.now(UTC) + timedelta(seconds=ttl)
        return await self.send(device_id, body["name"], body["value"], expires_at=at, tenant=tenant)

    async def _encoder(self, device: Device) -> CommandEncoder:
        if device.profile is None:
            key, spec = (device.tenant, "device:" + device.id, device.modified_at), device.commands
        else:
            profile = await self.registry.get_profile(device.tenant, device.profile)
            key, spec = (device.tenant, "profile:" + profile.name, profile.modified_at), profile.commands
        encoder = self._encoders.get(key)
        if encoder is None:
            if len(self._encoders) > 10_000:
                self._encoders.clear()
            try:
                encoder = self._encoders[key] = build_commands(spec)
            except ProfileError as error:
                raise BadRequestData(f"The device's commands cannot be encoded: {error}") from None
        return encoder

    async def _attempt(self, device: Device, command: CommandRecord) -> CommandRecord:
        """Hand the command to its transport: sent, still pending, or failed."""
        try:
            await self._deliver(device, command)
        except TransportUnavailable as error:
            info = f"waiting: {error}"
            if info == command.info:  # a retry that changed nothing: no write, no new history
                return command
            await self.store.note_command(command.tenant, command.id, info)
            return await self._moved(device, command, command.state, info, note_only=True)
        except TransportRefused as error:
            return await self._moved(device, command, "failed", str(error))
        return await self._moved(device, command, "sent", None)

    async def _downlink(self, device: Device) -> Downlink:
        """How commands reach the device: its downlink over its profile's (TransportRefused when
        the two no longer make a working one, the profile having changed)."""
        profile = None
        if device.profile is not None:
            try:
                profile = (await self.registry.get_profile(device.tenant, device.profile)).downlink
            except ResourceNotFound:
                raise TransportRefused(f"the device's payload profile {device.profile!r} is gone") from None
        try:
            return downlink_of(merged(profile, device.downlink))
        except ValueError as error:
            raise TransportRefused(str(error)) from None

    async def _deliver(self, device: Device, command: CommandRecord) -> None:
        downlink = await self._downlink(device)
        confirmed = command.confirmed
        if downlink.transport == "http":
            self._polled.add((device.tenant, device.id))
            raise TransportUnavailable(HTTP_WAIT)
        if downlink.transport == "tts":
            if self._http is None:
                self._http = async_client(OutboundPolicy.from_settings(self.settings))
            assert downlink.application_id and downlink.webhook_id and downlink.device_id
            path = tts_push_path(downlink.application_id, downlink.webhook_id, downlink.device_id)
            body = tts_message(command.id, command.f_port or 1, command.payload, confirmed)
            await push_tts(self._http, self.settings, path, body)
            return
        if self.mqtt is None:
            raise TransportUnavailable("no MQTT broker (SMARTBY_MQTT_URL is not set)")
        if downlink.transport == "chirpstack":
            if device.dev_eui is None:
                raise TransportRefused("the device has no devEui for ChirpStack")
            assert downlink.application_id is not None
            topic = chirpstack_down_topic(downlink.application_id, device.dev_eui)
            message = chirpstack_message(
                command.id, device.dev_eui, command.f_port or 1, command.payload, confirmed
            )
            await self.mqtt.publish(topic, message)
            return
        topic = downlink_topic(downlink.topic or self.settings.commands_topic, device.tenant, device.id)
        await self.mqtt.publish(topic, command.payload, command.id)

    async def _moved(
        self,
        device: Device | None,
        command: CommandRecord,
        state: str,
        info: str | None,
        *,
        note_only: bool = False,
    ) -> CommandRecord:
        """Move the command to `state` (unless another process moved it first) and show it."""
        at = stamp(datetime.now(UTC))
        if not note_only:
            sources = ("pending",) if state == "sent" else ("pending", "sent")
            if not await self.store.move_command(
                command.tenant, command.id, sources, state, at=at, info=info
            ):
                found = await self.store.get_command(command.tenant, command.id)
                return found or command
        moved = await self.store.get_command(command.tenant, command.id) or command
        if moved.state == "sent" and moved.confirm_by is not None:
            self._awaiting.setdefault((moved.tenant, moved.device), set()).add(moved.confirm_by)
        if device is None:
            try:
                device = await self.registry.get(command.tenant, command.device)
            except ResourceNotFound:
                return moved
        await self._show(device, moved)
        return moved

    async def _show(self, device: Device, command: CommandRecord) -> None:
        """`<command>_status` and `<command>_info` on the device's entity, through the broker: the
        command's state as the store holds it now (shows are made one at a time, so a later state
        is never overwritten by an earlier one of this process)."""
        async with self._showing:
            try:
                command = await self.store.get_command(command.tenant, command.id) or command
                ctx = await self.broker.context(device.context, device.tenant)
                observed = stamp(datetime.now(UTC))
                entity_type = parse_types(device.entity_type, ctx)[0]
                readings = EntityReadings(check_entity_id(device.entity_id), entity_type)
                for name, value in (
                    (f"{command.name}_status", STATUS[command.state]),
                    (f"{command.name}_info", command.info or ""),
                ):
                    iri = ctx.expand(name)
                    readings.attributes[iri] = [
                        property_instance(name, iri, value, ctx, unit_code=None, observed_at=observed)
                    ]
                await self.broker.record_readings(device.tenant, [readings])
            except Exception:
                log.exception("Showing command %s on %s failed", command.id, device.entity_id)

    # -- reading and the loop ----------------------------------------------------------------------

    async def of_device(
        self, tenant: str, device_id: str, states: Sequence[str], limit: int, offset: int
    ) -> list[CommandRecord]:
        await self.registry.get(tenant, device_id)
        for state in states:
            if state not in STATES:
                raise BadRequestData(f"state is one of {', '.join(STATES)}, not {state!r}")
        return await self.store.list_commands(tenant, device_id, states, limit, offset)

    async def get(self, tenant: str, device_id: str, command_id: str) -> CommandRecord:
        await self.registry.get(tenant, device_id)
        command = await self.store.get_command(tenant, command_id)
        if command is None or command.device != device_id:
            raise ResourceNotFound(f"Device {device_id} has no command {command_id}")
        return command

    async def _keep_going(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("Retrying and expiring commands failed")
            await asyncio.sleep(self.settings.commands_retry_interval)

    async def run_once(self) -> None:
        """One pass: expire what expired, try pending commands whose turn came, and learn which
        devices' readings may confirm a sent command."""
        now, wall = stamp(datetime.now(UTC)), time.time()
        awaiting: dict[tuple[str, str], set[str]] = {}
        polled: set[tuple[str, str]] = set()
        for command in await self.store.open_commands(("pending", "sent"), OPEN_BATCH):
            if command.expires_at <= now:
                info = (
                    "not sent before it expired"
                    if command.state == "pending"
                    else "not confirmed before it expired"
                )
                await self._moved(None, command, "expired", info)
                continue
            if command.state == "sent" and command.confirm_by is not None:
                awaiting.setdefault((command.tenant, command.device), set()).add(command.confirm_by)
            if command.state != "pending":
                continue
            if command.info == f"waiting: {HTTP_WAIT}":
                polled.add((command.tenant, command.device))
                continue
            if command.next_attempt > wall:
                continue
            until = wall + self.settings.commands_retry_interval
            if not await self.store.claim_attempt(command.tenant, command.id, command.next_attempt, until):
                continue
            try:
                device = await self.registry.get(command.tenant, command.device)
            except ResourceNotFound:
                await self._moved(None, command, "failed", "the device was removed")
                continue
            await self._attempt(device, command)
        self._awaiting = awaiting
        self._polled = polled

    def polled(self, tenant: str, device_id: str) -> bool:
        """Whether commands wait for this device's next HTTP uplink (a set lookup)."""
        return (tenant, device_id) in self._polled

    async def for_uplink(self, tenant: str, device: Device) -> list[CommandRecord]:
        """The commands that waited for this HTTP uplink of the device, now sent (its answer carries
        them), oldest first."""
        self._polled.discard((tenant, device.id))
        try:
            if (await self._downlink(device)).transport != "http":
                return []
        except TransportRefused:
            return []
        waiting = await self.store.list_commands(tenant, device.id, ("pending",), OPEN_BATCH, 0)
        taken = []
        for command in reversed(waiting):
            moved = await self._moved(device, command, "sent", None)
            if moved.state == "sent":
                taken.append(moved)
        return taken

    # -- confirmations -----------------------------------------------------------------------------

    def awaits(self, tenant: str, device_id: str) -> bool:
        """Whether a reading of this device may confirm a command (a dictionary lookup)."""
        return (tenant, device_id) in self._awaiting

    async def readings_arrived(self, tenant: str, device: Device, readings: Iterable[Reading]) -> None:
        """A device's committed readings: sent commands whose `confirmBy` reading shows their value
        are confirmed."""
        attributes = self._awaiting.get((tenant, device.id))
        if not attributes:
            return
        shown = {reading.name: reading.value for reading in readings if reading.name in attributes}
        if not shown:
            return
        for command in await self.store.list_commands(tenant, device.id, ("sent",), OPEN_BATCH, 0):
            if command.confirm_by in shown and shows(shown[command.confirm_by], command.value):
                await self._moved(
                    device, command, "confirmed", f"{command.confirm_by} shows {shown[command.confirm_by]!r}"
                )

    async def acknowledged_on(self, topic: str, payload: bytes) -> None:
        """An MQTT acknowledgement: a device's on `smartby/{tenant}/{device}/ack`, or ChirpStack's
        `event/ack`."""
        found = parse_ack_topic(topic, self.settings.chirpstack_tenants)
        if found is None:
            return
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            message = None
        if found.family == "chirpstack":
            await self.chirpstack_ack(found.tenant, message)
            return
        await self.device_ack(found.tenant, found.device_id, message)

    async def device_ack(self, tenant: str, device_id: str, message: Any) -> None:
        """`{"id": "<command id>", "status": "ok" | "error", "info": "..."}`, or as the IoT Agents'
        devices answer, `{"<command name>": "<result>"}` for the latest sent command of that name."""
        if not isinstance(message, dict):
            return
        sent = await self.store.list_commands(tenant, device_id, ("sent", "pending"), OPEN_BATCH, 0)
        command_id = message.get("id")
        if isinstance(command_id, str):
            chosen = [c for c in sent if c.id == command_id]
            status = str(message.get("status", "ok")).lower()
            info = message.get("info")
            result = str(info) if info is not None else None
        else:
            chosen = [c for c in sent if c.name in message][:1]
            status = "ok"
            result = str(message[chosen[0].name]) if chosen else None
        for command in chosen:
            state = "confirmed" if status in ("ok", "success", "done") else "failed"
            await self._moved(None, command, state, result or f"acknowledged by the device ({status})")

    async def chirpstack_ack(self, tenant: str, event: Any) -> None:
        """ChirpStack v4's ack event: `queueItemId` names the command (smartby sends its id as the
        queue item's), `acknowledged` says whether the device confirmed it."""
        if not isinstance(event, Mapping):
            return
        command_id = event.get("queueItemId")
        if not isinstance(command_id, str):
            return
        command = await self.store.get_command(tenant, command_id)
        if command is None or command.state in FINAL:
            return
        if event.get("acknowledged") is True:
            await self._moved(None, command, "confirmed", "acknowledged (ChirpStack event/ack)")
        else:
            await self._moved(None, command, "failed", "not acknowledged (ChirpStack event/ack)")

    async def tts_event(self, tenant: str, message: Any) -> None:
        """The Things Stack's downlink messages through the uplink webhook: `downlink_ack` confirms,
        `downlink_nack` and `downlink_failed` fail, by the correlation id smartby gave the push."""
        if not isinstance(message, Mapping):
            return
        for kind, state in (
            ("downlink_ack", "confirmed"),
            ("downlink_nack", "failed"),
            ("downlink_failed", "failed"),
        ):
            event = message.get(kind)
            if not isinstance(event, Mapping):
                continue
            downlink = event.get("downlink", event)
            ids = downlink.get("correlation_ids") if isinstance(downlink, Mapping) else None
            for found in ids if isinstance(ids, list) else []:
                if isinstance(found, str) and found.startswith("smartby:command:"):
                    command = await self.store.get_command(tenant, found.removeprefix("smartby:command:"))
                    if command is not None and command.state not in FINAL:
                        await self._moved(None, command, state, f"The Things Stack: {kind}")
