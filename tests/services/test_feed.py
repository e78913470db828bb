"""Tests for broker/feed.py and store/sql/service_feed.py: each service's durable feed of changes,
written in the transaction of the change, claimed with a lease, settled; and job leases. Both
backends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from smartby.assembly import assemble
from smartby.broker import Broker
from smartby.broker.feed import Watch
from smartby.settings import Settings

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


@pytest.fixture
async def broker(settings: Settings) -> Any:
    parts = assemble(settings)
    parts.broker.feed.watch(
        [
            Watch("lights", frozenset({DEFAULT + "Streetlight"}), frozenset({DEFAULT + "power"})),
            Watch("everything", ignored=frozenset({DEFAULT + "Alert"})),
            Watch("timing", frozenset({DEFAULT + "Streetlight"}), brief=True),
        ]
    )
    await parts.broker.open()
    try:
        yield parts.broker
    finally:
        await parts.broker.close()


def light(number: int, power: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Streetlight:{number}",
        "type": "Streetlight",
        "power": {"type": "Property", "value": power, "observedAt": "2026-12-01T16:00:00Z"},
        **extra,
    }


async def upsert(broker: Broker, *entities: dict[str, Any], tenant: str = "") -> None:
    result = await broker.batch_upsert(tenant, await broker.context(None), list(entities), mode="update")
    assert not result.errors


async def test_a_watched_change_is_fed_with_the_watched_attributes_only(broker: Broker) -> None:
    await upsert(broker, light(1, 40.0, state={"type": "Property", "value": "ok"}))
    [change] = await broker.feed.claim("lights", 10, 60)
    assert (change.tenant, change.entity_id, change.before, change.attempts) == (
        "",
        "urn:ngsi-ld:Streetlight:1",
        None,
        1,
    )
    assert change.after is not None
    assert set(change.after) == {"id", "type", DEFAULT + "power"}
    assert change.after[DEFAULT + "power"][0]["value"] == 40.0


async def test_a_brief_watch_is_fed_when_attributes_were_observed_not_their_values(broker: Broker) -> None:
    await upsert(broker, light(1, 40.0, state={"type": "Property", "value": "ok"}))
    [change] = await broker.feed.claim("timing", 10, 60)
    assert change.after == {
        "id": "urn:ngsi-ld:Streetlight:1",
        "type": [DEFAULT + "Streetlight"],
        DEFAULT + "power": [{"observedAt": "2026-12-01T16:00:00Z"}],
        DEFAULT + "state": [{}],
    }


async def test_a_brief_watch_is_fed_only_the_header_of_the_entity_before(broker: Broker) -> None:
    await upsert(broker, light(1, 40.0))
    await broker.feed.settle(await broker.feed.claim("timing", 10, 60))
    await upsert(broker, light(1, 41.0))
    [change] = await broker.feed.claim("timing", 10, 60)
    assert change.before == {"id": "urn:ngsi-ld:Streetlight:1", "type": [DEFAULT + "Streetlight"]}
    assert change.after is not None and DEFAULT + "power" in change.after


async def test_a_change_of_unwatched_attributes_or_types_is_not_fed(broker: Broker) -> None:
    await upsert(broker, light(1, 40.0, state={"type": "Property", "value": "ok"}))
    await broker.feed.settle(await broker.feed.claim("lights", 10, 60))
    # A change of the status alone (the power not written again).
    status = {"type": "Property", "value": "defectiveLamp"}
    await upsert(broker, {"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "state": status})
    await upsert(
        broker, {"id": "urn:ngsi-ld:Alert:1", "type": "Alert", "note": {"type": "Property", "value": 1}}
    )
    assert await broker.feed.claim("lights", 10, 60) == []
    # The catch-all watch got the light's two changes and not the ignored Alert.
    fed = await broker.feed.claim("everything", 10, 60)
    assert [c.entity_id for c in fed] == ["urn:ngsi-ld:Streetlight:1"] * 2
    assert fed[1].before is not None and fed[1].after is not None
    assert fed[1].before[DEFAULT + "state"][0]["value"] == "ok"
    assert fed[1].after[DEFAULT + "state"][0]["value"] == "defectiveLamp"


async def test_a_deletion_is_fed_with_nothing_after(broker: Broker) -> None:
    await upsert(broker, light(1, 40.0), tenant="aarhus")
    await broker.delete_entity("aarhus", "urn:ngsi-ld:Streetlight:1")
    fed = await broker.feed.claim("lights", 10, 60)
    assert [(c.tenant, c.before is None, c.after is None) for c in fed] == [
        ("aarhus", True, False),
        ("aarhus", False, True),
    ]


async def test_a_failed_transaction_feeds_nothing(broker: Broker) -> None:
    ctx = await broker.context(None)
    await broker.create_entity("", ctx, light(1, 40.0))
    await broker.feed.settle(await broker.feed.claim("lights", 10, 60))
    with pytest.raises(Exception, match="already exists"):
        await broker.create_entity("", ctx, light(1, 50.0))
    assert await broker.feed.pending("lights") == 0


async def test_claims_take_the_oldest_changes_and_never_the_same_twice_while_leased(broker: Broker) -> None:
    for number in range(5):
        await upsert(broker, light(number, float(number)))
    first, second = await asyncio.gather(
        broker.feed.claim("lights", 3, 60), broker.feed.claim("lights", 3, 60)
    )
    ids = [c.id for c in first + second]
    assert len(ids) == len(set(ids)) == 5
    assert sorted(c.entity_id for c in first + second) == [f"urn:ngsi-ld:Streetlight:{n}" for n in range(5)]
    assert await broker.feed.claim("lights", 10, 60) == []
    assert await broker.feed.pending("lights") == 5


async def test_settled_changes_leave_and_released_ones_come_back_at_once(broker: Broker) -> None:
    for number in range(4):
        await upsert(broker, light(number, float(number)))
    batch = await broker.feed.claim("lights", 2, 60)
    await broker.feed.settle(batch)
    rest = await broker.feed.claim("lights", 10, 60)
    assert [c.entity_id for c in rest] == ["urn:ngsi-ld:Streetlight:2", "urn:ngsi-ld:Streetlight:3"]
    await broker.feed.release(rest)
    again = await broker.feed.claim("lights", 10, 60)
    assert [c.id for c in again] == [c.id for c in rest]
    assert [c.attempts for c in again] == [1, 1]
    assert await broker.feed.pending("lights") == 2


async def test_a_claim_whose_lease_ended_is_claimed_again_with_its_attempts(broker: Broker) -> None:
    await upsert(broker, light(1, 40.0))
    [first] = await broker.feed.claim("lights", 10, 0.05)
    while not (again := await broker.feed.claim("lights", 10, 60)):
        await asyncio.sleep(0.02)
    assert [c.id for c in again] == [first.id]
    assert again[0].attempts == 2


async def test_a_job_is_claimed_by_one_holder_per_period(broker: Broker) -> None:
    feed = broker.feed
    assert await feed.claim_job("lights", "program", 1000.0, 60, "a") == 1000.0
    assert await feed.claim_job("lights", "program", 1000.0, 60, "b") is None  # leased by a
    assert await feed.finish_job("lights", "program", "a", 1300.0)
    assert await feed.claim_job("lights", "program", 1200.0, 60, "b") is None  # not due yet
    assert await feed.claim_job("lights", "program", 1300.0, 60, "b") == 1300.0
    assert not await feed.finish_job("lights", "program", "a", 1600.0)  # a does not hold it
    assert await feed.finish_job("lights", "program", "b", 1600.0)
    assert await feed.job_runs("lights", "program") == 2


async def test_a_job_whose_holder_died_is_taken_over_when_the_lease_ends(broker: Broker) -> None:
    feed = broker.feed
    assert await feed.claim_job("lights", "program", 1000.0, 0.05, "dead") == 1000.0
    while (taken := await feed.claim_job("lights", "program", 1000.0, 60, "alive")) is None:
        await asyncio.sleep(0.02)
    assert taken == 1000.0


async def test_concurrent_claims_of_a_due_job_give_it_to_one(settings: Settings) -> None:
    """Two assemblies (two pools, two writers) on one database, as two processes have."""
    first, second = assemble(settings), assemble(settings)
    await first.broker.open()
    await second.broker.open()
    try:
        for round_ in range(5):
            due = 1000.0 * (round_ + 1)
            got = await asyncio.gather(
                *(
                    parts.broker.feed.claim_job("svc", "job", due, 60, holder)
                    for parts, holder in ((first, "a"), (second, "b"), (first, "c"), (second, "d"))
                )
            )
            winners = [holder for holder, claimed in zip("abcd", got, strict=True) if claimed is not None]
            assert len(winners) == 1
            await first.broker.feed.finish_job("svc", "job", winners[0], due + 1000.0)
    finally:
        await first.broker.close()
        await second.broker.close()
