"""ETSI NGSI-LD conformance: what notifications hold (clauses 5.3.1, 5.2.14, 5.8.6, 6.3.x of the HTTP
binding): the @context they carry, jsonldContext, sysAttrs, showChanges, deletions, triggerReason
and Linked Entity Retrieval, received by a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from etsi import ENTITIES, JSON, SUITE, SUITE_CONTEXT, WITH_LINK, building, create, new_id
from subscription_steps import notifying_settings, running_receiver, subscribe, subscription

from receiver import Received, Receiver
from smartby.ngsild.context import CORE_CONTEXT_URL
from smartby.settings import Settings

NULL = "urn:ngsi-ld:null"
CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"'
JSON_LD = "application/ld+json"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return notifying_settings(database_url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


async def created(client: httpx.AsyncClient, entity: dict[str, Any]) -> str:
    response = await create(client, entity)
    assert response.status_code == 201, response.text
    return str(entity["id"])


async def patched(client: httpx.AsyncClient, entity_id: str, fragment: dict[str, Any]) -> None:
    url = f"{ENTITIES}/{entity_id}/attrs"
    response = await client.patch(url, content=orjson.dumps(fragment), headers={**WITH_LINK, **JSON})
    assert response.status_code == 204, response.text


async def deleted(client: httpx.AsyncClient, path: str, **params: str) -> None:
    response = await client.delete(f"{ENTITIES}/{path}", params=params, headers=WITH_LINK)
    assert response.status_code == 204, response.text


async def nth(receiver: Receiver, number: int) -> Received:
    """The `number`th notification received (1: the first)."""
    return (await receiver.wait_for(number))[number - 1]


def rich_building(entity_id: str | None = None) -> dict[str, Any]:
    """A Building with an attribute of each kind whose previous value showChanges names differently."""
    return building(
        entity_id,
        street={"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}},
        locatedAt={"type": "Relationship", "object": "urn:ngsi-ld:City:Paris"},
        jsonProperty={"type": "JsonProperty", "json": {"id": "some-id", "anything": [1, None]}},
        vocabProperty={"type": "VocabProperty", "vocab": "monument"},
    )


async def test_json_notification_links_the_subscription_context(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Clause 6.3.x of the HTTP binding for notifications with Endpoint.accept application/json
    (Table 5.2.15-1): the @context goes in a Link header, and the entities are compacted with it
    (clause 5.8.6); the Notification has id, type, subscriptionId, notifiedAt, data (clause 5.3.1)."""
    url = await subscribe(client, subscription(receiver.url))
    entity_id = await created(client, building())
    notification = await nth(receiver, 1)
    assert (
        f"<{SUITE_CONTEXT}>" in notification.headers["link"] and CONTEXT_REL in notification.headers["link"]
    )
    assert notification.headers["content-type"] == "application/json"
    body = notification.body
    assert body["type"] == "Notification" and body["subscriptionId"] == url.rsplit("/", 1)[1]
    assert body["id"].startswith("urn:") and body["notifiedAt"].endswith("Z")
    assert "@context" not in body
    [shown] = body["data"]
    assert shown["id"] == entity_id and shown["type"] == "Building"
    assert shown["name"] == {"type": "Property", "value": "Eiffel Tower"}


async def test_json_ld_notification_carries_its_context(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Clause 6.3.x of the HTTP binding with Endpoint.accept application/ld+json (Table 5.2.15-1):
    the @context is a member of the body (and of each entity), no Link header is sent. A
    subscription written as JSON-LD with an array of one URL is linked by that URL."""
    body = subscription(
        receiver.url, notification={"endpoint": {"uri": receiver.url, "accept": "application/ld+json"}}
    )
    await subscribe(client, body)
    await created(client, building())
    notification = await nth(receiver, 1)
    assert notification.headers["content-type"] == "application/ld+json"
    assert "link" not in notification.headers
    assert notification.body["@context"] == SUITE_CONTEXT
    assert notification.body["data"][0]["@context"] == SUITE_CONTEXT
    assert notification.body["data"][0]["type"] == "Building"
    array = {**subscription(receiver.url), "@context": [SUITE_CONTEXT]}
    response = await client.post(
        "/ngsi-ld/v1/subscriptions",
        content=orjson.dumps(array),
        headers={"Content-Type": "application/ld+json"},
    )
    assert response.status_code == 201, response.text
    await created(client, building())
    linked = [r for r in await receiver.wait_for(3) if r.headers["content-type"] == "application/json"]
    assert any(f"<{SUITE_CONTEXT}>" in r.headers["link"] for r in linked)


async def test_jsonld_context_decides_compaction(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Table 5.2.12-1, jsonldContext: the @context a notification is compacted with, and the one
    it carries, instead of the subscription's own (as the suite's TP 046_20 expects: with the core
    context alone the suite's names stay full IRIs)."""
    endpoint = {"uri": receiver.url, "accept": "application/ld+json"}
    await subscribe(
        client,
        subscription(receiver.url, jsonldContext=CORE_CONTEXT_URL, notification={"endpoint": endpoint}),
    )
    await subscribe(client, subscription(receiver.url, jsonldContext=CORE_CONTEXT_URL))
    entity_id = await created(client, building())
    arrived = await receiver.wait_for(2)
    for notification in arrived:
        [shown] = notification.body["data"]
        assert shown["id"] == entity_id and shown["type"] == f"{SUITE}Building"
        assert shown[f"{SUITE}name"] == {"type": "Property", "value": "Eiffel Tower"}
        assert "name" not in shown
    [ld] = [n for n in arrived if n.headers["content-type"] == "application/ld+json"]
    assert ld.body["@context"] == CORE_CONTEXT_URL
    [json] = [n for n in arrived if n.headers["content-type"] == "application/json"]
    assert f"<{CORE_CONTEXT_URL}>" in json.headers["link"]


async def test_sys_attrs(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Table 5.2.14-1, sysAttrs: createdAt and modifiedAt of the entity and its attributes are in
    the notification only when asked for."""
    await subscribe(client, subscription(receiver.url, notification={"sysAttrs": True}))
    await subscribe(client, subscription(receiver.url, notification={"sysAttrs": False}))
    await created(client, building())
    arrived = await receiver.wait_for(2)
    shown = {bool("createdAt" in n.body["data"][0]): n.body["data"][0] for n in arrived}
    with_sys, without = shown[True], shown[False]
    assert with_sys["modifiedAt"] and with_sys["name"]["createdAt"] and with_sys["name"]["modifiedAt"]
    assert "modifiedAt" not in without and "createdAt" not in without["name"]


async def test_show_changes_gives_each_kind_of_previous_value(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Table 5.2.14-1, showChanges: each changed attribute carries what it held before, in the
    member its type names: previousValue, previousLanguageMap, previousObject, previousJson,
    previousVocab; an unchanged one carries none, and a creation none at all."""
    await subscribe(client, subscription(receiver.url, notification={"showChanges": True}))
    entity_id = await created(client, rich_building())
    first = (await nth(receiver, 1)).body["data"][0]
    assert not any(
        key.startswith("previous")
        for attribute in first.values()
        if isinstance(attribute, dict)
        for key in attribute
    )
    await patched(
        client,
        entity_id,
        {
            "name": {"type": "Property", "value": "Tour Eiffel"},
            "street": {"type": "LanguageProperty", "languageMap": {"fr": "Rue de Rivoli"}},
            "locatedAt": {"type": "Relationship", "object": "urn:ngsi-ld:City:Lyon"},
            "jsonProperty": {"type": "JsonProperty", "json": {"id": "other"}},
            "vocabProperty": {"type": "VocabProperty", "vocab": "tower"},
        },
    )
    shown = (await nth(receiver, 2)).body["data"][0]
    assert shown["name"] == {"type": "Property", "value": "Tour Eiffel", "previousValue": "Eiffel Tower"}
    assert shown["street"] == {
        "type": "LanguageProperty",
        "languageMap": {"fr": "Rue de Rivoli"},
        "previousLanguageMap": {"fr": "Grand Place", "nl": "Grote Markt"},
    }
    assert shown["locatedAt"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:City:Lyon",
        "previousObject": "urn:ngsi-ld:City:Paris",
    }
    assert shown["jsonProperty"] == {
        "type": "JsonProperty",
        "json": {"id": "other"},
        "previousJson": {"id": "some-id", "anything": [1, None]},
    }
    assert shown["vocabProperty"] == {"type": "VocabProperty", "vocab": "tower", "previousVocab": "monument"}
    assert shown["subCategory"] == {"type": "Property", "value": "tourism"}


async def test_attribute_deletion(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.8.6 with notificationTrigger attributeDeleted (Table 5.2.12-1): the entity as it now
    is, the deleted attribute as the NGSI-LD Null (clause 5.2.1), in normalized and keyValues form
    (the suite's TPs 046_22); its deletedAt only with sysAttrs; triggerReason attributeDeleted."""
    for form in ("normalized", "keyValues"):
        body = subscription(
            receiver.url,
            watchedAttributes=["name"],
            notificationTrigger=["attributeDeleted"],
            notification={"format": form},
        )
        await subscribe(client, body)
    await subscribe(
        client,
        subscription(
            receiver.url,
            watchedAttributes=["name"],
            notificationTrigger=["attributeDeleted"],
            notification={"sysAttrs": True},
        ),
    )
    entity_id = await created(client, building())
    await patched(client, entity_id, {"subCategory": {"type": "Property", "value": "monument"}})
    assert receiver.received == []  # nothing deleted yet: nothing to say
    await deleted(client, f"{entity_id}/attrs/name")
    arrived = await receiver.wait_for(3)
    assert {n.body["triggerReason"] for n in arrived} == {"attributeDeleted"}
    shown = [n.body["data"][0] for n in arrived]
    [normalized] = [s for s in shown if isinstance(s["name"], dict) and "createdAt" not in s["name"]]
    assert normalized["name"] == {"type": "Property", "value": NULL}
    assert normalized["subCategory"] == {"type": "Property", "value": "monument"}
    [simplified] = [s for s in shown if not isinstance(s["name"], dict)]
    assert simplified["name"] == NULL and simplified["subCategory"] == "monument"
    [stamped] = [s for s in shown if isinstance(s["name"], dict) and "createdAt" in s["name"]]
    assert stamped["name"]["value"] == NULL and stamped["name"]["deletedAt"] and stamped["name"]["modifiedAt"]


async def test_instance_deletion(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.8.6 with attributeDeleted: deleting one datasetId of a multi-attribute notifies that
    instance as the NGSI-LD Null with its datasetId, beside the instances that remain."""
    await subscribe(
        client,
        subscription(receiver.url, watchedAttributes=["name"], notificationTrigger=["attributeDeleted"]),
    )
    entity = building(
        name=[
            {"type": "Property", "value": "Eiffel Tower"},
            {"type": "Property", "value": "Tour Eiffel", "datasetId": "urn:ngsi-ld:Dataset:french-name"},
        ]
    )
    entity_id = await created(client, entity)
    await deleted(client, f"{entity_id}/attrs/name", datasetId="urn:ngsi-ld:Dataset:french-name")
    shown = (await nth(receiver, 1)).body["data"][0]
    assert sorted(shown["name"], key=lambda i: i.get("datasetId", "")) == [
        {"type": "Property", "value": "Eiffel Tower"},
        {"type": "Property", "value": NULL, "datasetId": "urn:ngsi-ld:Dataset:french-name"},
    ]


async def test_entity_deletion(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.8.6: with entityDeleted the entity is its id, type and deletedAt (the suite's TP
    046_21_01); with attributeDeleted on a watched attribute, also that attribute as the NGSI-LD
    Null (TP 046_22_12), with sysAttrs its timestamps (createdAt, modifiedAt, deletedAt)."""
    entity_id = await created(client, building())
    await subscribe(client, subscription(receiver.url, notificationTrigger=["entityDeleted"]))
    watching = subscription(
        receiver.url, watchedAttributes=["name"], notificationTrigger=["attributeDeleted"]
    )
    await subscribe(client, watching)
    await subscribe(client, {**watching, "notification": {**watching["notification"], "sysAttrs": True}})
    await deleted(client, entity_id)
    arrived = await receiver.wait_for(3)
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for notification in arrived:
        by_reason.setdefault(notification.body["triggerReason"], []).extend(notification.body["data"])
    [gone] = by_reason["entityDeleted"]
    assert set(gone) == {"id", "type", "deletedAt"} and gone["id"] == entity_id
    plain, stamped = sorted(by_reason["attributeDeleted"], key=lambda e: "createdAt" in e)
    assert plain == {
        "id": entity_id,
        "type": "Building",
        "deletedAt": plain["deletedAt"],
        "name": {"type": "Property", "value": NULL},
    }
    assert stamped["createdAt"] and stamped["modifiedAt"] and stamped["deletedAt"]
    assert set(stamped["name"]) == {"type", "value", "createdAt", "modifiedAt", "deletedAt"}
    assert stamped["name"]["value"] == NULL
    assert set(by_reason) == {"entityDeleted", "attributeDeleted"}


async def test_entity_deletion_with_show_changes(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Table 5.2.14-1, showChanges, on entityDeleted: every attribute as the NGSI-LD Null of its
    type (clause 5.2.1: for a LanguageProperty the languageMap {"@none": "urn:ngsi-ld:null"}) with
    its previous value (the suite's TP 046_37)."""
    await subscribe(
        client,
        subscription(receiver.url, notificationTrigger=["entityDeleted"], notification={"showChanges": True}),
    )
    entity_id = await created(client, rich_building())
    await deleted(client, entity_id)
    shown = (await nth(receiver, 1)).body["data"][0]
    assert shown["deletedAt"]
    assert shown["name"] == {"type": "Property", "value": NULL, "previousValue": "Eiffel Tower"}
    assert shown["street"] == {
        "type": "LanguageProperty",
        "languageMap": {"@none": NULL},
        "previousLanguageMap": {"fr": "Grand Place", "nl": "Grote Markt"},
    }
    assert shown["locatedAt"] == {
        "type": "Relationship",
        "object": NULL,
        "previousObject": "urn:ngsi-ld:City:Paris",
    }
    assert shown["jsonProperty"] == {
        "type": "JsonProperty",
        "json": NULL,
        "previousJson": {"id": "some-id", "anything": [1, None]},
    }
    assert shown["vocabProperty"] == {"type": "VocabProperty", "vocab": NULL, "previousVocab": "monument"}


@pytest.mark.parametrize(
    ("triggers", "reasons"),
    [
        (None, ["attributeCreated", "attributeUpdated"]),
        (["entityCreated", "entityUpdated"], ["entityCreated", "entityUpdated"]),
        (["attributeCreated", "attributeUpdated"], ["attributeCreated", "attributeUpdated"]),
        (["entityUpdated"], ["entityUpdated", "entityUpdated"]),
    ],
)
async def test_trigger_reason(
    client: httpx.AsyncClient, receiver: Receiver, triggers: list[str] | None, reasons: list[str]
) -> None:
    """Clause 5.3.1 with Table 5.2.12-1, notificationTrigger: each notification says which of the
    subscription's triggers the change fired (by default attributeCreated and attributeUpdated)."""
    members = {} if triggers is None else {"notificationTrigger": triggers}
    await subscribe(client, subscription(receiver.url, **members))
    entity_id = await created(client, building())
    await nth(receiver, 1)
    await patched(client, entity_id, {"name": {"type": "Property", "value": "Tour Eiffel"}})
    arrived = await receiver.wait_for(2)
    assert [n.body["triggerReason"] for n in arrived] == reasons


@pytest.mark.parametrize("form", ["keyValues", "normalized"])
async def test_join_inline_and_flat(client: httpx.AsyncClient, receiver: Receiver, form: str) -> None:
    """Table 5.2.14-1, join and joinLevel (Linked Entity Retrieval, clause 4.5.23): inline puts the
    entity a Relationship points at in its place (its value in keyValues, the suite's TP 046_29),
    flat adds it to data."""
    city_id = new_id("City")
    city = {"id": city_id, "type": "City", "name": {"type": "Property", "value": "Paris"}}
    await created(client, city)
    inline = {"join": "inline", "joinLevel": 1, "format": form}
    await subscribe(client, subscription(receiver.url, notification=inline))
    await subscribe(client, subscription(receiver.url, notification={"join": "flat", "format": form}))
    entity_id = await created(client, building(locatedAt={"type": "Relationship", "object": city_id}))
    arrived = await receiver.wait_for(2)
    [flat] = [n.body["data"] for n in arrived if len(n.body["data"]) == 2]
    [inlined] = [n.body["data"] for n in arrived if len(n.body["data"]) == 1]
    assert {e["id"] for e in flat} == {entity_id, city_id}
    located = inlined[0]["locatedAt"]
    if form == "keyValues":
        assert located == {"id": city_id, "type": "City", "name": "Paris"}
    else:
        assert located["object"] == city_id
        assert located["entity"]["id"] == city_id and located["entity"]["name"]["value"] == "Paris"


async def test_join_level_follows_relationships_that_deep(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Table 5.2.14-1, joinLevel: inline Linked Entity Retrieval (clause 4.5.23) follows
    Relationships so many hops: with 2, the City a Building is located at and the Country the City
    is in; with 1, the City only."""
    country_id, city_id = new_id("Country"), new_id("City")
    await created(
        client, {"id": country_id, "type": "Country", "name": {"type": "Property", "value": "France"}}
    )
    city = {
        "id": city_id,
        "type": "City",
        "name": {"type": "Property", "value": "Paris"},
        "isInCountry": {"type": "Relationship", "object": country_id},
    }
    await created(client, city)
    for level in (1, 2):
        members = {"join": "inline", "joinLevel": level, "format": "keyValues"}
        await subscribe(client, subscription(receiver.url, subscriptionName=str(level), notification=members))
    await created(client, building(locatedAt={"type": "Relationship", "object": city_id}))
    arrived = await receiver.wait_for(2)
    located = sorted(
        (n.body["data"][0]["locatedAt"] for n in arrived), key=lambda c: isinstance(c["isInCountry"], dict)
    )
    assert located[0] == {"id": city_id, "type": "City", "name": "Paris", "isInCountry": country_id}
    assert located[1]["isInCountry"] == {"id": country_id, "type": "Country", "name": "France"}


async def test_inline_context_is_kept_and_linked(client: httpx.AsyncClient, receiver: Receiver) -> None:
    """Clause 5.13.1: an inline @context the broker has to keep becomes an ImplicitlyCreated
    context, served by the broker (clause 5.13.4); a JSON notification links to it (Table 5.2.15-1),
    and the entities are compacted with it (clause 5.8.6)."""
    inline = [SUITE_CONTEXT, {"tag": "https://uri.etsi.org/ngsi-ld/default-context/label"}]
    body = {**subscription(receiver.url), "@context": inline}
    response = await client.post(
        "/ngsi-ld/v1/subscriptions", content=orjson.dumps(body), headers={"Content-Type": JSON_LD}
    )
    assert response.status_code == 201, response.text
    listed = await client.get("/ngsi-ld/v1/jsonldContexts", params={"kind": "ImplicitlyCreated"})
    [url] = listed.json()
    await created(client, building(label={"type": "Property", "value": "landmark"}))
    notification = await nth(receiver, 1)
    assert f"<{url}>" in notification.headers["link"]
    [shown] = notification.body["data"]
    assert shown["type"] == "Building" and shown["tag"]["value"] == "landmark"
    served = await client.get(url.removeprefix(str(client.base_url).rstrip("/")))
    assert served.status_code == 200, served.text
    assert served.json()["@context"] == inline
    again = await client.post(
        "/ngsi-ld/v1/subscriptions", content=orjson.dumps(body), headers={"Content-Type": JSON_LD}
    )
    assert again.status_code == 201
    kept = await client.get("/ngsi-ld/v1/jsonldContexts", params={"kind": "ImplicitlyCreated"})
    assert kept.json() == [url]  # the same content is kept once
