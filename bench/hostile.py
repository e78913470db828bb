"""Liveness under hostile input (issue 13, "No request takes the server down").

One `smartby serve` (one worker) per backend. While each hostile case of the issue runs in a loop
from a thread of its own, a probe asks `/health` and a tiny entity (`GET /entities/{id}`) every
50 ms, and the probe's latency is reported per case beside the same probe's with no hostile load
(the baseline, same run, same server). The cases, at the largest size smartby accepts:

- `idPattern` of `(a+)+$` against an entity id of 2,000 `a` and a `-`;
- a `q` regex `(a+)+$` against a value of 5,000 `a` and a `!`;
- a subscription whose `q` has that regex, and PATCHes that match its entities;
- a temporal `q` of 100 ORs against an entity holding an array of SMARTBY_MAX_ARRAY_ELEMENTS;
- a query of 5,000 `|` terms (the most `q` may hold; 10,000 are refused) against that array, whose
  client closes its connection after half a second;
- a batch upsert of SMARTBY_MAX_BATCH_ENTITIES entities;
- a type expression of 10,000 nested parentheses;
- an entity whose `@context` is a remote URL served by a local HTTP server as a 300 MB stream.

python -m bench --only hostile [--quick]
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from bench import history, servers
from smartby.settings import Settings

V1 = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}
EVIL = "(a+)+$"
LONG_ID = "urn:ngsi-ld:Sensor:" + "a" * 2000 + "-"
PROBED = "urn:ngsi-ld:Probe:1"
BIG = "urn:ngsi-ld:Big:1"
PERIOD = 0.05
"""Seconds between two probes."""
CONTEXT_BYTES = 300 * 1024 * 1024
LIMITS = Settings(_env_file=None)  # type: ignore[call-arg]


@dataclass
class Probe:
    """Asks `/health` and the tiny entity every PERIOD seconds until stopped; latencies in ms."""

    url: str
    health: list[float] = field(default_factory=list)
    entity: list[float] = field(default_factory=list)
    failures: int = 0

    def run(self, halt: threading.Event) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            while not halt.is_set():
                for path, into in (("/health", self.health), (f"{V1}/entities/{PROBED}", self.entity)):
                    started = time.perf_counter()
                    try:
                        ok = client.get(path).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    into.append((time.perf_counter() - started) * 1000)
                    self.failures += not ok
                halt.wait(PERIOD)


@dataclass
class Case:
    name: str
    send: Callable[[httpx.Client], int]
    """One hostile request; its status (0 when its client left on purpose)."""


def _huge_context_server() -> tuple[ThreadingHTTPServer, str]:
    """A local HTTP server answering every GET with a 300 MB JSON-LD document (a stream)."""
    chunk = b" " * (1024 * 1024)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/ld+json")
            self.send_header("Content-Length", str(CONTEXT_BYTES + 16))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(b'{"@context": {} ')
                for _ in range(CONTEXT_BYTES // len(chunk)):
                    self.wfile.write(chunk)
                self.wfile.write(b"}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/context.jsonld"


def _setup(client: httpx.Client) -> None:
    def created(response: httpx.Response) -> None:
        assert response.status_code in (201, 204), response.text

    def prop(value: Any, **extra: Any) -> dict[str, Any]:
        return {"type": "Property", "value": value, **extra}

    created(client.post(f"{V1}/entities", json={"id": PROBED, "type": "Probe", "n": prop(1)}, headers=JSON))
    sensor = {"id": LONG_ID, "type": "Sensor", "name": prop("a" * 5000 + "!")}
    created(client.post(f"{V1}/entities", json=sensor, headers=JSON))
    array = list(range(LIMITS.max_array_elements))
    big = {"id": BIG, "type": "Big", "a": prop(array, observedAt="2024-01-01T00:00:00Z")}
    created(client.post(f"{V1}/entities", json=big, headers=JSON))
    subscription = {
        "type": "Subscription",
        "entities": [{"type": "Sensor", "idPattern": EVIL}],
        "q": f'name~="{EVIL}"',
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
    }
    created(client.post(f"{V1}/subscriptions", json=subscription, headers=JSON))


def _cases(server_url: str, context_url: str) -> list[Case]:
    port = int(server_url.rsplit(":", 1)[1])
    writes = iter(range(10**9))
    terms = "|".join(f"a=={-i}" for i in range(1, 5001))
    query = orjson.dumps({"type": "Query", "entities": [{"type": "Big"}], "q": terms})
    query_head = (
        f"POST {V1}/entityOperations/query HTTP/1.1\r\nHost: smartby\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(query)}\r\n\r\n"
    ).encode()
    batch = orjson.dumps(
        [
            {"id": f"urn:ngsi-ld:Batch:{i}", "type": "Batch", "n": {"type": "Property", "value": i}}
            for i in range(LIMITS.max_batch_entities)
        ]
    )
    deep = "(" * 10_000 + "Sensor" + ")" * 10_000
    ors = "|".join(f"a=={-i}" for i in range(1, 101))
    window = {"timerel": "after", "timeAt": "2023-12-31T00:00:00Z"}

    def abandoned(_: httpx.Client) -> int:
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.sendall(query_head + query)
            time.sleep(0.5)
        return 0

    def remote(client: httpx.Client) -> int:
        entity = {"id": "urn:ngsi-ld:Remote:1", "type": "Remote", "@context": context_url}
        headers = {"Content-Type": "application/ld+json"}
        return client.post(f"{V1}/entities", content=orjson.dumps(entity), headers=headers).status_code

    return [
        Case(
            "idPattern (a+)+$",
            lambda c: c.get(f"{V1}/entities", params={"type": "Sensor", "idPattern": EVIL}).status_code,
        ),
        Case(
            "q regex (a+)+$",
            lambda c: c.get(f"{V1}/entities", params={"type": "Sensor", "q": f'name~="{EVIL}"'}).status_code,
        ),
        Case(
            "subscription q (a+)+$, matching PATCHes",
            lambda c: (
                c.patch(
                    f"{V1}/entities/{quote(LONG_ID)}/attrs",
                    json={"name": {"type": "Property", "value": "a" * 6000 + str(next(writes))}},
                    headers=JSON,
                ).status_code
            ),
        ),
        Case(
            f"temporal q of 100 ORs, array of {LIMITS.max_array_elements:,}",
            lambda c: (
                c.get(f"{V1}/temporal/entities", params={"type": "Big", "q": ors, **window}).status_code
            ),
        ),
        Case("5,000-term query, client gone after 0.5 s", abandoned),
        Case(
            f"batch upsert of {LIMITS.max_batch_entities:,} entities",
            lambda c: c.post(f"{V1}/entityOperations/upsert", content=batch, headers=JSON).status_code,
        ),
        Case(
            "type of 10,000 nested parentheses",
            lambda c: c.get(f"{V1}/entities", params={"type": deep}).status_code,
        ),
        Case("remote @context of 300 MB", remote),
    ]


def _hammer(case: Case, url: str, halt: threading.Event, statuses: Counter[int]) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:
        while not halt.is_set():
            try:
                statuses[case.send(client)] += 1
            except httpx.HTTPError:
                statuses[-1] += 1


def _phase(url: str, seconds: float, case: Case | None) -> tuple[Probe, Counter[int]]:
    probe = Probe(url)
    halt = threading.Event()
    statuses: Counter[int] = Counter()
    threads = [threading.Thread(target=probe.run, args=(halt,), daemon=True)]
    if case is not None:
        threads.append(threading.Thread(target=_hammer, args=(case, url, halt, statuses), daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    halt.set()
    for thread in threads:
        thread.join(timeout=180)
    return probe, statuses


def _quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass
class Row:
    case: str
    health: tuple[float, float]
    entity: tuple[float, float]
    probes: int
    worst: float
    statuses: str


def run_backend(database: str, seconds: float) -> list[Row]:
    context_server, context_url = _huge_context_server()
    server = servers.smartby(database, query_timeout="30")
    rows: list[Row] = []
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            _setup(client)
        phases: list[Case | None] = [None, *_cases(server.url, context_url)]
        for case in phases:
            probe, statuses = _phase(server.url, seconds, case)
            name = "no hostile load (baseline)" if case is None else case.name
            answered = ", ".join(
                f"{count} x {'client left' if status == 0 else 'error' if status < 0 else status}"
                for status, count in sorted(statuses.items())
            )
            row = Row(
                name,
                (_quantile(probe.health, 0.5), _quantile(probe.health, 0.99)),
                (_quantile(probe.entity, 0.5), _quantile(probe.entity, 0.99)),
                len(probe.health),
                max(probe.health + probe.entity),
                answered or "-",
            )
            print(f"hostile {database.split(':')[0]}: {row}", flush=True)
            rows.append(row)
    finally:
        server.stop()
        context_server.shutdown()
    return rows


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| hostile case (looped from one thread) | /health p50 / p99 ms | GET entity p50 / p99 ms "
        "| probe rounds | slowest probe ms | hostile answers |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.case} | {row.health[0]:.1f} / {row.health[1]:.1f} | {row.entity[0]:.1f} / "
            f"{row.entity[1]:.1f} | {row.probes} | {row.worst:.0f} | {row.statuses} |"
        )
    return lines


def section(label: str, seconds: float, rows: list[Row]) -> str:
    """The report's "Hostile input" section of one backend."""
    lines = [
        f"## Hostile input: {label}",
        "",
        f"`python -m bench --only hostile` (bench/hostile.py): `smartby serve`, one worker, {label}, "
        f"SMARTBY_QUERY_TIMEOUT=30; each case looped from one thread for {seconds:g} s while a probe "
        "asks `/health` and `GET /entities/{id}` of a tiny entity every 50 ms; the first row is the "
        "same probe with no hostile load (the baseline, same run). Latencies in ms; a probe waits for "
        "its answer, so a stall shows as fewer probe rounds and a long slowest probe. Measured "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average (1 min) {os.getloadavg()[0]:.1f} "
        "on the machine above.",
        "",
        *table(rows),
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def _backends(workdir: Path) -> Iterator[list[tuple[str, str]]]:
    with history.postgres_backend() as backend:
        yield [("SQLite", f"sqlite:///{workdir / 'hostile.db'}"), ("PostgreSQL", backend.url)]


def run(report: Any, workdir: Path, quick: bool) -> None:
    seconds = 2.0 if quick else 6.0
    with _backends(workdir) as backends:
        for label, database in backends:
            rows = run_backend(database, seconds)
            baseline = rows[0]
            worst = max(rows[1:], key=lambda row: row.health[1])
            report.add(
                f"{label}: liveness probe (/health every 50 ms) while hostile requests run, "
                "worst case's p99 ms",
                f"{worst.health[1]:.1f} ({worst.case})",
                f"{baseline.health[1]:.1f} with no hostile load",
                f"{worst.health[1] / baseline.health[1]:.1f}" if baseline.health[1] else "-",
                "no stall (p99 well under 1 s)",
            )
            report.sections.append(section(label, seconds, rows))
