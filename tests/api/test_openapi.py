"""The bodies the OpenAPI document declares (smartby.api.openapi.BODY_SCHEMAS, the NGSI-LD ones, and
smartby.api.ingest_bodies, the device API's)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from smartby.api.app import create_app
from smartby.api.openapi import NAME, QUERY_SCHEMAS
from smartby.assembly import assemble
from smartby.ingest.envelopes import EnvelopeError, chirpstack_event
from smartby.ingest.registry import check_decoder
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


# The bodies the OpenAPI describes past the NGSI-LD ones: context source registrations, hosted
# @contexts, and the device API's (smartby.api.ingest_bodies). Drawn by schemathesis from the
# document, as the fuzz test draws them: what the document admits, the server takes.

LAMP_FRAME = {
    "kind": "bytes",
    "length": 3,
    "fields": [
        {"attribute": "powerState", "type": "bool", "offset": 0},
        {"attribute": "dimmingLevel", "type": "u16", "offset": 1, "scale": 0.01, "unitCode": "P1"},
    ],
}
LAMP = {"entityId": "urn:ngsi-ld:Streetlight:7", "entityType": "Streetlight"}
"""What a device feeds; the rest of a device is optional."""
DEVICE = {
    "id": "lamp-7",
    **LAMP,
    "devEui": "00-04-A3-0B-00-1C-05-30",
    "location": {"type": "Point", "coordinates": [12.57, 55.68]},
    "reportingInterval": 300,
    "decoder": LAMP_FRAME,
}
REGISTRATION = {
    "type": "ContextSourceRegistration",
    "information": [{"entities": [{"type": "Building"}], "propertyNames": ["name"]}],
    "endpoint": "https://source.example/ngsi-ld",
    "mode": "inclusive",
    "operations": ["federationOps"],
}
CHIRPSTACK_UP = {
    "deviceInfo": {"devEui": "0004a30b001c0530", "deviceName": "lamp-7"},
    "fPort": 10,
    "fCnt": 7,
    "data": "AVAB9A==",
    "time": "2024-05-01T20:00:00Z",
}


def test_device_and_profile_bodies_are_described(document: dict[str, Any]) -> None:
    assert valid(document, "Device", DEVICE)
    assert valid(document, "Device", {**DEVICE, "decoder": None, "devEui": None})  # null: not given
    assert not valid(document, "Device", {**DEVICE, "id": "a/b"})  # one topic level, one path segment
    assert not valid(document, "Device", {**DEVICE, "reportingInterval": 0})
    assert not valid(document, "Device", {**DEVICE, "reportingInterval": 604801})
    assert not valid(document, "Device", {**DEVICE, "key": "short"})
    assert not valid(document, "Device", {**DEVICE, "key": "sixteen or more, but ä"})  # a header's ASCII
    assert not valid(document, "Device", {**DEVICE, "devEui": "0004a30b"})
    assert not valid(document, "DeviceReplacement", DEVICE)  # the id is the path's
    assert valid(document, "DeviceReplacement", {k: v for k, v in DEVICE.items() if k != "id"})
    assert valid(document, "PayloadProfile", {"decoder": {"kind": "json"}, "description": "flat JSON"})
    assert not valid(document, "PayloadProfile", {"description": "no decoder"})


@pytest.mark.parametrize(
    ("decoder", "admitted"),
    [
        ({"kind": "json", "fields": [{"attribute": "temperature", "path": "$.uplink.temp[0]"}]}, True),
        ({"kind": "json", "observedAt": {"path": "ts", "format": "epoch_ms"}}, True),
        ({"kind": "json", "fields": []}, False),
        ({"kind": "json", "fields": [{"attribute": "id"}]}, False),  # a core member
        ({"kind": "json", "fields": [{"attribute": "t", "path": "a..b"}]}, False),
        ({"kind": "json", "fields": [{"attribute": "t", "required": "yes"}]}, False),
        ({"kind": "bytes", "length": 2, "fields": [{"attribute": "t", "type": "u8", "offset": 1}]}, True),
        ({"kind": "bytes", "length": 2.0, "fields": [{"attribute": "t", "type": "u8", "offset": 1.0}]}, True),
        ({"kind": "bytes", "length": 243, "fields": [{"attribute": "t", "type": "u8", "offset": 0}]}, False),
        ({"kind": "bytes", "length": 2, "fields": [{"attribute": "t", "type": "u64", "offset": 0}]}, False),
        ({"kind": "bytes", "length": 2}, False),
        ({"kind": "plugin", "name": "no-such-plugin"}, False),
        ({"kind": "lua"}, False),
    ],
)
def test_decoders_are_one_schema_per_kind(document: dict[str, Any], decoder: Any, admitted: bool) -> None:
    """The document's Decoder is a oneOf by kind; what it admits builds, what it refuses does not."""
    assert valid(document, "Decoder", decoder) == admitted
    try:
        check_decoder(decoder)
        built = True
    except NgsiLdError:
        built = False
    assert built == admitted


def drawn_bodies(document: dict[str, Any], path: str, method: str) -> st.SearchStrategy[Any]:
    schema = schemathesis.openapi.from_dict(document)
    return schema[path][method].as_strategy(GenerationMode.POSITIVE).map(lambda case: case.body)


@pytest.fixture(scope="module")
def drawn(document: dict[str, Any]) -> Any:
    return lambda path, method: drawn_bodies(document, path, method)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_json_decoder_the_document_admits_builds(drawn: Any, data: st.DataObject) -> None:
    profile = data.draw(drawn("/ingest/v1/profiles/{name}", "put"))
    if profile["decoder"]["kind"] != "bytes":  # a byte layout's fields must lie in its frame too
        check_decoder(profile["decoder"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_chirpstack_event_the_document_admits_is_read(drawn: Any, data: st.DataObject) -> None:
    event = data.draw(drawn("/ingest/v1/chirpstack", "post"))
    try:
        raw = orjson.dumps(event)
    except TypeError:  # an integer beyond 64 bits in `object`: no JSON text smartby reads
        assume(False)
    assert chirpstack_event(raw) == event


@pytest.mark.parametrize(
    "event",
    [
        {"deviceInfo": {"devEui": "xyz"}},
        {"deviceInfo": CHIRPSTACK_UP["deviceInfo"], "data": "not base64!"},
        {"deviceInfo": CHIRPSTACK_UP["deviceInfo"], "fPort": 256},
        {"deviceInfo": CHIRPSTACK_UP["deviceInfo"], "object": "decoded"},
    ],
)
def test_chirpstack_events_the_document_refuses_are_refused(document: dict[str, Any], event: Any) -> None:
    assert valid(document, "ChirpStackEvent", CHIRPSTACK_UP)
    assert not valid(document, "ChirpStackEvent", event)
    with pytest.raises(EnvelopeError):
        chirpstack_event(orjson.dumps(event))


async def test_chirpstack_events_of_every_type_are_checked(client: httpx.AsyncClient) -> None:
    """Not only up events: a join, a status or an ack that is not what ChirpStack writes is a 400."""
    for event in ("join", "status", "ack"):
        taken = await client.post("/ingest/v1/chirpstack", params={"event": event}, json=CHIRPSTACK_UP)
        assert taken.status_code == 204, taken.text
        refused = await client.post("/ingest/v1/chirpstack", params={"event": event}, content=b"\x00")
        assert refused.status_code == 400, refused.text
        odd = {**CHIRPSTACK_UP, "fPort": "ten"}
        assert (
            await client.post("/ingest/v1/chirpstack", params={"event": event}, json=odd)
        ).status_code == 400
    assert (
        await client.post("/ingest/v1/chirpstack", params={"event": ""}, json=CHIRPSTACK_UP)
    ).status_code == 400


async def test_devices_and_profiles_the_document_admits_are_taken(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    profile = {"decoder": LAMP_FRAME, "description": "lamp frames", "reportingInterval": 60}
    assert valid(document, "PayloadProfile", profile)
    assert (await client.put("/ingest/v1/profiles/lamp", json=profile)).status_code == 200
    created = await client.post("/ingest/v1/devices", json=DEVICE)
    assert created.status_code == 201, created.text
    replacement = {**LAMP, "key": "k" * 16, "organisation": "Copenhagen Lighting"}
    assert valid(document, "DeviceReplacement", replacement)
    assert (await client.put("/ingest/v1/devices/lamp-7", json=replacement)).status_code == 200
    refused = {**DEVICE, "id": "lamp-8", "devEui": None, "key": "sixteen or more, but ä"}
    assert not valid(document, "Device", refused)
    assert (await client.post("/ingest/v1/devices", json=refused)).status_code == 400
    assert (await client.delete("/ingest/v1/devices/lamp-7")).status_code == 204
    assert (await client.delete("/ingest/v1/profiles/lamp")).status_code == 204


def test_registrations_and_hosted_contexts_are_described(document: dict[str, Any]) -> None:
    assert valid(document, "CSourceRegistration", REGISTRATION)
    assert valid(
        document, "CSourceRegistrationLd", {**REGISTRATION, "@context": {"a": "https://example.org/a"}}
    )
    assert not valid(document, "CSourceRegistration", {**REGISTRATION, "information": []})
    assert not valid(document, "CSourceRegistration", {**REGISTRATION, "information": [{}]})
    assert not valid(document, "CSourceRegistration", {**REGISTRATION, "operations": ["flyEntity"]})
    assert not valid(document, "CSourceRegistration", {**REGISTRATION, "endpoint": "not a url"})
    assert valid(document, "CSourceRegistrationPatch", {"mode": None, "registrationName": "north"})
    assert not valid(document, "CSourceRegistrationPatch", {})
    assert not valid(document, "CSourceRegistrationPatch", {"endpoint": None})  # a mandatory member
    assert valid(document, "ContextDocument", {"@context": {"lamp": "https://example.org/lamp"}})
    typed = {"ref": {"@id": "https://example.org/ref", "@type": "@id"}, "gone": None}
    assert valid(document, "ContextDocument", {"@context": [typed]})
    assert not valid(document, "ContextDocument", {"@context": {"lamp": "lamp"}})  # a relative IRI
    assert not valid(document, "ContextDocument", {"@context": {"a:b": "https://example.org/a"}})
    assert not valid(document, "ContextDocument", {"@context": {"a/b": "https://example.org/a"}})
    assert not valid(document, "ContextDocument", {"context": {}})


async def test_registrations_and_contexts_the_document_admits_are_taken(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    created = await client.post(f"{V1}/csourceRegistrations", json=REGISTRATION)
    assert created.status_code == 201, created.text
    patch = {"registrationName": "north", "mode": None}
    assert valid(document, "CSourceRegistrationPatch", patch)
    patched = await client.patch(created.headers["location"], json=patch)
    assert patched.status_code == 204, patched.text
    hosted = await client.post(
        f"{V1}/jsonldContexts",
        json={
            "@context": {
                "lamp": "https://example.org/lamp",
                "ref": {"@id": "https://e.org/r", "@type": "@id"},
            }
        },
    )
    assert hosted.status_code == 201, hosted.text
    # a relative IRI; a cyclic IRI mapping; a term that reads as an IRI but maps to another one
    for refused in ({"lamp": "lamp"}, {"A": "A:0"}, {"a/b": "https://example.org/a"}):
        assert not valid(document, "ContextDocument", {"@context": refused})
        answer = await client.post(f"{V1}/jsonldContexts", json={"@context": refused})
        assert answer.status_code == 400, answer.text


def test_a_command_is_described(document: dict[str, Any]) -> None:
    assert valid(document, "Command", {"name": "dim", "value": 0.4, "ttl": 60})
    assert valid(
        document, "Command", {"name": "dim", "value": {"level": 1}, "expires": "2030-01-01T00:00:00Z"}
    )
    assert not valid(
        document, "Command", {"name": "dim", "value": 1, "ttl": 60, "expires": "2030-01-01T00:00:00Z"}
    )
    assert not valid(document, "Command", {"name": "dim"})
    assert not valid(document, "Command", {"name": "dim", "value": 1, "ttl": 0})
    assert not valid(document, "Command", {"name": "dim", "value": 1, "priority": "high"})
