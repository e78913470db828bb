"""The testbed's silent faults through the lighting service, on both backends: a day of a small
synthetic city (its lights reporting every 15 minutes, written through the broker as the testbed's
readings are) gives exactly the three alerts it hides behind `status: ok`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.lighting.town import Town
from smartby.sim.city import City, build_city
from smartby.sim.entities import reading_fragment, static_entities
from smartby.sim.models import LIGHT_HEARTBEAT, Simulation

DAYS = [
    datetime(2026, 12, 20, 23, 0, tzinfo=UTC),  # local midnight of the shortest day
    datetime(2026, 6, 20, 22, 0, tzinfo=UTC),  # the longest (the program's summer rule)
    datetime(2026, 3, 28, 23, 0, tzinfo=UTC),  # the day summer time begins
]


def failing_openly(city: City, start: datetime) -> set[str]:
    """Lights whose own status says they failed that day (their lampFailure is no silent fault)."""
    found = set()
    for device, payloads in Simulation(city, start).advance(start + timedelta(days=1), timedelta(hours=1)):
        if device.kind.name == "sim-streetlight" and any(p["status"] != "ok" for p in payloads):
            found.add(device.entity_id)
    return found


@pytest.mark.parametrize("start", DAYS, ids=["midwinter", "midsummer", "spring-forward"])
async def test_the_testbed_s_silent_faults_become_alerts(town: Town, start: datetime) -> None:
    city = build_city(60, seed=3)
    for context, entity in static_entities(city):
        ctx = await town.broker.context([context] if context else None)
        assert not (await town.broker.batch_upsert("", ctx, [entity])).errors
    lights = city.of_kind("sim-streetlight")
    faulty = {light.params["fault"]: light.entity_id for light in lights if "fault" in light.params}
    sound = [light.entity_id for light in lights if "fault" not in light.params]
    watched = (set(sound[:6]) | set(faulty.values())) - failing_openly(city, start)
    assert len(watched) >= 6
    simulation = Simulation(city, start)
    simulation.heartbeat = LIGHT_HEARTBEAT
    moment = start
    while moment < start + timedelta(days=1):
        moment += timedelta(hours=2)
        for device, payloads in simulation.advance(moment, timedelta(hours=1)):
            if device.entity_id not in watched:
                continue
            ctx = await town.broker.context([device.kind.context])
            for payload in payloads:
                fragment = reading_fragment(device.kind, device.entity_id, payload)
                assert not (await town.broker.batch_upsert("", ctx, [fragment], mode="update")).errors
        await town.feed()
    await town.run("programs", moment)
    found = {(alert["alertSource"], alert["subCategory"]) for alert in await town.alerts()}
    silent = {"deadLamp": "lampFailure", "dayBurner": "dayBurner", "stuckDriver": "dimmingFailure"}
    assert found == {
        (faulty[fault], problem) for fault, problem in silent.items() if faulty[fault] in watched
    }
    assert len(found) == 3
