"""The testbed's street lights obey commands: a dim changes the level they burn at and the power
they report, in the model and end to end (a command through smartby's API reaches the light over
real Mosquitto, or in the answer to its HTTP uplink, and the light's next reading confirms it)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from smartby.settings import Settings
from smartby.sim.city import City, Device, build_city
from smartby.sim.models import Payload, Simulation
from smartby.sim.runner import Plan, provision
from smartby.sim.targets import SmartbyTarget

WAIT = 30.0
PERIOD = timedelta(minutes=15)


def of_device(readings: list[tuple[Device, list[Payload]]], device: Device) -> list[Payload]:
    return [payload for found, payloads in readings if found is device for payload in payloads]


async def obeying(target: SmartbyTarget, city: City) -> Simulation:
    """The city provisioned on the target, simulated from two hours ago, its devices obeying."""
    await provision(target, city, Quiet())
    simulation = Simulation(city, datetime.now(UTC) - timedelta(hours=2))
    await target.obey(simulation)
    return simulation


async def dim(http: httpx.AsyncClient, light: Device, level: float) -> dict[str, Any]:
    sent = await http.post(
        f"/ingest/v1/devices/{light.device_id}/commands", json={"name": "dim", "value": level}
    )
    assert sent.status_code == 201, sent.text
    command: dict[str, Any] = sent.json()
    return command


class Quiet:
    def phase(self, label: str, total: int) -> None:
        pass

    def step(self, count: int) -> None:
        pass

    def done(self) -> None:
        pass


def test_a_dimmed_light_reports_its_level_and_less_power() -> None:
    city = build_city(20, seed=3)
    light = city.of_kind("sim-streetlight")[0]
    watts = light.params["watts"]
    simulation = Simulation(city, datetime(2026, 12, 7, 12, tzinfo=UTC))
    simulation.advance(datetime(2026, 12, 7, 13, tzinfo=UTC), PERIOD)
    assert simulation.command(light.device_id, {"illuminanceLevel": 0.4})
    reported = of_device(simulation.advance(datetime(2026, 12, 7, 13, 30, tzinfo=UTC), PERIOD), light)[-1]
    assert reported["illuminanceLevel"] == 0.4 and reported["powerState"] == "low"
    assert reported["powerConsumption"] == pytest.approx(watts * (0.1 + 0.9 * 0.4), abs=0.1)
    assert simulation.command(light.device_id, {"illuminanceLevel": 0})
    reported = of_device(simulation.advance(datetime(2026, 12, 7, 14, tzinfo=UTC), PERIOD), light)[-1]
    assert reported["powerConsumption"] == 0.0 and reported["powerState"] == "off"
    assert not simulation.command("no-such-device", {"illuminanceLevel": 1})
    assert not simulation.command(light.device_id, {"level": 1})


async def test_a_dim_sent_through_smartby_reaches_the_light_over_mqtt_and_is_confirmed(
    settings: Settings,
) -> None:
    group = uuid.uuid4().hex[:10]
    server = LiveServer(
        settings.model_copy(
            update={
                "mqtt_url": "mqtt://127.0.0.1:1883",
                "mqtt_topics": ["smartby"],
                "mqtt_shared_group": f"g{group}",
                "mqtt_client_id": f"smartby-simcmd-{group}",
                "mqtt_session_expiry": 0,
            }
        )
    )
    server.start()
    tenant = f"simcmd{group}"
    city = build_city(20, seed=5)
    light = city.of_kind("sim-streetlight")[0]
    target = SmartbyTarget(server.url, tenant, mqtt_url="mqtt://127.0.0.1:1883")
    try:
        simulation = await obeying(target, city)
        headers = {"NGSILD-Tenant": tenant}
        async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=headers) as http:
            command = await dim(http, light, 0.4)
            assert command["state"] == "sent"
            deadline = time.monotonic() + WAIT
            while target.commands_taken < 1:
                assert time.monotonic() < deadline, "the light did not get the command"
                await asyncio.sleep(0.05)
            readings = simulation.advance(simulation.clock + timedelta(minutes=10), Plan().live_period)
            reported = of_device(readings, light)[-1]
            assert reported["illuminanceLevel"] == 0.4
            await target.send(readings)
            path = f"/ingest/v1/devices/{light.device_id}/commands/{command['id']}"
            while (found := (await http.get(path)).json())["state"] != "confirmed":
                assert time.monotonic() < deadline, found
                await asyncio.sleep(0.1)
            entity = (await http.get(f"/ngsi-ld/v1/entities/{light.entity_id}")).json()
            assert entity["dim_status"]["value"] == "OK"
    finally:
        await target.close()
        server.stop()


async def test_over_http_a_light_takes_its_dim_from_the_answer_to_its_uplink(live_server: LiveServer) -> None:
    tenant = f"simhttp{uuid.uuid4().hex[:10]}"
    city = build_city(20, seed=6)
    light = city.of_kind("sim-streetlight")[0]
    target = SmartbyTarget(live_server.url, tenant)
    try:
        simulation = await obeying(target, city)
        headers = {"NGSILD-Tenant": tenant}
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30, headers=headers) as http:
            command = await dim(http, light, 0.6)
            assert command["state"] == "pending"
            await target.send(simulation.advance(simulation.clock + timedelta(minutes=10), PERIOD))
            assert target.commands_taken == 1
            readings = simulation.advance(simulation.clock + timedelta(minutes=10), PERIOD)
            reported = of_device(readings, light)[-1]
            assert reported["illuminanceLevel"] == 0.6
            assert reported["powerConsumption"] == pytest.approx(
                light.params["watts"] * (0.1 + 0.9 * 0.6), abs=0.1
            )
            await target.send(readings)
            found = (await http.get(f"/ingest/v1/devices/{light.device_id}/commands/{command['id']}")).json()
            assert found["state"] == "confirmed", found
    finally:
        await target.close()
