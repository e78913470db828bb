"""Any store backend: subscriptions, what a transaction reports it changed, and the notification outbox."""

from __future__ import annotations

import time
from typing import Any

import pytest

from smartby.records.notifications import DeliveryOutcome, PendingNotification, StoredSubscription
from smartby.store import Store
from smartby.store.base import Transaction

EX = "https://example.org/"


def entity(number: int, **attributes: Any) -> dict[str, Any]:
    built: dict[str, Any] = {"id": f"urn:ngsi-ld:Thing:{number}", "type": [EX + "Thing"]}
    for name, value in attributes.items():
        built[EX + name] = [{"type": "Property", "value": value}]
    return built


def subscription(number: int, tenant: str = "") -> StoredSubscription:
    sub_id = f"urn:ngsi-ld:Subscription:{number}"
    doc = {"id": sub_id, "type": "Subscription", "watchedAttributes": ["speed"]}
    return StoredSubscription(tenant, sub_id, doc, f"2026-01-01T00:00:0{number}Z", "2026-01-01T00:00:00Z")


async def test_subscription_crud_and_version(store: Store) -> None:
    version = await store.subscription_version()
    assert await store.create_subscription(subscription(1))
    assert not await store.create_subscription(subscription(1))
    assert await store.create_subscription(subscription(2))
    assert await store.create_subscription(subscription(1, tenant="other"))
    assert await store.subscription_version() == version + 3
    found = await store.get_subscription("", "urn:ngsi-ld:Subscription:1")
    assert found is not None and found.document["watchedAttributes"] == ["speed"]
    page, count = await store.list_subscriptions("", 1, 1, True)
    assert [s.id for s in page] == ["urn:ngsi-ld:Subscription:2"] and count == 2
    changed = {**found.document, "watchedAttributes": ["power"]}
    assert await store.replace_subscription("", found.id, changed, "2026-02-01T00:00:00Z")
    again = await store.get_subscription("", found.id)
    assert again is not None and again.document == changed and again.modified_at == "2026-02-01T00:00:00Z"
    assert await store.delete_subscription("", found.id)
    assert not await store.delete_subscription("", found.id)
    assert await store.get_subscription("", found.id) is None
    read_at, everything = await store.all_subscriptions()
    assert read_at == await store.subscription_version() == version + 5
    assert sorted((s.tenant, s.id) for s in everything) == [
        ("", "urn:ngsi-ld:Subscription:2"),
        ("other", "urn:ngsi-ld:Subscription:1"),
    ]


async def test_transaction_reports_changes(store: Store) -> None:
    await store.transact("", lambda tx: tx.insert(entity(1, speed=1)))

    def change(tx: Transaction) -> list[Any]:
        current = tx.get("urn:ngsi-ld:Thing:1")
        assert current is not None
        current[EX + "speed"] = [{"type": "Property", "value": 2}]
        tx.replace(current)
        tx.insert(entity(2, speed=5))
        tx.delete("urn:ngsi-ld:Thing:2")
        tx.insert(entity(3, speed=7))
        tx.add_history(
            {"id": "urn:ngsi-ld:Thing:4", "type": [EX + "Thing"]},
            {EX + "speed": [{"type": "Property", "value": 9, "observedAt": "2026-01-01T00:00:00Z"}]},
            "2026-01-02T00:00:00Z",
        )
        return tx.changes()

    changes = {c.entity["id"]: c for c in await store.transact("", change)}
    assert set(changes) == {"urn:ngsi-ld:Thing:1", "urn:ngsi-ld:Thing:3", "urn:ngsi-ld:Thing:4"}
    first = changes["urn:ngsi-ld:Thing:1"]
    assert first.before is not None and first.before[EX + "speed"][0]["value"] == 1
    assert first.after is not None and first.after[EX + "speed"][0]["value"] == 2
    assert changes["urn:ngsi-ld:Thing:3"].before is None
    temporal = changes["urn:ngsi-ld:Thing:4"]
    assert temporal.attributes == {EX + "speed"} and temporal.entity[EX + "speed"][0]["value"] == 9


async def test_history_writes_report_what_they_did(store: Store) -> None:
    header = {"id": "urn:ngsi-ld:Thing:1", "type": [EX + "Thing"]}
    speed, colour = EX + "speed", EX + "colour"
    instances = {
        speed: [
            {"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"},
            {"type": "Property", "value": 2, "observedAt": "2026-01-01T01:00:00Z"},
        ],
        colour: [{"type": "Relationship", "object": "urn:x:red", "observedAt": "2026-01-01T00:00:00Z"}],
    }
    await store.transact("", lambda tx: tx.add_history(header, instances, "2026-01-02T00:00:00Z"))

    def recorded(tx: Transaction) -> list[Any]:
        return [tx.instance(header["id"], speed, f"urn:ngsi-ld:instance:{n}") for n in range(1, 10)]

    numbers = [i["instanceId"] for i in await store.transact("", recorded) if i is not None and i["value"]]
    first, second = numbers[:2]

    def replace(tx: Transaction) -> list[Any]:
        fixed = {"type": "Property", "value": 5, "observedAt": "2026-01-01T00:00:00Z"}
        assert tx.replace_instance(header["id"], speed, first, fixed, "2026-01-03T00:00:00Z")
        return tx.changes()

    [replaced] = await store.transact("", replace)
    assert replaced.attributes == {speed} and not replaced.removed
    assert replaced.before is not None and replaced.before[speed][0]["value"] == 1
    assert replaced.after is not None and replaced.after[speed][0]["value"] == 5
    assert replaced.after[speed][0]["instanceId"] == first and replaced.after["type"] == header["type"]

    def delete(tx: Transaction) -> list[Any]:
        assert tx.delete_instance(header["id"], speed, second)
        assert tx.delete_attribute_history(header["id"], colour, None, True)
        return tx.changes()

    [deleted] = await store.transact("", delete)
    assert deleted.removed == {speed, colour}
    assert deleted.before is not None and deleted.before[speed][0]["value"] == 2
    assert deleted.after is not None
    assert (
        deleted.after[speed][0]["value"] == "urn:ngsi-ld:null"
        and deleted.after[speed][0]["instanceId"] == second
    )
    assert (
        deleted.after[colour][0]["object"] == "urn:ngsi-ld:null" and "deletedAt" in deleted.after[colour][0]
    )

    def drop(tx: Transaction) -> list[Any]:
        assert tx.delete_history(header["id"])
        return tx.changes()

    [dropped] = await store.transact("", drop)
    assert dropped.after is None and dropped.removed == {speed}
    assert dropped.events == {"entityDeleted": {speed}, "attributeDeleted": {speed}}


async def test_outbox_rows_commit_with_their_transaction(store: Store) -> None:
    pending = PendingNotification("", "urn:ngsi-ld:Subscription:1", {"data": [entity(1)]}, 0.0)

    def fail(tx: Transaction) -> None:
        tx.insert(entity(1))
        tx.enqueue([pending])
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await store.transact("", fail)
    assert await store.pending_notifications() == 0

    def succeed(tx: Transaction) -> None:
        tx.insert(entity(1))
        tx.enqueue([pending, pending])

    await store.transact("", succeed)
    assert await store.pending_notifications() == 2


async def test_claim_lease_retry_and_settle(store: Store) -> None:
    assert await store.create_subscription(subscription(1))
    now = time.time()
    await store.enqueue_notifications(
        [PendingNotification("", "urn:ngsi-ld:Subscription:1", {"n": n}, now - 1) for n in range(3)]
        + [PendingNotification("", "urn:ngsi-ld:Subscription:1", {"n": 9}, now + 3600)]
    )
    claimed = await store.claim_notifications(now, 10, 30)
    assert [c.payload["n"] for c in claimed] == [0, 1, 2]
    assert all(c.attempts == 1 for c in claimed)
    # Leased: nobody else gets them until the lease runs out.
    assert await store.claim_notifications(now, 10, 30) == []
    assert [c.payload["n"] for c in await store.claim_notifications(now + 31, 10, 30)] == [0, 1, 2]
    outcomes = [
        DeliveryOutcome(claimed[0], "2026-01-01T00:00:00Z", True),
        DeliveryOutcome(claimed[1], "2026-01-01T00:00:01Z", False, retry_at=now + 100),
        DeliveryOutcome(claimed[2], "2026-01-01T00:00:02Z", False, retry_at=None),
    ]
    await store.settle_notifications(outcomes)
    assert await store.pending_notifications() == 2
    retried = await store.claim_notifications(now + 100, 10, 30)
    assert [(c.payload["n"], c.attempts) for c in retried] == [(1, 3)]
    status = await store.get_subscription("", "urn:ngsi-ld:Subscription:1")
    assert status is not None
    assert (status.times_sent, status.times_failed) == (3, 2)
    assert status.last_success == "2026-01-01T00:00:00Z"
    assert status.last_failure == status.last_notification == "2026-01-01T00:00:02Z"
    assert await store.delete_subscription("", "urn:ngsi-ld:Subscription:1")
    assert await store.pending_notifications() == 0


async def test_periodic_schedule_is_claimed_once_per_period(store: Store) -> None:
    assert await store.create_subscription(subscription(1))  # not periodic: never claimed
    periodic = subscription(2)
    doc = {**periodic.document, "timeInterval": 10}
    del doc["watchedAttributes"]
    assert await store.create_subscription(StoredSubscription("", periodic.id, doc, "x", "x"))
    now = time.time()
    assert await store.claim_periodic(now) == [("", periodic.id)]  # due at once when created
    assert await store.claim_periodic(now) == []  # this period is taken
    assert await store.claim_periodic(now + 9.9) == []
    assert await store.claim_periodic(now + 10) == [("", periodic.id)]  # on the beat: due at now + 20
    assert await store.claim_periodic(now + 19) == []
    # A missed period is not made up for: the next one is a period after the late claim.
    assert await store.claim_periodic(now + 45) == [("", periodic.id)]
    assert await store.claim_periodic(now + 54) == []
    assert await store.claim_periodic(now + 55) == [("", periodic.id)]
    # Paused: not due; resumed, or given another period: due at once.
    assert await store.replace_subscription("", periodic.id, {**doc, "isActive": False}, "y")
    assert await store.claim_periodic(now + 1000) == []
    assert await store.replace_subscription("", periodic.id, doc, "z")
    assert await store.claim_periodic(now + 56) == [("", periodic.id)]
    assert await store.replace_subscription("", periodic.id, {**doc, "description": "same period"}, "z")
    assert await store.claim_periodic(now + 57) == []
    assert await store.replace_subscription("", periodic.id, {**doc, "timeInterval": 5}, "z")
    assert await store.claim_periodic(now + 57) == [("", periodic.id)]
