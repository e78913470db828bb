"""Subscriptions end to end: writes through the HTTP API and the broker notify a real HTTP receiver
and a real MQTT subscriber (Mosquitto), retried until delivered, across broker restarts, and once
per attempt with two brokers on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import httpx
import orjson
import pytest

from receiver import Receiver
from smartby.broker import Broker
from smartby.broker.notifier import PER_ENDPOINT
from smartby.settings import Settings
from smartby.store import open_store

JSON = {"Content-Type": "application/json"}
CONTEXT = {"ex": "https://example.org/", "Vehicle": "ex:Vehicle", "speed": "ex:speed"}
LD = {"Content-Type": "application/ld+json"}
SUBSCRIPTIONS = "/ngsi-ld/v1/subscriptions"
ENTITIES = "/ngsi-ld/v1/entities"


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("delivery_timeout")
    return Settings(  # type: ignore[call-arg]
        database=database_url,
        remote_contexts=False,
        notification_retry_delay=0.05,
        notification_retry_max_delay=0.2,
        notification_poll_interval=0.1,
        notification_timeout=marker.args[0] if marker else 2.0,
        _env_file=None,
    )


def vehicle(number: int, speed: float = 10) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Vehicle:{number}",
        "type": "Vehicle",
        "speed": {"type": "Property", "value": speed},
        "colour": {"type": "Property", "value": "red"},
        "@context": CONTEXT,
    }


def subscription(uri: str, **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "notification": {"endpoint": {"uri": uri, "accept": "application/json"}},
        "@context": CONTEXT,
    }
    body.update(members)
    return body


async def subscribe(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> str:
    response = await client.post(SUBSCRIPTIONS, content=orjson.dumps(body), headers={**LD, **headers})
    assert response.status_code == 201, response.text
    return response.headers["location"].rsplit("/", 1)[1]


async def test_http_notification_renders_as_subscribed(client: httpx.AsyncClient, receiver: Receiver) -> None:
    notification = {
        "endpoint": {
            "uri": receiver.url,
            "accept": "application/json",
            "receiverInfo": [{"key": "X-City", "value": "Aarhus"}],
        },
        "attributes": ["speed"],
        "format": "keyValues",
    }
    sub_id = await subscribe(client, subscription(receiver.url, notification=notification))
    response = await client.post(ENTITIES, content=orjson.dumps(vehicle(1)), headers=LD)
    assert response.status_code == 201
    [arrived] = await receiver.wait_for(1)
    assert arrived.body["type"] == "Notification"
    assert arrived.body["id"].startswith("urn:ngsi-ld:Notification:")
    assert arrived.body["subscriptionId"] == sub_id
    assert arrived.body["data"] == [{"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "speed": 10}]
    assert arrived.headers["content-type"] == "application/json"
    assert "json-ld#context" in arrived.headers["link"]
    assert arrived.headers["x-city"] == "Aarhus"
    # An update of a watched entity notifies again; the status counts both.
    patch = {"speed": {"type": "Property", "value": 30}, "@context": CONTEXT}
    response = await client.patch(
        f"{ENTITIES}/urn:ngsi-ld:Vehicle:1/attrs", content=orjson.dumps(patch), headers=LD
    )
    assert response.status_code == 204
    second = (await receiver.wait_for(2))[1]
    assert second.body["data"][0]["speed"] == 30
    deadline = time.monotonic() + 5
    while True:
        status = (await client.get(f"{SUBSCRIPTIONS}/{sub_id}")).json()
        if status["notification"]["timesSent"] == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert status["status"] == "active"
    assert status["notification"]["timesSent"] == 2
    assert status["notification"]["status"] == "ok"
    assert "lastSuccess" in status["notification"]


async def test_json_ld_tenant_and_deletion(client: httpx.AsyncClient, receiver: Receiver) -> None:
    body = subscription(receiver.url, notificationTrigger=["entityDeleted"])
    body["notification"]["endpoint"]["accept"] = "application/ld+json"
    await subscribe(client, body, **{"NGSILD-Tenant": "aarhus"})
    headers = {**LD, "NGSILD-Tenant": "aarhus"}
    await client.post(ENTITIES, content=orjson.dumps(vehicle(2)), headers=headers)
    response = await client.delete(f"{ENTITIES}/urn:ngsi-ld:Vehicle:2", headers={"NGSILD-Tenant": "aarhus"})
    assert response.status_code == 204
    [arrived] = await receiver.wait_for(1)
    assert arrived.headers["content-type"] == "application/ld+json"
    assert arrived.headers["ngsild-tenant"] == "aarhus"
    assert arrived.body["@context"] == CONTEXT
    [deleted] = arrived.body["data"]
    assert deleted["id"] == "urn:ngsi-ld:Vehicle:2" and "deletedAt" in deleted


async def test_mqtt_endpoint(client: httpx.AsyncClient) -> None:
    topic = f"smartby-test/{uuid.uuid4().hex}"
    body = subscription(f"mqtt://127.0.0.1:1883/{topic}")
    body["notification"]["endpoint"]["notifierInfo"] = [{"key": "MQTT-QoS", "value": "1"}]
    async with aiomqtt.Client("127.0.0.1", 1883) as mqtt:
        await mqtt.subscribe(topic, qos=1)
        sub_id = await subscribe(client, body)
        await client.post(ENTITIES, content=orjson.dumps(vehicle(3)), headers=LD)
        async with asyncio.timeout(10):
            message = await anext(aiter(mqtt.messages))
    payload = orjson.loads(message.payload)  # type: ignore[arg-type]
    assert payload["metadata"]["Content-Type"] == "application/json"
    assert payload["body"]["subscriptionId"] == sub_id
    assert payload["body"]["data"][0]["speed"] == {"type": "Property", "value": 10}
    assert message.qos == 1


async def test_temporal_write_and_batch_upsert_notify(
    broker: Broker, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, subscription(receiver.url, watchedAttributes=["speed"]))
    ctx = await broker.context(CONTEXT)
    speed = ctx.expand("speed")
    await broker.add_history(
        "",
        {"id": "urn:ngsi-ld:Vehicle:9", "type": [ctx.expand("Vehicle")]},
        {speed: [{"type": "Property", "value": 55, "observedAt": "2026-01-01T00:00:00Z"}]},
    )
    [temporal] = await receiver.wait_for(1)
    assert temporal.body["data"][0]["speed"]["value"] == 55
    batch = [vehicle(n, speed=n) for n in (4, 5, 6)]
    response = await client.post(
        "/ngsi-ld/v1/entityOperations/upsert", content=orjson.dumps(batch), headers=LD
    )
    assert response.status_code in (201, 204)
    ids = await receiver.wait_for_entities(4)
    assert sorted(ids[1:]) == ["urn:ngsi-ld:Vehicle:4", "urn:ngsi-ld:Vehicle:5", "urn:ngsi-ld:Vehicle:6"]
    # A change of an unwatched attribute does not notify.
    patch = {"colour": {"type": "Property", "value": "blue"}, "@context": CONTEXT}
    await client.patch(f"{ENTITIES}/urn:ngsi-ld:Vehicle:4/attrs", content=orjson.dumps(patch), headers=LD)
    await asyncio.sleep(0.3)
    assert len(receiver.entity_ids()) == 4


async def test_receiver_down_gets_everything_when_back(client: httpx.AsyncClient, receiver: Receiver) -> None:
    sub_id = await subscribe(client, subscription(receiver.url))
    receiver.stop()
    for number in range(5):
        await client.post(ENTITIES, content=orjson.dumps(vehicle(number)), headers=LD)
    deadline = time.monotonic() + 5
    while True:
        status = (await client.get(f"{SUBSCRIPTIONS}/{sub_id}")).json()["notification"]
        if status.get("timesFailed", 0) >= 1 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert status["timesFailed"] >= 1 and status["status"] == "failed"
    receiver.start()
    ids = await receiver.wait_for_entities(5)
    assert sorted(ids) == [f"urn:ngsi-ld:Vehicle:{n}" for n in range(5)]


async def test_undelivered_notifications_survive_a_restart(settings: Settings, receiver: Receiver) -> None:
    receiver.stop()
    first = Broker(open_store(settings.database, settings), settings)
    await first.open()
    ctx = await first.context(CONTEXT)
    body = subscription(receiver.url)
    await first.subscriptions.create("", CONTEXT, {k: v for k, v in body.items() if k != "@context"})
    await first.create_entity("", ctx, {k: v for k, v in vehicle(7).items() if k != "@context"})
    await first.close()
    second = Broker(open_store(settings.database, settings), settings)
    receiver.start()
    await second.open()
    try:
        assert await receiver.wait_for_entities(1) == ["urn:ngsi-ld:Vehicle:7"]
    finally:
        await second.close()


@pytest.fixture
async def two_brokers(postgres_database: str) -> AsyncIterator[tuple[Broker, Broker]]:
    """Two brokers on one PostgreSQL database, as two smartby processes would be."""
    settings = Settings(  # type: ignore[call-arg]
        database=postgres_database,
        remote_contexts=False,
        notification_retry_delay=0.05,
        notification_poll_interval=0.1,
        _env_file=None,
    )
    brokers = (
        Broker(open_store(settings.database, settings), settings),
        Broker(open_store(settings.database, settings), settings),
    )
    for broker in brokers:
        await broker.open()
    try:
        yield brokers
    finally:
        for broker in brokers:
            await broker.close()


async def test_two_brokers_deliver_each_notification_once(
    two_brokers: tuple[Broker, Broker], receiver: Receiver
) -> None:
    first, second = two_brokers
    body = {k: v for k, v in subscription(receiver.url).items() if k != "@context"}
    await first.subscriptions.create("", CONTEXT, body)
    ctx = await first.context(CONTEXT)

    def write(broker: Broker, n: int) -> Any:
        return broker.create_entity("", ctx, {k: v for k, v in vehicle(n).items() if k != "@context"})

    # At once: the second broker may claim rows of a subscription it has not loaded yet.
    await asyncio.gather(*(write(first, n) for n in range(20)))
    # The second broker matches the subscription once the version counter tells it (within a second).
    await asyncio.sleep(1.1)
    await asyncio.gather(*(write(first if n % 2 else second, n) for n in range(20, 60)))
    await receiver.wait_for_entities(60)
    await asyncio.sleep(0.5)
    # Exactly once each: no notification was claimed by both brokers, none was lost.
    assert sorted(receiver.entity_ids()) == sorted(f"urn:ngsi-ld:Vehicle:{n}" for n in range(60))


async def test_another_process_delivers_at_once(postgres_database: str, receiver: Receiver) -> None:
    """A process that does not deliver writes; one that does hears of the rows through LISTEN, long
    before it would look at the outbox again (every 30 s here)."""

    def settings(**members: Any) -> Settings:
        return Settings(database=postgres_database, remote_contexts=False, _env_file=None, **members)  # type: ignore[call-arg]

    quiet, delivering = settings(notifications=False), settings(notification_poll_interval=30.0)
    writer = Broker(open_store(postgres_database, quiet), quiet)
    deliverer = Broker(open_store(postgres_database, delivering), delivering)
    await writer.open()
    await deliverer.open()
    try:
        body = {k: v for k, v in subscription(receiver.url).items() if k != "@context"}
        await writer.subscriptions.create("", CONTEXT, body)
        ctx = await writer.context(CONTEXT)
        await asyncio.sleep(0.5)  # the deliverer is waiting, its last look behind it
        for number in range(3):
            started = time.time()
            await writer.create_entity("", ctx, {k: v for k, v in vehicle(number).items() if k != "@context"})
            [arrived] = (await receiver.wait_for(number + 1, timeout=5))[number:]
            assert arrived.at - started < 1.0
    finally:
        await writer.close()
        await deliverer.close()


async def test_throttling_sends_changes_together_later(client: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(client, subscription(receiver.url, throttling=1))
    await client.post(ENTITIES, content=orjson.dumps(vehicle(1)), headers=LD)
    [first] = await receiver.wait_for(1)
    for speed in (20, 30):
        patch = {"speed": {"type": "Property", "value": speed}, "@context": CONTEXT}
        await client.patch(f"{ENTITIES}/urn:ngsi-ld:Vehicle:1/attrs", content=orjson.dumps(patch), headers=LD)
    second = (await receiver.wait_for(2, timeout=5))[1]
    assert second.at - first.at >= 0.9
    # Throttled: the entity once, in its latest state.
    assert [e["speed"]["value"] for e in second.body["data"]] == [30]
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 2


async def test_periodic_subscription_sends_current_entities(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    for number in (1, 2):
        await client.post(ENTITIES, content=orjson.dumps(vehicle(number)), headers=LD)
    await subscribe(client, subscription(receiver.url, timeInterval=1))
    arrived = await receiver.wait_for(2, timeout=5)
    for notification in arrived[:2]:
        assert sorted(e["id"] for e in notification.body["data"]) == [
            "urn:ngsi-ld:Vehicle:1",
            "urn:ngsi-ld:Vehicle:2",
        ]
    assert arrived[1].at - arrived[0].at >= 0.9


async def test_periodic_schedule_survives_a_restart(settings: Settings, receiver: Receiver) -> None:
    first = Broker(open_store(settings.database, settings), settings)
    await first.open()
    try:
        ctx = await first.context(CONTEXT)
        await first.create_entity("", ctx, {k: v for k, v in vehicle(1).items() if k != "@context"})
        body = {k: v for k, v in subscription(receiver.url, timeInterval=2).items() if k != "@context"}
        await first.subscriptions.create("", CONTEXT, body)
        [sent] = await receiver.wait_for(1, timeout=5)
        while await first.store.pending_notifications():  # delivered, not only received
            await asyncio.sleep(0.01)
    finally:
        await first.close()
    second = Broker(open_store(settings.database, settings), settings)
    await second.open()
    try:
        # The new process goes on with the schedule in the database: not at once, a period on.
        again = (await receiver.wait_for(2, timeout=5))[1]
    finally:
        await second.close()
    assert again.at - sent.at >= 1.8
    assert [e["id"] for e in again.body["data"]] == ["urn:ngsi-ld:Vehicle:1"]


async def test_two_brokers_send_a_periodic_subscription_once_per_period(
    two_brokers: tuple[Broker, Broker], receiver: Receiver
) -> None:
    first, second = two_brokers
    ctx = await first.context(CONTEXT)
    await first.create_entity("", ctx, {k: v for k, v in vehicle(1).items() if k != "@context"})
    body = {k: v for k, v in subscription(receiver.url, timeInterval=1).items() if k != "@context"}
    # Created through the second broker: the first learns of it from the database when it claims it.
    await second.subscriptions.create("", CONTEXT, body)
    [start] = await receiver.wait_for(1, timeout=5)
    await asyncio.sleep(start.at + 3.5 - time.time())
    moments = [item.at for item in receiver.received]
    # One notification per period (at 0, 1, 2 and 3 s), not one per broker.
    assert 3 <= len(moments) <= 4, moments
    assert all(later - earlier >= 0.8 for earlier, later in itertools.pairwise(moments))


def hanging_endpoint(hole: socket.socket) -> str:
    """A URL whose server accepts connections (the kernel does) but never answers."""
    hole.bind(("127.0.0.1", 0))
    hole.listen(100)
    return f"http://127.0.0.1:{hole.getsockname()[1]}/notify"


@pytest.mark.delivery_timeout(600.0)
async def test_a_hanging_receiver_does_not_hold_up_others(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    with socket.socket() as hole:
        await subscribe(client, subscription(hanging_endpoint(hole)))
        await subscribe(client, subscription(receiver.url))
        for number in range(20):
            response = await client.post(ENTITIES, content=orjson.dumps(vehicle(number)), headers=LD)
            assert response.status_code == 201
        # The hanging deliveries end only when they time out, in 10 minutes: had the writes or the
        # good receiver's deliveries waited behind them, these would not arrive until then.
        await receiver.wait_for_entities(20, timeout=120)


@pytest.mark.delivery_timeout(1.0)
async def test_a_hanging_receiver_has_a_bounded_number_of_deliveries_at_once(
    client: httpx.AsyncClient,
) -> None:
    with socket.socket() as hole:
        dead_id = await subscribe(client, subscription(hanging_endpoint(hole)))
        for number in range(20):
            response = await client.post(ENTITIES, content=orjson.dumps(vehicle(number)), headers=LD)
            assert response.status_code == 201
        deadline = time.monotonic() + 30
        while True:
            status = (await client.get(f"{SUBSCRIPTIONS}/{dead_id}")).json()["notification"]
            if status.get("timesSent") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        # The first failures are the first round of deliveries, at most PER_ENDPOINT of them; the
        # rest waited for their turn (and, the endpoint cooling down, step aside for a retry).
        assert 1 <= status["timesSent"] <= PER_ENDPOINT
        assert status["timesFailed"] == status["timesSent"]


async def test_show_changes_gives_previous_values(client: httpx.AsyncClient, receiver: Receiver) -> None:
    body = subscription(
        receiver.url,
        notificationTrigger=["entityCreated", "attributeUpdated", "attributeDeleted", "entityDeleted"],
    )
    body["notification"]["showChanges"] = True
    body["notification"]["format"] = "concise"
    body["@context"] = {**CONTEXT, "parkedIn": "ex:parkedIn"}
    await subscribe(client, body)
    created = {
        **vehicle(1),
        "parkedIn": {"type": "Relationship", "object": "urn:ngsi-ld:Parking:A"},
        "@context": {**CONTEXT, "parkedIn": "ex:parkedIn"},
    }
    await client.post(ENTITIES, content=orjson.dumps(created), headers=LD)
    [first] = await receiver.wait_for(1)
    # A new entity has nothing before it.
    assert first.body["data"][0]["speed"] == 10
    patch = {
        "speed": {"type": "Property", "value": 30},
        "parkedIn": {"type": "Relationship", "object": "urn:ngsi-ld:Parking:B"},
        "@context": {**CONTEXT, "parkedIn": "ex:parkedIn"},
    }
    url = f"{ENTITIES}/urn:ngsi-ld:Vehicle:1"
    await client.patch(f"{url}/attrs", content=orjson.dumps(patch), headers=LD)
    [updated] = (await receiver.wait_for(2))[1:]
    [shown] = updated.body["data"]
    assert shown["speed"] == {"value": 30, "previousValue": 10}
    assert shown["parkedIn"] == {"object": "urn:ngsi-ld:Parking:B", "previousObject": "urn:ngsi-ld:Parking:A"}
    assert shown["colour"] == "red"  # unchanged: no previous value
    link = await hosted_link(client)
    assert (await client.delete(f"{url}/attrs/colour", headers=link)).status_code == 204
    [deleted] = (await receiver.wait_for(3))[2:]
    colour = deleted.body["data"][0]["colour"]
    # The instance's own deletedAt is a system attribute: only sysAttrs shows it (clause 5.2.14).
    assert colour == {"value": "urn:ngsi-ld:null", "previousValue": "red"}
    assert deleted.body["data"][0]["speed"] == 30
    assert (await client.delete(url)).status_code == 204
    [gone] = (await receiver.wait_for(4))[3:]
    [entity] = gone.body["data"]
    assert "deletedAt" in entity
    assert entity["speed"]["value"] == "urn:ngsi-ld:null" and entity["speed"]["previousValue"] == 30


async def hosted_link(client: httpx.AsyncClient) -> dict[str, str]:
    """A Link header to CONTEXT hosted by smartby, for requests without a body to carry it."""
    response = await client.post("/ngsi-ld/v1/jsonldContexts", json={"@context": CONTEXT}, headers=JSON)
    assert response.status_code == 201, response.text
    url = response.headers["location"]
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}


async def test_sys_attrs_pick_omit_and_dataset_ids(client: httpx.AsyncClient, receiver: Receiver) -> None:
    gps, radar = "urn:ngsi-ld:dataset:gps", "urn:ngsi-ld:dataset:radar"
    endpoint = {"uri": receiver.url, "accept": "application/json"}
    await subscribe(
        client,
        subscription(
            receiver.url, notification={"endpoint": endpoint, "sysAttrs": True, "pick": ["id", "speed"]}
        ),
    )
    await subscribe(
        client, subscription(receiver.url, notification={"endpoint": endpoint, "omit": ["speed"]})
    )
    await subscribe(
        client,
        subscription(
            receiver.url,
            datasetId=[gps, "@none"],
            notification={"endpoint": endpoint, "format": "keyValues", "attributes": ["speed"]},
        ),
    )
    entity = vehicle(1)
    entity["speed"] = [
        {"type": "Property", "value": 1},
        {"type": "Property", "value": 2, "datasetId": gps},
        {"type": "Property", "value": 3, "datasetId": radar},
    ]
    await client.post(ENTITIES, content=orjson.dumps(entity), headers=LD)
    arrived = [item.body["data"][0] for item in await receiver.wait_for(3)]
    picked = next(data for data in arrived if "type" not in data)
    assert set(picked) == {"id", "speed", "createdAt", "modifiedAt"}  # as a query with pick and sysAttrs
    assert all("createdAt" in i and "modifiedAt" in i for i in picked["speed"])
    omitted = next(data for data in arrived if "colour" in data)
    assert "speed" not in omitted and "createdAt" not in omitted
    datasets = next(data for data in arrived if data not in (picked, omitted))
    assert datasets == {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": "Vehicle",
        "speed": {"dataset": {"@none": 1, gps: 2}},
    }


async def test_join_embeds_linked_entities(client: httpx.AsyncClient, receiver: Receiver) -> None:
    context = {**CONTEXT, "parkedIn": "ex:parkedIn", "Parking": "ex:Parking", "name": "ex:name"}
    parking = {"id": "urn:ngsi-ld:Parking:A", "type": "Parking", "name": "Nørreport", "@context": context}
    await client.post(ENTITIES, content=orjson.dumps(parking), headers=LD)
    endpoint = {"uri": receiver.url, "accept": "application/json"}
    for join in ("inline", "flat"):
        body = subscription(
            receiver.url, notification={"endpoint": endpoint, "join": join, "format": "keyValues"}
        )
        body["@context"] = context
        await subscribe(client, body)
    entity = {
        **vehicle(1),
        "parkedIn": {"type": "Relationship", "object": parking["id"]},
        "@context": context,
    }
    await client.post(ENTITIES, content=orjson.dumps(entity), headers=LD)
    arrived = [item.body["data"] for item in await receiver.wait_for(2)]
    inline = next(data for data in arrived if len(data) == 1)
    assert inline[0]["parkedIn"] == {"id": parking["id"], "type": "Parking", "name": "Nørreport"}
    flat = next(data for data in arrived if len(data) == 2)
    assert flat[0]["parkedIn"] == parking["id"]
    assert flat[1] == {"id": parking["id"], "type": "Parking", "name": "Nørreport"}


async def test_geojson_notifications(client: httpx.AsyncClient, receiver: Receiver) -> None:
    for info in ([], [{"key": "Prefer", "value": "body=json"}]):
        endpoint = {"uri": receiver.url, "accept": "application/geo+json", "receiverInfo": info}
        await subscribe(client, subscription(receiver.url, notification={"endpoint": endpoint}))
    entity = {
        **vehicle(1),
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [10.2, 56.2]}},
    }
    await client.post(ENTITIES, content=orjson.dumps(entity), headers=LD)
    arrived = await receiver.wait_for(2)
    for item in arrived:
        assert item.headers["content-type"] == "application/geo+json"
        data = item.body["data"]
        assert data["type"] == "FeatureCollection"
        [feature] = data["features"]
        assert feature["id"] == "urn:ngsi-ld:Vehicle:1" and feature["type"] == "Feature"
        assert feature["geometry"] == {"type": "Point", "coordinates": [10.2, 56.2]}
        assert feature["properties"]["speed"] == {"type": "Property", "value": 10}
    with_context = next(item for item in arrived if "prefer" not in item.headers)
    assert with_context.body["data"]["@context"] == CONTEXT and "link" not in with_context.headers
    linked = next(item for item in arrived if "prefer" in item.headers)
    assert "@context" not in linked.body["data"] and "json-ld#context" in linked.headers["link"]


async def test_temporal_instance_writes_notify(client: httpx.AsyncClient, receiver: Receiver) -> None:
    body = subscription(
        receiver.url,
        watchedAttributes=["speed"],
        notificationTrigger=["attributeUpdated", "attributeDeleted", "entityDeleted"],
    )
    body["notification"]["showChanges"] = True
    await subscribe(client, body)
    temporal = "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Vehicle:7"
    created = {
        "id": "urn:ngsi-ld:Vehicle:7",
        "type": "Vehicle",
        "speed": [
            {"type": "Property", "value": 50, "observedAt": "2026-01-01T10:00:00Z"},
            {"type": "Property", "value": 60, "observedAt": "2026-01-01T11:00:00Z"},
        ],
        "colour": [{"type": "Property", "value": "red", "observedAt": "2026-01-01T10:00:00Z"}],
        "@context": CONTEXT,
    }
    iri_speed = "https://example.org/speed"
    response = await client.post("/ngsi-ld/v1/temporal/entities", content=orjson.dumps(created), headers=LD)
    assert response.status_code == 201, response.text
    [appended] = await receiver.wait_for(1)
    assert appended.body["data"][0]["speed"]["value"] == 60  # the latest instance written
    assert "previousValue" not in appended.body["data"][0]["speed"]  # appended: nothing replaced
    history = (await client.get(temporal)).json()
    first = next(i for i in history[iri_speed] if i["value"] == 50)["instanceId"]
    second = next(i for i in history[iri_speed] if i["value"] == 60)["instanceId"]
    speed_url = f"{temporal}/attrs/speed"
    link = await hosted_link(client)
    # A correction of one instance: that instance as it now is, with the value it had.
    response = await client.patch(f"{speed_url}/{first}", json={"value": 55}, headers={**JSON, **link})
    assert response.status_code == 204, response.text
    [patched] = (await receiver.wait_for(2))[1:]
    [shown] = patched.body["data"]
    assert shown["speed"]["value"] == 55 and shown["speed"]["previousValue"] == 50
    assert shown["speed"]["instanceId"] == first and "colour" not in shown
    # One instance removed: shown as history shows a deletion, with its value.
    assert (await client.delete(f"{speed_url}/{second}", headers=link)).status_code == 204
    [removed] = (await receiver.wait_for(3))[2:]
    speed = removed.body["data"][0]["speed"]
    assert speed["value"] == "urn:ngsi-ld:null" and speed["previousValue"] == 60
    assert speed["instanceId"] == second and "deletedAt" in speed
    # The attribute's whole history removed; colour is not watched, speed is.
    assert (await client.delete(f"{temporal}/attrs/colour", headers=link)).status_code == 204
    assert (await client.delete(speed_url, headers=link)).status_code == 204
    [dropped] = (await receiver.wait_for(4))[3:]
    assert dropped.body["data"][0]["speed"]["value"] == "urn:ngsi-ld:null"
    # The whole temporal entity removed: a deletion of the entity.
    response = await client.post(
        "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Vehicle:7/attrs",
        content=orjson.dumps(
            {
                "speed": [{"type": "Property", "value": 1, "observedAt": "2026-01-02T00:00:00Z"}],
                "@context": CONTEXT,
            }
        ),
        headers=LD,
    )
    assert response.status_code == 204, response.text
    await receiver.wait_for(5)
    assert (await client.delete(temporal)).status_code == 204
    [deleted] = (await receiver.wait_for(6))[5:]
    assert deleted.body["data"][0]["id"] == "urn:ngsi-ld:Vehicle:7" and "deletedAt" in deleted.body["data"][0]
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 6


async def test_a_receiver_back_from_an_outage_is_probed_when_its_cool_down_ends(
    settings: Settings, receiver: Receiver
) -> None:
    """Deliveries under way together when a receiver goes count as one failure; when the cool-down
    ends one probe goes, and once the receiver answers, everything follows. The notifier's clock is
    moved on, so the cool-downs (30 s, then 60 s) pass without waiting for them."""
    receiver.stop()
    tuned = settings.model_copy(
        update={"notification_retry_delay": 30.0, "notification_retry_max_delay": 300.0}
    )
    broker = Broker(open_store(tuned.database, tuned), tuned)
    await broker.open()
    notifier = broker.notifier
    offset = 0.0
    notifier.clock = lambda: time.time() + offset
    try:
        ctx = await broker.context(CONTEXT)
        body = {k: v for k, v in subscription(receiver.url).items() if k != "@context"}
        ids = [await broker.subscriptions.create("", CONTEXT, body) for _ in range(4)]

        async def failed() -> int:
            total = 0
            for sub_id in ids:
                total += (await broker.subscriptions.get("", sub_id)).times_failed
            return total

        async def settled(count: int) -> None:
            deadline = time.monotonic() + 10
            while await failed() < count or await broker.store.pending_notifications() != len(ids):
                assert time.monotonic() < deadline, await failed()
                await asyncio.sleep(0.02)

        # Four subscriptions to one receiver: four deliveries at once, all refused.
        await broker.create_entity("", ctx, {k: v for k, v in vehicle(1).items() if k != "@context"})
        await settled(4)
        went = notifier.clock()  # (just after) the receiver's outage began
        failures, until = notifier.cool_down(receiver.url)
        assert failures == 1  # one failure, not four
        assert 29 <= until - notifier.clock() <= 30  # the first cool-down: notification_retry_delay
        # Still down when the cool-down ends: one probe is sent, the other three wait for it and
        # step aside for the next, doubled, cool-down.
        offset = 31.0
        notifier.wake()
        await settled(5)
        failures, until = notifier.cool_down(receiver.url)
        assert failures == 2 and 59 <= until - notifier.clock() <= 60
        assert await failed() == 5
        # Back: when this cool-down ends, the probe gets through and the others follow. The wait
        # left is within the bound docs/subscriptions.md states: the outage plus the first delay.
        receiver.start()
        assert until - notifier.clock() <= min(notifier.clock() - went + 30.0, 300.0)
        offset = 92.0
        notifier.wake()
        arrived = await receiver.wait_for(4)
        assert sorted(item.body["subscriptionId"] for item in arrived) == sorted(ids)
        assert notifier.cool_down(receiver.url) == (0, 0.0)
        assert await failed() == 5
    finally:
        await broker.close()
