"""The audit log's table (docs/audit.md) on both backends: records are appended and read newest
first, UPDATE is refused by the database itself, retention deletes only records older than it keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smartby.broker.audit import AuditLog
from smartby.records.audit import AuditFilter, AuditRecord, timestamp
from smartby.settings import Settings


def made(days_ago: float, target: str) -> AuditRecord:
    moment = datetime.now(UTC) - timedelta(days=days_ago)
    return AuditRecord(timestamp(moment), "tester", "", "test.write", target, "ok")


async def test_update_is_refused_by_the_database(store: Any) -> None:
    await store.record_audit([made(0, "urn:a")])

    def change(db: Any) -> None:
        db.execute("UPDATE audit_log SET outcome = 'forged'")

    with pytest.raises(Exception, match="append-only"):
        await store._write(change)
    [kept], total = await store.audit_records(AuditFilter())
    assert kept.outcome == "ok" and total == 1


async def test_retention_deletes_only_older_records(store: Any, settings: Settings) -> None:
    log = AuditLog(store, settings.model_copy(update={"audit_retention_days": 30}))
    await store.record_audit([made(400, "urn:old"), made(31, "urn:older"), made(29, "urn:kept")])
    assert await log.enforce_retention() == 2
    found, _ = await store.audit_records(AuditFilter(operation="test.write"))
    assert [record.target for record in found] == ["urn:kept"]
    forever = AuditLog(store, settings.model_copy(update={"audit_retention_days": 0}))
    await store.record_audit([made(4000, "urn:ancient")])
    assert await forever.enforce_retention() == 0


async def test_a_target_matches_whole_ids_only(store: Any) -> None:
    await store.record_audit([made(0, "urn:a:1 urn:a:10"), made(0, "urn:a_1"), made(0, "urn:a%")])
    found, _ = await store.audit_records(AuditFilter(target="urn:a:1"))
    assert [record.target for record in found] == ["urn:a:1 urn:a:10"]
    found, _ = await store.audit_records(AuditFilter(target="urn:a%"))
    assert [record.target for record in found] == ["urn:a%"]
    assert (await store.audit_records(AuditFilter(target="urn:a")))[0] == []
