"""The dashboard's first load with a city of 10,000 devices: time from navigation start until the map
has drawn its markers, and the bytes transferred (until then, and once plotly.js has loaded too).

python -m bench.dashboard                      # 10,000 devices on SQLite, 5 cold loads
python -m bench.dashboard --devices 2000 --runs 3 --database postgresql://...

The city is written in-process through the broker (District polygons, then devices of every domain
of the testbed contract with a current reading); a `smartby serve` process serves it; Debian's
Chromium, driven by Playwright, loads the page in a fresh browser context (empty cache) each run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from playwright.sync_api import Page, sync_playwright

from bench import servers
from bench.history import postgres_backend, sqlite_backend
from smartby.broker import DEFAULT_TENANT, Broker
from smartby.ngsild.timestamps import format_datetime
from smartby.settings import Settings
from smartby.store import open_store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
T = TypeVar("T")
SDM = "https://smart-data-models.github.io/dataModel.{}/context.jsonld"
WEST, EAST, SOUTH, NORTH = 12.45, 12.65, 55.61, 55.73
COLUMNS, ROWS = 4, 3
MIX = [
    # (type[:vehicleType], Smart Data Models context, share of the devices)
    ("Streetlight", "Streetlighting", 0.60),
    ("StreetlightControlCabinet", "Streetlighting", 0.012),
    ("TrafficFlowObserved", "Transportation", 0.06),
    ("TrafficFlowObserved:bicycle", "Transportation", 0.02),
    ("AirQualityObserved", "Environment", 0.008),
    ("WeatherObserved", "Weather", 0.01),
    ("FloodMonitoring", "Environment", 0.03),
    ("Building", "Building", 0.12),
    ("SmartMeteringObservation", "Device", 0.12),
    ("EVChargingStation", "Transportation", 0.02),
]


def prop(value: Any, unit: str | None = None, at: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        out["unitCode"] = unit
    if at:
        out["observedAt"] = at
    return out


def district_bodies() -> list[dict[str, Any]]:
    width, height = (EAST - WEST) / COLUMNS, (NORTH - SOUTH) / ROWS
    bodies = []
    for row in range(ROWS):
        for column in range(COLUMNS):
            x0, y0 = WEST + column * width, SOUTH + row * height
            ring = [[x0, y0], [x0 + width, y0], [x0 + width, y0 + height], [x0, y0 + height], [x0, y0]]
            bodies.append(
                {
                    "id": f"urn:ngsi-ld:District:d{row}{column}",
                    "type": "District",
                    "name": prop(f"District {row}{column}"),
                    "population": prop(30_000 + 1000 * column),
                    "location": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [ring]}},
                }
            )
    return bodies


def device_body(kind: str, number: int, rng: random.Random, at: str) -> dict[str, Any]:
    type_name, _, vehicle = kind.partition(":")
    column, row = rng.randrange(COLUMNS), rng.randrange(ROWS)
    lon = WEST + (EAST - WEST) * (column + rng.random()) / COLUMNS
    lat = SOUTH + (NORTH - SOUTH) * (row + rng.random()) / ROWS
    slug = f"d{row}{column}-{number:05d}"
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:{type_name}:{slug}",
        "type": type_name,
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
        "refDistrict": {"type": "Relationship", "object": f"urn:ngsi-ld:District:d{row}{column}"},
    }
    readings: dict[str, Callable[[], dict[str, Any]]] = {
        "Streetlight": lambda: {
            "powerState": prop(rng.choice(["on", "on", "low", "off"]), at=at),
            "status": prop("ok" if rng.random() > 0.02 else "defectiveLamp", at=at),
            "illuminanceLevel": prop(rng.random(), "C62", at),
            "powerConsumption": prop(rng.uniform(10, 60), "WTT", at),
        },
        "StreetlightControlCabinet": lambda: {
            "energyConsumed": prop(rng.uniform(1000, 9000), "KWH", at),
            "totalActivePower": prop(rng.uniform(0.5, 4), "KWT", at),
        },
        "TrafficFlowObserved": lambda: {
            "vehicleType": prop(vehicle or "car"),
            "intensity": prop(rng.uniform(0, 1800), at=at),
            "capacity": prop(1800),
        },
        "AirQualityObserved": lambda: {"airQualityIndex": prop(rng.uniform(10, 180), at=at)},
        "WeatherObserved": lambda: {
            "precipitation": prop(rng.choice([0, 0, 0.1, 0.5, 1.5, 3.0]), "MMT", at),
            "temperature": prop(rng.uniform(-2, 8), "CEL", at),
        },
        "FloodMonitoring": lambda: {
            "currentLevel": prop(rng.uniform(0, 2), "MTR", at),
            "dangerLevel": prop(2.0, "MTR"),
        },
        "Building": lambda: {
            "name": prop(f"Building {slug}"),
            "heatedArea": prop(rng.uniform(100, 5000), "MTK"),
        },
        "SmartMeteringObservation": lambda: {
            "meterType": prop("heat"),
            "totalConsumption": prop(rng.uniform(1e4, 1e6), "KWH", at),
        },
        "EVChargingStation": lambda: {
            "capacity": prop(4),
            "availableCapacity": prop(rng.randrange(5), at=at),
            "status": prop("working" if rng.random() > 0.05 else "outOfService", at=at),
        },
    }
    body.update(readings[type_name]())
    return body


async def provision(database: str, devices: int) -> None:
    settings = Settings(database=database, remote_contexts=False, _env_file=None)  # type: ignore[call-arg]
    broker = Broker(open_store(database, settings), settings)
    await broker.open()
    try:
        rng = random.Random(5)
        at = format_datetime(datetime.now(UTC))
        core = await broker.context(None)
        await broker.batch_upsert(DEFAULT_TENANT, core, district_bodies())
        counts = {kind: max(1, round(devices * share)) for kind, _, share in MIX if kind != "Streetlight"}
        counts["Streetlight"] = devices - sum(counts.values())
        number = 0
        for kind, model, _ in MIX:
            count = counts[kind]
            ctx = await broker.context(SDM.format(model))
            bodies = []
            for _ in range(count):
                bodies.append(device_body(kind, number, rng, at))
                number += 1
            for first in range(0, len(bodies), 1000):
                result = await broker.batch_upsert(DEFAULT_TENANT, ctx, bodies[first : first + 1000])
                assert not result.errors, result.errors[:3]
        grid = {
            "id": "urn:ngsi-ld:GridSignal:DK2",
            "type": "GridSignal",
            "area": prop("DK2"),
            "price": {**prop(612.5, at=at), "unitText": prop("DKK/MWh")},
            "co2Intensity": {**prop(95.0, at=at), "unitText": prop("g/kWh")},
        }
        await broker.batch_upsert(DEFAULT_TENANT, core, [grid])
    finally:
        await broker.close()


def load_once(page: Page, url: str) -> dict[str, float]:
    """One cold load: ms to markers drawn, and bytes transferred until then and in all."""
    transferred: list[int] = []
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    def finished(request: Any) -> None:
        sizes = request.sizes()
        transferred.append(int(sizes["responseBodySize"]) + int(sizes["responseHeadersSize"]))

    page.on("requestfinished", finished)
    page.goto(url)
    page.wait_for_function("window.smartby && window.smartby.firstDrawMs !== null", timeout=60_000)
    drawn_ms = float(page.evaluate("window.smartby.firstDrawMs"))
    markers = int(page.evaluate("window.smartby.drawn"))
    until_drawn = sum(transferred)
    page.wait_for_function("window.Plotly !== undefined", timeout=60_000)
    page.wait_for_load_state("networkidle")
    if errors:
        raise RuntimeError(f"console errors: {errors}")
    return {
        "drawn_ms": drawn_ms,
        "markers": markers,
        "bytes_until_drawn": until_drawn,
        "bytes_total": sum(transferred),
    }


def cold_loads(url: str, runs: int, load: Callable[[Page, str], T]) -> list[T]:
    """`load` of `url`, `runs` times, each in a fresh browser context (an empty cache)."""
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                context = browser.new_context(viewport={"width": 1366, "height": 900})
                try:
                    results.append(load(context.new_page(), url))
                finally:
                    context.close()
        finally:
            browser.close()
    return results


def measure(url: str, runs: int) -> list[dict[str, float]]:
    return cold_loads(url, runs, load_once)


def plain_load(page: Page, url: str) -> float:
    """ms from navigation start to `load`."""
    page.goto(url, wait_until="load")
    return float(
        page.evaluate(
            "performance.getEntriesByType('navigation')[0].loadEventEnd"
            " - performance.getEntriesByType('navigation')[0].startTime"
        )
    )


def browser_floor(url: str, runs: int) -> list[float]:
    """Loads of a tiny page from the raw ASGI baseline: what the browser costs before smartby's
    page does anything."""
    return cold_loads(url, runs, plain_load)


def devices_feed(url: str) -> tuple[int, int, float]:
    """/dashboard/api/devices: its bytes, its gzipped bytes, and the median ms of 3 requests that each
    read the whole city again."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        answer = httpx.get(f"{url}/dashboard/api/devices", headers={"Accept-Encoding": "gzip"}, timeout=60)
        took = time.perf_counter() - started
        timings.append(took * 1000)
        time.sleep(max(2.1, 5 * took + 0.2))  # past the snapshot's age: each request reads again
    return len(answer.content), answer.num_bytes_downloaded, statistics.median(timings)


def run(report: Any, workdir: Path) -> None:
    """The dashboard's first load with 10,000 devices (2,000 with --quick) on each backend, beside
    the browser's floor measured in the same run."""
    devices = 2000 if report.quick else 10_000
    runs = 3 if report.quick else 5
    base = servers.baseline()
    try:
        floor = statistics.median(browser_floor(f"{base.url}/entity", runs))
    finally:
        base.stop()
    for backend in (sqlite_backend(workdir / "dashboard.db"), postgres_backend()):
        with backend as database:
            asyncio.run(provision(database.url, devices))
            server = servers.smartby(database.url)
            try:
                size, gzipped, feed_ms = devices_feed(server.url)
                results = measure(server.url + "/", runs)
            finally:
                server.stop()
        drawn = statistics.median(r["drawn_ms"] for r in results)
        until_drawn = statistics.median(r["bytes_until_drawn"] for r in results)
        total = statistics.median(r["bytes_total"] for r in results)
        report.add(
            f"{database.name}: dashboard first load with {devices:,} devices, navigation to markers "
            f"drawn (median of {runs} cold loads), ms",
            f"{drawn:,.0f} ({until_drawn / 1024:,.0f} KB until drawn, {total / 1024:,.0f} KB in all)",
            f"{floor:,.0f} Chromium loading a raw ASGI page",
            f"{drawn / floor:.1f}",
            "< 2,000 ms",
        )
        report.notes.append(
            f"{database.name}: the dashboard's device feed (/dashboard/api/devices) for {devices:,} devices "
            f"is {size / 1024:,.0f} KB, {gzipped / 1024:,.0f} KB gzipped, built in {feed_ms:,.0f} ms "
            "(median of 3, each reading the whole city)."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", help="a database URL (default: a new SQLite file)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = options.database or f"sqlite:///{Path(folder) / 'city.db'}"
        started = time.perf_counter()
        asyncio.run(provision(database, options.devices))
        print(f"provisioned {options.devices} devices in {time.perf_counter() - started:.1f} s")
        server = servers.smartby(database)
        try:
            size, gzipped, feed_ms = devices_feed(server.url)
            print(
                f"/dashboard/api/devices: {size:,} bytes, {gzipped:,} gzipped; {feed_ms:.0f} ms "
                "(median of 3, each reading the whole city)"
            )
            results = measure(server.url + "/", options.runs)
        finally:
            server.stop()
    for key in ("drawn_ms", "markers", "bytes_until_drawn", "bytes_total"):
        values = [r[key] for r in results]
        print(
            f"{key}: median {statistics.median(values):,.0f}, min {min(values):,.0f}, max {max(values):,.0f}"
        )


if __name__ == "__main__":
    main()
