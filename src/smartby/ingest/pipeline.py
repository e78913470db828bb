"""Ingestion: uplinks in, readings batched into broker transactions, the unusable kept as dead letters.

`Ingestion.accept` unwraps an uplink's envelope, finds the device (by id, else by DevEUI), checks
its key, decodes the payload and queues the readings. A flusher commits what is queued every
`ingest_flush_ms`, or at once when `ingest_batch_size` readings wait, in one broker transaction
per tenant (`Broker.record_readings`): each reading becomes an NGSI-LD Property instance (value,
unitCode or a unitText sub-Property, observedAt) of the device's entity; history keeps every one,
the entity takes the last of each attribute (its other attributes stay; the entity is made, with
its type and the device's location, by its first reading).

Nothing about an uplink raises into its transport: an unknown device, a wrong key, a payload that
does not decode, a reading the broker refuses all become dead letters with the reason and the raw
bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from smartby.broker import Broker
from smartby.broker.readings import EntityReadings
from smartby.ingest.command_store import CommandStore
from smartby.ingest.commands import DeviceCommands
from smartby.ingest.decoders import DecodeError, Decoder, ProfileError, Reading
from smartby.ingest.device_store import DeviceStore
from smartby.ingest.envelopes import EnvelopeError, Unwrapped, unwrap
from smartby.ingest.registry import DeviceRegistry
from smartby.ingest.uplinks import Uplink
from smartby.metrics import DEAD_LETTERS, READINGS
from smartby.ngsild.context import Context
from smartby.ngsild.entity import (
    Instance,
    check_entity_id,
    check_name,
    parse_instance,
    parse_types,
    property_instance,
)
from smartby.ngsild.errors import NgsiLdError
from smartby.records.devices import DeadLetter, Device
from smartby.settings import Settings

log = logging.getLogger("smartby.ingest")

Status = Literal["accepted", "unknown-device", "unauthorized", "undecodable", "rejected", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What became of one uplink: `accepted` (its readings committed, or queued when not waited
    for), or why it was dead-lettered."""

    status: Status
    reason: str = ""
    readings: int = 0


Done = Callable[[Outcome], None]
"""Told what became of an uplink, once that is durable: its readings committed, or its dead letter
stored (or storing it failed, which is logged)."""


REPORTING_INTERVAL = "reportingInterval"
"""The attribute a device's declared reporting interval becomes, where its entity has none."""


@dataclass
class _Pending:
    uplink: Uplink
    device: Device
    readings: list[Reading]
    observed_at: str
    done: Done | None
    error: str | None = None
    interval: float | None = None
    """How often the device reports (seconds), from it or its profile."""


@dataclass
class _Letter:
    letter: DeadLetter
    outcome: Outcome
    done: Done | None


def _settle(future: asyncio.Future[Outcome]) -> Done:
    def done(outcome: Outcome) -> None:
        if not future.done():
            future.set_result(outcome)

    return done


@dataclass
class IngestStats:
    """Counters since the process started, for the operator."""

    uplinks: int = 0
    accepted: int = 0
    readings: int = 0
    dead_lettered: int = 0
    transactions: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "uplinks": self.uplinks,
            "accepted": self.accepted,
            "readings": self.readings,
            "deadLettered": self.dead_lettered,
            "transactions": self.transactions,
            "deadLetteredBy": dict(self.by_reason),
        }


class Ingestion:
    """The UplinkSink every device transport hands its uplinks to."""

    def __init__(
        self,
        broker: Broker,
        devices: DeviceStore,
        settings: Settings | None = None,
        commands: CommandStore | None = None,
    ) -> None:
        self.broker = broker
        self.devices = devices
        """Where devices, payload profiles and dead letters are kept."""
        self.settings = settings or broker.settings
        self.registry = DeviceRegistry(devices)
        self.commands = (
            None if commands is None else DeviceCommands(broker, self.registry, commands, self.settings)
        )
        """Commands to devices (None: this ingestion keeps none)."""
        self.stats = IngestStats()
        self._pending: list[_Pending] = []
        self._letters: list[_Letter] = []
        self._queued_readings = 0
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._deferred: deque[tuple[Uplink, Done | None]] = deque()
        """Offered uplinks that need a lookup first, in arrival order; while any waits, every later
        offer waits behind it, so readings keep the order they came in."""
        self._looking_up = asyncio.Event()
        self._resolver: asyncio.Task[None] | None = None
        self._locations: dict[str, tuple[Any, Instance]] = {}
        """Devices' locations as GeoProperty instances, by device id, with the value they came from."""
        secret = self.settings.ingest_integration_secret
        self._integration_secret = secret.get_secret_value().encode() if secret else None

    async def start(self) -> None:
        self._start_tasks()
        if self.commands is not None:
            await self.commands.start()

    def _start_tasks(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._keep_flushing(), name="smartby-ingest-flush")
        if self._resolver is None:
            self._resolver = asyncio.create_task(self._keep_looking_up(), name="smartby-ingest-lookup")

    async def close(self) -> None:
        """Stop the flusher and commit whatever is still queued. Offered uplinks still waiting for
        a lookup are dropped unsettled (their transport has not acknowledged them)."""
        for task in (self._flusher, self._resolver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._flusher = self._resolver = None
        self._deferred.clear()
        await self.flush()
        if self.commands is not None:
            await self.commands.close()

    # -- taking uplinks --------------------------------------------------------------------------

    async def accept(self, uplink: Uplink) -> None:
        """Queue one uplink's readings (or dead-letter it); never raises for bad input."""
        await self.ingest(uplink)

    async def ingest(self, uplink: Uplink, *, wait: bool = False) -> Outcome:
        """Like `accept`, saying what became of the uplink; with `wait`, once its readings are
        committed (or dead-lettered, with the reason)."""
        future: asyncio.Future[Outcome] | None = asyncio.get_running_loop().create_future() if wait else None
        outcome = await self._take_counted(uplink, None if future is None else _settle(future))
        if self._queued_readings >= 4 * self.settings.ingest_batch_size:
            await self.flush()  # the flusher is behind: hold the transport back
        if future is None:
            return outcome
        if self._flusher is None:
            await self.flush()
        return await future

    def offer(self, uplink: Uplink, settled: Callable[[], None]) -> None:
        """Take one uplink without waiting: the fast lane of a transport that acknowledges
        messages itself (MQTT). `settled` is called once the uplink's fate is durable, its readings
        committed or its dead letter stored, never before; uplinks offered one after the other are
        queued in that order. Never raises for bad input.

        A device, profile and key looked up lately (the registry's short cache) make this a few
        dictionary lookups, the decoding and an append to the pending batch; an uplink that needs a
        lookup waits for one in a background task, with every uplink offered after it."""

        def done(_: Outcome) -> None:
            settled()

        if self._resolver is None:
            self._start_tasks()
        if not self._deferred:
            try:
                outcome = self._take_now(uplink, done)
            except Exception as error:
                log.exception("Ingesting an uplink from %s failed", uplink.transport)
                self.stats.uplinks += 1
                self._dead_letter(uplink, None, "failed", f"internal error: {error}", done)
                return
            if outcome is not None:
                self.stats.uplinks += 1
                return
        self._deferred.append((uplink, done))
        self._looking_up.set()

    async def _take_counted(self, uplink: Uplink, done: Done | None) -> Outcome:
        self.stats.uplinks += 1
        try:
            return await self._take(uplink, done)
        except Exception as error:
            log.exception("Ingesting an uplink from %s failed", uplink.transport)
            return self._dead_letter(uplink, None, "failed", f"internal error: {error}", done)

    def _take_now(self, uplink: Uplink, done: Done | None) -> Outcome | None:
        """Take the uplink with what is in memory; None (having done nothing) when that needs a
        lookup in the store or a key check."""
        try:
            unwrapped = unwrap(uplink)
        except EnvelopeError as error:
            return self._dead_letter(uplink, None, "undecodable", str(error), done)
        known, device = self.registry.find_now(uplink.tenant, uplink.device_id, unwrapped.dev_eui)
        if not known:
            return None
        if device is None:
            return self._unknown(uplink, unwrapped, done)
        credential = uplink.credential
        if not credential:
            if uplink.transport not in self.settings.ingest_trusted_transports:
                return self._dead_letter(uplink, device.id, "unauthorized", "no key given", done)
        elif not self._integration(uplink, credential) and not self.registry.authenticated_now(
            device, credential
        ):
            return None
        decoder = self.registry.decoder_now(device)
        if decoder is None:
            return None
        return self._queue(uplink, device, unwrapped, decoder, done)

    async def _take(self, uplink: Uplink, done: Done | None) -> Outcome:
        found = self._take_now(uplink, done)
        if found is not None:
            return found
        try:
            unwrapped = unwrap(uplink)
        except EnvelopeError as error:
            return self._dead_letter(uplink, None, "undecodable", str(error), done)
        device = await self.registry.find(uplink.tenant, uplink.device_id, unwrapped.dev_eui)
        if device is None:
            return self._unknown(uplink, unwrapped, done)
        if not await self._authentic(uplink, device):
            reason = "no key given" if not uplink.credential else "wrong key"
            return self._dead_letter(uplink, device.id, "unauthorized", reason, done)
        try:
            decoder = await self.registry.decoder_for(device)
        except ProfileError as error:
            return self._dead_letter(uplink, device.id, "undecodable", str(error), done)
        return self._queue(uplink, device, unwrapped, decoder, done)

    def _unknown(self, uplink: Uplink, unwrapped: Unwrapped, done: Done | None) -> Outcome:
        named = uplink.device_id or f"DevEUI {unwrapped.dev_eui}"
        return self._dead_letter(uplink, None, "unknown-device", f"unknown device {named}", done)

    def _queue(
        self, uplink: Uplink, device: Device, unwrapped: Unwrapped, decoder: Decoder, done: Done | None
    ) -> Outcome:
        try:
            readings = self._decode(decoder, uplink, unwrapped)
        except (DecodeError, ProfileError) as error:
            return self._dead_letter(uplink, device.id, "undecodable", str(error), done)
        observed = unwrapped.received_at or uplink.received_at
        interval = self.registry.interval_now(device)
        self._pending.append(_Pending(uplink, device, readings, observed, done, interval=interval))
        self._queued_readings += len(readings)
        self._wake.set()
        if self._queued_readings >= self.settings.ingest_batch_size:
            self._full.set()
        return Outcome("accepted", readings=len(readings))

    def _integration(self, uplink: Uplink, credential: str) -> bool:
        return (
            self._integration_secret is not None
            and uplink.envelope != "plain"
            and hmac.compare_digest(credential.encode(), self._integration_secret)
        )

    async def _authentic(self, uplink: Uplink, device: Device) -> bool:
        credential = uplink.credential
        if not credential:
            return uplink.transport in self.settings.ingest_trusted_transports
        if self._integration(uplink, credential):
            return True
        return await self.registry.authenticate(device, credential)

    async def _keep_looking_up(self) -> None:
        """Take the deferred uplinks in order, having looked up the devices they name together."""
        while True:
            await self._looking_up.wait()
            self._looking_up.clear()
            while self._deferred:
                waiting = list(self._deferred)
                try:
                    await self._look_up(waiting)
                except Exception:
                    log.exception("Looking up devices failed")
                for _ in waiting:
                    uplink, done = self._deferred[0]
                    try:
                        await self._take_counted(uplink, done)
                    finally:
                        self._deferred.popleft()

    async def _look_up(self, uplinks: list[tuple[Uplink, Done | None]]) -> None:
        """Find the devices `uplinks` name, one query per tenant (each lands in the registry's cache)."""
        wanted: dict[str, dict[str, None]] = {}
        for uplink, _ in uplinks:
            device_id = uplink.device_id
            if device_id is not None and not self.registry.find_now(uplink.tenant, device_id, None)[0]:
                wanted.setdefault(uplink.tenant, {})[device_id] = None
        for tenant, device_ids in wanted.items():
            await self.registry.find_many(tenant, list(device_ids))

    @staticmethod
    def _decode(decoder: Any, uplink: Uplink, unwrapped: Unwrapped) -> list[Reading]:
        meta: Mapping[str, Any] = {
            **unwrapped.meta,
            "received_at": uplink.received_at,
            "decoded": unwrapped.decoded,
            "transport": uplink.transport,
        }
        if not unwrapped.payload and unwrapped.decoded is None:
            raise DecodeError("the uplink carries no payload")
        readings: list[Reading] = decoder(unwrapped.payload, meta)
        if not readings:
            raise DecodeError("the payload holds no readings")
        return readings

    def _dead_letter(
        self,
        uplink: Uplink,
        device_id: str | None,
        status: Status,
        reason: str,
        done: Done | None,
    ) -> Outcome:
        outcome = Outcome(status, reason)
        letter = DeadLetter(
            tenant=uplink.tenant,
            received_at=uplink.received_at,
            transport=uplink.transport,
            reason=f"{status}: {reason}",
            payload=uplink.payload,
            device_id=device_id or uplink.device_id,
            topic=uplink.topic,
        )
        self._letters.append(_Letter(letter, outcome, done))
        self._wake.set()
        return outcome

    # -- committing ------------------------------------------------------------------------------

    async def _keep_flushing(self) -> None:
        interval = self.settings.ingest_flush_ms / 1000
        while True:
            await self._wake.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), interval)
            try:
                await self.flush()
            except Exception:
                log.exception("Committing device readings failed")

    async def flush(self) -> None:
        """Commit every queued reading and dead letter now."""
        async with self._lock:
            self._wake.clear()
            self._full.clear()
            pending, self._pending = self._pending, []
            letters, self._letters = self._letters, []
            self._queued_readings = 0
            if pending:
                await self._commit(pending, letters)
            await self._store_letters(letters)

    async def _store_letters(self, letters: list[_Letter]) -> None:
        if not letters:
            return
        try:
            await self.devices.add_dead_letters([item.letter for item in letters])
        except Exception:
            log.exception("Storing %d dead letters failed; they are lost", len(letters))
        self.stats.dead_lettered += len(letters)
        for item in letters:
            self.stats.by_reason[item.outcome.status] += 1
            DEAD_LETTERS.labels(item.outcome.status).inc()
            if item.done is not None:
                item.done(item.outcome)

    async def _commit(self, pending: list[_Pending], letters: list[_Letter]) -> None:
        by_tenant: dict[str, list[_Pending]] = {}
        for item in pending:
            by_tenant.setdefault(item.uplink.tenant, []).append(item)
        for tenant, items in by_tenant.items():
            try:
                await self._commit_tenant(tenant, items)
            except Exception as error:
                log.exception("Committing device readings of tenant %r failed", tenant)
                for item in items:
                    item.error = item.error or f"the broker failed: {error}"
        await self._confirm(pending)
        committed = 0
        for item in pending:
            if item.error is None:
                self.stats.accepted += 1
                committed += len(item.readings)
                if item.done is not None:
                    item.done(Outcome("accepted", readings=len(item.readings)))
                continue
            letter = DeadLetter(
                tenant=item.uplink.tenant,
                received_at=item.uplink.received_at,
                transport=item.uplink.transport,
                reason=f"rejected: {item.error}",
                payload=item.uplink.payload,
                device_id=item.device.id,
                topic=item.uplink.topic,
            )
            letters.append(_Letter(letter, Outcome("rejected", item.error), item.done))
        self.stats.readings += committed
        READINGS.inc(committed)

    async def _confirm(self, pending: list[_Pending]) -> None:
        """Readings committed from devices with a sent command they may confirm (rare: one
        dictionary lookup per uplink otherwise)."""
        commands = self.commands
        if commands is None:
            return
        for item in pending:
            if item.error is None and commands.awaits(item.uplink.tenant, item.device.id):
                try:
                    await commands.readings_arrived(item.uplink.tenant, item.device, item.readings)
                except Exception:
                    log.exception("Confirming commands of %s by its readings failed", item.device.id)

    async def _commit_tenant(self, tenant: str, items: list[_Pending]) -> None:
        """One transaction for the tenant's queued readings: each becomes a Property instance of its
        device's entity (history keeps them all; the entity takes the last of each attribute)."""
        batch: dict[str, EntityReadings] = {}
        names: dict[tuple[int, str], str] = {}
        contexts: dict[str | None, Context] = {}
        committed: list[_Pending] = []
        for item in items:
            source = item.device.context
            try:
                ctx = contexts.get(source)
                if ctx is None:
                    ctx = contexts[source] = await self.broker.context(source, tenant)
                readings = self._entity_readings(item, ctx, names)
            except NgsiLdError as error:
                item.error = f"{error.title}: {error.detail}"
                continue
            entry = batch.get(readings.id)
            if entry is None:
                batch[readings.id] = readings
            else:
                if entry.location is None:
                    entry.location = readings.location
                entry.defaults.update(readings.defaults)
                for iri, instances in readings.attributes.items():
                    entry.attributes.setdefault(iri, []).extend(instances)
            committed.append(item)
        if not batch:
            return
        try:
            await self.broker.record_readings(tenant, list(batch.values()))
        except NgsiLdError as refused:
            for item in committed:
                item.error = item.error or f"{refused.title}: {refused.detail}"
            return
        self.stats.transactions += 1

    def _entity_readings(
        self, item: _Pending, ctx: Context, names: dict[tuple[int, str], str]
    ) -> EntityReadings:
        """An uplink's readings as Property instances of its device's entity (expanded with the
        device's @context, `ctx`; names are expanded once a batch)."""
        device = item.device
        space = id(ctx)
        entity_type = names.get((space, "@type " + device.entity_type))
        if entity_type is None:
            entity_type = names[(space, "@type " + device.entity_type)] = parse_types(
                device.entity_type, ctx
            )[0]
        readings = EntityReadings(check_entity_id(device.entity_id), entity_type)
        attributes = readings.attributes
        for reading in item.readings:
            iri = names.get((space, reading.name))
            if iri is None:
                iri = names[(space, reading.name)] = ctx.expand(check_name(reading.name))
            instance = property_instance(
                reading.name,
                iri,
                reading.value,
                ctx,
                unit_code=reading.unit_code,
                observed_at=reading.observed_at or item.observed_at,
                unit_text=reading.unit_text,
            )
            held = attributes.get(iri)
            if held is None:
                attributes[iri] = [instance]
            else:
                held.append(instance)
        if device.location is not None:
            readings.location = self._location(device, ctx)
        if item.interval is not None:
            iri = names.get((space, REPORTING_INTERVAL))
            if iri is None:
                iri = names[(space, REPORTING_INTERVAL)] = ctx.expand(REPORTING_INTERVAL)
            readings.defaults[iri] = parse_instance(
                REPORTING_INTERVAL, {"type": "Property", "value": item.interval, "unitCode": "SEC"}, ctx
            )
        return readings

    def _location(self, device: Device, ctx: Context) -> Instance:
        """The device's location as a GeoProperty instance (parsed once per registration)."""
        cached = self._locations.get(device.id)
        if cached is not None and cached[0] is device.location:
            return cached[1]
        instance = parse_instance("location", {"type": "GeoProperty", "value": device.location}, ctx)
        self._locations[device.id] = (device.location, instance)
        return instance
