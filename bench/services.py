"""City services (issue 12): what running them costs ingestion, and how soon a reading's alert exists.

- Ingest cost: telemetry batch upserts (the history section's load) into a server running no
  service (`SMARTBY_SERVICES=[]`) and into one running every built-in service, alternately, same
  run. The services' feed rows are written in each write's transaction and handled in the same
  process, so both the write path and the handling are in the figure; the backlog left in
  `service_change` when the load stops, and how long it took to drain, say whether the services
  kept up.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from bench import servers, wrk

V1 = "/ngsi-ld/v1"
POOL = 10_000


def _pending(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM service_change").fetchone()[0])


def _drain(database: Path, limit: float = 120.0) -> tuple[int, float]:
    """The backlog when the load stopped, and the seconds until the services had handled it."""
    left = _pending(database)
    started = time.perf_counter()
    while _pending(database) and time.perf_counter() - started < limit:
        time.sleep(0.2)
    return left, time.perf_counter() - started


def _ingest(database: Path, seconds: int, **settings: str) -> tuple[float, int, float]:
    server = servers.smartby(f"sqlite:///{database}", workers=1, **settings)
    try:
        url = f"{server.url}{V1}/entityOperations/upsert"
        wrk.run(url, script="telemetry.lua", args=("1000", str(POOL)), seconds=2, connections=1, threads=1)
        result = wrk.run(
            url, script="telemetry.lua", args=("1000", str(POOL)), seconds=seconds, connections=2, threads=2
        )
        left, drained = _drain(database) if "services" not in settings else (0, 0.0)
    finally:
        server.stop()
    return result.requests_per_s * 1000, left, drained


def bench_ingest_cost(report: Any, workdir: Path, seconds: int) -> None:
    without: list[float] = []
    with_services: list[float] = []
    backlog: list[tuple[int, float]] = []
    for round_ in range(2):
        rate, _, _ = _ingest(workdir / f"services-off-{round_}.db", seconds, services="[]")
        without.append(rate)
        rate, left, drained = _ingest(workdir / f"services-on-{round_}.db", seconds)
        with_services.append(rate)
        backlog.append((left, drained))
    off = sum(without) / len(without)
    on = sum(with_services) / len(with_services)
    report.add(
        "SQLite: ingest (telemetry batch upsert, 1 worker) with every built-in service running, readings/s",
        f"{on:,.0f}",
        f"{off:,.0f} with SMARTBY_SERVICES=[], same run",
        f"{on / off:.2f}",
        ">= 0.80 (services cost under 20 %)",
    )
    report.notes.append(
        "Services on ingest: rounds without "
        + ", ".join(f"{rate:,.0f}" for rate in without)
        + " and with "
        + ", ".join(f"{rate:,.0f}" for rate in with_services)
        + " readings/s (alternated); backlog in service_change when the load stopped, and seconds to "
        "handle it: " + "; ".join(f"{left:,} rows, {drained:.1f} s" for left, drained in backlog) + "."
    )


def run(report: Any, workdir: Path, seconds: int) -> None:
    bench_ingest_cost(report, workdir, seconds)
