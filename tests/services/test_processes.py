"""`smartby services run` as real processes on one database (both backends): two of them run each
period of a job once; one killed in the middle of a batch leaves it to its restart, which handles it
(again: at least once after a crash); one stopped cleanly resumes with what it had not handled."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from conftest import LiveServer
from services.conftest import process_path
from services.test_runtime import eventually, handled, ids_of, write_probes
from smartby.assembly import Assembly, assemble
from smartby.broker import Broker
from smartby.settings import Settings


class Processes:
    def __init__(self, database: str) -> None:
        self.database = database
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, **environment: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": process_path(),
            "SMARTBY_DATABASE": self.database,
            "SMARTBY_SERVICES": '["probe"]',
            "SMARTBY_SERVICES_POLL_INTERVAL": "0.05",
            "SMARTBY_SERVICES_LEASE": "2",
            "SMARTBY_REMOTE_CONTEXTS": "false",
            "SMARTBY_NOTIFICATIONS": "false",
            "SMARTBY_LOG_LEVEL": "warning",
            **environment,
        }
        process = subprocess.Popen([sys.executable, "-m", "smartby", "services", "run"], env=env)
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def processes(settings: Settings) -> Iterator[Processes]:
    started = Processes(settings.database)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
async def writer(settings: Settings) -> AsyncIterator[Assembly]:
    """This test's own smartby on the database: it writes, and feeds the probe (it knows of it)."""
    parts = assemble(settings.model_copy(update={"services": ["probe"]}))
    await parts.broker.open()
    try:
        yield parts
    finally:
        await parts.broker.close()


async def marks(broker: Broker, prefix: str) -> list[str]:
    return [found for found in await ids_of(broker, "Mark") if found.startswith(prefix)]


async def test_two_processes_run_each_period_of_a_job_once(processes: Processes, writer: Assembly) -> None:
    broker = writer.broker
    for _ in range(2):
        processes.start(PROBE_PERIOD="1")

    async def enough() -> bool:
        return len(await marks(broker, "urn:ngsi-ld:Tick:")) >= 5

    await eventually(enough, 120)
    for process in processes.started:
        processes.stop(process)
    ticks = await marks(broker, "urn:ngsi-ld:Tick:")
    assert await ids_of(broker, "Duplicate") == []
    assert await broker.feed.job_runs("probe", "tick") == len(ticks)
    dues = sorted(int(tick.rsplit(":", 1)[1]) for tick in ticks)
    assert all(later - earlier >= 1_000_000 for earlier, later in itertools.pairwise(dues))


async def test_a_crashed_process_leaves_its_batch_to_its_restart(
    processes: Processes, writer: Assembly
) -> None:
    broker = writer.broker
    first = processes.start()
    # One transaction, so one batch: the probe handles 0 and 1, then stalls on 2's first attempt.
    entities: list[dict[str, Any]] = [
        {"id": f"urn:ngsi-ld:Probe:{n}", "type": "Probe", "count": {"type": "Property", "value": n}}
        for n in range(5)
    ]
    entities[2]["hang"] = {"type": "Property", "value": True}
    result = await broker.batch_upsert("", await broker.context(None), entities)
    assert not result.errors

    async def stalled() -> bool:
        return set(handled(range(2))) <= set(await marks(broker, "urn:ngsi-ld:Handled:"))

    await eventually(stalled, 120)
    first.kill()
    first.wait(timeout=30)
    assert await broker.feed.pending("probe") > 0
    second = processes.start()

    async def done() -> bool:
        return await marks(broker, "urn:ngsi-ld:Handled:") == handled(range(5))

    await eventually(done, 120)
    retried = await broker.retrieve_entity("", "urn:ngsi-ld:Handled:2:2")
    assert retried["https://uri.etsi.org/ngsi-ld/default-context/attempts"][0]["value"] == 2
    assert await broker.feed.pending("probe") == 0
    # At least once: what the crashed batch had handled before the crash was handled again.
    duplicates = len(await ids_of(broker, "Duplicate"))
    assert duplicates == 2
    # A clean stop, changes written meanwhile, a restart: each of them handled, none twice.
    processes.stop(second)
    await write_probes(broker, range(5, 20))
    processes.start()

    async def resumed() -> bool:
        return await marks(broker, "urn:ngsi-ld:Handled:") == handled(range(20))

    await eventually(resumed, 120)
    assert len(await ids_of(broker, "Duplicate")) == duplicates


async def test_the_server_runs_its_services_and_serves_their_endpoints(settings: Settings) -> None:
    """`smartby serve`'s app: the lifespan starts the runtime; a write over HTTP reaches the
    service through the feed."""

    chosen = settings.model_copy(update={"services": ["probe", "freshness"], "services_poll_interval": 0.05})
    server = LiveServer(chosen)
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            probe = {"id": "urn:ngsi-ld:Probe:7", "type": "Probe", "count": {"type": "Property", "value": 7}}
            assert (await http.post("/ngsi-ld/v1/entities", json=probe)).status_code == 201

            async def marked() -> bool:
                answer = await http.get("/ngsi-ld/v1/entities", params={"type": "Mark"})
                return "urn:ngsi-ld:Handled:7:7" in [entity["id"] for entity in answer.json()]

            await eventually(marked, 60)
            status = await http.get("/freshness/v1/status")
            assert status.status_code == 200 and status.json()["devices"] == 0
    finally:
        server.stop()
