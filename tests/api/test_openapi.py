"""The NGSI-LD bodies the OpenAPI document declares (smartby.api.openapi.BODY_SCHEMAS)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartby.api.app import create_app
from smartby.api.openapi import NAME, QUERY_SCHEMAS
from smartby.assembly import assemble
from smartby.ngsild.errors import NgsiLdError
from smartby.ngsild.ordering import parse_order_by
from smartby.ngsild.temporal import AggregationPeriod
from smartby.settings import Settings

V1 = "/ngsi-ld/v1"
LIGHT = {
    "id": "urn:ngsi-ld:Streetlight:1",
    "type": "Streetlight",
    "powerState": {"type": "Property", "value": "on", "observedAt": "2024-05-01T20:00:00Z"},
    "illuminance": {
        "type": "Property",
        "value": 120,
        "unitCode": "LUX",
        "datasetId": "urn:ngsi-ld:Dataset:b",
    },
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.5683, 55.6761]}},
    "refCabinet": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightControlCabinet:7"},
    "name": {"type": "LanguageProperty", "languageMap": {"da": "Gadelys", "en": "Street light"}},
    "level": 0.75,
}
SUBSCRIPTION = {
    "type": "Subscription",
    "entities": [{"type": "Streetlight"}],
    "watchedAttributes": ["powerState"],
    "notification": {"endpoint": {"uri": "https://city.example/notify"}, "format": "keyValues"},
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    chosen = Settings(database="sqlite:///never-opened.db", _env_file=None)  # type: ignore[call-arg]
    return create_app(assemble(chosen)).openapi()


def valid(document: dict[str, Any], name: str, body: Any) -> bool:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema).is_valid(body)


def test_an_entity_and_its_attributes_are_described(document: dict[str, Any]) -> None:
    assert valid(document, "Entity", LIGHT)
    assert valid(document, "EntityLd", {**LIGHT, "@context": {"lamp": "https://example.org/lamp"}})
    assert not valid(document, "EntityLd", LIGHT)  # application/ld+json: the @context is in the body
    assert not valid(document, "Entity", {**LIGHT, "id": "not a uri"})
    assert not valid(document, "Entity", {**LIGHT, "value": {"type": "Property", "value": 1}})
    assert not valid(document, "Entity", {**LIGHT, "speed": {"type": "Property"}})
    assert not valid(document, "Entity", {**LIGHT, "speed": None})
    assert not valid(document, "Entity", {**LIGHT, "location": {"type": "GeoProperty", "value": "x"}})
    assert valid(document, "Attributes", {"powerState": LIGHT["powerState"]})
    assert valid(document, "AttributeObject", LIGHT["refCabinet"])
    assert not valid(document, "AttributeObject", 5)  # one attribute's body is an object
    assert valid(document, "Entities", [LIGHT])
    assert not valid(document, "Entities", [])


def test_temporal_bodies_take_arrays_of_instances(document: dict[str, Any]) -> None:
    instances = [LIGHT["powerState"], {"type": "Property", "value": "off"}]
    assert valid(
        document, "TemporalEntity", {"id": LIGHT["id"], "type": "Streetlight", "powerState": instances}
    )
    assert not valid(document, "TemporalAttributes", {"powerState": []})


def test_subscriptions_and_queries_are_described(document: dict[str, Any]) -> None:
    assert valid(document, "Subscription", SUBSCRIPTION)
    assert not valid(document, "Subscription", {**SUBSCRIPTION, "unknown": 1})
    mqtt = {**SUBSCRIPTION, "notification": {"endpoint": {"uri": "mqtt://broker.example/lights"}}}
    assert valid(document, "Subscription", mqtt)
    assert not valid(document, "CSourceSubscription", mqtt)  # csource notifications are HTTP only
    assert valid(document, "Query", {"type": "Query", "entities": [{"type": "Streetlight"}]})
    assert not valid(document, "Query", {"type": "Query"})  # a query selects something
    temporal = {"attrs": ["powerState"], "temporalQ": {"timerel": "before", "timeAt": "2024-01-01T00:00:00Z"}}
    assert valid(document, "TemporalQuery", temporal)
    assert not valid(document, "TemporalQuery", {"attrs": ["powerState"]})


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("post", f"{V1}/entities", "Entity"),
        ("patch", f"{V1}/entities/{{entityId}}/attrs", "Attributes"),
        ("put", f"{V1}/entities/{{entityId}}", "Replacement"),
        ("post", f"{V1}/entityOperations/upsert", "Entities"),
        ("post", f"{V1}/entityOperations/query", "Query"),
        ("post", f"{V1}/subscriptions", "Subscription"),
        ("post", f"{V1}/temporal/entities", "TemporalEntity"),
    ],
)
def test_operations_refer_to_the_shared_bodies(
    document: dict[str, Any], method: str, path: str, name: str
) -> None:
    content = document["paths"][path][method]["requestBody"]["content"]
    assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}
    assert content["application/ld+json"]["schema"] == {"$ref": f"#/components/schemas/{name}Ld"}


# What the document's grammars admit, the server takes (schemathesis draws by them: a value the
# document admits and the server refuses fails its positive-data check, and one it refuses that the
# server takes fails the negative one).


@settings(max_examples=200, deadline=None)
@given(text=st.from_regex(QUERY_SCHEMAS["aggrPeriodDuration"]["pattern"], fullmatch=True))
def test_every_period_the_document_admits_the_server_takes(text: str) -> None:
    AggregationPeriod.parse(text)


@pytest.mark.parametrize("text", ["P1Y2W", "P99999Y", "P", "PT", "P1.5W", "PT1H2D"])
def test_periods_the_document_refuses(text: str) -> None:
    assert re.fullmatch(QUERY_SCHEMAS["aggrPeriodDuration"]["pattern"], text) is None


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(st.from_regex(f"{NAME};(asc|desc)", fullmatch=True), min_size=1, max_size=20))
def test_order_by_admits_what_the_server_takes(keys: list[str]) -> None:
    text = ",".join(keys)
    admitted = re.fullmatch(QUERY_SCHEMAS["orderBy"]["pattern"], text) is not None
    try:
        parse_order_by(text)
        taken = True
    except NgsiLdError:
        taken = False
    assert admitted == taken == (len(keys) <= 16)


def test_a_query_selects_by_geo_q_alone(document: dict[str, Any]) -> None:
    geo = {"geometry": "Point", "coordinates": [12.57, 55.68], "georel": "near;maxDistance==100"}
    assert valid(document, "Query", {"type": "Query", "geoQ": geo})
    assert not valid(document, "Query", {"type": "Query"})
    temporal = {"timerel": "before", "timeAt": "2024-05-01T00:00:00Z"}
    assert not valid(document, "TemporalQuery", {"type": "Query", "temporalQ": temporal})
    many = [{"type": "Streetlight"}] * 5
    assert valid(document, "TemporalQuery", {"type": "Query", "entities": many, "temporalQ": temporal})
