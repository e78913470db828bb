"""MQTT ingestion: readings published by devices on MQTT, to committed history, beside Mosquitto's own
rate measured in the same run.

python -m bench.mqtt             # 10 s worth of readings
python -m bench.mqtt --quick     # 3 s worth

Publishers run in processes of their own (aiomqtt, QoS 1, MQTT v5), and so do smartby's workers
(each the MQTT transport, a sink and the broker on one SQLite file); Mosquitto's baseline subscriber
runs in this process.
Mosquitto drops QoS 1 messages beyond `max_queued_messages` (1000 by default) for a client that
falls behind, so publishers stay at most `LEAD` messages ahead of what was taken: what is measured
is the rate the subscriber sustains, with nothing lost.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from smartby.broker import Broker
from smartby.ingest.mqtt import MqttTransport
from smartby.ingest.topics import device_topic
from smartby.ingest.uplinks import Uplink
from smartby.ngsild.errors import NgsiLdError
from smartby.ngsild.timestamps import from_micros, to_micros
from smartby.settings import Settings
from smartby.store import open_store

HOST, PORT = "127.0.0.1", 1883
PUBLISHERS = 4
POOL = 10_000
"""Devices the readings come from."""
LEAD = 800
"""Messages all publishers together may be ahead of what the subscriber took."""
WINDOW = 100
"""Publishes each publisher keeps in flight."""
RECEIVE_MAXIMUM = 1000
START = to_micros("2026-01-01T00:00:00Z")


def reading(device: int, number: int) -> bytes:
    """One reading: three numeric values and when they were observed (JSON, as devices send)."""
    return orjson.dumps(
        {
            "temperature": round(15 + (number % 200) / 10, 1),
            "humidity": 40 + number % 50,
            "pressure": 1000.0 + (device % 30),
            "at": from_micros(START + number * 1_000_000),
        }
    )


def _publish(
    tenant: str, devices: range, count: int, publishers: int, go: Event, taken: Synchronized[int]
) -> None:
    asyncio.run(_publishing(tenant, devices, count, publishers, go, taken))


async def _publishing(
    tenant: str, devices: range, count: int, publishers: int, go: Event, taken: Synchronized[int]
) -> None:
    """Publish `count` readings round the `devices`, staying at most LEAD ahead of `taken`."""
    topics = [device_topic(tenant, f"sensor-{number}") for number in devices]
    async with aiomqtt.Client(
        HOST,
        PORT,
        identifier=f"bench-device-{uuid.uuid4().hex[:8]}",
        protocol=aiomqtt.ProtocolVersion.V5,
        max_inflight_messages=WINDOW,
    ) as client:
        client.pending_calls_threshold = WINDOW + 1
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        sent = 0
        while sent < count:
            while sent * publishers - taken.value > LEAD:
                await asyncio.sleep(0.001)
            chunk = range(sent, min(sent + WINDOW, count))
            await asyncio.gather(
                *(
                    client.publish(
                        topics[n % len(topics)],
                        reading(devices[n % len(devices)], n // len(devices)),
                        qos=1,
                    )
                    for n in chunk
                )
            )
            sent += len(chunk)


def _start_publishers(
    tenant: str, total: int, publishers: int, taken: Synchronized[int], go: Event
) -> list[multiprocessing.process.BaseProcess]:
    context = multiprocessing.get_context("spawn")
    share = POOL // publishers
    processes = []
    for index in range(publishers):
        devices = range(index * share, (index + 1) * share)
        process = context.Process(
            target=_publish, args=(tenant, devices, total // publishers, publishers, go, taken), daemon=True
        )
        process.start()
        processes.append(process)
    return processes


async def _drive(
    tenant: str,
    total: int,
    publishers: int,
    progress: Callable[[], int],
    finished: Callable[[], Awaitable[bool]],
    limit: float,
) -> float:
    """Start the publishers, keep them informed of `progress`, and return the seconds from the
    start signal until `finished`."""
    context = multiprocessing.get_context("spawn")
    taken = context.Value("q", 0)
    go = context.Event()
    processes = _start_publishers(tenant, total, publishers, taken, go)
    await asyncio.sleep(2.0)  # publishers start and connect
    began = time.perf_counter()
    go.set()
    try:
        while not await finished():
            taken.value = progress()
            if time.perf_counter() - began > limit:
                raise TimeoutError(f"{progress():,} of {total:,} readings after {limit:.0f} s")
            await asyncio.sleep(0.005)
        return time.perf_counter() - began
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


async def mosquitto_rate(total: int) -> float:
    """Messages per second from one aiomqtt publisher to one aiomqtt subscriber, QoS 1."""
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    received = 0
    async with aiomqtt.Client(
        HOST,
        PORT,
        identifier=f"bench-sub-{tenant}",
        protocol=aiomqtt.ProtocolVersion.V5,
        properties=properties,
    ) as client:
        await client.subscribe(f"smartby/{tenant}/+/up", qos=1)

        async def count() -> None:
            nonlocal received
            async for _ in client.messages:
                received += 1
                if received == total:
                    return

        counting = asyncio.create_task(count())

        async def finished() -> bool:
            return counting.done()

        seconds = await _drive(tenant, total, 1, lambda: received, finished, 300)
    return total / seconds


class BatchSink:
    """Readings straight into the broker, 1,000 entities a transaction: what the ingestion pipeline
    does, without device registry and decoders. `accept` queues; a writer task commits."""

    def __init__(self, broker: Broker, batch: int = 1000, linger: float = 0.05) -> None:
        self.broker = broker
        self.batch = batch
        self.linger = linger
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=4 * batch)
        self.committed = 0
        self.failed = 0
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write())

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def accept(self, uplink: Uplink) -> None:
        values = orjson.loads(uplink.payload)
        at = values.pop("at")
        entity = {"id": f"urn:ngsi-ld:Device:{uplink.device_id}", "type": "Device"}
        for name, value in values.items():
            entity[name] = {"type": "Property", "value": value, "observedAt": at}
        await self.queue.put((uplink.tenant, entity))

    async def _write(self) -> None:
        ctx = await self.broker.context(None)
        held: tuple[str, dict[str, Any]] | None = None
        while True:
            tenant, first = held or await self.queue.get()
            held = None
            if self.queue.qsize() < self.batch:
                await asyncio.sleep(self.linger)  # gather a batch: one transaction, not one per reading
            entities, ids = [first], {first["id"]}
            while len(entities) < self.batch and not self.queue.empty():
                item = self.queue.get_nowait()
                if item[0] != tenant or item[1]["id"] in ids:
                    held = item  # one transaction per tenant, each entity once
                    break
                entities.append(item[1])
                ids.add(item[1]["id"])
            try:
                result = await self.broker.batch_upsert(tenant, ctx, entities, mode="update")
                self.committed += len(result.success)
                self.failed += len(result.errors)
            except NgsiLdError:
                self.failed += len(entities)


def _worker(
    values: dict[str, Any], ready: Event, stop: Event, taken: Synchronized[int], done: Synchronized[int]
) -> None:
    asyncio.run(_working(values, ready, stop, taken, done))


async def _working(
    values: dict[str, Any], ready: Event, stop: Event, taken: Synchronized[int], done: Synchronized[int]
) -> None:
    """One smartby worker: the MQTT transport feeding a `BatchSink` on the shared database,
    reporting what it took (`taken`) and committed (`done`) until `stop`."""
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    broker = Broker(open_store(settings.database, settings), settings)
    await broker.open()
    sink = BatchSink(broker)
    await sink.start()
    transport = MqttTransport(sink, settings)
    await transport.start()
    try:
        await asyncio.wait_for(transport.subscribed.wait(), 30)
        ready.set()
        while not stop.is_set():
            taken.value = transport.accepted
            done.value = sink.committed + sink.failed
            await asyncio.sleep(0.005)
    finally:
        await transport.close()
        await sink.close()
        await broker.close()


async def smartby_rate(database: Path, total: int, publishers: int, workers: int) -> tuple[float, int]:
    """Readings per second from `publishers` MQTT publishers to committed history, through
    `workers` smartby processes (each the MQTT transport and a sink on one SQLite database,
    splitting the stream by a shared subscription), and the history rows in the database afterwards.

    The sink is `BatchSink` (readings batch-upserted through the real Broker). Once the ingestion
    pipeline (`smartby.ingest.pipeline.Ingestion`, on the `devices` branch) is merged, the
    benchmark should register the pool's devices in its device registry and use it instead."""
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    values = {
        "database": f"sqlite:///{database}",
        "mqtt_url": f"mqtt://{HOST}:{PORT}",
        "mqtt_topics": ["smartby"],
        "mqtt_shared_group": f"bench{uuid.uuid4().hex[:6]}",
        "mqtt_session_expiry": 0,
        "mqtt_receive_maximum": RECEIVE_MAXIMUM,
    }
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    running = []
    for _ in range(workers):
        ready, taken, done = context.Event(), context.Value("q", 0), context.Value("q", 0)
        own = {**values, "mqtt_client_id": f"smartby-bench-{uuid.uuid4().hex[:8]}"}
        process = context.Process(target=_worker, args=(own, ready, stop, taken, done), daemon=True)
        process.start()
        running.append((process, ready, taken, done))
    try:
        for _, ready, _, _ in running:
            await asyncio.get_running_loop().run_in_executor(None, ready.wait, 60)
        total -= total % publishers

        def taken_by_all() -> int:
            return sum(taken.value for _, _, taken, _ in running)

        async def finished() -> bool:
            return sum(done.value for _, _, _, done in running) >= total

        seconds = await _drive(tenant, total, publishers, taken_by_all, finished, 600)
    finally:
        stop.set()
        for process, _, _, _ in running:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT count(*) FROM history").fetchone()[0]
    return total / seconds, rows


def run(report: Any, workdir: Path, seconds: int) -> None:
    """(a) Mosquitto's own rate, one publisher to one subscriber; (b) smartby with 1 and 2 worker
    processes, `PUBLISHERS` publishers over `POOL` devices, to committed history on SQLite."""
    baseline = asyncio.run(mosquitto_rate(5_000 * seconds))
    for workers in (1, 2):
        total = 2_000 * seconds * workers
        rate, rows = asyncio.run(smartby_rate(workdir / f"mqtt-{workers}.db", total, PUBLISHERS, workers))
        report.add(
            f"MQTT ingestion, {workers} worker(s) (QoS 1, {PUBLISHERS} publishers, {POOL:,} devices, "
            "3 values per reading) to committed history on SQLite, readings/s",
            f"{rate:,.0f}",
            f"{baseline:,.0f} Mosquitto alone (aiomqtt to aiomqtt, QoS 1)",
            f"{rate / baseline:.2f}",
            ">= 20,000",
        )
        report.notes.append(
            f"MQTT ingestion with {workers} worker(s): {total:,} readings published, {rows:,} history "
            f"instances committed (expected {3 * total:,})."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s worth of readings instead of 10")
    options = parser.parse_args()
    from bench.__main__ import Report

    report = Report(options.quick)
    with tempfile.TemporaryDirectory(prefix="smartby-bench-") as folder:
        run(report, Path(folder), 3 if options.quick else 10)
    print("\n".join(report.notes))


if __name__ == "__main__":
    main()
