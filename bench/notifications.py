"""Subscription benchmarks: notification latency from write to receiver, and what 1,000 active
subscriptions cost ingestion.

- Latency: a sender process PATCHes one attribute (`sentAt`, its own clock reading) of one of 100
  entities at a steady 1,000 requests/s; one subscription on the type sends each change to a
  receiver process, which takes `now - sentAt` for every entity in every notification. The
  baseline is the same sender POSTing the same JSON straight to the receiver at the same rate.
- Ingestion: the telemetry batch upserts of the history benchmark (wrk, 1,000 entities of 3 numeric
  attributes per request) with no subscription, then with 1,000 active ones: 900 that each watch
  one entity of the pool with a `q` that rarely holds, 100 on other entity types.

Sender, receiver and smartby are separate processes on this machine; the latency is measured on an
SQLite database and on a PostgreSQL one (a fresh database on the local server).

python -m bench.notifications                      # latency on both backends, then ingestion
python -m bench.notifications --quick --only latency --backends postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import history, servers, wrk

V1 = "/ngsi-ld/v1"
ENTITIES = 100
RATE = 1000


# -- the receiver: a bare asyncio HTTP/1.1 server that times what it gets ------------------------


async def _serve(port: int, ready: Any, stop: Any, out: Any) -> None:
    latencies: list[tuple[float, float]] = []
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                now = time.time()
                document = orjson.loads(body)
                for item in document.get("data", [document]):
                    sent = item.get("sentAt")
                    if isinstance(sent, dict):
                        sent = sent.get("value")
                    if isinstance(sent, int | float):
                        latencies.append((sent, (now - sent) * 1000))
                count += 1
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.05)
    server.close()
    out.put((count, latencies))


def _receiver(port: int, ready: Any, stop: Any, out: Any) -> None:
    asyncio.run(_serve(port, ready, stop, out))


class Receiver:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = servers.free_port()
        self.url = f"http://127.0.0.1:{self.port}/notify"
        self._ready, self._stop, self._out = context.Event(), context.Event(), context.Queue()
        self._process = context.Process(
            target=_receiver, args=(self.port, self._ready, self._stop, self._out), daemon=True
        )
        self._process.start()
        self._ready.wait(30)

    def results(self) -> tuple[int, list[float]]:
        """Stop; the notifications received and the latency of each entity in them, ms."""
        count, timed = self.timed_results()
        return count, [latency for _, latency in timed]

    def timed_results(self) -> tuple[int, list[tuple[float, float]]]:
        """Stop; the notifications received and each entity's `sentAt` with its latency, ms."""
        self._stop.set()
        count, timed = self._out.get(timeout=60)
        self._process.join(30)
        return count, timed


# -- the sender ------------------------------------------------------------------------------


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, path: str, body: bytes
) -> int:
    """One HTTP/1.1 request on a kept-alive connection; its status. (A bare client: the sender must
    not be what limits the rate.)"""
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


@dataclass
class Sent:
    answered: int
    """Requests answered 2xx."""
    round_trips: dict[float, float]
    """Each request's time to its answer, ms, by the `sentAt` it carried."""
    seconds: float
    """From the first request to the last answer."""


async def _send(url: str, seconds: float, straight: bool, rate: int = RATE) -> Sent:
    """PATCH `sentAt` of the entities round-robin at `rate` per second over 32 kept-alive
    connections (or POST the same JSON to the receiver when `straight`)."""
    address = httpx.URL(url)
    total = int(seconds * rate)
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    done = 0
    round_trips: dict[float, float] = {}

    async def connection() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(address.host, address.port)
        try:
            while (number := await queue.get()) is not None:
                sent = time.time()
                body = orjson.dumps({"sentAt": {"type": "Property", "value": sent}})
                if straight:
                    status = await _request(reader, writer, "POST", address.path, b'{"data":[' + body + b"]}")
                else:
                    path = f"{V1}/entities/urn:ngsi-ld:Beacon:{number % ENTITIES}/attrs"
                    status = await _request(reader, writer, "PATCH", path, body)
                done += 200 <= status < 300
                round_trips[sent] = (time.time() - sent) * 1000
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(32)]
    began = time.perf_counter()
    for number in range(total):
        delay = began + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(number)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return Sent(done, round_trips, time.perf_counter() - began)


def _p(values: list[float], share: float) -> float:
    return sorted(values)[max(0, int(len(values) * share) - 1)] if values else float("nan")


BACKENDS = ("sqlite", "postgres")


@contextlib.contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh database of the backend, by URL."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'notify.db'}"
        return
    with history.postgres_backend() as found:
        yield found.url


def bench_latency(
    report: Any, workdir: Path, seconds: int, backends: tuple[str, ...] = BACKENDS, rate: int = RATE
) -> None:
    # Baseline: the sender straight to the receiver.
    receiver = Receiver()
    asyncio.run(_send(receiver.url, seconds, straight=True, rate=rate))
    _, straight = receiver.results()
    for backend in backends:
        with database(backend, workdir) as url:
            sent, count, timed = _latency(url, seconds, rate)
        latencies = [latency for _, latency in timed]
        # What the notification took once the PATCH was answered: the write's own time left out.
        after = [latency - sent.round_trips[at] for at, latency in timed if at in sent.round_trips]
        trips = list(sent.round_trips.values())
        name = "SQLite" if backend == "sqlite" else "PostgreSQL"
        answered = sent.answered
        report.add(
            f"Notification latency, write to receiver, at {rate:,} notifications/s ({name}, 1 subscription, "
            f"{answered:,} PATCHes, {count:,} notifications received), p95 ms",
            f"{_p(latencies, 0.95):.1f} "
            f"(p50 {statistics.median(latencies):.1f}, p99 {_p(latencies, 0.99):.1f})",
            f"{_p(straight, 0.95):.1f} the same POST straight to the receiver "
            f"(p50 {statistics.median(straight):.1f})",
            f"{_p(latencies, 0.95) / _p(straight, 0.95):.1f}",
            "< 100 ms",
        )
        report.notes.append(
            f"Notification latency run ({name}): {answered:,} PATCHes answered in {sent.seconds:.1f} s "
            f"({answered / sent.seconds:,.0f}/s; each PATCH answered in "
            f"p50 {statistics.median(trips):.1f}, p95 {_p(trips, 0.95):.1f} ms), "
            f"{count:,} notifications with {len(latencies):,} entity changes received, each "
            f"p50 {statistics.median(after):.1f}, p95 {_p(after, 0.95):.1f} ms after its PATCH was answered."
        )


def _latency(url: str, seconds: int, rate: int) -> tuple[Sent, int, list[tuple[float, float]]]:
    """The PATCHes sent, notifications received, and each change's `sentAt` with its latency, ms."""
    receiver = Receiver()
    server = servers.smartby(url)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for number in range(ENTITIES):
                entity = {"id": f"urn:ngsi-ld:Beacon:{number}", "type": "Beacon", "sentAt": 0}
                client.post(f"{V1}/entities", json=entity, params={"options": "keyValues"}).raise_for_status()
            subscription = {
                "type": "Subscription",
                "entities": [{"type": "Beacon"}],
                "watchedAttributes": ["sentAt"],
                "notification": {
                    "format": "keyValues",
                    "attributes": ["sentAt"],
                    "endpoint": {"uri": receiver.url, "accept": "application/json"},
                },
            }
            client.post(f"{V1}/subscriptions", json=subscription).raise_for_status()
        sent = asyncio.run(_send(server.url, seconds, straight=False, rate=rate))
        time.sleep(2)  # the last notifications on their way
    finally:
        server.stop()
    count, timed = receiver.timed_results()
    return sent, count, timed


def _subscriptions(receiver: str, pool: int) -> list[dict[str, Any]]:
    watched = [
        {
            "type": "Subscription",
            "entities": [
                {
                    "id": f"urn:ngsi-ld:TrafficFlowObserved:{(number * 11) % pool}",
                    "type": "TrafficFlowObserved",
                }
            ],
            "watchedAttributes": ["intensity"],
            "q": "intensity>998",
            "notification": {"endpoint": {"uri": receiver, "accept": "application/json"}},
        }
        for number in range(900)
    ]
    others = [
        {
            "type": "Subscription",
            "entities": [{"type": f"OtherType{number}"}],
            "notification": {"endpoint": {"uri": receiver, "accept": "application/json"}},
        }
        for number in range(100)
    ]
    return watched + others


def _ingest(url: str, seconds: int, pool: int) -> float:
    wrk.run(
        f"{url}{V1}/entityOperations/upsert",
        script="telemetry.lua",
        args=("1000", str(pool)),
        seconds=3,
        connections=1,
        threads=1,
    )
    result = wrk.run(
        f"{url}{V1}/entityOperations/upsert",
        script="telemetry.lua",
        args=("1000", str(pool)),
        seconds=seconds,
        connections=2,
        threads=2,
    )
    return result.requests_per_s * 1000


def bench_ingest_with_subscriptions(report: Any, workdir: Path, seconds: int) -> None:
    pool = 10_000
    receiver = Receiver()
    server = servers.smartby(f"sqlite:///{workdir / 'subscribed.db'}")
    try:
        none = _ingest(server.url, seconds, pool)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for subscription in _subscriptions(receiver.url, pool):
                client.post(f"{V1}/subscriptions", json=subscription).raise_for_status()
        many = _ingest(server.url, seconds, pool)
    finally:
        server.stop()
    count, _ = receiver.results()
    report.add(
        "Batch upsert (telemetry, 1,000 entities x 3 attributes per request, history on) with 1,000 "
        "active subscriptions, entities/s",
        f"{many:,.0f}",
        f"{none:,.0f} with no subscription, same server",
        f"{many / none:.2f}",
        ">= 0.80 of the rate with none",
    )
    report.notes.append(f"With 1,000 subscriptions active, {count:,} notifications were delivered.")


def run(report: Any, workdir: Path, seconds: int) -> None:
    bench_latency(report, workdir, seconds)
    bench_ingest_with_subscriptions(report, workdir, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s runs instead of 10")
    parser.add_argument("--only", choices=["latency", "ingest"], help="one of the two benchmarks")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="for the latency: sqlite,postgres")
    parser.add_argument("--rate", type=int, default=RATE, help=f"for the latency: PATCHes a second ({RATE})")
    options = parser.parse_args()
    from bench.__main__ import Report

    report = Report(options.quick)
    seconds = 3 if options.quick else 10
    with tempfile.TemporaryDirectory(prefix="smartby-bench-") as folder:
        if options.only in (None, "latency"):
            bench_latency(report, Path(folder), seconds, tuple(options.backends.split(",")), options.rate)
        if options.only in (None, "ingest"):
            bench_ingest_with_subscriptions(report, Path(folder), seconds)
    print("\n".join(report.notes))


if __name__ == "__main__":
    main()
