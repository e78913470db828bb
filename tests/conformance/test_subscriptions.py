"""ETSI NGSI-LD conformance: Subscription (create, retrieve, query, update, delete; TPs 047-051)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from etsi import JSON, LINK, SUITE_CONTEXT, V1, problem

SUBSCRIPTIONS = f"{V1}/subscriptions"
WITH_LINK = {**JSON, "Link": LINK}
LD = {"Content-Type": "application/ld+json"}


def subscription(sub_id: str | None = None, **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "watchedAttributes": ["speed"],
        "q": "speed>50",
        "notification": {"endpoint": {"uri": "http://my.endpoint.org/notify", "accept": "application/json"}},
    }
    if sub_id is not None:
        body["id"] = sub_id
    body.update(members)
    return body


async def create(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post(SUBSCRIPTIONS, content=orjson.dumps(body), headers={**WITH_LINK, **headers})


async def test_047_01_create_subscription(client: httpx.AsyncClient) -> None:
    response = await create(client, subscription("urn:ngsi-ld:Subscription:047"))
    assert response.status_code == 201
    assert response.headers["location"] == f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:047"
    stored = (
        await client.get(f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:047", headers={"Link": LINK})
    ).json()
    # What was given and the status the broker adds (clause 5.8.3), no defaults never asked for.
    assert stored == {
        **subscription("urn:ngsi-ld:Subscription:047"),
        "notificationTrigger": ["attributeCreated", "attributeUpdated"],
        "status": "active",
    }


async def test_047_02_generated_id_and_json_ld_body(client: httpx.AsyncClient) -> None:
    body = {**subscription(), "@context": SUITE_CONTEXT}
    response = await client.post(SUBSCRIPTIONS, content=orjson.dumps(body), headers=LD)
    assert response.status_code == 201
    location = response.headers["location"]
    assert location.startswith(f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:")
    retrieved = await client.get(location, headers={"Accept": "application/ld+json"})
    assert retrieved.json()["@context"]


async def test_047_03_already_exists(client: httpx.AsyncClient) -> None:
    assert (await create(client, subscription("urn:ngsi-ld:Subscription:dup"))).status_code == 201
    problem(await create(client, subscription("urn:ngsi-ld:Subscription:dup")), 409, "AlreadyExists")


@pytest.mark.parametrize(
    "members",
    [
        {"entities": None, "watchedAttributes": None},
        {"type": "NotASubscription"},
        {"timeInterval": 10},
        {"q": "speed>>"},
        {"notification": {"endpoint": {"uri": "not-a-uri"}}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "format": "fancy"}},
        {"expiresAt": "2000-01-01T00:00:00Z"},
        {"geoQ": {"georel": "near", "geometry": "Point", "coordinates": [1, 2]}},
        {"notificationTrigger": ["whenever"]},
        {"throttling": "often"},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "format": "keyValues", "showChanges": True}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "showChanges": "yes"}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "pick": ["speed"], "omit": ["id"]}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "attributes": ["speed"], "pick": ["id"]}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "pick": []}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "join": "sideways"}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "join": "inline", "joinLevel": 0}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "join": "inline", "joinLevel": 1.5}},
        {"notification": {"endpoint": {"uri": "http://x.org/"}, "join": "inline", "joinLevel": 11}},
        {"notification": {"endpoint": {"uri": "http://x.org/", "accept": "text/csv"}}},
        {"datasetId": "urn:ngsi-ld:dataset:a"},
        {"datasetId": ["not a uri"]},
        {"datasetId": []},
        {"temporalQ": {"timerel": "after", "timeAt": "2026-01-01T00:00:00Z"}},
    ],
)
async def test_047_04_invalid_subscription(client: httpx.AsyncClient, members: dict[str, Any]) -> None:
    body = {k: v for k, v in subscription(**members).items() if v is not None}
    problem(await create(client, body), 400, "BadRequestData")


async def test_047_06_notification_members_kept(client: httpx.AsyncClient) -> None:
    notification = {
        "endpoint": {"uri": "http://my.endpoint.org/notify", "accept": "application/geo+json"},
        "format": "concise",
        "sysAttrs": True,
        "showChanges": True,
        "pick": ["id", "speed"],
        "join": "inline",
        "joinLevel": 2,
    }
    body = subscription("urn:ngsi-ld:Subscription:0476", notification=notification, datasetId=["@none"])
    assert (await create(client, body)).status_code == 201
    # Read with the @context it was written with: the names come back as they were given.
    stored = (
        await client.get(f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:0476", headers={"Link": LINK})
    ).json()
    assert stored["datasetId"] == ["@none"]
    assert {k: stored["notification"][k] for k in notification} == notification


async def test_047_05_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(SUBSCRIPTIONS, content=b"{nope", headers=JSON)
    problem(response, 400, "InvalidRequest")


async def test_048_retrieve_unknown_and_invalid_id(client: httpx.AsyncClient) -> None:
    problem(await client.get(f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:none"), 404, "ResourceNotFound")
    problem(await client.get(f"{SUBSCRIPTIONS}/not an id"), 400, "BadRequestData")


async def test_049_query_subscriptions_pages(client: httpx.AsyncClient) -> None:
    for number in range(3):
        assert (await create(client, subscription(f"urn:ngsi-ld:Subscription:{number}"))).status_code == 201
    response = await client.get(SUBSCRIPTIONS, params={"limit": "2", "count": "true"})
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == ["urn:ngsi-ld:Subscription:0", "urn:ngsi-ld:Subscription:1"]
    assert response.headers["ngsild-results-count"] == "3"
    assert 'rel="next"' in response.headers["link"]
    rest = await client.get(SUBSCRIPTIONS, params={"limit": "2", "offset": "2"})
    assert [s["id"] for s in rest.json()] == ["urn:ngsi-ld:Subscription:2"]
    problem(await client.get(SUBSCRIPTIONS, params={"limit": "-1"}), 400, "BadRequestData")
    problem(await client.get(SUBSCRIPTIONS, params={"colour": "red"}), 400, "InvalidRequest")


async def test_049_tenants_are_separate(client: httpx.AsyncClient) -> None:
    sub = subscription("urn:ngsi-ld:Subscription:t")
    assert (await create(client, sub, **{"NGSILD-Tenant": "odense"})).status_code == 201
    assert (await client.get(SUBSCRIPTIONS, headers={"NGSILD-Tenant": "odense"})).json()[0]["id"] == sub["id"]
    assert (await client.get(SUBSCRIPTIONS)).json() == []
    problem(await client.get(f"{SUBSCRIPTIONS}/{sub['id']}"), 404, "ResourceNotFound")
    problem(await client.get(SUBSCRIPTIONS, headers={"NGSILD-Tenant": "nowhere"}), 404, "NonexistentTenant")


async def test_050_update_subscription(client: httpx.AsyncClient) -> None:
    assert (await create(client, subscription("urn:ngsi-ld:Subscription:050"))).status_code == 201
    url = f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:050"
    patch = {"isActive": False, "q": None, "notification": {"format": "keyValues"}}
    response = await client.patch(url, content=orjson.dumps(patch), headers=WITH_LINK)
    assert response.status_code == 204
    updated = (await client.get(url)).json()
    assert updated["status"] == "paused" and "q" not in updated
    assert updated["notification"]["format"] == "keyValues"
    assert updated["notification"]["endpoint"]["uri"] == "http://my.endpoint.org/notify"
    problem(
        await client.patch(url, content=orjson.dumps({"timeInterval": 5}), headers=WITH_LINK),
        400,
        "BadRequestData",
    )
    problem(
        await client.patch(
            f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:none", content=b'{"isActive": true}', headers=WITH_LINK
        ),
        404,
        "ResourceNotFound",
    )


async def test_051_delete_subscription(client: httpx.AsyncClient) -> None:
    assert (await create(client, subscription("urn:ngsi-ld:Subscription:051"))).status_code == 201
    url = f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:051"
    assert (await client.delete(url)).status_code == 204
    problem(await client.get(url), 404, "ResourceNotFound")
    problem(await client.delete(url), 404, "ResourceNotFound")
