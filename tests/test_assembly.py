"""Tests for smartby.assembly: the parts built from one Settings share one store."""

from __future__ import annotations

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
