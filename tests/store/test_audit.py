"""The audit log's table (docs/audit.md) on both backends: records are appended and read newest
first, UPDATE is refused by the database itself, retention deletes only records older than it keeps;
a change of a subscription, registration, @context or the device registry writes its record in its
own transaction, and the two commit or roll back together."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from smartby.broker.audit import AuditLog
from smartby.ngsild.reads import StoredContext
from smartby.records.audit import Action, AuditFilter, AuditRecord, acting, timestamp
from smartby.records.devices import Device, PayloadProfile
from smartby.records.notifications import StoredSubscription
from smartby.records.registrations import StoredRegistration
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


SUBSCRIPTION = "urn:ngsi-ld:Subscription:audited"
REGISTRATION = "urn:ngsi-ld:ContextSourceRegistration:audited"
STAMP = "2026-12-07T18:00:00Z"


def subscription(tenant: str = "aarhus") -> StoredSubscription:
    document = {"type": "Subscription", "entities": [{"type": "Lamp"}]}
    return StoredSubscription(tenant, SUBSCRIPTION, document, STAMP, STAMP)


def registration() -> StoredRegistration:
    document = {"type": "ContextSourceRegistration", "endpoint": "http://192.0.2.10/source"}
    return StoredRegistration("aarhus", REGISTRATION, document, STAMP, STAMP)


async def test_a_change_is_recorded_with_it_and_a_duplicate_leaves_no_record(store: Any) -> None:
    request = Action(actor="admin", tenant="aarhus", operation="POST /ngsi-ld/v1/subscriptions")
    with acting(request):
        assert await store.create_subscription(subscription())
    assert request.recorded
    duplicate = Action(actor="admin", tenant="aarhus", operation="POST /ngsi-ld/v1/subscriptions")
    with acting(duplicate):
        assert not await store.create_subscription(subscription())
    assert not duplicate.recorded
    [record], _ = await store.audit_records(AuditFilter(target=SUBSCRIPTION))
    assert (record.actor, record.tenant, record.operation, record.outcome) == (
        "admin",
        "aarhus",
        "POST /ngsi-ld/v1/subscriptions",
        "ok",
    )
    assert not await store.delete_subscription("odense", SUBSCRIPTION)
    assert await store.delete_subscription("aarhus", SUBSCRIPTION)
    found, _ = await store.audit_records(AuditFilter(target=SUBSCRIPTION))
    assert [(r.operation, r.actor, r.tenant) for r in found] == [
        ("subscription.delete", "system", "aarhus"),
        ("POST /ngsi-ld/v1/subscriptions", "admin", "aarhus"),
    ]


async def test_the_record_and_the_change_roll_back_together(store: Any) -> None:
    unwritable = Action(actor=cast(str, None))  # the audit insert fails: actor is NOT NULL
    with acting(unwritable), pytest.raises(Exception, match=r"(?i)null"):
        await store.create_registration(registration())
    assert await store.get_registration("aarhus", REGISTRATION) is None
    assert await store.audit_records(AuditFilter()) == ([], 0)
    assert await store.create_registration(registration())
    with acting(unwritable), pytest.raises(Exception, match=r"(?i)null"):
        await store.delete_registration("aarhus", REGISTRATION)
    assert await store.get_registration("aarhus", REGISTRATION) is not None
    [record], _ = await store.audit_records(AuditFilter())
    assert (record.operation, record.target, record.actor) == ("registration.create", REGISTRATION, "system")


async def test_each_registry_change_writes_one_record(store: Any) -> None:
    stored = StoredContext("urn:uuid:ctx", "http://x/ctx", "Hosted", {"@context": {}}, STAMP)
    await store.put_context("aarhus", stored, "context.add")
    await store.put_context("aarhus", dataclasses.replace(stored, id="urn:uuid:cached", url="http://y/c"))
    assert await store.delete_context("aarhus", "urn:uuid:ctx")
    assert not await store.delete_context("aarhus", "urn:uuid:ctx")
    await store.put_profile(
        PayloadProfile("aarhus", "lamp", {"kind": "json", "fields": []}, None, STAMP, STAMP)
    )
    assert await store.delete_profile("aarhus", "lamp")
    device = Device("lamp-1", "aarhus", "urn:ngsi-ld:Lamp:1", "Lamp", "hash", STAMP, STAMP)
    await store.put_device(device)
    assert await store.delete_device("aarhus", "lamp-1")
    assert not await store.delete_device("aarhus", "lamp-1")
    assert await store.create_csource_subscription(subscription())
    assert await store.replace_csource_subscription("aarhus", SUBSCRIPTION, {"type": "Subscription"}, STAMP)
    assert await store.delete_csource_subscription("aarhus", SUBSCRIPTION)
    found, _ = await store.audit_records(AuditFilter())
    assert [(r.operation, r.target, r.tenant, r.outcome) for r in reversed(found)] == [
        ("context.add", "urn:uuid:ctx", "aarhus", "ok"),
        ("context.delete", "urn:uuid:ctx", "aarhus", "ok"),
        ("profile.put", "lamp", "aarhus", "ok"),
        ("profile.delete", "lamp", "aarhus", "ok"),
        ("device.put", "lamp-1", "aarhus", "ok"),
        ("device.delete", "lamp-1", "aarhus", "ok"),
        ("csourceSubscription.create", SUBSCRIPTION, "aarhus", "ok"),
        ("csourceSubscription.update", SUBSCRIPTION, "aarhus", "ok"),
        ("csourceSubscription.delete", SUBSCRIPTION, "aarhus", "ok"),
    ]
