"""One clock for the testbed and the city services (services/clock.py, sim/runner.py's `stream`):
the city streams by the clock it is given, and services on the same clock judge by its time. On
a real server over HTTP, both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from conftest import LiveServer
from smartby.assembly import assemble
from smartby.services.clock import ScaledClock
from smartby.services.runtime import Runtime
from smartby.settings import Settings
from smartby.sim.city import build_city
from smartby.sim.models import Simulation
from smartby.sim.runner import Plan, provision, stream
from smartby.sim.targets import SmartbyTarget

KPI = "urn:ngsi-ld:KeyPerformanceIndicator:freshness:devices-reporting"


class Steps:
    def phase(self, label: str, total: int) -> None:
        del label, total

    def step(self, count: int) -> None:
        del count

    def done(self) -> None:
        pass


async def test_a_scaled_clock_runs_ahead_of_the_wall() -> None:
    start = datetime(2026, 6, 21, 12, tzinfo=UTC)
    clock = ScaledClock(start, 3600.0)
    before = clock.now()
    await clock.sleep(1800.0)  # half an hour of the clock: half a wall second
    assert clock.now() - before >= timedelta(minutes=30)
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(start, 0)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    # As `smartby demo` runs it: the server serves, another process runs the services.
    chosen = settings.model_copy(update={"services": ["freshness"], "services_in_server": False})
    live = LiveServer(chosen)
    live.start()
    try:
        yield live
    finally:
        live.stop()


async def test_the_city_and_its_services_run_on_one_clock(server: LiveServer, settings: Settings) -> None:
    city = build_city(12, seed=3)
    target = SmartbyTarget(server.url, tenant="clocked")
    chosen = settings.model_copy(
        update={
            "services": ["freshness"],
            "services_poll_interval": 0.05,
            "freshness_period": 600.0,
            "notifications": False,
        }
    )
    parts = assemble(chosen)
    try:
        await provision(target, city, Steps())
        start = datetime.now(UTC)
        simulation = Simulation(city, start)
        # The plan's own speed is the wall's: only the clock can take the city an hour ahead.
        clock = ScaledClock(start, 3600.0)
        runtime = Runtime(parts.broker, parts.services.services, chosen, clock)
        await parts.broker.open()
        runtime.start()
        try:
            await stream(
                target,
                simulation,
                Plan(speed=1.0, duration=1.5, tick=0.25, live_period=timedelta(minutes=5)),
                clock,
            )
        finally:
            await runtime.stop()
        assert simulation.clock - start >= timedelta(hours=1)
        kpi = await parts.broker.retrieve_entity("clocked", KPI)
    finally:
        await target.close()
        await parts.broker.close()
    value = kpi["https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/kpiValue"][0]
    observed = datetime.fromisoformat(value["observedAt"].replace("Z", "+00:00"))
    # The service's latest check was at the clock's time, an hour or more ahead of the wall's start.
    assert observed - start >= timedelta(minutes=50)
    assert 0 < value["value"] <= 1
