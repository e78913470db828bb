"""Tests for smartby.assembly: the parts built from one Settings share one store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartby.assembly import assemble
from smartby.settings import Settings

SENSOR = {"id": "meter-1", "entityId": "urn:ngsi-ld:WaterMeter:1", "entityType": "WaterMeter"}


def test_the_parts_share_one_store(settings: Settings) -> None:
    parts = assemble(settings)
    assert parts.settings is settings
    assert parts.broker.store is parts.store and parts.broker.settings is settings
    assert parts.ingestion.broker is parts.broker and parts.ingestion.devices is parts.store


async def test_registry_only_opens_the_store_alone(settings: Settings) -> None:
    async with assemble(settings).registry_only() as ingestion:
        device, key = await ingestion.registry.register("", SENSOR)
    assert key is not None
    async with assemble(settings).registry_only() as ingestion:
        assert await ingestion.registry.get("", "meter-1") == device


STARTS = {
    "several workers": "from smartby.api.asgi import application\napplication()\n",
    "one worker": (
        "import uvicorn\n"
        "uvicorn.run = lambda app, **options: None\n"  # the server is not what is tested
        "from smartby.cli import _serve\n"
        "from smartby.settings import Settings\n"
        "_serve(Settings())\n"
    ),
}
"""How `smartby serve` starts a server process: uvicorn's workers call the application factory;
a single worker builds the app in the command's own process."""


def _collector_of_a_server(tmp_path: Path, start: str, **environment: str) -> tuple[int, int, int]:
    """(Python's young threshold, the young threshold and the frozen objects once a server process
    started as `start` says) in a fresh process: the collector is the whole process's."""
    script = (
        "import gc\n"
        "python = gc.get_threshold()[0]\n"
        + STARTS[start]
        + "print(python, gc.get_threshold()[0], gc.get_freeze_count())\n"
    )
    env = {
        **os.environ,
        "SMARTBY_DATABASE": f"sqlite:///{tmp_path / 'city.db'}",
        "PYTHONPATH": os.pathsep.join(sys.path),
        **environment,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    python, young, frozen = done.stdout.split()
    return int(python), int(young), int(frozen)


@pytest.mark.parametrize("start", STARTS)
def test_a_server_process_collects_its_young_generation_less_often(tmp_path: Path, start: str) -> None:
    python, young, frozen = _collector_of_a_server(tmp_path, start, SMARTBY_GC_YOUNG_THRESHOLD="40000")
    assert young == 40_000 != python
    assert frozen > 1000  # what start-up loaded is out of the collector's way


@pytest.mark.parametrize("start", STARTS)
def test_a_zero_threshold_keeps_pythons_collector(tmp_path: Path, start: str) -> None:
    python, young, frozen = _collector_of_a_server(tmp_path, start, SMARTBY_GC_YOUNG_THRESHOLD="0")
    assert young == python
    assert frozen == 0
