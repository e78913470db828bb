"""MQTT ingestion: readings published by devices on MQTT, to committed history, beside Mosquitto's own
rate measured in the same run.

python -m bench.mqtt                       # 10 s worth of readings
python -m bench.mqtt --quick               # 3 s worth
python -m bench.mqtt --per-message 1       # only one reading a message (default: 1, then 10)
python -m bench.mqtt --profile /tmp/prof   # and a cProfile of each smartby worker there
python -m bench.mqtt --backends sqlite --workers 1

Beside each rate it notes the CPU time a message cost each party (the subscribers, the publishers,
Mosquitto), read from /proc, so what bounds a rate on a machine of few cores can be told.

Publishers run in processes of their own (aiomqtt, QoS 1, MQTT v5), and so do smartby's workers
(each the real path: the MQTT transport feeding `Ingestion`, which finds the device in the device
registry, decodes the payload with its JSON profile and batch-upserts the readings through the
broker on one SQLite file). The pool's devices are registered before the clock starts; the MQTT
transport is trusted (`ingest_trusted_transports`), so they publish without a key.

Two baselines, in the same run: Mosquitto with Python clients (one aiomqtt publisher to one aiomqtt
subscriber, QoS 1), what the same MQTT client library costs without smartby; and Mosquitto with its
C clients (`mosquitto_pub -l` to `mosquitto_sub -C`, QoS 1), what the broker itself does.
The run starts its own Mosquitto (the Debian binary, on a free port, `max_queued_messages` raised
to `QUEUE`, as a city would set it for a busy ingestion broker; with the default 1000 it drops QoS 1
messages for a subscriber that falls behind), and the publishers stay at most `LEAD` messages a
worker ahead of what was taken (acknowledged after its commit): what is measured is the rate the
subscribers sustain, with nothing lost. Both baselines run on the same Mosquitto.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.history import Backend, postgres_backend, sqlite_backend
from bench.servers import free_port
from smartby.assembly import assemble, tune_collector
from smartby.ingest.mqtt import MqttTransport
from smartby.ingest.topics import device_topic
from smartby.ngsild.timestamps import from_micros, to_micros
from smartby.settings import Settings

HOST = "127.0.0.1"
PORT = int(os.environ.get("SMARTBY_BENCH_MQTT_PORT", "1883"))
"""The Mosquitto measured: the bench's own (see `own_mosquitto`), which spawned processes learn
from the environment, else the machine's on 1883."""
MOSQUITTO_PID: int | None = None
"""The bench's own Mosquitto, whose CPU time is read from /proc."""
QUEUE = 100_000
"""The bench's Mosquitto queues this many QoS 1 messages a client (the default 1000 drops more)."""
PUBLISHERS = 4
POOL = 10_000
"""Devices the readings come from."""
LEAD = 5_000
"""Messages all publishers together may be ahead of what a subscriber took, for each subscriber."""
WINDOW = 100
"""Publishes each publisher keeps in flight."""
RECEIVE_MAXIMUM = 1000
START = to_micros("2026-01-01T00:00:00Z")
PROFILE = {
    "decoder": {
        "kind": "json",
        "fields": [
            {"attribute": "temperature", "unitCode": "CEL"},
            {"attribute": "humidity", "unitCode": "P1"},
            {"attribute": "pressure", "unitCode": "A97"},
        ],
        "observedAt": {"path": "at"},
    },
    "description": "bench weather station: three values and when they were observed",
}
KEY = "bench-device-key-0123456789"


def values(device: int, number: int) -> dict[str, Any]:
    """One reading: three numeric values and when they were observed."""
    return {
        "temperature": round(15 + (number % 200) / 10, 1),
        "humidity": 40 + number % 50,
        "pressure": 1000.0 + (device % 30),
        "at": from_micros(START + number * 1_000_000),
    }


def message(device: int, first: int, readings: int) -> bytes:
    """A message of `readings` readings from one device (JSON, as devices send): an object for
    one, an array for several (a gateway or a device that buffers)."""
    if readings == 1:
        return orjson.dumps(values(device, first))
    return orjson.dumps([values(device, first + k) for k in range(readings)])


def _publish(
    tenant: str,
    devices: range,
    count: int,
    per_message: int,
    publishers: int,
    lead: int,
    go: Event,
    taken: Synchronized[int],
    spent: Synchronized[float],
) -> None:
    asyncio.run(_publishing(tenant, devices, count, per_message, publishers, lead, go, taken, spent))


async def _publishing(
    tenant: str,
    devices: range,
    count: int,
    per_message: int,
    publishers: int,
    lead: int,
    go: Event,
    taken: Synchronized[int],
    spent: Synchronized[float],
) -> None:
    """Publish `count` messages round the `devices`, staying at most `lead` ahead of `taken`, and
    add the CPU seconds that took to `spent`."""
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
        began = time.process_time()
        sent = 0
        while sent < count:
            while sent * publishers - taken.value > lead:
                await asyncio.sleep(0.001)
            chunk = range(sent, min(sent + WINDOW, count))
            await asyncio.gather(
                *(
                    client.publish(
                        topics[n % len(topics)],
                        message(devices[n % len(devices)], n // len(devices) * per_message, per_message),
                        qos=1,
                    )
                    for n in chunk
                )
            )
            sent += len(chunk)
        with spent.get_lock():
            spent.value += time.process_time() - began


def _start_publishers(
    tenant: str,
    total: int,
    per_message: int,
    publishers: int,
    lead: int,
    taken: Synchronized[int],
    go: Event,
    spent: Synchronized[float],
) -> list[multiprocessing.process.BaseProcess]:
    context = multiprocessing.get_context("spawn")
    share = POOL // publishers
    processes = []
    for index in range(publishers):
        devices = range(index * share, (index + 1) * share)
        process = context.Process(
            target=_publish,
            args=(tenant, devices, total // publishers, per_message, publishers, lead, go, taken, spent),
            daemon=True,
        )
        process.start()
        processes.append(process)
    return processes


@dataclasses.dataclass(frozen=True)
class Drive:
    """How long the publishers' messages took to be `finished`, and the CPU seconds the publishers
    and Mosquitto spent meanwhile."""

    seconds: float
    publishers_cpu: float
    mosquitto_cpu: float
    watched_cpu: float
    """CPU seconds of the processes `_drive` was asked to watch (the subscribers)."""


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user and system) process `pid` has spent, from /proc; 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(
    tenant: str,
    total: int,
    per_message: int,
    publishers: int,
    lead: int,
    progress: Callable[[], int],
    finished: Callable[[], Awaitable[bool]],
    limit: float,
    watched: Sequence[int],
) -> Drive:
    """Start the publishers of `total` messages, keep them informed of `progress` (messages
    taken), and say how long it took from the start signal until `finished`."""
    context = multiprocessing.get_context("spawn")
    taken = context.Value("q", 0)
    spent = context.Value("d", 0.0)
    go = context.Event()
    processes = _start_publishers(tenant, total, per_message, publishers, lead, taken, go, spent)
    await asyncio.sleep(2.0)  # publishers start and connect
    mosquitto = cpu_seconds(MOSQUITTO_PID)
    subscribers = sum(cpu_seconds(pid) for pid in watched)
    began = time.perf_counter()
    go.set()
    try:
        while not await finished():
            taken.value = progress()
            if time.perf_counter() - began > limit:
                raise TimeoutError(f"{progress():,} of {total:,} messages after {limit:.0f} s")
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - began
        mosquitto = cpu_seconds(MOSQUITTO_PID) - mosquitto
        subscribers = sum(cpu_seconds(pid) for pid in watched) - subscribers
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    return Drive(seconds, spent.value, mosquitto, subscribers)


@dataclasses.dataclass(frozen=True)
class Baseline:
    messages: int
    drive: Drive

    @property
    def rate(self) -> float:
        return self.messages / self.drive.seconds

    def cpu_note(self) -> str:
        return (
            f"CPU a message: subscriber {micros(self.drive.watched_cpu, self.messages)}, publisher "
            f"{micros(self.drive.publishers_cpu, self.messages)}, Mosquitto "
            f"{micros(self.drive.mosquitto_cpu, self.messages)}"
        )


def micros(cpu: float, messages: int) -> str:
    return f"{cpu / messages * 1e6:,.0f} µs"


async def mosquitto_rate(total: int) -> Baseline:
    """Messages per second from one aiomqtt publisher to one aiomqtt subscriber, QoS 1, and the
    CPU each side spent."""
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

        drive = await _drive(tenant, total, 1, 1, LEAD, lambda: received, finished, 300, [os.getpid()])
    return Baseline(total, drive)


def mosquitto_c_rate(total: int) -> tuple[int, float] | None:
    """Messages per second from `mosquitto_pub -l` (one message a line of its input) to
        `mosquitto_sub`, both QoS 1, MQTT v5, and the messages that arrived; None without the C clients
    (Debian's mosquitto-clients).
        The publisher is fed at most LEAD messages ahead of what the subscriber printed, as the Python
        publishers are, so that Mosquitto drops nothing."""
    if not (shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub")):
        return None
    topic = device_topic(f"bench{uuid.uuid4().hex[:8]}", "sensor-0")
    common = ["-h", HOST, "-p", str(PORT), "-V", "mqttv5", "-q", "1", "-t", topic]
    subscriber = subprocess.Popen(
        ["mosquitto_sub", *common, "-C", str(total), "-W", "300"], stdout=subprocess.PIPE
    )
    publisher = subprocess.Popen(["mosquitto_pub", *common, "-l"], stdin=subprocess.PIPE)
    assert subscriber.stdout is not None and publisher.stdin is not None
    received = 0

    def count() -> None:
        nonlocal received
        assert subscriber.stdout is not None
        for _ in subscriber.stdout:
            received += 1

    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    time.sleep(1.0)  # both connected, the subscription made
    lines = [message(0, n, 1) + b"\n" for n in range(total)]
    began = time.perf_counter()
    for start in range(0, total, WINDOW):
        while start - received > LEAD // 2:
            time.sleep(0.0005)
        publisher.stdin.write(b"".join(lines[start : start + WINDOW]))
        publisher.stdin.flush()
    last, idle = -1, time.perf_counter()
    while received < total and time.perf_counter() - idle < 2.0:
        if received != last:
            last, idle = received, time.perf_counter()
        time.sleep(0.0005)
    seconds = (time.perf_counter() if received >= total else idle) - began
    publisher.stdin.close()
    publisher.wait(timeout=30)
    subscriber.terminate()
    subscriber.wait(timeout=30)
    if received < total:
        print(f"mosquitto_sub got {received:,} of {total:,} messages (Mosquitto dropped the rest)")
    return received, received / seconds


async def prepare(database: str, tenant: str) -> None:
    """Register the pool's devices (sensor-0 ... sensor-{POOL-1}) with the JSON profile, as
    `smartby devices` would; the key is hashed once and shared (scrypt per device would take
    minutes, and the MQTT transport is trusted, so no key is checked)."""
    settings = Settings(_env_file=None, database=database)  # type: ignore[call-arg]
    parts = assemble(settings)
    broker = parts.broker
    await broker.open()
    try:
        registry = parts.ingestion.registry
        await registry.put_profile(tenant, "bench-weather", PROFILE)
        first, _ = await registry.register(
            tenant,
            {
                "id": "sensor-0",
                "entityId": "urn:ngsi-ld:WeatherObserved:sensor-0",
                "entityType": "WeatherObserved",
                "profile": "bench-weather",
                "key": KEY,
            },
        )
        await asyncio.gather(
            *(
                parts.ingestion.devices.put_device(
                    dataclasses.replace(
                        first, id=f"sensor-{n}", entity_id=f"urn:ngsi-ld:WeatherObserved:sensor-{n}"
                    )
                )
                for n in range(1, POOL)
            )
        )
    finally:
        await broker.close()


def _worker(
    values: dict[str, Any],
    ready: Event,
    stop: Event,
    taken: Synchronized[int],
    done: Synchronized[int],
    profile: str | None,
) -> None:
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    asyncio.run(_working(values, ready, stop, taken, done))
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)


async def _working(
    values: dict[str, Any], ready: Event, stop: Event, taken: Synchronized[int], done: Synchronized[int]
) -> None:
    """One smartby worker: the MQTT transport feeding `Ingestion` on the shared database,
    reporting the messages it took (`taken`) and the uplinks ingestion finished with, committed
    or dead-lettered (`done`), until `stop`."""
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    parts = assemble(settings)
    tune_collector(settings)  # as the server's application factory does
    broker = parts.broker
    await broker.open()
    sink = parts.ingestion
    await sink.start()
    transport = MqttTransport(sink, settings)
    await transport.start()
    try:
        await asyncio.wait_for(transport.subscribed.wait(), 30)
        ready.set()
        while not stop.is_set():
            taken.value = transport.accepted
            done.value = sink.stats.accepted + sink.stats.dead_lettered
            await asyncio.sleep(0.005)
    finally:
        await transport.close()
        await sink.close()
        await broker.close()


@dataclasses.dataclass(frozen=True)
class Run:
    messages: int
    readings: int
    drive: Drive
    history: int
    dead_letters: int
    shares: tuple[int, ...]
    """Messages each worker took."""

    @property
    def seconds(self) -> float:
        return self.drive.seconds

    def cpu_note(self) -> str:
        return (
            f"CPU a message: workers {micros(self.drive.watched_cpu, self.messages)}, publishers "
            f"{micros(self.drive.publishers_cpu, self.messages)}, Mosquitto "
            f"{micros(self.drive.mosquitto_cpu, self.messages)}; messages each worker took: "
            + ", ".join(f"{share:,}" for share in self.shares)
        )

    @property
    def readings_rate(self) -> float:
        return self.readings / self.seconds

    @property
    def messages_rate(self) -> float:
        return self.messages / self.seconds


async def smartby_rate(
    backend: Backend,
    total: int,
    per_message: int,
    publishers: int,
    workers: int,
    profile: Path | None = None,
) -> Run:
    """Messages and readings per second from `publishers` MQTT publishers to committed history,
    through `workers` smartby processes (each the MQTT transport and `Ingestion` on one SQLite
    database, splitting the stream by a shared subscription); `total` messages of `per_message`
    readings each."""
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    await prepare(backend.url, tenant)
    values = {
        "database": backend.url,
        "mqtt_url": f"mqtt://{HOST}:{PORT}",
        "mqtt_topics": ["smartby"],
        "mqtt_shared_group": f"bench{uuid.uuid4().hex[:6]}",
        "mqtt_session_expiry": 0,
        "mqtt_receive_maximum": RECEIVE_MAXIMUM,
        "ingest_trusted_transports": ["mqtt"],
    }
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    running = []
    for index in range(workers):
        ready, taken, done = context.Event(), context.Value("q", 0), context.Value("q", 0)
        own = {**values, "mqtt_client_id": f"smartby-bench-{uuid.uuid4().hex[:8]}"}
        where = str(profile / f"worker-{workers}-{per_message}-{index}.prof") if profile else None
        process = context.Process(target=_worker, args=(own, ready, stop, taken, done, where), daemon=True)
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

        pids = [process.pid for process, _, _, _ in running if process.pid is not None]
        drive = await _drive(
            tenant, total, per_message, publishers, LEAD * workers, taken_by_all, finished, 600, pids
        )
        shares = tuple(taken.value for _, _, taken, _ in running)
    finally:
        stop.set()
        for process, _, _, _ in running:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()
    rows = backend.raw("SELECT count(*) FROM history", ())[0][0]
    letters = backend.raw("SELECT count(*) FROM dead_letter", ())[0][0]
    return Run(total, total * per_message, drive, rows, letters, shares)


def run(
    report: Any,
    workdir: Path,
    seconds: int,
    sizes: tuple[int, ...] = (1, 10),
    profile: Path | None = None,
    backends: tuple[str, ...] = ("sqlite", "postgres"),
    counts: tuple[int, ...] = (1, 2),
) -> None:
    """(a) Mosquitto's own rate, with Python and with C clients; (b) smartby with 1 and 2 worker
    processes, `PUBLISHERS` publishers over `POOL` devices, one reading a message and ten (a JSON
    array), to committed history on SQLite and on PostgreSQL; all on the bench's own Mosquitto."""
    with own_mosquitto(workdir):
        _run(report, workdir, seconds, sizes, profile, backends, counts)


def _run(
    report: Any,
    workdir: Path,
    seconds: int,
    sizes: tuple[int, ...],
    profile: Path | None,
    backends: tuple[str, ...],
    counts: tuple[int, ...],
) -> None:
    measured = asyncio.run(mosquitto_rate(5_000 * seconds))
    baseline = measured.rate
    c_baseline = mosquitto_c_rate(20_000 * seconds)
    c_text = (
        "no C clients" if c_baseline is None else f"{c_baseline[1]:,.0f} msg/s ({c_baseline[0]:,} messages)"
    )
    report.notes.append(
        f"Mosquitto alone, QoS 1: {baseline:,.0f} msg/s aiomqtt to aiomqtt; "
        f"{c_text} mosquitto_pub to mosquitto_sub. aiomqtt to aiomqtt: {measured.cpu_note()}."
    )
    for kind in backends:
        for per_message in sizes:
            for workers in counts:
                total = 2_000 * seconds * workers * (4 if per_message > 1 else 1) // per_message
                opened = (
                    sqlite_backend(workdir / f"mqtt-{workers}-{per_message}.db")
                    if kind == "sqlite"
                    else postgres_backend()
                )
                with opened as backend:
                    found = asyncio.run(
                        smartby_rate(backend, total, per_message, PUBLISHERS, workers, profile)
                    )
                report.add(
                    f"MQTT ingestion, {workers} worker(s), {per_message} reading(s) a message (QoS 1, "
                    f"{PUBLISHERS} publishers, {POOL:,} devices, 3 values per reading) to committed history "
                    f"on {backend.name}, readings/s",
                    f"{found.readings_rate:,.0f} ({found.messages_rate:,.0f} msg/s)",
                    f"{baseline:,.0f} msg/s Mosquitto alone (aiomqtt to aiomqtt, QoS 1)",
                    f"{found.messages_rate / baseline:.2f}",
                    ">= 20,000",
                )
                report.notes.append(
                    f"MQTT ingestion on {backend.name}, {workers} worker(s), {per_message} a message: "
                    f"{found.messages:,} messages, {found.readings:,} readings in {found.seconds:.2f} s, "
                    f"{found.history:,} history instances committed (expected {3 * found.readings:,}), "
                    f"{found.dead_letters} dead letters; {found.cpu_note()}."
                )


@contextmanager
def own_mosquitto(workdir: Path) -> Iterator[None]:
    """Run the measurements on a Mosquitto of the bench's own (see the module docstring)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(
        f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n"
        f"max_queued_messages {QUEUE}\nmax_inflight_messages 0\n"
    )
    process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
    previous = os.environ.get("SMARTBY_BENCH_MQTT_PORT")
    global PORT, MOSQUITTO_PID
    PORT = port
    MOSQUITTO_PID = process.pid
    os.environ["SMARTBY_BENCH_MQTT_PORT"] = str(port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bench's Mosquitto did not start") from None
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)
        if previous is None:
            os.environ.pop("SMARTBY_BENCH_MQTT_PORT", None)
        else:
            os.environ["SMARTBY_BENCH_MQTT_PORT"] = previous
        PORT = int(os.environ.get("SMARTBY_BENCH_MQTT_PORT", "1883"))
        MOSQUITTO_PID = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s worth of readings instead of 10")
    parser.add_argument(
        "--per-message",
        default="1,10",
        help="readings a message, one run each (comma-separated; default 1,10)",
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of each smartby worker to this folder")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--workers", default="1,2", help="worker processes, one run each (default 1,2)")
    options = parser.parse_args()
    from bench.__main__ import Report

    report = Report(options.quick)
    if options.profile:
        options.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smartby-bench-") as folder:
        sizes = tuple(int(size) for size in options.per_message.split(","))
        backends = tuple(options.backends.split(","))
        counts = tuple(int(count) for count in options.workers.split(","))
        run(report, Path(folder), 3 if options.quick else 10, sizes, options.profile, backends, counts)
    print("\n".join(report.notes))


if __name__ == "__main__":
    main()
