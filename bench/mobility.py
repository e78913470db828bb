"""The mobility service (issue 14) on the testbed's traffic: what it costs live ingest, and its daily job.

- Seed: the testbed's car counters (75 `TrafficFlowObserved`, `intensity` and `averageVehicleSpeed`,
  a morning and evening peak) with 28 days of history every 15 minutes, loaded with
  `smartby import csv` into one SQLite file copied for each server.
- Ingest cost: the next day's readings, every counter every 5 minutes of observedAt, at ten times
  the testbed's live rate (`smartby demo` at 60x sends a round every 5 wall seconds; here every 0.5
  s), into a server running only the mobility service and one running none (`SMARTBY_SERVICES=[]`),
  same run: the server's CPU seconds per reading with and without. The service judges each
  segment's newest reading of a batch in the server's process (its level of service against the
  day's free flow, read once per counter and day; the weekday-hour's usual counts, read once per
  counter and hour; its last 75 minutes of speed); the backlog left in `service_change` when the load
  stops and the seconds to handle it say whether it kept up.
- Daily job: `POST /mobility/v1/kpis` for the last seeded day (every counter's 29 days read, four
  indicators per counter and two for the city written).
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import servers
from bench.services import drain

V1 = "/ngsi-ld/v1"
COUNTERS = 75
ROUND = 0.5
"""Wall seconds between two rounds of every counter's reading (the testbed at 60x: 5)."""
DAYS = 28
TRANSPORT = (
    "<https://smart-data-models.github.io/dataModel.Transportation/context.jsonld>; "
    'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
)
MAPPING = """type = "TrafficFlowObserved"
id = "urn:ngsi-ld:TrafficFlowObserved:bench-{counter}"
context = "https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"
[time]
utc_column = "at"
[[attributes]]
column = "intensity"
name = "intensity"
type = "integer"
[[attributes]]
column = "speed"
name = "averageVehicleSpeed"
"""
START = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # local midnight, Copenhagen


def reading(counter: int, at: datetime) -> tuple[int, float]:
    """A counter's count and speed at `at`: two daily peaks, quiet nights, per-counter load."""
    hour = (at.hour + 1 + at.minute / 60) % 24
    ratio = 0.05 + 0.9 * math.exp(-((hour - 8) ** 2) / 2) + 0.8 * math.exp(-((hour - 16.5) ** 2) / 3)
    ratio *= 0.7 + 0.4 * ((counter * 37) % 10) / 10
    free = (40, 50, 50, 60)[counter % 4]
    return round(1800 * ratio / 12), round(free * max(0.2, 1 - 0.6 * ratio**3), 1)


def seed(workdir: Path) -> Path:
    database = workdir / "mobility-seed.db"
    rows = ["counter,at,intensity,speed"]
    for step in range(DAYS * 96):
        at = START + timedelta(minutes=15 * step)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        for counter in range(COUNTERS):
            count, speed = reading(counter, at)
            rows.append(f"{counter},{stamp},{count},{speed}")
    (workdir / "traffic.csv").write_text("\n".join(rows) + "\n")
    (workdir / "traffic.toml").write_text(MAPPING)
    command = [sys.executable, "-m", "smartby", "import", "csv", str(workdir / "traffic.csv")]
    command += ["--mapping", str(workdir / "traffic.toml"), "--database", f"sqlite:///{database}"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        env={"SMARTBY_REMOTE_CONTEXTS": "false", "SMARTBY_SERVICES": "[]"} | _path(),
    )
    return database


def _path() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key in ("PATH", "PYTHONPATH", "HOME")}


def _round(at: datetime) -> list[dict[str, Any]]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = []
    for counter in range(COUNTERS):
        count, speed = reading(counter, at)
        body.append(
            {
                "id": f"urn:ngsi-ld:TrafficFlowObserved:bench-{counter}",
                "type": "TrafficFlowObserved",
                "intensity": {"type": "Property", "value": count, "observedAt": stamp},
                "averageVehicleSpeed": {"type": "Property", "value": speed, "observedAt": stamp},
            }
        )
    return body


async def _stream(url: str, seconds: float) -> int:
    """Rounds of the day after the seed, one every ROUND seconds; the readings sent."""
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"Link": TRANSPORT}) as client:
        origin = time.monotonic()
        at = START + timedelta(days=DAYS, hours=5)
        while time.monotonic() - origin < seconds:
            answer = await client.post(f"{V1}/entityOperations/upsert", json=_round(at))
            answer.raise_for_status()
            sent += COUNTERS
            at += timedelta(minutes=5)
            await asyncio.sleep(max(0.0, origin + sent / COUNTERS * ROUND - time.monotonic()))
    return sent


def _cpu(server: servers.Server) -> float:
    """CPU seconds (user and system) the server's processes have used."""
    total = 0
    for pid in server.pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _ingest(database: Path, seconds: int, services: str) -> tuple[float, int, float]:
    """CPU ms per reading, the backlog when the load stopped and the seconds it took to handle."""
    server = servers.smartby(f"sqlite:///{database}", workers=1, services=services)
    try:
        before = _cpu(server)
        sent = asyncio.run(_stream(server.url, seconds))
        left, drained = drain(database, limit=300.0)
        used = _cpu(server) - before
    finally:
        server.stop()
    return used / sent * 1000, left, drained


def _daily(database: Path) -> float:
    server = servers.smartby(f"sqlite:///{database}", workers=1, services='["mobility"]')
    try:
        day = (START + timedelta(days=DAYS - 1, hours=12)).date().isoformat()
        started = time.perf_counter()
        answer = httpx.post(f"{server.url}/mobility/v1/kpis", params={"date": day}, timeout=600)
        answer.raise_for_status()
        return time.perf_counter() - started
    finally:
        server.stop()


def _copy(database: Path, name: str) -> Path:
    target = database.with_name(name)
    shutil.copy(database, target)
    return target


def run(report: Any, workdir: Path, seconds: int) -> None:
    started = time.perf_counter()
    database = seed(workdir)
    seeding = time.perf_counter() - started
    off, _, _ = _ingest(_copy(database, "mobility-off.db"), 3 * seconds, "[]")
    on, left, drained = _ingest(_copy(database, "mobility-on.db"), 3 * seconds, '["mobility"]')
    report.add(
        f"SQLite: server CPU ms per traffic reading ({COUNTERS} counters, {COUNTERS / ROUND:.0f} readings/s, "
        "10x the testbed's live rate) with the mobility service running",
        f"{on:.2f}",
        f"{off:.2f} with SMARTBY_SERVICES=[], same run",
        f"{on / off:.2f}",
        "-",
    )
    daily = _daily(_copy(database, "mobility-daily.db"))
    report.add(
        f"SQLite: the mobility service's daily indicators of {COUNTERS} segments (28 days of history "
        "each, POST /mobility/v1/kpis), s",
        f"{daily:.1f}",
        "-",
        "-",
        "-",
    )
    report.notes.append(
        f"Mobility: seeded {COUNTERS} counters x {DAYS} days every 15 minutes in {seeding:.0f} s; the "
        f"testbed's live rate is {COUNTERS / 5:.0f} traffic readings/s (a round every 5 s at 60x); "
        f"with the service, backlog when the load stopped {left:,} rows, handled in {drained:.1f} s."
    )
