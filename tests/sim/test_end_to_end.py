"""The testbed against a real smartby server, on each store backend: the simulator registers a small
city in the device registry, provisions its static entities, back-fills a few hours through the
device transports (HTTP uplinks with device keys, or MQTT), and the entities and their history are
in smartby. Also: any NGSI-LD broker through batch upserts, and `smartby demo` as a command."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer, free_port
from smartby.settings import Settings
from smartby.sim.city import City, UnitText, build_city
from smartby.sim.entities import link, lit_cabinets
from smartby.sim.models import Simulation
from smartby.sim.runner import Plan, Tally, backfill, provision, start_of_backfill
from smartby.sim.targets import NgsiLdTarget, SmartbyTarget, Target, target_for

V1 = "/ngsi-ld/v1"
PLAN = Plan(backfill=timedelta(hours=3), resolution=timedelta(minutes=30), window=timedelta(hours=1))


class Steps:
    def __init__(self) -> None:
        self.phases: dict[str, int] = {}
        self.counted: dict[str, int] = {}
        self.current = ""

    def phase(self, label: str, total: int) -> None:
        self.current = label
        self.phases[label] = total
        self.counted[label] = 0

    def step(self, count: int) -> None:
        self.counted[self.current] += count

    def done(self) -> None:
        pass


async def _run(target: Target, city: City) -> tuple[Tally, dict[str, list[dict[str, object]]], Steps]:
    """Provision and back-fill; the readings sent, by entity id."""
    steps = Steps()
    now = datetime.now(UTC)
    await provision(target, city, steps)
    simulation = Simulation(city, start_of_backfill(now, PLAN))
    sent: dict[str, list[dict[str, object]]] = {}
    original = target.send

    async def recording(readings):  # type: ignore[no-untyped-def]
        for device, payloads in readings:
            sent.setdefault(device.entity_id, []).extend(payloads)
        await original(readings)

    target.send = recording  # type: ignore[method-assign]
    tally = await backfill(target, simulation, now, PLAN, steps)
    return tally, sent, steps


async def _history(
    http: httpx.AsyncClient, city: City, entity_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    device = next(d for d in city.devices if d.entity_id == entity_id)
    response = await http.get(
        f"{V1}/temporal/entities/{entity_id}",
        params={"options": "temporalValues"},
        headers={**headers, **link(device.kind.context)},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _check_city(
    url: str, city: City, sent: dict[str, list[dict[str, object]]], headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as http:
        districts = (await http.get(f"{V1}/entities", params={"type": "District", "limit": 100})).json()
        assert len(districts) == 10
        assert all(d["location"]["value"]["type"] in ("Polygon", "MultiPolygon") for d in districts)
        for device in city.devices:
            entity = (
                await http.get(f"{V1}/entities/{device.entity_id}", headers=link(device.kind.context))
            ).json()
            assert entity["type"] == device.kind.entity_type
            assert entity["location"]["value"]["type"] == "Point"
            assert entity["refDistrict"]["object"].startswith("urn:ngsi-ld:District:")
            readings = sent.get(device.entity_id, [])
            assert readings, f"{device.entity_id} sent nothing"
            last = readings[-1]
            for name, unit in device.kind.readings:
                if name not in last:
                    continue
                assert entity[name]["value"] == last[name], (device.entity_id, name)
                assert entity[name]["observedAt"].startswith(str(last["t"])[:19])
                if isinstance(unit, UnitText):
                    assert entity[name]["unitText"] == {"type": "Property", "value": unit.text}
                    assert "unitCode" not in entity[name]
                elif unit is not None:
                    assert entity[name]["unitCode"] == unit
            history = await _history(http, city, device.entity_id, headers)
            for name, _ in device.kind.readings:
                expected = [(p[name], str(p["t"])) for p in readings if name in p]
                if not expected:
                    continue
                got = sorted((value, at) for value, at in history[name]["values"])
                assert got == sorted(expected), (device.entity_id, name)


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    """The real server of tests/conftest.py, on this test's backend."""
    return live_server


async def test_a_small_city_is_registered_provisioned_and_back_filled_through_http_uplinks(
    server: LiveServer,
) -> None:
    city = build_city(50, seed=5)
    target = await target_for(server.url)
    assert isinstance(target, SmartbyTarget)
    try:
        tally, sent, steps = await _run(target, city)
    finally:
        await target.close()
    assert tally.readings > 100 and tally.values > tally.readings
    provisioning = "Provisioning the city"
    lighting = len(lit_cabinets(city)) + 1  # a group per cabinet, the testbed's program
    assert (
        steps.counted[provisioning]
        == steps.phases[provisioning]
        == 10 + len(city.buildings) + 2 * 50 + lighting
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        devices = (await http.get("/ingest/v1/devices", params={"limit": 1000})).json()
        assert sorted(d["entityId"] for d in devices) == sorted(d.entity_id for d in city.devices)
        assert all(d["profile"].startswith("sim-") for d in devices)
        stats = (await http.get("/ingest/v1/stats")).json()
        assert stats["accepted"] == tally.uplinks and stats["deadLettered"] == 0
        assert stats["readings"] == tally.values
        assert (await http.get("/ingest/v1/deadletters")).json() == []
    await _check_city(server.url, city, sent, {})


async def test_a_second_run_on_the_same_server_takes_the_devices_over(server: LiveServer) -> None:
    city = build_city(12, seed=9)
    for _ in range(2):
        target = SmartbyTarget(server.url, tenant="again")
        try:
            steps = Steps()
            await provision(target, city, steps)
            simulation = Simulation(city, datetime.now(UTC) - timedelta(hours=1))
            await target.send(simulation.advance(datetime.now(UTC), timedelta(minutes=30)))
        finally:
            await target.close()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        stats = (await http.get("/ingest/v1/stats", headers={"NGSILD-Tenant": "again"})).json()
        assert stats["deadLettered"] == 0


async def test_any_ngsi_ld_broker_gets_the_city_through_batch_upserts(server: LiveServer) -> None:
    city = build_city(30, seed=6)
    tenant = "foreign"
    target = NgsiLdTarget(server.url, tenant)
    try:
        tally, sent, _ = await _run(target, city)
    finally:
        await target.close()
    assert tally.readings > 50
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        assert (await http.get("/ingest/v1/devices", headers={"NGSILD-Tenant": tenant})).json() == []
    await _check_city(server.url, city, sent, {"NGSILD-Tenant": tenant})


async def test_readings_over_mqtt_reach_smartby(settings: Settings) -> None:
    group = uuid.uuid4().hex[:10]
    mqtt_settings = settings.model_copy(
        update={
            "mqtt_url": "mqtt://127.0.0.1:1883",
            "mqtt_topics": ["smartby"],
            "mqtt_shared_group": f"g{group}",
            "mqtt_client_id": f"smartby-sim-{group}",
            "mqtt_session_expiry": 0,
        }
    )
    server = LiveServer(mqtt_settings)
    server.start()
    tenant = f"mqtt{group}"
    try:
        city = build_city(20, seed=4)
        target = SmartbyTarget(server.url, tenant, mqtt_url="mqtt://127.0.0.1:1883")
        try:
            tally, sent, _ = await _run(target, city)
        finally:
            await target.close()
        headers = {"NGSILD-Tenant": tenant}
        async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=headers) as http:
            deadline = time.monotonic() + 30
            while (stats := (await http.get("/ingest/v1/stats")).json())["readings"] < tally.values:
                assert time.monotonic() < deadline, stats
                await asyncio.sleep(0.2)
            assert stats["deadLettered"] == 0 and stats["accepted"] == tally.uplinks
        await _check_city(server.url, city, sent, headers)
    finally:
        server.stop()


def test_smartby_demo_serves_a_fresh_city_and_says_where(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "demo.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartby",
            "demo",
            "--database",
            f"sqlite:///{database}",
            "--port",
            str(port),
            "--devices",
            "30",
            "--backfill",
            "0.1",
            "--duration",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"sqlite:///{database}" in result.stdout
    assert f"Dashboard: http://127.0.0.1:{port}/" in result.stdout
    assert "Back-filled" in result.stdout and "Streamed" in result.stdout
    assert database.exists()
    again = subprocess.run(
        [sys.executable, "-m", "smartby", "demo", "--database", f"sqlite:///{database}", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert again.returncode == 2 and "exists" in again.stderr


def test_smartby_demo_leaves_a_running_demo_alone(tmp_path: Path) -> None:
    """A second `smartby demo` on a port that is taken refuses before it touches the database (it
    would replace the running demo's file and feed the running server)."""
    database = tmp_path / "smartby-demo.db"
    database.write_bytes(b"the running demo's")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "smartby", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Port {port} on 127.0.0.1 is taken" in result.stderr and "--port" in result.stderr
    assert database.read_bytes() == b"the running demo's"


def test_smartby_simulate_drives_a_running_smartby(server: LiveServer) -> None:
    from typer.testing import CliRunner

    from smartby.cli import app

    arguments = ["simulate", "--target", server.url, "--devices", "20", "--backfill", "0.05"]
    result = CliRunner().invoke(app, [*arguments, "--duration", "0", "--tenant", "cli"])
    assert result.exit_code == 0, result.output
    assert f"smartby at {server.url}" in result.output and "Back-filled" in result.output
    devices = httpx.get(f"{server.url}/ingest/v1/devices", headers={"NGSILD-Tenant": "cli"}).json()
    assert len(devices) == 20
    unreachable = CliRunner().invoke(app, ["simulate", "--target", f"http://127.0.0.1:{free_port()}"])
    assert unreachable.exit_code == 1 and "Cannot reach" in unreachable.output
