"""The MQTT device transport against the real Mosquitto at 127.0.0.1:1883, with aiomqtt as the devices.

Mosquitto is shared with other test runs: every test publishes under a tenant (or ChirpStack
application) of its own, uses client ids and a shared-subscription group of its own, and looks only
at the uplinks of its tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import free_port
from smartby.broker import Broker
from smartby.ingest.mqtt import (
    MqttTransport,
    broker_address,
    claim_client_id,
    start_mqtt_transport,
    uplink_of,
)
from smartby.ingest.pipeline import Ingestion
from smartby.ingest.topics import chirpstack_topic, device_topic
from smartby.ingest.uplinks import Uplink
from smartby.ngsild.context import DEFAULT_VOCAB
from smartby.ngsild.reads import EntitySelector, HistoryQuery
from smartby.settings import Settings
from smartby.store import open_store

MOSQUITTO = "mqtt://127.0.0.1:1883"
WAIT = 20.0


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class RecordingSink:
    """An UplinkSink that keeps what it is given."""

    def __init__(self) -> None:
        self.uplinks: list[Uplink] = []
        self.changed = asyncio.Event()

    async def accept(self, uplink: Uplink) -> None:
        self.uplinks.append(uplink)
        self.changed.set()

    def of(self, tenant: str) -> list[Uplink]:
        return [uplink for uplink in self.uplinks if uplink.tenant == tenant]

    async def wait_for(self, check: Callable[[], bool], timeout: float = WAIT) -> None:
        async def waiting() -> None:
            while not check():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(waiting(), timeout)


def transport_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path / 'city.db'}",
        "mqtt_url": MOSQUITTO,
        "mqtt_shared_group": unique("g"),
        "mqtt_client_id": unique("smartby-test-"),
        "mqtt_session_expiry": 300,
    }
    values.update(changes)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running(transport: MqttTransport) -> AsyncIterator[MqttTransport]:
    await transport.start()
    try:
        await asyncio.wait_for(transport.subscribed.wait(), WAIT)
        yield transport
    finally:
        await transport.close()


@asynccontextmanager
async def device(port: int = 1883) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier=unique("device-"), protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        yield client


def with_api_key(key: str) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.UserProperty = ("api-key", key)
    return properties


def reading(number: int) -> bytes:
    return orjson.dumps({"temperature": 20 + number % 10, "humidity": 50, "n": number})


async def forget_session(settings: Settings, client_id: str) -> None:
    """End a test's persistent session on the broker (clean start, expiry 0)."""
    async with aiomqtt.Client(
        "127.0.0.1", 1883, identifier=client_id, protocol=aiomqtt.ProtocolVersion.V5, clean_start=True
    ):
        pass


async def test_uplinks_on_both_topic_families_reach_the_sink(tmp_path: Path) -> None:
    tenant, application = unique("tenant"), unique("app")
    settings = transport_settings(tmp_path, chirpstack_tenants={application: tenant})
    sink = RecordingSink()
    async with running(MqttTransport(sink, settings)), device() as client:
        await client.publish(device_topic(tenant, "lamp/1"), b'{"on": true}', qos=1)
        await client.publish(
            device_topic(tenant, "meter-7"), b"\x01\x02", qos=1, properties=with_api_key("k7")
        )
        event = orjson.dumps({"deviceInfo": {"devEui": "0011223344556677"}, "data": "AQI="})
        await client.publish(chirpstack_topic(application, "0011223344556677"), event, qos=1)
        await sink.wait_for(lambda: len(sink.of(tenant)) == 3)
    plain, keyed, chirpstack = sink.of(tenant)
    assert (plain.transport, plain.envelope, plain.device_id, plain.credential) == (
        "mqtt",
        "plain",
        "lamp/1",
        None,
    )
    assert plain.payload == b'{"on": true}'
    assert plain.topic == f"smartby/{tenant}/lamp%2F1/up"
    assert plain.received_at.endswith("Z") and "." in plain.received_at
    assert (keyed.device_id, keyed.credential, keyed.payload) == ("meter-7", "k7", b"\x01\x02")
    assert (chirpstack.transport, chirpstack.envelope) == ("chirpstack-mqtt", "chirpstack")
    assert chirpstack.device_id == "0011223344556677"
    assert chirpstack.payload == event
    await forget_session(settings, settings.mqtt_client_id)


async def test_the_default_tenant_and_unmapped_chirpstack_applications(tmp_path: Path) -> None:
    device_id, application = unique("dev"), unique("app")
    settings = transport_settings(tmp_path)
    sink = RecordingSink()

    def mine() -> list[Uplink]:
        return [u for u in sink.uplinks if u.device_id == device_id or application in (u.topic or "")]

    async with running(MqttTransport(sink, settings)), device() as client:
        await client.publish(device_topic("", device_id), b"1", qos=1)
        await client.publish(chirpstack_topic(application, "aabbccddeeff0011"), b"{}", qos=1)
        await sink.wait_for(lambda: len(mine()) == 2)
    assert {(u.envelope, u.tenant) for u in mine()} == {("plain", ""), ("chirpstack", "")}
    await forget_session(settings, settings.mqtt_client_id)


async def test_a_malformed_topic_is_handed_on_and_the_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = unique("tenant")
    settings = transport_settings(tmp_path)
    sink = RecordingSink()
    bad = f"smartby/{tenant}/bad%zz/up"
    async with running(MqttTransport(sink, settings)), device() as client:
        await client.publish(bad, b"raw bytes", qos=1)
        await client.publish(device_topic(tenant, "ok"), b"2", qos=1)
        await sink.wait_for(lambda: any(u.device_id == "ok" and u.tenant == tenant for u in sink.uplinks))
    dead = [u for u in sink.uplinks if u.topic == bad]
    assert len(dead) == 1
    assert dead[0].device_id is None and dead[0].payload == b"raw bytes"
    assert any(bad in record.getMessage() for record in caplog.records)
    await forget_session(settings, settings.mqtt_client_id)


async def test_shared_subscriptions_split_the_stream(tmp_path: Path) -> None:
    tenant = unique("tenant")
    settings = transport_settings(tmp_path)
    first, second = RecordingSink(), RecordingSink()
    one = MqttTransport(first, settings, client_id=unique("smartby-a-"))
    two = MqttTransport(second, settings, client_id=unique("smartby-b-"))
    total = 300
    async with running(one), running(two), device() as client:
        for number in range(total):
            await client.publish(device_topic(tenant, f"d{number % 7}"), reading(number), qos=1)

        def everything() -> bool:
            return len(first.of(tenant)) + len(second.of(tenant)) >= total

        await first.wait_for(everything)
        await asyncio.sleep(0.3)  # a duplicate would come now
    got = [orjson.loads(u.payload)["n"] for u in first.of(tenant) + second.of(tenant)]
    assert sorted(got) == list(range(total))
    assert first.of(tenant) and second.of(tenant)
    await forget_session(settings, one.client_id)
    await forget_session(settings, two.client_id)


@pytest.mark.parametrize("group", ["shared", ""])
async def test_messages_published_while_smartby_is_away_arrive_after_a_restart(
    tmp_path: Path, group: str
) -> None:
    tenant = unique("tenant")
    settings = transport_settings(tmp_path, mqtt_shared_group=unique("g") if group else "")
    sink = RecordingSink()
    async with running(MqttTransport(sink, settings)), device() as client:
        await client.publish(device_topic(tenant, "before"), b"0", qos=1)
        await sink.wait_for(lambda: len(sink.of(tenant)) == 1)
    async with device() as client:
        for number in range(1, 41):
            await client.publish(device_topic(tenant, "away"), reading(number), qos=1)
    later = RecordingSink()
    async with running(MqttTransport(later, settings)):
        await later.wait_for(lambda: len(later.of(tenant)) >= 40)
        await asyncio.sleep(0.3)
    assert [orjson.loads(u.payload)["n"] for u in later.of(tenant)] == list(range(1, 41))
    await forget_session(settings, settings.mqtt_client_id)


class StallingSink(RecordingSink):
    """Takes `keep` uplinks, then never returns from `accept` (as a process that dies would)."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.keep = keep

    async def accept(self, uplink: Uplink) -> None:
        if len(self.uplinks) >= self.keep:
            await asyncio.Event().wait()
        await super().accept(uplink)


async def test_what_the_sink_did_not_take_is_not_acknowledged_and_comes_again(tmp_path: Path) -> None:
    tenant = unique("tenant")
    settings = transport_settings(tmp_path)
    stalling = StallingSink(keep=5)
    async with running(MqttTransport(stalling, settings)), device() as client:
        for number in range(10):
            await client.publish(device_topic(tenant, "meter"), reading(number), qos=1)
        await stalling.wait_for(lambda: len(stalling.of(tenant)) == 5)
        await asyncio.sleep(0.2)
    assert [orjson.loads(u.payload)["n"] for u in stalling.of(tenant)] == [0, 1, 2, 3, 4]
    later = RecordingSink()
    async with running(MqttTransport(later, settings)):
        await later.wait_for(lambda: len(later.of(tenant)) >= 5)
        await asyncio.sleep(0.3)
    assert [orjson.loads(u.payload)["n"] for u in later.of(tenant)] == [5, 6, 7, 8, 9]
    await forget_session(settings, settings.mqtt_client_id)


class FailingOnceSink(RecordingSink):
    """Raises on its first uplink (a bug, a database gone away), then takes everything."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    async def accept(self, uplink: Uplink) -> None:
        if not self.failures:
            self.failures += 1
            raise RuntimeError("the sink failed")
        await super().accept(uplink)


async def test_a_failing_sink_does_not_stop_the_transport_nor_lose_the_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = unique("tenant")
    settings = transport_settings(tmp_path)
    sink = FailingOnceSink()
    transport = MqttTransport(sink, settings)
    transport.retry_first = 0.1
    async with running(transport), device() as client:
        for number in range(3):
            await client.publish(device_topic(tenant, "meter"), reading(number), qos=1)
        await sink.wait_for(lambda: len(sink.of(tenant)) >= 3)
        assert transport.connections == 2
    assert [orjson.loads(u.payload)["n"] for u in sink.of(tenant)] == [0, 1, 2]
    assert "the sink failed" in caplog.text
    await forget_session(settings, settings.mqtt_client_id)


class Proxy:
    """A TCP proxy to Mosquitto that can be stopped (dropping every connection) and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        for pipe in list(self.pipes):
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", 1883)
        self.writers |= {writer, upstream_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self.pipes.update(pipes)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self.writers.discard(writer)
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def test_the_transport_survives_the_broker_going_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "smartby.ingest.mqtt")
    tenant = unique("tenant")
    proxy = Proxy()
    await proxy.start()
    settings = transport_settings(tmp_path, mqtt_url=f"mqtt://127.0.0.1:{proxy.port}")
    sink = RecordingSink()
    transport = MqttTransport(sink, settings)
    transport.retry_first = 0.2
    async with running(transport), device() as client:
        await client.publish(device_topic(tenant, "gauge"), reading(0), qos=1)
        await sink.wait_for(lambda: len(sink.of(tenant)) == 1)
        await proxy.stop()
        await asyncio.wait_for(_until(lambda: not transport.subscribed.is_set()), WAIT)
        for number in range(1, 21):
            await client.publish(device_topic(tenant, "gauge"), reading(number), qos=1)
        await asyncio.sleep(1.0)  # a few failed attempts while the broker is away
        await proxy.start()
        await sink.wait_for(lambda: 20 in {orjson.loads(u.payload)["n"] for u in sink.of(tenant)})
        await client.publish(device_topic(tenant, "gauge"), reading(21), qos=1)
        await sink.wait_for(lambda: orjson.loads(sink.of(tenant)[-1].payload)["n"] == 21)
        assert transport.connections >= 2
    await proxy.stop()
    # At least once: a PUBACK the dropped connection did not carry brings that message again.
    got = [orjson.loads(u.payload)["n"] for u in sink.of(tenant)]
    assert list(dict.fromkeys(got)) == list(range(22))
    assert any("connecting again" in record.getMessage() for record in caplog.records)
    await forget_session(settings, settings.mqtt_client_id)


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.02)


class BrokerSink:
    """An UplinkSink that writes each JSON reading straight through the broker as the device's
    entity (what the real pipeline does with decoding, registry and batching)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.changed = asyncio.Event()
        self.written = 0

    async def accept(self, uplink: Uplink) -> None:
        values = orjson.loads(uplink.payload)
        entity = {
            "id": f"urn:ngsi-ld:Device:{uplink.device_id}",
            "type": "Device",
            **{
                name: {"type": "Property", "value": value, "observedAt": values["at"]}
                for name, value in values.items()
                if name != "at"
            },
        }
        ctx = await self.broker.context(None)
        await self.broker.batch_upsert(uplink.tenant, ctx, [entity], mode="update")
        self.written += 1
        self.changed.set()


async def test_readings_become_entities_with_history(tmp_path: Path) -> None:
    tenant = unique("tenant")
    settings = transport_settings(tmp_path)
    broker = Broker(open_store(settings.database, settings), settings)
    await broker.open()
    sink = BrokerSink(broker)
    try:
        async with running(MqttTransport(sink, settings)), device() as client:
            for minute in range(3):
                body = {"temperature": 20.5 + minute, "at": f"2026-11-25T10:0{minute}:00Z"}
                await client.publish(device_topic(tenant, "ws-1"), orjson.dumps(body), qos=1)
            await asyncio.wait_for(_until(lambda: sink.written == 3), WAIT)
        entity = await broker.retrieve_entity(tenant, "urn:ngsi-ld:Device:ws-1")
        temperature = entity["https://uri.etsi.org/ngsi-ld/default-context/temperature"]
        assert temperature[0]["value"] == 22.5
        with sqlite3.connect(tmp_path / "city.db") as db:
            assert db.execute("SELECT count(*) FROM history").fetchone()[0] == 3
    finally:
        await broker.close()
    await forget_session(settings, settings.mqtt_client_id)


@given(st.text(), st.binary(max_size=64))
def test_any_topic_makes_an_uplink(topic: str, payload: bytes) -> None:
    uplink = uplink_of(topic, payload, None, {"a": "aarhus"}, "T")
    assert uplink.payload == payload and uplink.topic == topic
    assert uplink.device_id is None or uplink.device_id


def test_uplink_of_names_transport_and_envelope() -> None:
    chirp = uplink_of("application/a1/device/00aa/event/up", b"{}", None, {"a1": "aarhus"}, "T")
    assert (chirp.transport, chirp.envelope, chirp.tenant, chirp.device_id) == (
        "chirpstack-mqtt",
        "chirpstack",
        "aarhus",
        "00aa",
    )
    plain = uplink_of("smartby/-/x/up", b"1", "key", {}, "T")
    assert (plain.transport, plain.envelope, plain.tenant, plain.device_id, plain.credential) == (
        "mqtt",
        "plain",
        "",
        "x",
        "key",
    )


def test_broker_urls() -> None:
    assert broker_address("mqtt://u%40x:p%3Aw@mq.example:1884") == broker_address(
        "mqtt://u%40x:p%3Aw@mq.example:1884"
    )
    found = broker_address("mqtt://u%40x:p%3Aw@mq.example:1884")
    assert (found.host, found.port, found.username, found.password, found.tls) == (
        "mq.example",
        1884,
        "u@x",
        "p:w",
        False,
    )
    assert broker_address("mqtts://mq.example").port == 8883
    assert broker_address("mqtt://127.0.0.1").port == 1883
    for bad in ("http://x", "mqtt://", "127.0.0.1:1883"):
        with pytest.raises(ValueError):
            broker_address(bad)


async def test_serve_starts_mqtt_only_when_configured(tmp_path: Path) -> None:
    settings = transport_settings(tmp_path)
    broker = Broker(open_store(settings.database, settings), settings)
    await broker.open()
    try:
        pipeline = Ingestion(broker, broker.store, settings)
        await pipeline.start()
        assert await start_mqtt_transport(pipeline, transport_settings(tmp_path, mqtt_url="")) is None
        started = await start_mqtt_transport(pipeline, settings)
        assert started is not None
        await asyncio.wait_for(started.subscribed.wait(), WAIT)
        await started.close()
        await pipeline.close()
    finally:
        await broker.close()


def test_each_worker_claims_its_own_stable_client_id(tmp_path: Path) -> None:
    base = unique("smartby-slots-")
    assert claim_client_id(transport_settings(tmp_path, mqtt_client_id=base)) == (base, None)
    several = transport_settings(tmp_path, mqtt_client_id=base, workers=2)
    first, held = claim_client_id(several)
    second, other = claim_client_id(several)
    assert (first, second) == (f"{base}-w0", f"{base}-w1")
    assert held is not None and other is not None
    os.close(held)  # the first worker stops; the one started in its place takes its id
    again, lock = claim_client_id(several)
    assert again == f"{base}-w0"
    for descriptor in (other, lock):
        assert descriptor is not None
        os.close(descriptor)
    for left in Path(tempfile.gettempdir()).glob(f"{base}-w*.mqtt.lock"):
        left.unlink()


WORKER = """
import asyncio, json, sys
from smartby.broker import Broker
from smartby.ingest.mqtt import MqttTransport
from smartby.ingest.pipeline import Ingestion
from smartby.settings import Settings
from smartby.store import open_store

async def main():
    settings = Settings(_env_file=None, **json.loads(sys.argv[1]))
    broker = Broker(open_store(settings.database, settings), settings)
    await broker.open()
    sink = Ingestion(broker, broker.store, settings)
    await sink.start()
    transport = MqttTransport(sink, settings)
    await transport.start()
    await transport.subscribed.wait()
    print("subscribed", flush=True)
    while sink.stats.uplinks < int(sys.argv[2]):
        await asyncio.sleep(0.01)
    print("taken", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_readings_not_committed_when_the_worker_dies_come_again(tmp_path: Path) -> None:
    """Ingestion takes the messages, then the process is killed before its batch commits: nothing
    was acknowledged, so the resumed session gets every message again and commits it."""
    tenant = unique("tenant")
    values: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path / 'city.db'}",
        "mqtt_url": MOSQUITTO,
        "mqtt_shared_group": unique("g"),
        "mqtt_client_id": unique("smartby-test-"),
        "mqtt_session_expiry": 300,
        "mqtt_topics": ["smartby"],
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    broker = Broker(open_store(settings.database, settings), settings)
    await broker.open()
    try:
        await Ingestion(broker, broker.store, settings).registry.register(
            tenant, {"id": "meter", "entityId": "urn:ngsi-ld:Meter:m", "entityType": "Meter"}
        )
        slow = {**values, "ingest_flush_ms": 60_000, "ingest_batch_size": 1000}
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, json.dumps(slow), "5", stdout=asyncio.subprocess.PIPE
        )
        assert worker.stdout is not None
        try:
            assert await asyncio.wait_for(worker.stdout.readline(), WAIT) == b"subscribed\n"
            async with device() as client:
                for number in range(5):
                    await client.publish(device_topic(tenant, "meter"), reading(number), qos=1)
            assert await asyncio.wait_for(worker.stdout.readline(), WAIT) == b"taken\n"
        finally:
            worker.kill()
            await worker.wait()
        with sqlite3.connect(tmp_path / "city.db") as db:
            assert db.execute("SELECT count(*) FROM history").fetchone()[0] == 0
        sink = Ingestion(broker, broker.store, settings)
        await sink.start()
        async with running(MqttTransport(sink, settings)):
            await asyncio.wait_for(_until(lambda: sink.stats.readings >= 15), WAIT)
        await sink.close()
        found, _ = await broker.store.history(
            tenant, HistoryQuery(selectors=(EntitySelector(ids=("urn:ngsi-ld:Meter:m",)),))
        )
        values_of_n = sorted(i["value"] for i in found[0].attributes[DEFAULT_VOCAB + "n"])
        assert values_of_n == [0, 1, 2, 3, 4]
        # Closed in good order, the transport acknowledged what it committed: nothing comes again.
        later = RecordingSink()
        async with running(MqttTransport(later, settings)):
            await asyncio.sleep(0.5)
        assert later.of(tenant) == []
    finally:
        await broker.close()
    await forget_session(settings, settings.mqtt_client_id)
