"""Durability under kill -9: every write smartby acknowledged is there after it was killed.

A writer sends PATCHes (one entity's `counter`) and batch upserts (several entities' `counter` at
once) to `smartby serve`, each write with a value never sent before. smartby is killed with SIGKILL
at a random moment, while writes are in flight, and started again, 50 times (5 with --quick). A
subscription on the entities sends every change to a receiver, a real HTTP server in a process of
its own that stays up throughout. At the end, for every acknowledged write (a 2xx answer), the bench
looks for its value:

- current: the entity's counter is that value or a later one the writer sent;
- history: a temporal instance of the counter holds it;
- notification: the receiver got a notification holding it.

A write whose answer never came (the connection died with smartby) may or may not be there: it is
not counted. Run on SQLite and on PostgreSQL (a fresh database on the local server).

python -m bench --only durability [--quick]
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import history, servers

V1 = "/ngsi-ld/v1"
ENTITIES = 20
BATCH = 5
TYPE = "DurabilityCounter"


def _entity_id(number: int) -> str:
    return f"urn:ngsi-ld:{TYPE}:{number}"


# -- the receiver: a process that records every (entity, counter) it is notified of --------------


async def _serve(port: int, ready: Any, stop: Any, out: Any) -> None:
    seen: set[tuple[str, int]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                document = orjson.loads(await reader.readexactly(length))
                for item in document.get("data", []):
                    value = item.get("counter")
                    if isinstance(value, int):
                        seen.add((item["id"], value))
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
    out.put(sorted(seen))


def _receiver(port: int, ready: Any, stop: Any, out: Any) -> None:
    asyncio.run(_serve(port, ready, stop, out))


# -- the writer: a thread that PATCHes and upserts, remembering what was acknowledged ------------


@dataclass
class Writes:
    acknowledged: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    sent: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    next_value: int = 1
    requests: int = 0
    failed: int = 0

    def value(self) -> int:
        self.next_value += 1
        return self.next_value


def _write(url: str, writes: Writes, stop: threading.Event) -> None:
    chooser = random.Random(7)
    with httpx.Client(base_url=url, timeout=10) as http:
        while not stop.is_set():
            try:
                if chooser.random() < 0.5:
                    number = chooser.randrange(ENTITIES)
                    entity_id, value = _entity_id(number), writes.value()
                    writes.sent[entity_id].append(value)
                    response = http.patch(
                        f"{V1}/entities/{entity_id}/attrs",
                        json={"counter": {"type": "Property", "value": value}},
                    )
                    done = [(entity_id, value)]
                else:
                    numbers = chooser.sample(range(ENTITIES), BATCH)
                    batch = [(_entity_id(n), writes.value()) for n in numbers]
                    for entity_id, value in batch:
                        writes.sent[entity_id].append(value)
                    response = http.post(
                        f"{V1}/entityOperations/upsert",
                        params={"options": "update"},
                        json=[
                            {"id": e, "type": TYPE, "counter": {"type": "Property", "value": v}}
                            for e, v in batch
                        ],
                    )
                    done = batch
                writes.requests += 1
                if 200 <= response.status_code < 300:
                    for entity_id, value in done:
                        writes.acknowledged[entity_id].append(value)
                else:
                    writes.failed += 1
            except httpx.HTTPError:
                writes.failed += 1
                time.sleep(0.05)


# -- one backend -------------------------------------------------------------------------------


def _kill(server: servers.Server) -> None:
    """SIGKILL the server and its workers, no chance to finish anything."""
    for pid in reversed(server.pids()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait()


def _start(database: str) -> servers.Server:
    return servers.smartby(database, notification_retry_delay="0.2", notification_retry_max_delay="1")


def _setup(url: str, receiver_url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        entities = [
            {"id": _entity_id(n), "type": TYPE, "counter": {"type": "Property", "value": 0}}
            for n in range(ENTITIES)
        ]
        http.post(f"{V1}/entityOperations/upsert", json=entities).raise_for_status()
        subscription = {
            "type": "Subscription",
            "entities": [{"type": TYPE}],
            "watchedAttributes": ["counter"],
            "notification": {"format": "keyValues", "endpoint": {"uri": receiver_url}},
        }
        http.post(f"{V1}/subscriptions", json=subscription).raise_for_status()


def _stored(url: str) -> tuple[dict[str, int], dict[str, set[int]]]:
    """Each entity's current counter, and the counter values its history holds."""
    current: dict[str, int] = {}
    held: dict[str, set[int]] = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        for number in range(ENTITIES):
            entity_id = _entity_id(number)
            entity = http.get(f"{V1}/entities/{entity_id}", params={"format": "keyValues"}).json()
            current[entity_id] = int(entity["counter"])
            response = http.get(
                f"{V1}/temporal/entities/{entity_id}", params={"attrs": "counter", "lastN": 100000}
            )
            response.raise_for_status()
            instances = response.json().get("counter", [])
            held[entity_id] = {
                int(i["value"]) for i in (instances if isinstance(instances, list) else [instances])
            }
    return current, held


def run_backend(label: str, database: str, restarts: int, seconds: float) -> dict[str, int]:
    port = servers.free_port()
    context = multiprocessing.get_context("spawn")
    ready, stop, out = context.Event(), context.Event(), context.Queue()
    receiver = context.Process(target=_receiver, args=(port, ready, stop, out), daemon=True)
    receiver.start()
    ready.wait(10)
    server = _start(database)
    _setup(server.url, f"http://127.0.0.1:{port}/notify")
    writes = Writes()
    chooser = random.Random(11)
    try:
        for _ in range(restarts):
            halt = threading.Event()
            writer = threading.Thread(target=_write, args=(server.url, writes, halt), daemon=True)
            writer.start()
            time.sleep(chooser.uniform(0.2, seconds))
            _kill(server)  # while the writer is in the middle of its requests
            halt.set()
            writer.join()
            server = _start(database)
        acknowledged = {(e, v) for e, values in writes.acknowledged.items() for v in values}
        deadline = time.monotonic() + 120
        current, held = _stored(server.url)
        # Notifications drain after the last start: wait until the receiver has them or time is up.
        while time.monotonic() < deadline:
            time.sleep(2)
            if _outbox_empty(server.url):
                break
    finally:
        server.stop()
        stop.set()
    seen = set(out.get(timeout=30))
    receiver.join(timeout=10)
    lost_current = 0
    for entity_id, values in writes.acknowledged.items():
        later = [v for v in writes.sent[entity_id] if v >= max(values)]
        if current[entity_id] not in later:
            lost_current += 1
    history_found = sum(1 for e, v in acknowledged if v in held[e])
    notified = sum(1 for item in acknowledged if item in seen)
    figures = {
        "restarts": restarts,
        "requests": writes.requests,
        "acknowledged": len(acknowledged),
        "current lost": lost_current,
        "history found": history_found,
        "notified": notified,
    }
    print(f"durability {label}: {figures}", flush=True)
    return figures


def _outbox_empty(url: str) -> bool:
    """Whether smartby's notification outbox is empty (its metrics' outbox depth)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return False
    for line in text.splitlines():
        if line.startswith("smartby_notification_outbox_depth"):
            return float(line.split()[-1]) == 0
    return False


def run(report: Any, workdir: Path, quick: bool) -> None:
    restarts = 5 if quick else 50
    results = {"SQLite": run_backend("SQLite", f"sqlite:///{workdir / 'durability.db'}", restarts, 1.5)}
    with history.postgres_backend() as backend:
        results["PostgreSQL"] = run_backend("PostgreSQL", backend.url, restarts, 1.5)
    for label, figures in results.items():
        acknowledged = figures["acknowledged"]
        lost_history = acknowledged - figures["history found"]
        lost_notified = acknowledged - figures["notified"]
        report.add(
            f"kill -9 soak, {label}: acknowledged writes found after {figures['restarts']} SIGKILLs "
            "(current value, history, notification)",
            f"{acknowledged} acknowledged; lost {figures['current lost']} current, {lost_history} "
            f"history, {lost_notified} notifications",
            "-",
            "-",
            "0 lost",
        )
        report.notes.append(
            f"kill -9 soak on {label}: {figures['requests']} write requests answered over "
            f"{figures['restarts']} restarts; {acknowledged} acknowledged (entity, value) writes, "
            f"{figures['history found']} found in history, {figures['notified']} notified to the receiver, "
            f"{figures['current lost']} entities whose current value fell behind an acknowledged write."
        )
