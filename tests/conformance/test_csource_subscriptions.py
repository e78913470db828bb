"""ETSI NGSI-LD conformance: subscriptions to context source registrations (clause 5.11 and its
HTTP binding, 6.12 and 6.13), notifying a real HTTP receiver, on both backends."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from etsi import JSON, LINK, SUITE_CONTEXT, V1, problem

from receiver import Receiver
from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.settings import Settings

SUBSCRIPTIONS = f"{V1}/csourceSubscriptions"
REGISTRATIONS = f"{V1}/csourceRegistrations"
WITH_LINK = {**JSON, "Link": LINK}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def subscription(uri: str, sub_id: str | None = None, **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "notification": {"endpoint": {"uri": uri, "accept": "application/json"}},
    }
    if sub_id is not None:
        body["id"] = sub_id
    body.update(members)
    return body


def registration(type_name: str = "Vehicle", **members: Any) -> dict[str, Any]:
    return {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": type_name}], "propertyNames": ["speed"]}],
        "endpoint": "http://neighbour.example/ngsi-ld",
        **members,
    }


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post(path, content=orjson.dumps(body), headers={**WITH_LINK, **headers})


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any], **headers: str) -> str:
    response = await post(client, path, body, **headers)
    assert response.status_code == 201, response.text
    return str(response.headers["location"])


async def test_crud(client: httpx.AsyncClient) -> None:
    """Clauses 5.11.2-5.11.6 (create, update, retrieve, query, delete csource subscriptions) and
    6.12.3 / 6.13.3: 201 with Location, the subscription read back with its status, members
    replaced by PATCH, 204 on delete and 404 after it."""
    body = subscription(
        "http://127.0.0.1:9/notify", "urn:ngsi-ld:Subscription:cs1", watchedAttributes=["speed"]
    )
    location = await created(client, SUBSCRIPTIONS, body)
    assert location == f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:cs1"
    got = (await client.get(location, headers={"Link": LINK})).json()
    assert got["entities"] == [{"type": "Vehicle"}]
    assert got["watchedAttributes"] == ["speed"]
    assert got["status"] == "active"
    assert "timesSent" not in got["notification"]  # shown once at least 1 (5.2.14, minimum 1)
    timed = (await client.get(f"{location}?options=sysAttrs")).json()
    assert timed["createdAt"] and timed["modifiedAt"]
    assert "createdAt" not in got
    listed = await client.get(f"{SUBSCRIPTIONS}?count=true")
    assert [item["id"] for item in listed.json()] == ["urn:ngsi-ld:Subscription:cs1"]
    assert listed.headers["NGSILD-Results-Count"] == "1"
    patched = await client.patch(location, content=orjson.dumps({"isActive": False}), headers=WITH_LINK)
    assert patched.status_code == 204
    assert (await client.get(location)).json()["status"] == "paused"
    assert (await client.delete(location)).status_code == 204
    problem(await client.get(location), 404, "ResourceNotFound")
    problem(await client.delete(location), 404, "ResourceNotFound")
    assert (await client.get(f"{V1}/subscriptions")).json() == []


async def test_errors(client: httpx.AsyncClient) -> None:
    """Clause 5.11.2: an invalid subscription is BadRequestData, an id in use AlreadyExists;
    what smartby does not support for csource subscriptions (periodic, MQTT) OperationNotSupported."""
    uri = "http://127.0.0.1:9/notify"
    problem(await post(client, SUBSCRIPTIONS, {"type": "Subscription"}), 400, "BadRequestData")
    no_selection = {k: v for k, v in subscription(uri).items() if k != "entities"}
    problem(await post(client, SUBSCRIPTIONS, no_selection), 400, "BadRequestData")
    problem(await post(client, SUBSCRIPTIONS, subscription(uri, q="(((")), 400, "BadRequestData")
    problem(
        await post(client, SUBSCRIPTIONS, subscription(uri, timeInterval=60)), 422, "OperationNotSupported"
    )
    mqtt = subscription("mqtt://127.0.0.1:1883/topic")
    problem(await post(client, SUBSCRIPTIONS, mqtt), 422, "OperationNotSupported")
    await created(client, SUBSCRIPTIONS, subscription(uri, "urn:ngsi-ld:Subscription:twice"))
    problem(
        await post(client, SUBSCRIPTIONS, subscription(uri, "urn:ngsi-ld:Subscription:twice")),
        409,
        "AlreadyExists",
    )
    problem(await client.get(f"{SUBSCRIPTIONS}/urn:ngsi-ld:Subscription:none"), 404, "ResourceNotFound")


async def test_trigger_reasons(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.11.7 (csource notification) with 5.2.9: a registration that comes to match is
    newlyMatching, one changed that still matches updated, one that stops matching or is deleted
    noLongerMatching; a registration the subscription does not select sends nothing."""
    sub = await created(client, SUBSCRIPTIONS, subscription(receiver.url))
    await created(client, REGISTRATIONS, registration("Building"))
    location = await created(client, REGISTRATIONS, registration(registrationName="first"))
    [first] = await receiver.wait_for(1)
    assert first.body["triggerReason"] == "newlyMatching"
    assert first.body["subscriptionId"] == sub.rsplit("/", 1)[1]
    assert first.body["type"] == "CsourceNotification"
    assert [item["registrationName"] for item in first.body["data"]] == ["first"]
    assert first.body["data"][0]["information"][0]["entities"] == [{"type": "Vehicle"}]
    assert SUITE_CONTEXT in first.headers["link"]

    async def patch(fragment: dict[str, Any]) -> None:
        response = await client.patch(location, content=orjson.dumps(fragment), headers=WITH_LINK)
        assert response.status_code == 204, response.text

    await patch({"registrationName": "second"})
    second = (await receiver.wait_for(2))[1]
    assert second.body["triggerReason"] == "updated"
    assert second.body["data"][0]["registrationName"] == "second"
    await patch({"information": [{"entities": [{"type": "Building"}]}]})
    third = (await receiver.wait_for(3))[2]
    assert third.body["triggerReason"] == "noLongerMatching"
    assert third.body["data"][0]["information"][0]["entities"] == [{"type": "Vehicle"}]
    await patch({"information": [{"entities": [{"type": "Vehicle"}]}]})
    assert (await receiver.wait_for(4))[3].body["triggerReason"] == "newlyMatching"
    assert (await client.delete(location)).status_code == 204
    fifth = (await receiver.wait_for(5))[4]
    assert fifth.body["triggerReason"] == "noLongerMatching"
    assert fifth.body["data"][0]["id"] == location.rsplit("/", 1)[1]
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 5


async def test_initial_notification(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.11.2: a new csource subscription is notified at once of the registrations that
    match it (newlyMatching)."""
    await created(client, REGISTRATIONS, registration(registrationName="before"))
    await created(client, REGISTRATIONS, registration("Building", registrationName="other"))
    await created(client, SUBSCRIPTIONS, subscription(receiver.url))
    [arrived] = await receiver.wait_for(1)
    assert arrived.body["triggerReason"] == "newlyMatching"
    assert [item["registrationName"] for item in arrived.body["data"]] == ["before"]


async def test_watched_attributes_q_and_geo(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.11.7 with 5.2.12: watchedAttributes are matched against the registered attribute
    names, q and csf against registration properties, geoQ against the registration's location."""
    body = subscription(
        receiver.url,
        watchedAttributes=["speed"],
        q='brandName=="city"',
        geoQ={"geometry": "Point", "coordinates": [12.57, 55.68], "georel": "near;maxDistance==10000"},
    )
    await created(client, SUBSCRIPTIONS, body)
    here = {"type": "Point", "coordinates": [12.5683, 55.6761]}
    far = {"type": "Point", "coordinates": [10.2, 56.16]}
    other_attrs = registration(brandName="city", location=here)
    other_attrs["information"][0]["propertyNames"] = ["brandName"]
    await created(client, REGISTRATIONS, other_attrs)
    await created(client, REGISTRATIONS, registration(brandName="utility", location=here))
    await created(client, REGISTRATIONS, registration(brandName="city", location=far))
    await created(
        client, REGISTRATIONS, registration(brandName="city", location=here, registrationName="yes")
    )
    [arrived] = await receiver.wait_for(1)
    assert [item["registrationName"] for item in arrived.body["data"]] == ["yes"]
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 1


async def test_json_ld_tenant_and_status(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.11.7 with 5.2.15 and 4.14: accept application/ld+json puts the @context in the
    notification body, the tenant is named in NGSILD-Tenant, receiverInfo goes as headers; the
    subscription's status counts what was sent (timesSent, lastSuccess) and what failed."""
    tenant = {"NGSILD-Tenant": "aarhus"}
    endpoint = {
        "uri": receiver.url,
        "accept": "application/ld+json",
        "receiverInfo": [{"key": "X-City", "value": "Aarhus"}],
    }
    location = await created(
        client, SUBSCRIPTIONS, subscription(receiver.url, notification={"endpoint": endpoint}), **tenant
    )
    await created(client, REGISTRATIONS, registration(), **tenant)
    [arrived] = await receiver.wait_for(1)
    assert arrived.body["@context"] == SUITE_CONTEXT
    assert arrived.headers["content-type"] == "application/ld+json"
    assert arrived.headers["ngsild-tenant"] == "aarhus"
    assert arrived.headers["x-city"] == "Aarhus"
    status = await _status_after(client, location, tenant, lambda n: n.get("timesSent", 0) >= 1)
    assert "timesFailed" not in status and "lastSuccess" in status and status["status"] == "ok"
    receiver.status = 500
    await created(client, REGISTRATIONS, registration(), **tenant)
    status = await _status_after(client, location, tenant, lambda n: n.get("timesFailed", 0) >= 1)
    assert "lastFailure" in status


async def _status_after(
    client: httpx.AsyncClient, location: str, headers: dict[str, str], done: Any
) -> dict[str, Any]:
    for _ in range(500):
        notification: dict[str, Any] = (await client.get(location, headers=headers)).json()["notification"]
        if done(notification):
            return notification
        await asyncio.sleep(0.02)
    raise AssertionError(f"the subscription's status never changed: {notification}")


async def test_notifications_wait_for_a_receiver_that_is_down(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Clause 5.11.7: a csource notification the receiver could not take is tried again (the
    subscription's timesFailed counts the failure) and arrives once the receiver is back."""
    location = await created(client, SUBSCRIPTIONS, subscription(receiver.url))
    receiver.stop()
    await created(client, REGISTRATIONS, registration(registrationName="while-down"))
    await _status_after(client, location, {}, lambda n: n.get("timesFailed", 0) >= 1)
    receiver.start()
    [arrived] = await receiver.wait_for(1)
    assert arrived.body["triggerReason"] == "newlyMatching"
    assert arrived.body["data"][0]["registrationName"] == "while-down"
    status = await _status_after(client, location, {}, lambda n: n.get("status") == "ok")
    assert status["timesSent"] >= 2


async def test_notifications_outlive_the_process(settings: Settings, receiver: Receiver) -> None:
    """Clause 5.11.7: a csource notification is kept until it is delivered: one written by a
    process that does not deliver (or stops first) is sent by the next process that does."""
    quiet = assemble(settings.model_copy(update={"notifications": False}))
    await quiet.broker.open()
    try:
        transport = httpx.ASGITransport(app=create_app(quiet))
        async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
            await created(http, SUBSCRIPTIONS, subscription(receiver.url))
            await created(http, REGISTRATIONS, registration(registrationName="kept"))
    finally:
        await quiet.broker.close()
    assert receiver.received == []
    delivering = assemble(settings)
    await delivering.broker.open()
    try:
        [arrived] = await receiver.wait_for(1)
        assert arrived.body["data"][0]["registrationName"] == "kept"
    finally:
        await delivering.broker.close()


async def test_a_failed_change_notifies_nobody(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.11.7 with 5.9.2 and 5.9.3: only a registration change that happened is notified; a
    refused creation (AlreadyExists) or update (BadRequestData) sends nothing."""
    await created(client, SUBSCRIPTIONS, subscription(receiver.url))
    body = registration(id="urn:ngsi-ld:ContextSourceRegistration:once")
    location = await created(client, REGISTRATIONS, body)
    await receiver.wait_for(1)
    problem(await post(client, REGISTRATIONS, body), 409, "AlreadyExists")
    refused = await client.patch(location, content=orjson.dumps({"mode": "never"}), headers=WITH_LINK)
    problem(refused, 400, "BadRequestData")
    await client.patch(location, content=orjson.dumps({"registrationName": "twice"}), headers=WITH_LINK)
    second = (await receiver.wait_for(2))[1]
    assert second.body["triggerReason"] == "updated"
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 2
