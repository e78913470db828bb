"""The broker's subscriptions: the in-memory index decides which subscriptions see a change, and a
transaction's changes become one outbox row per subscription."""

from __future__ import annotations

from typing import Any

from smartby.broker import Broker
from smartby.ngsild.subscription import Change

CONTEXT = {"ex": "https://example.org/"}
LAMP = "https://example.org/Lamp"
BIN = "https://example.org/Bin"


def body(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "ex:Lamp"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
    }
    base.update(members)
    return base


def thing(number: int, kind: str = LAMP) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Thing:{number}",
        "type": [kind],
        "https://example.org/power": [{"type": "Property", "value": number}],
    }


async def test_changes_reach_only_indexed_candidates(broker: Broker) -> None:
    subs = broker.subscriptions
    by_type = await subs.create("", CONTEXT, body())
    by_id = await subs.create("", CONTEXT, body(entities=[{"type": "ex:Bin", "id": "urn:ngsi-ld:Thing:2"}]))
    await subs.create("", CONTEXT, body(isActive=False))
    await subs.create("other", CONTEXT, body())
    changes = [
        Change(None, thing(1)),
        Change(None, thing(2, BIN)),
        Change(None, thing(3, BIN)),
        Change(None, thing(4)),
    ]
    pending = {p.subscription_id: p for p in subs.match("", changes)}
    assert set(pending) == {by_type, by_id}
    assert [e["id"] for e in pending[by_type].payload["data"]] == [
        "urn:ngsi-ld:Thing:1",
        "urn:ngsi-ld:Thing:4",
    ]
    assert [e["id"] for e in pending[by_id].payload["data"]] == ["urn:ngsi-ld:Thing:2"]
    index = subs._index[""]
    assert [s.id for s in index.by_id["urn:ngsi-ld:Thing:2"]] == [by_id]
    assert [s.id for s in index.by_type[LAMP]] == [by_type]
    assert subs.match("nobody", changes) == []


async def test_subscription_changes_refresh_the_index(broker: Broker) -> None:
    subs = broker.subscriptions
    sub_id = await subs.create("", CONTEXT, body())
    assert subs.match("", [Change(None, thing(1))])
    await subs.update("", sub_id, None, {"isActive": False})
    assert subs.match("", [Change(None, thing(1))]) == []
    await subs.update("", sub_id, None, {"isActive": True, "entities": [{"type": "ex:Bin"}]})
    assert subs.match("", [Change(None, thing(1))]) == []
    assert subs.match("", [Change(None, thing(1, BIN))])
    await subs.delete("", sub_id)
    assert subs.match("", [Change(None, thing(1, BIN))]) == []


async def test_a_write_and_its_notifications_commit_together(broker: Broker) -> None:
    await broker.subscriptions.create("", CONTEXT, body())
    ctx = await broker.context(CONTEXT)
    await broker.notifier.stop()  # Keep the outbox as the write left it.
    broker._notifying = False
    lamps = [
        {"id": f"urn:ngsi-ld:Thing:{n}", "type": "ex:Lamp", "ex:power": {"type": "Property", "value": n}}
        for n in range(3)
    ]
    result = await broker.batch_upsert("", ctx, lamps)
    assert len(result.success) == 3
    claimed = await broker.store.claim_notifications(1e12, 10, 30)
    assert len(claimed) == 1
    assert sorted(e["id"] for e in claimed[0].payload["data"]) == [f"urn:ngsi-ld:Thing:{n}" for n in range(3)]


async def test_subscriptions_sharing_a_q_share_one_evaluation(broker: Broker) -> None:
    subs = broker.subscriptions
    first = await subs.create("", CONTEXT, body(q="ex:power>2"))
    second = await subs.create("", CONTEXT, body(q="ex:power>2"))
    other = await subs.create("", CONTEXT, body(q="ex:power<2"))
    lamps = {sub.id: sub for sub in subs._index[""].by_type[LAMP]}
    assert lamps[first].q is lamps[second].q
    assert lamps[other].q is not lamps[first].q
    # The shared verdict is per change: a later change that fails q notifies neither.
    pending = {p.subscription_id: p for p in subs.match("", [Change(None, thing(3)), Change(None, thing(1))])}
    assert set(pending) == {first, second, other}
    for sub_id in (first, second):
        assert [e["id"] for e in pending[sub_id].payload["data"]] == ["urn:ngsi-ld:Thing:3"]
    assert [e["id"] for e in pending[other].payload["data"]] == ["urn:ngsi-ld:Thing:1"]
    # Reloaded from the store (another process's view), they still share one q.
    await subs.load()
    lamps = {sub.id: sub for sub in subs._index[""].by_type[LAMP]}
    assert lamps[first].q is lamps[second].q


async def test_subscriptions_with_the_same_criteria_share_one_verdict(broker: Broker) -> None:
    subs = broker.subscriptions
    watched = body(watchedAttributes=["ex:power"])
    first = await subs.create("", CONTEXT, watched)
    second = await subs.create("", CONTEXT, body(watchedAttributes=["ex:power"], description="another"))
    elsewhere = await subs.create("", CONTEXT, body(watchedAttributes=["ex:other"]))
    lamps = {sub.id: sub for sub in subs._index[""].by_type[LAMP]}
    assert lamps[first].criteria is lamps[second].criteria
    assert lamps[elsewhere].criteria is not lamps[first].criteria
    before = thing(1)
    after = {**before, "https://example.org/power": [{"type": "Property", "value": 5}]}
    pending = {p.subscription_id for p in subs.match("", [Change(before, after)])}
    assert pending == {first, second}
    # A paused subscription with the same criteria leaves the index, and takes no verdict with it.
    await subs.update("", first, CONTEXT, {"isActive": False})
    assert {p.subscription_id for p in subs.match("", [Change(before, after)])} == {second}


async def test_every_change_notifies_when_changes_share_a_transaction(broker: Broker) -> None:
    """Writes of one entity that wait together may share a transaction (group commit on
    PostgreSQL): each still queues its own notification, with its own values."""
    import asyncio

    ctx = await broker.context(CONTEXT)
    await broker.subscriptions.create("", CONTEXT, body())
    await broker.notifier.stop()
    await broker.create_entity(
        "",
        ctx,
        {"id": "urn:ngsi-ld:Thing:1", "type": "ex:Lamp", "ex:power": {"type": "Property", "value": 0}},
    )
    await asyncio.gather(
        *(
            broker.update_attributes(
                "", "urn:ngsi-ld:Thing:1", ctx, {"ex:power": {"type": "Property", "value": n}}
            )
            for n in range(1, 31)
        )
    )
    claimed = await broker.store.claim_notifications(2e9, 1000, 60)
    powers = sorted(
        entity[name][0]["value"]
        for notification in claimed
        for entity in notification.payload["data"]
        for name in entity
        if name.endswith("power")
    )
    assert powers == list(range(31))


async def test_deletions_fire_attribute_deleted_not_entity_updated(broker: Broker) -> None:
    """Deleting an entity deletes its attributes (attributeDeleted, for the watched ones) but does
    not update it (entityUpdated); removing one datasetId is attributeDeleted of that attribute."""
    subs = broker.subscriptions
    deleted = await subs.create("", CONTEXT, body(notificationTrigger=["attributeDeleted"]))
    watching = await subs.create(
        "", CONTEXT, body(notificationTrigger=["attributeDeleted"], watchedAttributes=["ex:other"])
    )
    await subs.create("", CONTEXT, body(notificationTrigger=["entityUpdated"]))
    gone = subs.match("", [Change(thing(1), None)])
    assert [(p.subscription_id, p.payload["triggerReason"]) for p in gone] == [(deleted, "attributeDeleted")]
    assert watching not in {p.subscription_id for p in gone}
    [shown] = gone[0].payload["data"]
    assert shown["https://example.org/power"] == [{"type": "Property", "value": "urn:ngsi-ld:null"}]
    two = {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:Dataset:b"}
    before = {**thing(1), "https://example.org/power": [*thing(1)["https://example.org/power"], two]}
    reasons = {
        p.subscription_id: p.payload["triggerReason"] for p in subs.match("", [Change(before, thing(1))])
    }
    assert reasons[deleted] == "attributeDeleted"
    assert set(reasons.values()) == {"attributeDeleted", "entityUpdated"}
