"""`make bench`: measure smartby against baselines taken in the same run; write docs/benchmarks.md.

python -m bench            # everything (a few minutes)
python -m bench --quick    # shorter runs, smaller data (a smoke test of the harness)
python -m bench --only history   # one section, printed only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import (
    access,
    climate,
    dashboard,
    demo,
    durability,
    federation,
    history,
    hostile,
    mqtt,
    notifications,
    raw_sqlite,
    servers,
    services,
    wrk,
)

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "benchmarks.md"
V1 = "/ngsi-ld/v1"


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes (other processes sharing the cores)."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def traffic(number: int) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:TrafficFlowObserved:{number}",
        "type": "TrafficFlowObserved",
        "intensity": {"type": "Property", "value": number % 1000},
        "averageVehicleSpeed": {"type": "Property", "value": number % 90 + 0.5},
        "occupancy": {"type": "Property", "value": (number % 10) / 10},
    }


class Report:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.command = "python -m bench --quick" if quick else "python -m bench"
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.notes: list[str] = []
        self.sections: list[str] = []
        """Markdown sections of their own after the notes (each with its heading)."""
        self.load_at_start = load_average()

    def add(self, what: str, smartby: str, baseline: str, ratio: str, target: str) -> None:
        self.rows.append((what, smartby, baseline, ratio, target))
        print(f"{what}: {smartby} | baseline {baseline} | ratio {ratio} | target {target}", flush=True)

    def write(self) -> None:
        lines = [
            "# Benchmarks",
            "",
            "Measured by `make bench` (`python -m bench`), which starts smartby and its baselines as",
            "real processes on this machine, loads them with wrk (Debian's package, Lua scripts in",
            "`bench/lua/`) or a Python client, and rewrites this file. Load generator and server share",
            "the machine's cores, so absolute figures are noisy; compare each with the baseline",
            "measured in the same run.",
            "",
            f"- Machine: {machine()}",
            f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `{self.command}`; load average (1, 5, 15 min) "
            f"{self.load_at_start} at the start, {load_average()} at the end (above the number of cores, "
            "other work shared the machine and absolute figures are low; the ratios less so)",
            "",
            "| measure | smartby | baseline (same run) | ratio | target |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        for section in self.sections:
            lines += ["", section]
        REPORT.write_text("\n".join(lines) + "\n")
        print(f"wrote {REPORT}")


def seed(url: str, entities: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:
        for start in range(0, len(entities), 1000):
            response = client.post(f"{V1}/entityOperations/upsert", json=entities[start : start + 1000])
            response.raise_for_status()


def bench_single_entity(report: Report, workdir: Path, seconds: int) -> None:
    for workers in (1, 2):
        server = servers.smartby(f"sqlite:///{workdir / f'single-{workers}.db'}", workers=workers)
        base = servers.baseline(workers=workers)
        try:
            seed(server.url, [traffic(1)])
            entity = f"{server.url}{V1}/entities/urn:ngsi-ld:TrafficFlowObserved:1"
            got = wrk.run(entity, seconds=seconds)
            raw = wrk.run(f"{base.url}/entity", seconds=seconds)
            report.add(
                f"GET one entity, {workers} worker(s), requests/s",
                f"{got.requests_per_s:,.0f} (p99 {got.latency_p99_ms:.1f} ms)",
                f"{raw.requests_per_s:,.0f} raw ASGI",
                f"{got.requests_per_s / raw.requests_per_s:.2f}",
                ">= 4,000",
            )
            patched = wrk.run(f"{entity}/attrs", script="patch.lua", seconds=seconds)
            raw_patch = wrk.run(f"{base.url}/entity/attrs", script="patch.lua", seconds=seconds)
            report.add(
                f"PATCH one entity's attributes, {workers} worker(s), requests/s",
                f"{patched.requests_per_s:,.0f} (p99 {patched.latency_p99_ms:.1f} ms)",
                f"{raw_patch.requests_per_s:,.0f} raw ASGI",
                f"{patched.requests_per_s / raw_patch.requests_per_s:.2f}",
                ">= 2,000",
            )
            if got.errors or patched.errors:
                report.notes.append(f"{workers} worker(s): {got.errors + patched.errors} non-2xx responses")
        finally:
            server.stop()
            base.stop()


def bench_postgres_patch(report: Report, seconds: int) -> None:
    """PATCH of one entity on PostgreSQL, every request the same entity (the worst case for locks),
    beside psycopg making the least writes a broker with history makes, from as many connections."""
    from bench import history, raw_postgres

    for workers in (1, 2):
        with history.postgres_backend() as backend:
            server = servers.smartby(backend.url, workers=workers)
            base = servers.baseline(workers=workers)
            try:
                seed(server.url, [traffic(1)])
                entity = f"{server.url}{V1}/entities/urn:ngsi-ld:TrafficFlowObserved:1"
                wrk.run(f"{entity}/attrs", script="patch.lua", seconds=2)  # history rows for the peer to copy
                patched = wrk.run(f"{entity}/attrs", script="patch.lua", seconds=seconds)
                raw_patch = wrk.run(f"{base.url}/entity/attrs", script="patch.lua", seconds=seconds)
            finally:
                server.stop()
                base.stop()
            peer = raw_postgres.patch_rate(backend.url, seconds, 32)
        report.add(
            f"PostgreSQL: PATCH one entity's attributes, {workers} worker(s), requests/s",
            f"{patched.requests_per_s:,.0f} (p99 {patched.latency_p99_ms:.1f} ms)",
            f"{peer:,.0f} psycopg's least writes (lock, document, history); "
            f"{raw_patch.requests_per_s:,.0f} raw ASGI",
            f"{patched.requests_per_s / peer:.2f}",
            ">= 2,000 and not behind the peer",
        )
        if patched.errors:
            report.notes.append(f"PostgreSQL PATCH, {workers} worker(s): {patched.errors} non-2xx responses")


def bench_batch_upsert(report: Report, workdir: Path, seconds: int) -> None:
    total = 50_000 if not report.quick else 10_000
    raw = raw_sqlite.insert_rate(workdir / "raw.db", total, 1000)
    unindexed = raw_sqlite.insert_rate(workdir / "raw.db", total, 1000, without=("attr_num", "attr_txt"))
    report.notes.append(
        f"The raw sqlite3 baseline writes {raw:,.0f} entities/s into smartby's schema; without the "
        f"attribute value indexes (which make `q` filters run in SQL) it writes {unindexed:,.0f}/s."
    )
    for workers in (1, 2):
        database = workdir / f"batch-{workers}.db"
        server = servers.smartby(f"sqlite:///{database}", workers=workers)
        try:
            result = wrk.run(
                f"{server.url}{V1}/entityOperations/upsert",
                script="upsert.lua",
                args=("1000",),
                seconds=seconds,
                connections=2 * workers,
                threads=2,
            )
        finally:
            server.stop()
        with sqlite3.connect(database) as db:
            stored = db.execute("SELECT count(*) FROM entity").fetchone()[0]
        rate = result.requests_per_s * 1000
        report.add(
            f"Batch upsert, {workers} worker(s) (HTTP, 1,000 new entities x 3 numeric attributes "
            "per request), entities/s",
            f"{rate:,.0f}",
            f"{raw:,.0f} raw sqlite3, same rows",
            f"{rate / raw:.2f}",
            ">= 20,000 and ratio >= 0.5",
        )
        report.notes.append(
            f"Batch upsert with {workers} worker(s) stored {stored:,} entities, one transaction per request"
            f"{'' if not result.errors else f'; {result.errors} requests failed'}."
        )


async def _query_latencies(url: str, queries: list[str], rounds: int) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(rounds):
            for query in queries:
                began = time.perf_counter()
                response = await client.get(query)
                latencies.append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
    return latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


def bench_query_and_memory(report: Report, workdir: Path, total: int) -> None:
    server = servers.smartby(f"sqlite:///{workdir / 'query.db'}", workers=1)
    base = servers.baseline(workers=1)
    try:
        seed(server.url, [traffic(n) for n in range(total)])
        queries = (
            [
                f"{V1}/entities?type=TrafficFlowObserved&q=intensity>{low}&limit=100"
                for low in range(0, 900, 60)
            ]
            + [
                f"{V1}/entities?type=TrafficFlowObserved&q=averageVehicleSpeed<{speed};occupancy>=0.5&limit=100"
                for speed in range(10, 90, 10)
            ]
            + [
                f"{V1}/entities?type=TrafficFlowObserved&q=intensity=={value}&limit=100"
                for value in range(0, 1000, 97)
            ]
        )
        latencies = asyncio.run(_query_latencies(server.url, queries, 5 if not report.quick else 1))
        raw = asyncio.run(
            _query_latencies(base.url, ["/entity"] * len(queries), 5 if not report.quick else 1)
        )
        report.add(
            f"Query by type and q over {total:,} entities, 100 per page, p95 ms",
            f"{p95(latencies):.1f} (median {statistics.median(latencies):.1f})",
            f"{p95(raw):.1f} raw ASGI GET",
            f"{p95(latencies) / p95(raw):.1f}",
            "< 50 ms",
        )
        report.add(
            f"Server resident memory holding {total:,} entities, MB",
            f"{server.rss_mb():.0f}",
            f"{base.rss_mb():.0f} raw ASGI process",
            f"{server.rss_mb() / base.rss_mb():.1f}",
            "< 200 MB",
        )
    finally:
        server.stop()
        base.stop()


def profile_batch_upsert(report: Report, workdir: Path, *, updates: bool = False) -> None:
    """Where a batch upsert's time goes, measured in-process on the same request bodies; with
    `updates`, the entities exist already and each request replaces their values and appends 3
    history instances per entity (the telemetry case of the history ingest benchmark)."""
    import cProfile
    import pstats

    import orjson

    from smartby.api.app import create_app
    from smartby.assembly import assemble
    from smartby.settings import Settings

    bodies = [orjson.dumps([traffic(k * 1000 + i) for i in range(1000)]) for k in range(20)]
    if updates:
        bodies = bodies + [
            orjson.dumps(
                [
                    {**traffic(k * 1000 + i), "intensity": {"type": "Property", "value": k}}
                    for i in range(1000)
                ]
            )
            for k in range(20)
        ]
    database = workdir / ("profile-updates.db" if updates else "profile.db")

    async def run() -> cProfile.Profile:
        settings = Settings(database=f"sqlite:///{database}", _env_file=None)  # type: ignore[call-arg]
        parts = assemble(settings)
        broker = parts.broker
        await broker.open()
        app = create_app(parts)
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        profile = cProfile.Profile()
        for number, body in enumerate(bodies):
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": f"{V1}/entityOperations/upsert",
                "raw_path": b"",
                "query_string": b"",
                "root_path": "",
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 1),
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            if updates and number < 20:  # creating the entities is not what is measured
                await app(scope, receive, send)
                continue
            profile.enable()
            await app(scope, receive, send)
            profile.disable()
        await broker.close()
        return profile

    stats = pstats.Stats(asyncio.run(run()))
    total = stats.total_tt  # type: ignore[attr-defined]
    parts = {
        "SQLite statements (executemany, execute)": ("<method 'executemany'", "<method 'execute'"),
        "JSON decoding of the request body": ("<orjson.loads>",),
        "NGSI-LD parsing and validation (parse_entity)": ("parse_entity",),
        "index rows and documents (attribute_rows, orjson.dumps)": (
            "attribute_rows",
            "<orjson.dumps>",
        ),
    }
    if updates:
        parts["history recording (diffing stored and new values, history rows: _record)"] = ("_record",)
        parts["copies of stored entities (_copy)"] = ("_copy",)
    shares = []
    for label, names in parts.items():
        spent = 0.0
        for (_, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
            if any(function == n or function.startswith(n) for n in names):
                spent += row[3]
        shares.append(f"{label} {spent / total:.0%}")
    report.notes.append(
        (
            "Where a telemetry batch upsert (existing entities, history on) spends its time "
            if updates
            else "Where a batch upsert's time goes "
        )
        + "(cProfile, in-process, 20 requests of 1,000 entities): "
        + "; ".join(shares)
        + "; the rest is HTTP handling, broker bookkeeping and timestamps."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs and small data")
    parser.add_argument(
        "--only",
        choices=[
            "entities",
            "history",
            "devices",
            "services",
            "climate",
            "testbed",
            "federation",
            "access",
            "durability",
            "hostile",
        ],
        help="one section (entities: issue 2, history: issue 3, devices: MQTT and subscriptions, "
        "services: city services' cost on ingest and latency, climate: rain reading to cloudburst "
        "Alert and the climate service's cost on the testbed's live ingest, "
        "testbed: make demo from a fresh clone and the dashboard's first load, federation: a query "
        "answered from two federated brokers beside one broker holding all, access: the cost of "
        "authentication on GET and PATCH, durability: kill -9 and restart while writing, nothing "
        "acknowledged lost, hostile: a liveness probe's latency while each hostile case of issue 13 "
        "runs); "
        "printed, the report is not rewritten",
    )
    options = parser.parse_args()
    report = Report(options.quick)
    seconds = 3 if options.quick else 10
    with tempfile.TemporaryDirectory(prefix="smartby-bench-") as folder:
        workdir = Path(folder)
        if options.only in (None, "entities"):
            bench_single_entity(report, workdir, seconds)
            bench_postgres_patch(report, seconds)
            bench_batch_upsert(report, workdir, seconds)
            profile_batch_upsert(report, workdir)
            profile_batch_upsert(report, workdir, updates=True)
            bench_query_and_memory(report, workdir, 10_000 if options.quick else 100_000)
        if options.only in (None, "history"):
            history.run_all(report, workdir, seconds)
        if options.only in (None, "devices"):
            mqtt.run(report, workdir, seconds)
            notifications.run(report, workdir, seconds)
        if options.only in (None, "services"):
            services.run(report, workdir, seconds)
        if options.only in (None, "climate"):
            climate.run(report, workdir, seconds)
        if options.only in (None, "testbed"):
            demo.run(report, workdir)
            dashboard.run(report, workdir)
        if options.only in (None, "federation"):
            federation.run(report, workdir, seed, traffic, _query_latencies)
        if options.only in (None, "access"):
            access.run(report, workdir, seconds)
        if options.only in (None, "durability"):
            durability.run(report, workdir, options.quick)
        if options.only in (None, "hostile"):
            hostile.run(report, workdir, options.quick)
        if options.only is not None:
            print("\n".join(report.notes + report.sections))
            return
    report.write()


if __name__ == "__main__":
    sys.exit(main())
