"""History benchmarks on each backend: a year of one attribute, 8.6 million instances, ingest with
history on, bytes per stored instance.

Data is loaded in-process through the broker (as `smartby import` does); the timed requests go over
HTTP to a smartby server process on the same database, beside the same SQL run by the raw driver
(sqlite3, psycopg) in the same run.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import raw_postgres, raw_sqlite, servers, wrk
from smartby.broker import Broker
from smartby.ngsild.timestamps import from_micros, to_micros
from smartby.settings import Settings
from smartby.store import open_store
from smartby.store.postgres.backend import PostgresStore

V1 = "/ngsi-ld/v1"
SENSOR_TYPE = "https://uri.etsi.org/ngsi-ld/default-context/Sensor"
SPEED = "https://uri.etsi.org/ngsi-ld/default-context/speed"
YEAR_START = "2024-01-01T00:00:00Z"
FIVE_MINUTES = 300_000_000
HOUR = 3_600_000_000
DAY = 86_400_000_000
POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
PACK_ALL = to_micros("2100-01-01T00:00:00Z")
"""A packing cutoff after every instance the benchmarks write."""


@dataclass
class Backend:
    """A fresh database of one backend and the raw driver's view of it."""

    name: str
    url: str
    raw: Callable[[str, tuple[Any, ...]], list[Any]]
    bytes_per_instance: Callable[[], float]
    history_rows: Callable[[], int]
    mark: str
    """The raw driver's parameter marker."""
    entity: str
    """The history column that names the entity."""
    pack: Callable[[], int] | None = None
    """Pack all history into chunks (PostgreSQL); how many instances were packed."""

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)


@contextmanager
def sqlite_backend(path: Path) -> Iterator[Backend]:
    def raw(sql: str, params: tuple[Any, ...]) -> list[Any]:
        with sqlite3.connect(path) as db:
            return db.execute(sql, params).fetchall()

    def size() -> float:
        rows = raw("SELECT count(*) FROM history", ())[0][0]
        pages = raw("SELECT sum(pgsize) FROM dbstat WHERE name = 'history'", ())[0][0]
        return float(pages) / max(rows, 1)

    yield Backend(
        "SQLite",
        f"sqlite:///{path}",
        raw,
        size,
        lambda: raw("SELECT count(*) FROM history", ())[0][0],
        "?",
        "key",
    )


@contextmanager
def postgres_backend() -> Iterator[Backend]:
    name = f"smartby_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES + "postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = POSTGRES + name
    connection = psycopg.connect(url, autocommit=True)

    def raw(sql: str, params: tuple[Any, ...]) -> list[Any]:
        return connection.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def size() -> float:
        """History's partitions (table, TOAST, indexes) and the packed chunks (the same), per
        instance held by either."""
        rows = raw("SELECT count(*) FROM history", ())[0][0]
        packed = raw("SELECT coalesce(sum(count), 0) FROM history_chunk", ())[0][0]
        total = raw(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'history'::regclass",
            (),
        )[0][0]
        chunks = raw("SELECT pg_total_relation_size('history_chunk')", ())[0][0]
        return float(total + chunks) / max(rows + packed, 1)

    def pack() -> int:
        async def run() -> int:
            store = open_store(url, Settings(database=url, history_pack_interval=0, _env_file=None))  # type: ignore[call-arg]
            await store.open()
            try:
                assert isinstance(store, PostgresStore)
                return await store.pack_history(PACK_ALL)
            finally:
                await store.close()

        packed = asyncio.run(run())
        connection.execute("VACUUM ANALYZE history")
        connection.execute("VACUUM ANALYZE history_chunk")
        return packed

    try:
        yield Backend(
            "PostgreSQL",
            url,
            raw,
            size,
            lambda: raw("SELECT count(*) FROM history", ())[0][0],
            "%s",
            "key",
            pack,
        )
    finally:
        connection.close()
        with psycopg.connect(POSTGRES + "postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _load(database: str, entities: int, instances: int, chunk: int = 20_000) -> float:
    """Load `instances` 5-minute readings for each of `entities` sensors; instances per second."""
    settings = Settings(database=database, sqlite_synchronous="NORMAL", _env_file=None)  # type: ignore[call-arg]
    broker = Broker(open_store(database, settings), settings)
    await broker.open()
    start = to_micros(YEAR_START)
    began = time.perf_counter()
    try:
        for number in range(entities):
            header = {"id": f"urn:ngsi-ld:Sensor:{number}", "type": [SENSOR_TYPE]}
            for first in range(0, instances, chunk):
                readings = [
                    {
                        "type": "Property",
                        "value": round(40 + 20 * ((index * 7 + number) % 13) / 13, 2),
                        "observedAt": from_micros(start + index * FIVE_MINUTES),
                    }
                    for index in range(first, min(first + chunk, instances))
                ]
                await broker.add_history("", header, {SPEED: readings})
    finally:
        await broker.close()
    return entities * instances / (time.perf_counter() - began)


def _timed(call: Callable[[], Any], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def bench_one_year(report: Any, backend: Backend) -> None:
    instances = 105_120 if not report.quick else 10_512
    rate = asyncio.run(_load(backend.url, 1, instances))
    report.notes.append(
        f"{backend.name}: history loaded through the broker (in-process) at {rate:,.0f} instances/s."
    )
    start = to_micros(YEAR_START)
    end = from_micros(start + instances * FIVE_MINUTES)
    server = servers.smartby(backend.url)
    try:
        hourly = (
            f"{V1}/temporal/entities/urn:ngsi-ld:Sensor:0?options=aggregatedValues&aggrMethods=avg"
            f"&aggrPeriodDuration=PT1H&timerel=between&timeAt={YEAR_START}&endTimeAt={end}"
        )
        last = f"{V1}/temporal/entities/urn:ngsi-ld:Sensor:0?lastN=100"
        with httpx.Client(base_url=server.url, timeout=60) as client:
            response = client.get(hourly)
            response.raise_for_status()
            periods = len(response.json()["speed"]["avg"])
            assert len(client.get(last).json()["speed"]) == 100
            hourly_ms = _timed(lambda: client.get(hourly).raise_for_status(), 20)
            last_ms = _timed(lambda: client.get(last).raise_for_status(), 50)
    finally:
        server.stop()
    name = "(SELECT id FROM term WHERE iri = ?)"
    raw_hourly = _timed(
        lambda: backend.raw(
            backend.sql(
                f"SELECT (at - ?) / {HOUR}, avg(num) FROM history WHERE name_id = {name} AND dataset_id = 0 "
                "AND at >= ? AND at < ? GROUP BY 1"
            ),
            (start, SPEED, start, to_micros(end)),
        ),
        20,
    )
    raw_last = _timed(
        lambda: backend.raw(
            backend.sql(
                f"SELECT * FROM history WHERE name_id = {name} AND dataset_id = 0 ORDER BY at DESC LIMIT 100"
            ),
            (SPEED,),
        ),
        50,
    )
    report.add(
        f"{backend.name}: hourly avg over {instances:,} instances of one attribute ({periods:,} periods), ms",
        f"{_median(hourly_ms):.1f} median, {_p95(hourly_ms):.1f} p95",
        f"{_median(raw_hourly):.1f} raw GROUP BY",
        f"{_median(hourly_ms) / _median(raw_hourly):.1f}",
        "< 50 ms",
    )
    report.add(
        f"{backend.name}: lastN=100 of {instances:,} instances, ms",
        f"{_median(last_ms):.1f} median, {_p95(last_ms):.1f} p95",
        f"{_median(raw_last):.2f} raw ORDER BY ... LIMIT",
        f"{_median(last_ms) / _median(raw_last):.1f}",
        "< 10 ms",
    )
    live = backend.bytes_per_instance()
    if backend.pack is None:
        report.add(f"{backend.name}: history bytes per stored instance", f"{live:.1f}", "-", "-", "< 60")
        return
    packed = backend.pack()
    report.add(
        f"{backend.name}: history bytes per stored instance, packed (chunks, table, indexes, TOAST)",
        f"{backend.bytes_per_instance():.1f}",
        f"{live:.1f} live (unpacked)",
        "-",
        "< 60",
    )
    report.notes.append(f"{backend.name}: packed {packed:,} history instances (a chunk per series and day).")
    server = servers.smartby(backend.url)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert len(client.get(hourly).json()["speed"]["avg"]) == periods
            assert len(client.get(last).json()["speed"]) == 100
            hourly_packed = _timed(lambda: client.get(hourly).raise_for_status(), 20)
            last_packed = _timed(lambda: client.get(last).raise_for_status(), 50)
    finally:
        server.stop()
    report.add(
        f"{backend.name}: hourly avg over {instances:,} packed instances, ms",
        f"{_median(hourly_packed):.1f} median, {_p95(hourly_packed):.1f} p95",
        f"{_median(hourly_ms):.1f} unpacked",
        f"{_median(hourly_packed) / _median(hourly_ms):.1f}",
        "< 50 ms",
    )
    report.add(
        f"{backend.name}: lastN=100 of {instances:,} packed instances, ms",
        f"{_median(last_packed):.1f} median, {_p95(last_packed):.1f} p95",
        f"{_median(last_ms):.1f} unpacked",
        f"{_median(last_packed) / _median(last_ms):.1f}",
        "< 10 ms",
    )


def bench_many_entities(report: Any, backend: Backend) -> None:
    entities, instances = (1000, 8640) if not report.quick else (100, 8640)
    rate = asyncio.run(_load(backend.url, entities, instances, chunk=8640))
    total = entities * instances
    report.notes.append(
        f"{backend.name}: loaded {total:,} instances ({entities:,} entities x 30 days of 5-minute readings) "
        f"at {rate:,.0f}/s."
    )
    start = to_micros(YEAR_START)
    end = from_micros(start + instances * FIVE_MINUTES)
    server = servers.smartby(backend.url)
    try:
        daily = (
            f"{V1}/temporal/entities?type=Sensor&options=aggregatedValues&aggrMethods=sum&aggrPeriodDuration=P1D"
            f"&timerel=between&timeAt={YEAR_START}&endTimeAt={end}&limit={entities}"
        )
        with httpx.Client(base_url=server.url, timeout=600) as client:
            body = client.get(daily).json()
            assert len(body) == entities and len(body[0]["speed"]["sum"]) == 30
            times = _timed(lambda: client.get(daily).raise_for_status(), 3)
    finally:
        server.stop()
    raw = _timed(
        lambda: backend.raw(
            backend.sql(
                f"SELECT {backend.entity}, (at - ?) / {DAY}, sum(num) FROM history "
                "WHERE at >= ? AND at < ? GROUP BY 1, 2"
            ),
            (start, start, to_micros(end)),
        ),
        3,
    )
    report.add(
        f"{backend.name}: daily sum for {entities:,} entities over {total:,} instances, one request, ms",
        f"{_median(times):,.0f}",
        f"{_median(raw):,.0f} raw GROUP BY",
        f"{_median(times) / _median(raw):.2f}",
        "< 2,000 ms",
    )


def bench_ingest(report: Any, backend: Backend, seconds: int, workdir: Path) -> None:
    """Telemetry: batch upserts of new readings from a pool of existing sensors (3 numeric attributes
    each); every update replaces the current state and appends 3 instances to history."""
    pool = 10_000
    target = ">= 50,000" if backend.name == "SQLite" else ">= 30,000"
    if backend.name == "SQLite":
        raw = raw_sqlite.update_rate(
            workdir / "raw-ingest.db", pool, 30_000 if not report.quick else 5_000, 1000
        )
        driver = "raw sqlite3"
    for workers in (1, 2):
        server = servers.smartby(backend.url, workers=workers)
        try:
            wrk.run(
                f"{server.url}{V1}/entityOperations/upsert",
                script="telemetry.lua",
                args=("1000", str(pool)),
                seconds=3,
                connections=1,
                threads=1,
            )
            before = backend.history_rows()
            result = wrk.run(
                f"{server.url}{V1}/entityOperations/upsert",
                script="telemetry.lua",
                args=("1000", str(pool)),
                seconds=seconds,
                connections=2 * workers,
                threads=2,
            )
        finally:
            server.stop()
        stored = backend.history_rows() - before
        rate = result.requests_per_s * 3000
        if backend.name == "PostgreSQL" and workers == 1:
            # The same rows smartby just wrote, updated again by psycopg alone.
            raw = raw_postgres.update_rate(backend.url, 1000, 30 if not report.quick else 5)
            driver = "raw psycopg (COPY)"
        report.add(
            f"{backend.name}: ingest with history (batch upsert), {workers} worker(s), instances/s",
            f"{rate:,.0f}",
            f"{raw * 3:,.0f} {driver}, same rows",
            f"{rate / (raw * 3):.2f}",
            target,
        )
        report.notes.append(
            f"{backend.name}: ingest with {workers} worker(s) appended {stored:,} history instances."
        )


def run_all(report: Any, workdir: Path, seconds: int) -> None:
    with sqlite_backend(workdir / "year.db") as backend:
        bench_one_year(report, backend)
    with postgres_backend() as backend:
        bench_one_year(report, backend)
    with sqlite_backend(workdir / "month.db") as backend:
        bench_many_entities(report, backend)
    with postgres_backend() as backend:
        bench_many_entities(report, backend)
    with sqlite_backend(workdir / "ingest.db") as backend:
        bench_ingest(report, backend, seconds, workdir)
    with postgres_backend() as backend:
        bench_ingest(report, backend, seconds, workdir)
