"""Tests for services/registry.py and services/runtime.py: services found through entry points, fed
their changes once, resumed after a stop, their jobs run once per period across runtimes. Both
backends; the probe service (probe.py) leaves a mark in the database for each thing it handles."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from smartby.assembly import Assembly, assemble
from smartby.broker import Broker
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.typequery import TypeName
from smartby.services.clock import ScaledClock
from smartby.services.registry import ServiceError, selected
from smartby.services.runtime import Runtime
from smartby.settings import Settings

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def with_services(settings: Settings, *names: str, **more: Any) -> Settings:
    return settings.model_copy(update={"services": list(names), "services_poll_interval": 0.05, **more})


@pytest.fixture
async def probe(settings: Settings) -> AsyncIterator[Assembly]:
    parts = assemble(with_services(settings, "probe"))
    await parts.broker.open()
    try:
        yield parts
    finally:
        await parts.services.stop()
        await parts.broker.close()


async def write_probes(broker: Broker, numbers: range, **extra: Any) -> None:
    entities = [
        {"id": f"urn:ngsi-ld:Probe:{n}", "type": "Probe", "count": {"type": "Property", "value": n}, **extra}
        for n in numbers
    ]
    result = await broker.batch_upsert("", await broker.context(None), entities, mode="update")
    assert not result.errors


async def ids_of(broker: Broker, kind: str) -> list[str]:
    selector = EntitySelector(types=TypeName(DEFAULT + kind))
    found = await broker.query_entities("", EntityQuery(selectors=(selector,), limit=1000))
    return sorted(entity["id"] for entity in found.entities)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the condition did not come true"
        await asyncio.sleep(0.05)


def handled(numbers: range) -> list[str]:
    return sorted(f"urn:ngsi-ld:Handled:{n}:{n}" for n in numbers)


# -- registry ------------------------------------------------------------------------------------


def test_the_built_in_services_run_by_default_and_others_when_named(settings: Settings) -> None:
    built_in = ["climate", "energy", "freshness", "lighting", "mobility", "reports"]
    assert [s.name for s in selected(settings.model_copy(update={"services": None}))] == built_in
    assert [s.name for s in selected(with_services(settings, "probe", "freshness"))] == ["probe", "freshness"]
    assert selected(with_services(settings)) == []


def test_an_unknown_or_broken_service_is_refused(settings: Settings) -> None:
    with pytest.raises(ServiceError, match=r"no service nowhere is installed \(installed: .*probe"):
        selected(with_services(settings, "nowhere"))
    with pytest.raises(ServiceError, match="returned str, not a Service"):
        selected(with_services(settings, "nameless"))


# -- the feed ------------------------------------------------------------------------------------


async def test_every_change_is_handled_once(probe: Assembly) -> None:
    broker = probe.broker
    probe.services.start()
    await write_probes(broker, range(0, 30))
    await write_probes(broker, range(30, 60))
    await eventually(lambda: _has(broker, "Mark", handled(range(60))))
    assert await ids_of(broker, "Duplicate") == []
    assert await broker.feed.pending("probe") == 0


async def test_a_stopped_runtime_resumes_where_it_left_off(probe: Assembly, settings: Settings) -> None:
    broker = probe.broker
    probe.services.start()
    await write_probes(broker, range(0, 10))
    await eventually(lambda: _has(broker, "Mark", handled(range(10))))
    await probe.services.stop()
    # Written while no runtime runs: fed all the same, as the writer knows the service.
    await write_probes(broker, range(10, 25))
    assert await broker.feed.pending("probe") == 15
    again = Runtime(broker, probe.services.services, probe.settings)
    again.start()
    try:
        await eventually(lambda: _has(broker, "Mark", handled(range(25))))
    finally:
        await again.stop()
    assert await ids_of(broker, "Duplicate") == []
    assert await broker.feed.pending("probe") == 0


async def test_changes_this_process_commits_wake_its_runtime_before_the_next_poll(
    settings: Settings,
) -> None:
    # An hour between polls: only the wake-up of a commit in this process can get the change handled.
    parts = assemble(with_services(settings, "probe", services_poll_interval=3600.0))
    await parts.broker.open()
    try:
        parts.services.start()
        await asyncio.sleep(0.2)  # the runtime found its feed empty and waits
        await write_probes(parts.broker, range(0, 3))
        await eventually(lambda: _has(parts.broker, "Mark", handled(range(3))), seconds=30)
    finally:
        await parts.services.stop()
        await parts.broker.close()


async def _has(broker: Broker, kind: str, wanted: list[str]) -> bool:
    return set(wanted) <= set(await ids_of(broker, kind))


# -- periodic jobs -------------------------------------------------------------------------------


async def test_two_runtimes_run_each_period_of_a_job_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two assemblies on one database, each with its runtime, on one fast clock (an hour a second)."""
    monkeypatch.setenv("PROBE_PERIOD", "600")
    clock = ScaledClock(datetime(2026, 6, 21, tzinfo=UTC), 3600.0)
    parts = [assemble(with_services(settings, "probe")) for _ in range(2)]
    runtimes = [Runtime(p.broker, p.services.services, p.settings, clock) for p in parts]
    for each in parts:
        await each.broker.open()
    try:
        for runtime in runtimes:
            runtime.start()
        broker = parts[0].broker
        await eventually(lambda: _count_at_least(broker, "Mark", 8))
        for runtime in runtimes:
            await runtime.stop()
        ticks = await ids_of(broker, "Mark")
        assert await ids_of(broker, "Duplicate") == []
        dues = sorted(int(tick.rsplit(":", 1)[1]) for tick in ticks)
        # Each run was due a different period: successive dues at least a period apart.
        assert all(later - earlier >= 600_000_000 for earlier, later in itertools.pairwise(dues))
        assert await broker.feed.job_runs("probe", "tick") == len(ticks)
    finally:
        for each in parts:
            await each.broker.close()


async def _count_at_least(broker: Broker, kind: str, count: int) -> bool:
    return len(await ids_of(broker, kind)) >= count
