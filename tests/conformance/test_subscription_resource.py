"""ETSI NGSI-LD conformance: the Subscription resource as it is retrieved, listed and updated
(clauses 5.2.12, 5.2.14, 5.8.2-5.8.5, 6.10, 6.11), with a real HTTP receiver behind the status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from etsi import LINK, SUITE, UNKNOWN_CONTEXT, building, create, problem
from subscription_steps import (
    SUBSCRIPTIONS,
    WITH_LINK,
    notifying_settings,
    running_receiver,
    subscribe,
    subscription,
    until,
)

from receiver import Receiver
from smartby.settings import Settings

MERGE_PATCH = {"Content-Type": "application/merge-patch+json", "Link": LINK}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return notifying_settings(database_url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


async def retrieved(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url, headers={"Link": LINK})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_retrieved_subscription_is_what_was_given_and_its_status(
    client: httpx.AsyncClient,
) -> None:
    """Clause 5.8.3 (Retrieve Subscription) with Table 5.2.12-1: the subscription as created, no
    default (isActive, format, sysAttrs, showChanges, accept) it was not given, and the status the
    broker adds, read-only, with the notificationTrigger that applies (the suite's TP 028_06); list
    (clause 5.8.4) shows the same."""
    given = subscription("http://127.0.0.1:9/notify", "urn:ngsi-ld:Subscription:given", q="name==%22x%22")
    del given["notification"]["endpoint"]["accept"]
    url = await subscribe(client, given)
    shown = {**given, "notificationTrigger": ["attributeCreated", "attributeUpdated"], "status": "active"}
    assert await retrieved(client, url) == shown
    listed = (await client.get(SUBSCRIPTIONS, headers={"Link": LINK})).json()
    assert listed == [shown]
    # Members given are shown as given, defaults included when they were asked for.
    paused = subscription(
        "http://127.0.0.1:9/notify",
        "urn:ngsi-ld:Subscription:paused",
        isActive=False,
        notificationTrigger=["entityDeleted"],
        notification={"format": "simplified", "sysAttrs": False},
    )
    assert await retrieved(client, await subscribe(client, paused)) == {**paused, "status": "paused"}


async def test_expired_subscription_says_so(client: httpx.AsyncClient) -> None:
    """Table 5.2.12-1, status: "expired" once expiresAt has passed (while isActive stays as given)."""
    soon = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    url = await subscribe(client, subscription("http://127.0.0.1:9/notify", expiresAt=soon, isActive=True))
    assert (await retrieved(client, url))["status"] == "active"
    shown = await until(lambda: retrieved(client, url), lambda s: s["status"] != "active")
    assert shown["status"] == "expired" and shown["isActive"] is True
    assert datetime.now(UTC) >= datetime.fromisoformat(soon)


async def test_delivery_status_members(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Table 5.2.14-1, the members the broker adds to NotificationParams: timesSent, timesFailed,
    lastNotification, lastSuccess, lastFailure and status ("ok", "failed"), absent until there is
    something to say."""
    url = await subscribe(client, subscription(receiver.url))
    before = (await retrieved(client, url))["notification"]
    assert not {"timesSent", "timesFailed", "lastNotification", "lastSuccess", "status"} & set(before)
    entity = building()
    assert (await create(client, entity)).status_code == 201
    await receiver.wait_for(1)

    async def notification() -> dict[str, Any]:
        shown: dict[str, Any] = (await retrieved(client, url))["notification"]
        return shown

    sent = await until(notification, lambda n: n.get("timesSent") == 1)
    assert sent["status"] == "ok" and sent["lastSuccess"] == sent["lastNotification"]
    assert "timesFailed" not in sent and "lastFailure" not in sent
    receiver.status = 500
    patch = {"name": {"type": "Property", "value": "Tour Montparnasse"}}
    response = await client.patch(
        f"/ngsi-ld/v1/entities/{entity['id']}/attrs", content=orjson.dumps(patch), headers=WITH_LINK
    )
    assert response.status_code == 204
    failed = await until(notification, lambda n: n.get("timesFailed", 0) >= 1)
    assert failed["status"] == "failed" and failed["lastFailure"] == failed["lastNotification"]
    assert failed["timesSent"] >= 2 and failed["lastSuccess"] == sent["lastSuccess"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_malformed_subscription_id(client: httpx.AsyncClient, method: str) -> None:
    """Clauses 5.8.2, 5.8.3 and 5.8.5: a subscription id that is not a valid URI is BadRequestData."""
    content = orjson.dumps({"isActive": False}) if method == "PATCH" else None
    response = await client.request(
        method, f"{SUBSCRIPTIONS}/not%20a%20uri", content=content, headers=WITH_LINK
    )
    problem(response, 400, "BadRequestData")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_subscription(client: httpx.AsyncClient, method: str) -> None:
    """Clauses 5.8.2, 5.8.3 and 5.8.5: a subscription that does not exist is ResourceNotFound."""
    content = orjson.dumps({"isActive": False}) if method == "PATCH" else None
    url = f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:nowhere"
    problem(await client.request(method, url, content=content, headers=WITH_LINK), 404, "ResourceNotFound")


@pytest.mark.parametrize(
    "fragment",
    [
        {"notification": {"endpoint": None}},
        {"notification": None},
        {"entities": None, "watchedAttributes": None},
        {"notification": {"format": "fancy"}},
        {"notification": {"endpoint": {"uri": "not a uri"}}},
        {"notification": {"attributes": []}},
        {"isActive": "yes"},
        {"timeInterval": 10},
        {"q": "name=="},
        {"expiresAt": "2001-01-01T00:00:00Z"},
    ],
)
async def test_merge_patch_that_breaks_the_subscription(
    client: httpx.AsyncClient, fragment: dict[str, Any]
) -> None:
    """Clause 5.8.2 (Update Subscription): the fragment is merged into the subscription (JSON Merge
    Patch, clause 6.11.3.2); a result that is no valid Subscription (clause 5.2.12) is
    BadRequestData, and the subscription stays as it was."""
    url = await subscribe(client, subscription("http://127.0.0.1:9/notify", watchedAttributes=["name"]))
    before = await retrieved(client, url)
    response = await client.patch(url, content=orjson.dumps(fragment), headers=MERGE_PATCH)
    problem(response, 400, "BadRequestData")
    assert await retrieved(client, url) == before


async def test_merge_patch_merges_and_removes(client: httpx.AsyncClient) -> None:
    """Clause 5.8.2 (Update Subscription): objects merge member by member, null removes a member."""
    body = subscription(
        "http://127.0.0.1:9/notify",
        watchedAttributes=["name"],
        q="airQualityLevel>2",
        notification={"attributes": ["name"], "format": "keyValues"},
    )
    url = await subscribe(client, body)
    fragment = {
        "q": None,
        "notification": {"attributes": None, "endpoint": {"accept": "application/ld+json"}},
        "subscriptionName": "Air",
    }
    response = await client.patch(url, content=orjson.dumps(fragment), headers=MERGE_PATCH)
    assert response.status_code == 204, response.text
    shown = await retrieved(client, url)
    assert "q" not in shown and shown["subscriptionName"] == "Air"
    assert shown["notification"] == {
        "format": "keyValues",
        "endpoint": {"uri": "http://127.0.0.1:9/notify", "accept": "application/ld+json"},
    }


async def test_unavailable_jsonld_context(client: httpx.AsyncClient) -> None:
    """Clause 5.8.1 with Table 5.2.12-1, jsonldContext: a @context that cannot be retrieved is
    LdContextNotAvailable (as the suite's TP 028_07_02 expects); one that is not a URI is
    BadRequestData."""
    body = subscription("http://127.0.0.1:9/notify", jsonldContext=UNKNOWN_CONTEXT)
    response = await client.post(SUBSCRIPTIONS, content=orjson.dumps(body), headers=WITH_LINK)
    problem(response, 503, "LdContextNotAvailable")
    body["jsonldContext"] = "not a uri"
    response = await client.post(SUBSCRIPTIONS, content=orjson.dumps(body), headers=WITH_LINK)
    problem(response, 400, "BadRequestData")


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_no_subscription_id(client: httpx.AsyncClient, method: str) -> None:
    """Clauses 6.11.3.2 and 6.11.3.3: PATCH and DELETE act on one subscription; without an id the
    path is the collection (clause 6.10), which does not allow them: 405 (the suite's TP 029_01_01)."""
    content = orjson.dumps({"isActive": False}) if method == "PATCH" else None
    response = await client.request(method, f"{SUBSCRIPTIONS}/", content=content, headers=WITH_LINK)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}


async def test_names_are_compacted_with_the_readers_context(client: httpx.AsyncClient) -> None:
    """Clause 5.8.3 (Retrieve Subscription) and 5.8.2: term to URI expansion is observed, so a reader
    without the suite's @context (the core context alone) sees the full IRIs of entity types,
    watchedAttributes, geoproperty and the notification's attributes (the suite's TP 029_05_02);
    with it, the terms as written; pick and omit keep the entity members id, type and scope."""
    body = subscription(
        "http://127.0.0.1:9/notify",
        entities=[{"type": "Building"}, {"type": "(Building;Vehicle)"}],
        watchedAttributes=["name"],
        geoQ={
            "georel": "near;maxDistance==10",
            "geometry": "Point",
            "coordinates": [1, 2],
            "geoproperty": "location",
        },
        notification={"pick": ["id", "name"]},
    )
    url = await subscribe(client, body)
    plain = (await client.get(url)).json()
    assert plain["entities"] == [{"type": f"{SUITE}Building"}, {"type": f"{SUITE}Building;{SUITE}Vehicle"}]
    assert plain["watchedAttributes"] == [f"{SUITE}name"]
    assert plain["geoQ"]["geoproperty"] == "location"
    assert plain["notification"]["pick"] == ["id", f"{SUITE}name"]
    written = await retrieved(client, url)
    assert written["entities"] == body["entities"] and written["watchedAttributes"] == ["name"]
    assert written["notification"]["pick"] == ["id", "name"]
    patch = {"entities": [{"type": "Vehicle"}]}
    response = await client.patch(url, content=orjson.dumps(patch), headers=WITH_LINK)
    assert response.status_code == 204
    assert (await client.get(url)).json()["entities"] == [{"type": f"{SUITE}Vehicle"}]
