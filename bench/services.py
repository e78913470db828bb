"""City services (issue 12): what running them costs ingestion, and how soon a reading's alert exists.

- Ingest cost: telemetry batch upserts (the history section's load) into a server running no
  service (`SMARTBY_SERVICES=[]`) and into one running every built-in service, alternately, same
  run. The services' feed rows are written in each write's transaction and handled in the same
  process, so both the write path and the handling are in the figure; the backlog left in
  `service_change` when the load stops, and how long it took to drain, say whether the services
  kept up.
- Change to alert: the testbed's live rate (2,000 street lights reporting their power every
  5 seconds, 400 readings/s, as `smartby demo` streams at 60x) into a server running the built-in
  services, replaying hours of the last day at 60x (so a light reports every 5 minutes of
  observedAt); every 5 seconds 10 more lights start to fail (no power while their program has them
  on, or power while it has them off, whichever the replayed hours give). The reading that
  completes a fault's 15 minutes opens its `Alert`: the latency of a fault is its Alert's createdAt
  minus the moment the write of that reading was acknowledged.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import servers, wrk

V1 = "/ngsi-ld/v1"
POOL = 10_000


def _pending(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM service_change").fetchone()[0])


def drain(database: Path, limit: float = 120.0) -> tuple[int, float]:
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
        left, drained = drain(database) if "services" not in settings else (0, 0.0)
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


JSONLD = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
LIGHTING = f"<https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld>; {JSONLD}"
ALERTING = f"<https://smart-data-models.github.io/dataModel.Alert/context.jsonld>; {JSONLD}"
GROUP = "urn:ngsi-ld:StreetlightGroup:bench"
RATING = 100.0


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _light(number: int, watts: float, observed: datetime) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Streetlight:bench-{number}",
        "type": "Streetlight",
        "powerConsumption": {"type": "Property", "value": watts, "observedAt": _iso(observed)},
    }


async def _level(client: httpx.AsyncClient, moment: datetime) -> float:
    """The level the group's program (the shipped dusk-to-dawn one) sets at `moment`."""
    level = 0.0
    for day in (moment - timedelta(days=1), moment):
        answer = await client.get(
            "/lighting/v1/schedule", params={"group": GROUP, "date": day.date().isoformat()}
        )
        answer.raise_for_status()
        for event in answer.json():
            if datetime.fromisoformat(event["at"].replace("Z", "+00:00")) <= moment:
                level = float(event["illuminanceLevel"])
    return level


async def _replay_start(client: httpx.AsyncClient, span: timedelta) -> tuple[datetime, bool]:
    """A start, whole hours before now, from which the program keeps its lights on (or off) for
    `span`; and whether they are on."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for hours in range(2, 26):
        start = now - timedelta(hours=hours)
        levels = {await _level(client, start + span * k / 4) > 0 for k in range(5)}
        if len(levels) == 1:
            return start, levels.pop()
    return now - timedelta(hours=2), True


async def _fault_latencies(url: str, lights: int, seconds: int) -> tuple[list[float], int, int]:
    period = 5.0  # wall seconds between two readings of a light, 5 minutes of replayed time
    speed = 60.0
    headers = {"Link": LIGHTING}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        group = {
            "id": GROUP,
            "type": "StreetlightGroup",
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.568, 55.676]}},
        }
        (await client.post(f"{V1}/entityOperations/upsert", json=[group])).raise_for_status()
        start, lit = await _replay_start(client, timedelta(seconds=(seconds + 30) * speed))
        normal, broken = (RATING, 0.0) if lit else (0.0, RATING)
        seed = [
            {
                **_light(n, normal, start - timedelta(minutes=5)),
                "powerRating": {"type": "Property", "value": RATING},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [12.56 + n * 1e-5, 55.67]},
                },
                "refStreetlightGroup": {"type": "Relationship", "object": GROUP},
            }
            for n in range(lights)
        ]
        for first in range(0, lights, 500):
            answer = await client.post(f"{V1}/entityOperations/upsert", json=seed[first : first + 500])
            answer.raise_for_status()

        slices = 50  # a batch every 0.1 s, each light in one slice
        broke: dict[int, datetime] = {}  # light -> replayed time its fault began
        first_broken: dict[int, datetime] = {}  # light -> observedAt of its first faulty reading
        completed: dict[str, float] = {}  # alertSource -> when its completing reading was acknowledged
        origin = time.monotonic()
        tick = 0
        while time.monotonic() - origin < seconds:
            elapsed = time.monotonic() - origin
            observed = start + timedelta(seconds=elapsed * speed)
            if tick % slices == 0:  # 10 more lights fail from now on
                first = (tick // slices) * 10 % lights
                for n in range(first, first + 10):
                    broke.setdefault(n, observed)
            body, finishing = [], []
            for n in range(tick % slices, lights, slices):
                if n not in broke:
                    body.append(_light(n, normal, observed))
                    continue
                body.append(_light(n, broken, observed))
                first_broken.setdefault(n, observed)
                if observed - first_broken[n] >= timedelta(minutes=15):
                    finishing.append(n)
            answer = await client.post(
                f"{V1}/entityOperations/upsert", params={"options": "update"}, json=body
            )
            answer.raise_for_status()
            acknowledged = time.time()
            for n in finishing:
                completed.setdefault(f"urn:ngsi-ld:Streetlight:bench-{n}", acknowledged)
            tick += 1
            await asyncio.sleep(max(0.0, origin + tick * period / slices - time.monotonic()))
        await asyncio.sleep(5)  # the last alerts
        latencies, alerts = await alert_latencies(client, 'dataProvider=="lighting"', completed)
    return latencies, len(completed), alerts


async def alert_latencies(
    client: httpx.AsyncClient, q: str, completed: dict[str, float]
) -> tuple[list[float], int]:
    """Per Alert matching `q` whose source is in `completed` (source -> when the reading that made
    it was acknowledged, epoch seconds), ms from then to the Alert's createdAt; and the Alerts found."""
    answer = await client.get(
        f"{V1}/entities",
        params={"type": "Alert", "options": "sysAttrs", "limit": "1000", "q": q},
        headers={"Link": ALERTING},
    )
    answer.raise_for_status()
    latencies = []
    for alert in answer.json():
        source = alert.get("alertSource", {}).get("value")
        created = datetime.fromisoformat(alert["createdAt"].replace("Z", "+00:00")).timestamp()
        if source in completed:
            latencies.append((created - completed[source]) * 1000)
    return latencies, len(answer.json())


def bench_fault_latency(report: Any, workdir: Path, seconds: int) -> None:
    lights = 2_000
    # The run replays the last hours at 60x (observedAt runs ahead of the wall clock, as the
    # testbed's does), so the checks for silent devices must not count those hours as silence.
    server = servers.smartby(
        f"sqlite:///{workdir / 'lighting.db'}",
        workers=1,
        lighting_reporting_interval="86400",
        freshness_max_silence="172800",
    )
    try:
        latencies, faults, alerts = asyncio.run(_fault_latencies(server.url, lights, 15 + 3 * seconds))
    finally:
        server.stop()
    if not latencies:
        report.notes.append(f"Change to alert: no alert of {faults} faults was found ({alerts} alerts).")
        return
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    report.add(
        f"SQLite: a street light's fault, committed reading to its Alert, at the testbed's live rate "
        f"({lights:,} lights, {lights // 5} readings/s), p95 ms",
        f"{p95:.0f} (median {statistics.median(latencies):.0f})",
        "-",
        "-",
        "-",
    )
    report.notes.append(
        f"Change to alert: {faults} faults completed, {len(latencies)} of them found as Alerts "
        f"({alerts} lighting alerts in all)."
    )


def run(report: Any, workdir: Path, seconds: int) -> None:
    from bench import mobility

    bench_ingest_cost(report, workdir, seconds)
    bench_fault_latency(report, workdir, seconds)
    mobility.run(report, workdir, seconds)
