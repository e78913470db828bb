"""The broker's audit records (docs/audit.md): written in the transaction of each change, by whoever
acts (a city service, ingestion, the system), and none for a change that failed."""

from __future__ import annotations

import pytest

from smartby.broker import Broker
from smartby.broker.readings import EntityReadings
from smartby.ngsild.errors import AlreadyExists
from smartby.records.audit import Action, AuditFilter, acting

LIGHT = {"id": "urn:ngsi-ld:Streetlight:b1", "type": "Streetlight", "level": {"type": "Property", "value": 1}}


async def test_a_change_is_recorded_by_who_acts_and_a_failed_one_is_not(broker: Broker) -> None:
    ctx = await broker.context(None)
    with acting(Action(actor="service:lighting")):
        await broker.create_entity("", ctx, LIGHT)
        with pytest.raises(AlreadyExists):
            await broker.create_entity("", ctx, LIGHT)
    await broker.batch_delete("", [LIGHT["id"], "urn:ngsi-ld:Streetlight:none"])
    found, total = await broker.store.audit_records(AuditFilter(target=LIGHT["id"]))
    assert total == 2
    assert [(r.actor, r.operation, r.outcome, r.detail) for r in found] == [
        ("system", "batch.delete", "partial", "failed: urn:ngsi-ld:Streetlight:none"),
        ("service:lighting", "entity.create", "ok", None),
    ]


async def test_readings_are_recorded_once_per_transaction_as_ingest(broker: Broker) -> None:
    level = "https://uri.etsi.org/ngsi-ld/default-context/level"
    reading = {"type": "Property", "value": 1.0, "observedAt": "2026-12-07T10:00:00Z"}
    batch = [
        EntityReadings(
            f"urn:ngsi-ld:Streetlight:r{n}",
            "https://uri.etsi.org/ngsi-ld/default-context/Streetlight",
            {level: [dict(reading)]},
        )
        for n in range(3)
    ]
    with acting(Action(actor="device:someone")):
        await broker.record_readings("", batch)
    [record], _ = await broker.store.audit_records(AuditFilter(operation="readings.record"))
    assert record.actor == "ingest" and record.target.split() == [r.id for r in batch]
