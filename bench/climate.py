"""The climate service (issue 14): how soon a cloudburst's Alert exists, and what the service costs
the testbed's live ingest.

- Rain to alert: 200 rain gauges (ten times the testbed's) report every 5 seconds, 5 minutes of
  observedAt (a replay at 60x, as `smartby demo` streams), into a server running the built-in
  services; every 5 seconds 5 more gauges start to rain 8 mm a reading. A gauge's second 8 mm reading
  takes its 30-minute sum over DMI's 15 mm: the latency of a cloudburst is its Alert's createdAt minus
  the moment the write of that reading was acknowledged.
- Cost on the testbed: the testbed (2,000 devices, `smartby.sim`) streams the 2 July 2011 scenario
  live at 120x through the device API (an hour of it back-filled first) into a server running no
  service, then into one running `climate`, then into one running every built-in service (climate,
  mobility, the citizen reports, lighting, freshness); the server's CPU seconds per wall second in
  the live phase, and the backlog the services left in `service_change` when it stopped.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import servers
from bench.services import alert_latencies

V1 = "/ngsi-ld/v1"
JSONLD = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
WEATHER = f"<https://smart-data-models.github.io/dataModel.Weather/context.jsonld>; {JSONLD}"
GAUGES = 200
START = datetime(2011, 7, 2, 12, 0, tzinfo=UTC)


def _gauge(number: int, mm: float, observed: datetime) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:WeatherObserved:bench-{number}",
        "type": "WeatherObserved",
        "precipitation": {
            "type": "Property",
            "value": mm,
            "unitCode": "MMT",
            "observedAt": observed.isoformat().replace("+00:00", "Z"),
        },
    }


async def _rain_latencies(url: str, seconds: int) -> tuple[list[float], int, int]:
    slices = 50  # a batch every 0.1 s, each gauge in one slice: every gauge every 5 s
    period = 5.0
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Link": WEATHER}) as client:
        seed = [_gauge(n, 0.0, START) for n in range(GAUGES)]
        (await client.post(f"{V1}/entityOperations/upsert", json=seed)).raise_for_status()
        raining: dict[int, int] = {}  # gauge -> rainy readings sent
        completed: dict[str, float] = {}  # alertSource -> when its completing reading was acknowledged
        origin = time.monotonic()
        tick = 0
        while time.monotonic() - origin < seconds:
            if tick % slices == 0:  # 5 more gauges start to rain
                first = (tick // slices) * 5 % GAUGES
                for n in range(first, first + 5):
                    raining.setdefault(n, 0)
            observed = START + timedelta(minutes=5) * (tick // slices + 1)
            body, finishing = [], []
            for n in range(tick % slices, GAUGES, slices):
                if n in raining:
                    raining[n] += 1
                    if raining[n] == 2:
                        finishing.append(n)
                body.append(_gauge(n, 8.0 if n in raining else 0.0, observed))
            answer = await client.post(
                f"{V1}/entityOperations/upsert", params={"options": "update"}, json=body
            )
            answer.raise_for_status()
            acknowledged = time.time()
            for n in finishing:
                completed[f"urn:ngsi-ld:WeatherObserved:bench-{n}"] = acknowledged
            tick += 1
            await asyncio.sleep(max(0.0, origin + tick * period / slices - time.monotonic()))
        await asyncio.sleep(5)  # the last alerts
        q = 'dataProvider=="climate";subCategory=="cloudburst"'
        latencies, alerts = await alert_latencies(client, q, completed)
    return latencies, len(completed), alerts


def bench_rain_latency(report: Any, workdir: Path, seconds: int) -> None:
    server = servers.smartby(
        f"sqlite:///{workdir / 'climate.db'}",
        workers=1,
        freshness_max_silence="1000000000",
    )
    try:
        latencies, bursts, alerts = asyncio.run(_rain_latencies(server.url, 15 + 3 * seconds))
    finally:
        server.stop()
    if not latencies:
        report.notes.append(f"Rain to alert: no Alert of {bursts} cloudbursts was found ({alerts} alerts).")
        return
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    report.add(
        f"SQLite: a committed rain reading to its cloudburst Alert ({GAUGES} gauges every 5 s), p95 ms",
        f"{p95:.0f} (median {statistics.median(latencies):.0f})",
        "-",
        "-",
        "-",
    )
    report.notes.append(
        f"Rain to alert: {bursts} cloudbursts completed, {len(latencies)} of them found as Alerts "
        f"({alerts} cloudburst alerts in all)."
    )


def _cpu_seconds(server: servers.Server) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in server.pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


class _Quiet:
    def phase(self, label: str, total: int) -> None: ...

    def step(self, count: int) -> None: ...

    def done(self) -> None: ...


async def _testbed(server: servers.Server, seconds: float) -> tuple[float, int]:
    """Stream the 2011 scenario live for `seconds`: the server's CPU seconds, readings sent."""
    from smartby.sim.city import build_city
    from smartby.sim.models import Simulation
    from smartby.sim.runner import Plan, backfill, provision, start_heartbeats, stream
    from smartby.sim.scenarios import SCENARIOS
    from smartby.sim.targets import SmartbyTarget

    scenario = SCENARIOS["cloudburst-2011"]
    city = build_city(2000, 1)
    target = SmartbyTarget(server.url)
    try:
        await provision(target, city, _Quiet())
        simulation = Simulation(city, scenario.live_from - timedelta(hours=1), scenario)
        plan = Plan(resolution=timedelta(minutes=5), speed=120.0, duration=seconds)
        await backfill(target, simulation, scenario.live_from, plan, _Quiet())
        await start_heartbeats(target, simulation)
        before = _cpu_seconds(server)
        tally = await stream(target, simulation, plan)
        return _cpu_seconds(server) - before, tally.readings
    finally:
        await target.close()


def _backlog(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM service_change").fetchone()[0])


RUNS = (("none", "[]"), ("climate", '["climate"]'), ("every built-in service", None))
"""What the server runs in each phase: no service, the climate service alone, and every built-in
one (climate, mobility, lighting, freshness and the rest: the default)."""


def bench_testbed_cost(report: Any, workdir: Path, seconds: int) -> None:
    live = float(max(60, 6 * seconds))
    figures: dict[str, tuple[float, int, int]] = {}
    for label, services in RUNS:
        database = workdir / f"testbed-{len(figures)}.db"
        chosen = {} if services is None else {"services": services}
        server = servers.smartby(f"sqlite:///{database}", workers=1, **chosen)
        try:
            cpu, sent = asyncio.run(_testbed(server, live))
            figures[label] = (cpu, sent, _backlog(database))
        finally:
            server.stop()
    off = figures["none"][0]
    for label, what in (("climate", "`climate`"), ("every built-in service", "every built-in service")):
        on = figures[label][0]
        report.add(
            "SQLite: server CPU streaming the testbed's 2011 cloudburst live at 120x with "
            f"{what}, CPU s per wall s",
            f"{on / live:.2f}",
            f"{off / live:.2f} with SMARTBY_SERVICES=[], same run",
            f"{on / off:.2f}" if off else "-",
            "-",
        )
    report.notes.append(
        f"Services on the testbed: {live:.0f} s live at 120x each (2,000 devices, scenario "
        "cloudburst-2011); "
        + "; ".join(
            f"{label}: {sent:,} readings streamed, server CPU {cpu:.1f} s, {left:,} rows of the services' "
            "feed left when streaming stopped"
            for label, (cpu, sent, left) in figures.items()
        )
        + "."
    )


def run(report: Any, workdir: Path, seconds: int) -> None:
    bench_rain_latency(report, workdir, seconds)
    bench_testbed_cost(report, workdir, seconds)
