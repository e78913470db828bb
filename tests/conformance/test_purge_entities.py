"""NGSI-LD conformance: Purge Entities, DELETE /ngsi-ld/v1/entities.

Purge Entities is not in V1.8.1 (whose DELETE is on one entity, clause 5.6.6); these tests are
written from clause 5.6.21 (the operation) and 6.4.3.3 (its binding) of V1.9.1, with the query
parameters of V1.8.1 clause 6.4.3.2 selecting what is purged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from etsi import (
    ENTITIES,
    LD,
    LINK,
    SUITE_CONTEXT,
    TEMPORAL,
    building,
    created,
    problem,
    query,
    retrieve,
    vehicle,
)

from conftest import free_port
from receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def purge(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    return await client.delete(ENTITIES, params=params, headers={"Link": LINK})


async def fleet(client: httpx.AsyncClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    vehicles = [
        vehicle(speed={"type": "Property", "value": speed}, isParked={"type": "Property", "value": False})
        for speed in (20, 60, 100)
    ]
    other = building()
    for entity in (*vehicles, other):
        await created(client, entity)
    return vehicles, other


async def test_6_4_3_3_purge_by_type(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 5.6.21 / 6.4.3.3: every entity of the type is deleted, others stay; 204."""
    vehicles, other = await fleet(client)
    response = await purge(client, type="Vehicle")
    assert response.status_code == 204, response.text
    for entity in vehicles:
        problem(await retrieve(client, entity["id"]), 404, "ResourceNotFound")
    assert (await retrieve(client, other["id"])).status_code == 200


async def test_6_4_3_3_purge_by_query(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 5.6.21 with a `q` (V1.8.1 clause 4.9): only the entities it selects go."""
    vehicles, _ = await fleet(client)
    assert (await purge(client, type="Vehicle", q="speed>50")).status_code == 204
    left = {entity["id"] for entity in (await query(client, type="Vehicle")).json()}
    assert left == {vehicles[0]["id"]}
    assert (await purge(client, q="speed<50")).status_code == 204
    assert (await query(client, type="Vehicle")).json() == []


async def test_5_6_21_drop_attributes(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 5.6.21: with `drop` the selected entities stay and lose the attributes named."""
    vehicles, other = await fleet(client)
    assert (await purge(client, type="Vehicle", q="speed>50", drop="isParked,brandName")).status_code == 204
    for entity in vehicles:
        got = (await retrieve(client, entity["id"])).json()
        if entity["speed"]["value"] > 50:
            assert "isParked" not in got and "brandName" not in got and got["speed"]["value"] > 50
        else:
            assert "isParked" in got and "brandName" in got
    assert "name" in (await retrieve(client, other["id"])).json()


async def test_5_6_21_keep_attributes(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 5.6.21: with `keep` the selected entities keep only the attributes named."""
    vehicles, _ = await fleet(client)
    assert (await purge(client, type="Vehicle", keep="speed")).status_code == 204
    for entity in vehicles:
        got = (await retrieve(client, entity["id"])).json()
        assert set(got) - {"@context"} == {"id", "type", "speed"}


async def test_6_4_3_3_refuses_to_select_nothing(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 6.4.3.3: a purge needs `type` or `q`; `keep` and `drop` exclude each other;
    malformed selections are 400 as in V1.8.1 clause 6.4.3.2. Nothing is deleted then."""
    vehicles, _ = await fleet(client)
    problem(await purge(client), 400, "BadRequestData")
    problem(await purge(client, idPattern=".*"), 400, "BadRequestData")
    problem(await purge(client, type="Vehicle", keep="speed", drop="isParked"), 400, "BadRequestData")
    problem(await purge(client, type="Vehicle", q="speed>>1"), 400, "BadRequestData")
    problem(await purge(client, type="Vehicle", unknown="1"), 400, "InvalidRequest")
    assert len((await query(client, type="Vehicle")).json()) == len(vehicles)


async def test_5_6_21_history_and_subscriptions_see_the_purge(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """V1.9.1 clause 5.6.21 through the same deletion as V1.8.1 clause 5.6.6: subscribers to
    entityDeleted (V1.8.1 clause 5.8.6 notificationTrigger) are notified, and the temporal
    evolution records when the entity was deleted (V1.8.1 clause 4.5.28 deletedAt)."""
    subscription = {
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "notificationTrigger": ["entityDeleted"],
        "notification": {"endpoint": {"uri": receiver.url, "accept": "application/json"}},
        "@context": [SUITE_CONTEXT],
    }
    response = await client.post("/ngsi-ld/v1/subscriptions", json=subscription, headers=LD)
    assert response.status_code == 201, response.text
    vehicles, _ = await fleet(client)
    assert (await purge(client, type="Vehicle", q="speed==20")).status_code == 204
    [arrived] = await receiver.wait_for(1)
    [deleted] = arrived.body["data"]
    assert deleted["id"] == vehicles[0]["id"] and "deletedAt" in deleted
    history = await client.get(
        f"{TEMPORAL}/{vehicles[0]['id']}", params={"options": "sysAttrs"}, headers={"Link": LINK}
    )
    assert history.status_code == 200, history.text
    assert history.json()["deletedAt"].endswith("Z")
