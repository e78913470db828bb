"""Fuzzing the HTTP API: schemathesis on smartby's own OpenAPI, and arbitrary bodies on every write.

Whatever a client sends, smartby answers without a server error, every 4xx carries a ProblemDetails
body, and a write that fails changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.ngsild.errors import ERRORS_BASE
from smartby.settings import Settings

V1 = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}
LIGHTS = [f"urn:ngsi-ld:Streetlight:{number}" for number in range(1, 4)]
ATTRIBUTES = ["powerState", "illuminance", "location", "refCabinet", "name"]


def light(entity_id: str) -> dict[str, Any]:
    return {
        "id": entity_id,
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on"},
        "illuminance": [
            {"type": "Property", "value": 120, "unitCode": "LUX", "observedAt": "2024-05-01T20:00:00Z"},
            {"type": "Property", "value": 118, "datasetId": "urn:ngsi-ld:Dataset:b"},
        ],
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.5683, 55.6761]}},
        "refCabinet": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightControlCabinet:7"},
        "name": {"type": "LanguageProperty", "languageMap": {"da": "Gadelys", "en": "Street light"}},
    }


def entity_path(entity_id: str) -> str:
    return f"{V1}/entities/{quote(entity_id, safe='')}"


def assert_problem(status: int, content_type: str | None, body: bytes) -> None:
    """A 4xx carries an RFC 7807 ProblemDetails body with an NGSI-LD error type."""
    assert content_type is not None and content_type.startswith("application/json"), (status, content_type)
    problem = json.loads(body)
    assert isinstance(problem, dict)
    assert isinstance(problem.get("type"), str) and problem["type"].startswith(ERRORS_BASE), problem
    assert isinstance(problem.get("title"), str) and problem["title"]
    assert isinstance(problem.get("detail"), str)
    assert problem.get("status", status) == status


# ----------------------------------------------------------------------------------------------------
# schemathesis on the OpenAPI document


def operations() -> list[tuple[str, str]]:
    document = create_app(assemble(Settings(database="sqlite:///never-opened.db", _env_file=None))).openapi()  # type: ignore[call-arg]
    return [(path, method) for path, methods in document["paths"].items() for method in methods]


SUBSCRIPTION = {
    "id": "urn:ngsi-ld:Subscription:fuzz",
    "type": "Subscription",
    "entities": [{"type": "Streetlight"}],
    "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
}
REGISTRATION = {
    "id": "urn:ngsi-ld:ContextSourceRegistration:fuzz",
    "type": "ContextSourceRegistration",
    "information": [{"entities": [{"id": "urn:ngsi-ld:Building:fuzz", "type": "Building"}]}],
    "endpoint": "http://127.0.0.1:9/ngsi-ld",
    "mode": "redirect",
}


DEVICE = {
    "id": "fuzz-light",
    "entityId": LIGHTS[0],
    "entityType": "Streetlight",
    "commands": {
        "dim": {
            "kind": "bytes",
            "length": 2,
            "fields": [{"offset": 0, "type": "u8", "const": 1}, {"offset": 1, "type": "u8", "scale": 0.01}],
        },
        "switch": {"kind": "json", "fields": [{"path": "on"}]},
    },
}
"""A device with commands, so the command endpoints are fuzzed past the device's look-up."""


@dataclass
class Fuzzed:
    schema: Any
    context_id: str


async def seed(settings: Settings) -> str:
    """Streetlights and a hosted @context in the database, written through the API."""
    parts = assemble(settings)
    await parts.broker.open()
    try:
        transport = httpx.ASGITransport(app=create_app(parts))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for entity_id in LIGHTS:
                created = await client.post(f"{V1}/entities", json=light(entity_id), headers=JSON)
                assert created.status_code == 201, created.text
            hosted = await client.post(
                f"{V1}/jsonldContexts", json={"@context": {"lamp": "https://example.org/lamp"}}, headers=JSON
            )
            assert hosted.status_code == 201, hosted.text
            subscribed = await client.post(f"{V1}/subscriptions", json=SUBSCRIPTION, headers=JSON)
            assert subscribed.status_code == 201, subscribed.text
            registered = await client.post(f"{V1}/csourceRegistrations", json=REGISTRATION, headers=JSON)
            assert registered.status_code == 201, registered.text
            device = await client.post("/ingest/v1/devices", json=DEVICE, headers=JSON)
            assert device.status_code == 201, device.text
            return hosted.headers["location"].rsplit("/", 1)[1]
    finally:
        await parts.broker.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    database = tmp_path_factory.mktemp("fuzz") / "city.db"
    settings = Settings(database=f"sqlite:///{database}", remote_contexts=False, _env_file=None)  # type: ignore[call-arg]
    return settings, asyncio.run(seed(settings))


@pytest.fixture
def fuzzed(seeded: tuple[Settings, str]) -> Fuzzed:
    """A fresh app on the seeded database for each test: schemathesis ends an ASGI app's lifespan
    when the test that started it ends."""
    settings, context_id = seeded
    return Fuzzed(schemathesis.openapi.from_asgi("/openapi.json", create_app(assemble(settings))), context_id)


def known_path_parameters(path: str, fuzzed: Fuzzed) -> list[dict[str, str]]:
    """Path parameters that name things that exist, so GET/PATCH/PUT/DELETE get past the look-up."""
    if "{entityId}" in path:
        if "{attrId}" in path:
            return [{"entityId": LIGHTS[0], "attrId": attr} for attr in ATTRIBUTES]
        return [{"entityId": entity_id} for entity_id in LIGHTS]
    if "{type}" in path:
        return [{"type": "Streetlight"}]
    if "{attrId}" in path:
        return [{"attrId": attr} for attr in ATTRIBUTES]
    if "{contextId}" in path:
        return [{"contextId": fuzzed.context_id}]
    if "{registrationId}" in path:
        return [{"registrationId": REGISTRATION["id"]}]
    if "{subscriptionId}" in path:
        return [{"subscriptionId": SUBSCRIPTION["id"]}]
    if "{deviceId}" in path:
        return [{"deviceId": DEVICE["id"]}]
    return []


def problem_details(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    if 400 <= response.status_code < 500 and response.status_code != 411:
        assert_problem(
            response.status_code, response.headers.get("content-type", [None])[0], response.content
        )
    return None


@pytest.mark.parametrize(("path", "method"), operations())
def test_no_operation_gives_a_server_error(fuzzed: Fuzzed, path: str, method: str) -> None:
    operation = fuzzed.schema[path][method]
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    strategies += [
        operation.as_strategy(mode, path_parameters=known)
        for known in known_path_parameters(path, fuzzed)
        for mode in GenerationMode
    ]

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=st.one_of(strategies))
    def call(case: schemathesis.Case) -> None:
        # a Link's @context cannot be fetched (remote contexts are off): 503, as specified
        case.call_and_validate(checks=[no_server_error, problem_details])

    call()


# ----------------------------------------------------------------------------------------------------
# Arbitrary bodies and content types on every write endpoint

WRITES = [
    ("POST", "/entities"),
    ("POST", "/entities/{id}/attrs"),
    ("PATCH", "/entities/{id}/attrs"),
    ("PATCH", "/entities/{id}/attrs/{attr}"),
    ("PUT", "/entities/{id}/attrs/{attr}"),
    ("PUT", "/entities/{id}"),
    ("PATCH", "/entities/{id}"),
    ("POST", "/entityOperations/create"),
    ("POST", "/entityOperations/upsert"),
    ("POST", "/entityOperations/update"),
    ("POST", "/entityOperations/merge"),
    ("POST", "/entityOperations/delete"),
    ("POST", "/jsonldContexts"),
    ("POST", "/csourceRegistrations"),
    ("POST", "/csourceSubscriptions"),
]
MEDIA_TYPES = [
    "application/json",
    "application/ld+json",
    "application/merge-patch+json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/geo+json",
    "multipart/form-data; boundary=x",
]
NAMES = ["id", "type", "@context", "value", "object", "powerState", "location", "illuminance", "datasetId"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["Property", "GeoProperty", "urn:ngsi-ld:null", LIGHTS[0], "Streetlight", "Point"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A body (JSON or any bytes) with a Content-Type (one smartby knows, or anything)."""
    body = json.dumps(draw(json_values)).encode() if draw(st.booleans()) else draw(st.binary(max_size=64))
    headers = {"Content-Type": draw(st.sampled_from(MEDIA_TYPES) | header_text)}
    if draw(st.booleans()):
        url = draw(
            st.sampled_from(["https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"])
            | header_text
        )
        headers["Link"] = f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"'
    return body, headers


async def snapshot(client: httpx.AsyncClient) -> list[Any]:
    states = []
    for entity_id in LIGHTS:
        response = await client.get(entity_path(entity_id), params={"options": "sysAttrs"})
        states.append(response.json() if response.status_code == 200 else response.status_code)
    return states


@pytest.mark.parametrize(("method", "template"), WRITES, ids=[f"{m} {t}" for m, t in WRITES])
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
async def test_arbitrary_bodies_never_break_a_write(
    client: httpx.AsyncClient, method: str, template: str, request: tuple[bytes, dict[str, str]]
) -> None:
    for entity_id in LIGHTS:
        if (await client.get(entity_path(entity_id))).status_code == 404:
            await client.post(f"{V1}/entities", json=light(entity_id), headers=JSON)
    before = await snapshot(client)
    body, headers = request
    url = V1 + template.format(id=quote(LIGHTS[0], safe=""), attr="illuminance")
    response = await client.request(method, url, content=body, headers=headers)
    # 503 is the specified answer for an http(s) @context that cannot be fetched (remote contexts
    # are off in tests); anything else from the server side is a bug.
    unavailable = response.status_code == 503 and response.json()["type"].endswith("/LdContextNotAvailable")
    assert response.status_code < 500 or unavailable, response.text
    if response.status_code >= 400:
        assert_problem(response.status_code, response.headers.get("content-type"), response.content)
        assert await snapshot(client) == before


async def test_a_malformed_tenant_is_refused_by_the_ingest_stats(client: httpx.AsyncClient) -> None:
    """Found by negative_data_rejection: the stats answered whatever NGSILD-Tenant came with them."""
    refused = await client.get("/ingest/v1/stats", headers={"NGSILD-Tenant": "<w\\"})
    assert refused.status_code == 400
    assert_problem(refused.status_code, refused.headers.get("content-type"), refused.content)
    assert (await client.get("/ingest/v1/stats", headers={"NGSILD-Tenant": "aarhus"})).status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", f"{V1}/entities?type=Streetlight&options=", None),
        ("GET", f"{V1}/entities?type=Streetlight&options=%20", None),
        ("POST", f"{V1}/entityOperations/upsert?options=", [light(LIGHTS[1])]),
        ("POST", f"{V1}/entities/{quote(LIGHTS[0], safe='')}/attrs?options=", {"name": "x"}),
    ],
)
async def test_an_empty_options_is_a_bad_request(
    client: httpx.AsyncClient, method: str, url: str, body: Any
) -> None:
    """Found by negative_data_rejection: `options=` was read as no options; the document says a
    parameter, when given, is not empty."""
    await client.post(f"{V1}/entities", json=light(LIGHTS[0]), headers=JSON)
    before = await snapshot(client)
    response = await client.request(method, url, json=body)
    assert response.status_code == 400, response.text
    assert_problem(response.status_code, response.headers.get("content-type"), response.content)
    assert await snapshot(client) == before
    plain = url.replace("&options=%20", "").replace("&options=", "").replace("?options=", "")
    assert (await client.request(method, plain, json=body)).status_code < 300


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_a_dead_letter_number_in_other_digits_is_not_found(
    client: httpx.AsyncClient, method: str
) -> None:
    """Found by schemathesis: "³" is a digit to str.isdigit but not to int(): it was a 500."""
    for letter in ("%C2%B3", "%D9%A3", "x"):
        response = await client.request(method, f"/ingest/v1/deadletters/{letter}")
        assert response.status_code == 404, response.text
        assert_problem(response.status_code, response.headers.get("content-type"), response.content)


DEEP = "a deeply nested value goes here"


def nested(depth: int) -> str:
    return '{"a":[' * depth + "1" + "]}" * depth


@pytest.mark.parametrize(("method", "template"), WRITES, ids=[f"{m} {t}" for m, t in WRITES])
@pytest.mark.parametrize("depth", [40, 300, 1000])
async def test_deeply_nested_bodies_are_bad_requests(
    client: httpx.AsyncClient, method: str, template: str, depth: int
) -> None:
    """orjson reads 1024 levels but writes only 255, and Python recursion stops near 1000: a body
    nested that deep must be refused before it reaches the store."""
    await client.post(f"{V1}/entities", json=light(LIGHTS[0]), headers=JSON)
    before = await snapshot(client)
    shapes: list[Any] = [
        {"id": LIGHTS[1], "type": "Streetlight", "p": {"value": DEEP}},
        [{"id": LIGHTS[1], "type": "Streetlight", "p": DEEP}],
        {"@context": {"a": "https://example.org/a"}, "x": DEEP, "p": {"value": DEEP}},
        {"type": "Property", "value": DEEP},
    ]
    bodies = [json.dumps(shape).replace(json.dumps(DEEP), nested(depth)) for shape in shapes]
    for body in bodies:
        url = V1 + template.format(id=quote(LIGHTS[0], safe=""), attr="illuminance")
        response = await client.request(method, url, content=body, headers=JSON)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_problem(response.status_code, response.headers.get("content-type"), response.content)
    if depth > 64:
        assert await snapshot(client) == before


# ----------------------------------------------------------------------------------------------------
# Every schemathesis check, over the authenticated API (SMARTBY_AUTH=required, an operator's key)


def no_server_error(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """not_a_server_error, but for the two 503s NGSI-LD specifies: LdContextNotAvailable (a Link's
    @context cannot be fetched; remote contexts are off in tests) and QueryTimedOut."""
    if response.status_code >= 500:
        problem = json.loads(response.content)
        assert response.status_code == 503, problem
        assert problem["type"].endswith(("/LdContextNotAvailable", "/QueryTimedOut")), problem
    return None


schemathesis.checks.load_all_checks()  # registers the OpenAPI checks
CHECKS_BY_NAME = {check.__name__: check for check in schemathesis.checks.CHECKS.get_all()}


SIZE_BOUNDS = frozenset({"maxLength", "maxItems"})
"""The document's upper bounds on text and lists keep the generated data small (smartby.api.openapi:
three attribute names, 32 characters of a description); the server takes more, so a value past
them alone is not wrong data."""


def negative_data_rejection(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """negative_data_rejection, but a batch operation refuses the entities it cannot read one by one:
    a 207 whose errors name them (clause 5.6.7) is its rejection; and data that only passes the
    document's size bounds (`SIZE_BOUNDS`) need not be refused."""
    if response.status_code == 207 and json.loads(response.content).get("errors"):
        return None
    mutations = getattr(getattr(getattr(case.meta, "phase", None), "data", None), "mutations", ())
    if mutations and all(set(mutation.keywords) <= SIZE_BOUNDS for mutation in mutations):
        return None
    rejection: Any = CHECKS_BY_NAME["negative_data_rejection"]
    return rejection(ctx, response, case)  # type: ignore[no-any-return]


ALL_CHECKS: list[Any] = [
    no_server_error,
    negative_data_rejection,
    *(
        check
        for name, check in CHECKS_BY_NAME.items()
        if name not in ("not_a_server_error", "max_response_time", "negative_data_rejection")
    ),
]
# Strategies for the formats the document names (smartby.api.openapi.QUERY_SCHEMAS): valid values
# of each grammar, so positive data really is valid.
NUMBERS = st.integers(-1000, 1000).map(str) | st.sampled_from(["0.5", "-12.25"])
STRINGS = st.text(st.sampled_from("abcdefgh XYZ019_-"), max_size=8).map(json.dumps)
TERMS = st.builds(
    "".join,
    st.tuples(st.sampled_from(["illuminance", "powerState", "name", "refCabinet", "speed"])),
).flatmap(
    lambda name: st.one_of(
        st.builds(
            lambda op, value: f"{name}{op}{value}",
            st.sampled_from(["==", "!=", ">", ">=", "<", "<="]),
            NUMBERS,
        ),
        st.builds(lambda op, value: f"{name}{op}{value}", st.sampled_from(["==", "!="]), STRINGS),
        st.just(name),
    )
)
Q = st.builds(
    lambda terms, joint: joint.join(terms), st.lists(TERMS, min_size=1, max_size=3), st.sampled_from(";|")
)
SCOPE = st.builds(
    lambda levels, tail: "/" + "/".join(levels) + tail,
    st.lists(st.sampled_from(["Copenhagen", "Aarhus", "Norrebro", "Vesterbro", "+"]), min_size=1, max_size=3),
    st.sampled_from(["", "/#"]),
)
GEO_QUERIES = [
    ("near;maxDistance==2000", "Point", "[12.5683,55.6761]"),
    ("near;minDistance==10", "Point", "[12.5683,55.6761]"),
    ("within", "Polygon", "[[[12.5,55.6],[12.7,55.6],[12.7,55.7],[12.5,55.7],[12.5,55.6]]]"),
    ("intersects", "LineString", "[[12.5,55.6],[12.7,55.7]]"),
    ("disjoint", "Point", "[10.2,56.15]"),
    ("overlaps", "MultiPoint", "[[12.5,55.6],[12.6,55.65]]"),
]
schemathesis.openapi.format("ngsi-ld-q", Q)
schemathesis.openapi.format("ngsi-ld-scope-q", SCOPE)
schemathesis.openapi.format("ngsi-ld-georel", st.sampled_from([geo[0] for geo in GEO_QUERIES]))
schemathesis.openapi.format("ngsi-ld-coordinates", st.sampled_from([geo[2] for geo in GEO_QUERIES]))
schemathesis.openapi.format(
    "ngsi-ld-type-selection",
    st.sampled_from(["Streetlight", "Building", "Streetlight,Building", "(Streetlight;Building)|Device"]),
)
schemathesis.openapi.format("regex", st.sampled_from(["^urn:ngsi-ld:Streetlight:.*", ".*:1$", "urn:.*"]))

GEO = ("georel", "geometry", "coordinates")
SELECTION = ("type", "attrs", "q", "georel", "id", "idPattern", "scopeQ")


def selecting(case: schemathesis.Case, geo: tuple[str, str, str]) -> schemathesis.Case:
    """What the document cannot say, since they are rules between parameters: a geo-query gives
    its georel, geometry and coordinates together and of one shape (clause 4.10), in parameters or
    a body's geoQ; a query of entities selects something (type, attrs, q, a geo-query, id,
    idPattern or scopeQ; clause 5.7.2); pick, omit and attrs are not given together (clause 4.21),
    nor keep and drop; a temporal query has a timerel and timeAt, and endTimeAt with between
    (clause 4.11), in its parameters or its body's temporalQ, with endTimeAt after timeAt; a body
    of application/ld+json comes without a Link header (clause 6.3.5); reload=true names a cached
    @context (ETSI TP 051_04_01); integers fit in 64 bits (`exact_integers`); an exclusive
    registration names its entities by id and its attributes (clause 5.9.2); a ChirpStack up event
    names its device; a byte layout's fields lie in its frame (`fitting_layout`). Positive cases
    are made to follow them."""
    query = dict(case.query or {})
    if query.keys() & set(GEO):
        query.update(zip(GEO, geo, strict=True))
    reading = case.method.upper() != "POST"
    if reading and case.operation.path in SELECTING and not selects(case.method, case.operation.path, query):
        query["type"] = "Streetlight"
    if "pick" in query:
        query.pop("omit", None)
    if query.keys() & {"pick", "omit"}:
        query.pop("attrs", None)
    query.pop("geometryProperty", None)  # with Accept: application/geo+json only
    if "keep" in query:
        query.pop("drop", None)  # one or the other
    temporal = reading and case.operation.path == f"{V1}/temporal/entities"
    if temporal and "timerel" not in query:  # lastN too needs them (clause 5.7.4)
        query.update(timerel="before", timeAt="2030-01-01T00:00:00Z")
    if query.keys() & {"timerel", "timeAt", "endTimeAt"}:
        query.setdefault("timerel", "before")
        query.setdefault("timeAt", "2020-01-01T00:00:00Z")
        if query["timerel"] == "between":
            query["endTimeAt"] = "2031-01-01T00:00:00Z"
            query["timeAt"] = "2020-01-01T00:00:00Z"
        else:
            query.pop("endTimeAt", None)
    if case.operation.path == f"{V1}/jsonldContexts/{{contextId}}":
        query.pop("reload", None)  # ETSI TP 051_04_01: reloading an id not cached is a 400
    case.query = query
    case.body = exact_integers(case.body)
    geo_q = case.body.get("geoQ") if isinstance(case.body, dict) else None
    if isinstance(geo_q, dict):  # of one shape, as a geo-query's parameters (clause 4.10)
        geo_q.update(georel=geo[0], geometry=geo[1], coordinates=json.loads(geo[2]))
    temporal_q = case.body.get("temporalQ") if isinstance(case.body, dict) else None
    if isinstance(temporal_q, dict) and temporal_q.get("timerel") == "between":
        # Clause 4.11: a between's endTimeAt is given and comes after its timeAt.
        temporal_q.update(timeAt="2020-01-01T00:00:00Z", endTimeAt="2031-01-01T00:00:00Z")
    if case.operation.path == "/ingest/v1/chirpstack" and query.get("event") == "up":
        # an up event names its device (docs/devices.md)
        info = case.body.setdefault("deviceInfo", {})
        info.setdefault("devEui", "0004a30b001c0530")
    if isinstance(case.body, dict) and case.body.get("mode") == "exclusive":
        case.body["information"] = [exclusive(info) for info in case.body.get("information", [])]
    if isinstance(case.body, dict) and isinstance(case.body.get("decoder"), dict):
        case.body["decoder"] = fitting_layout(case.body["decoder"])
    if case.media_type == "application/ld+json" and case.headers:
        # Clause 6.3.5: with a body of application/ld+json its @context is in the body, never a Link.
        case.headers = {name: value for name, value in case.headers.items() if name.lower() != "link"}
    return case


INT64 = range(-(2**63), 2**63)


def exclusive(info: dict[str, Any]) -> dict[str, Any]:
    """A RegistrationInfo of an exclusive registration: each entity named by id, and the
    attributes it provides (clause 5.9.2)."""
    entities = [{"id": "urn:ngsi-ld:Building:fuzz", **entity} for entity in info.get("entities", [])]
    names = {} if info.get("propertyNames") or info.get("relationshipNames") else {"propertyNames": ["name"]}
    return {
        **info,
        "entities": entities or [{"type": "Building", "id": "urn:ngsi-ld:Building:fuzz"}],
        **names,
    }


SIZES = {"u8": 1, "u16": 2, "u32": 4, "i8": 1, "i16": 2, "i32": 4, "f32": 4, "bool": 1, "bits": 1}
"""Bytes of each field type of a byte-layout decoder (smartby.ingest.decoders.byte_layout)."""


def fitting_layout(decoder: dict[str, Any]) -> dict[str, Any]:
    """A byte-layout decoder made to follow the rules between its members that the document states
    in words (docs/devices.md): each field inside the frame, a bits field with a mask, no mask or
    shift on f32 and no scaling on bool, a shift below the type's bits."""
    if decoder.get("kind") != "bytes" or not isinstance(decoder.get("fields"), list):
        return decoder
    fields = []
    for field in decoder["fields"]:
        field = dict(field)
        size = SIZES[field["type"]]
        field["offset"] = min(field["offset"], decoder["length"] - size)
        if field["offset"] < 0:
            field.update(type="u8", offset=0)
            size = 1
        if field["type"] == "bits" and field.get("mask") is None:
            field["mask"] = 1
        if field["type"] == "f32":
            field.pop("mask", None)
            field.pop("shift", None)
        if field["type"] == "bool":
            for name in ("scale", "add", "convert"):
                field.pop(name, None)
        if "shift" in field:
            field["shift"] = min(field["shift"], size * 8 - 1)
        fields.append(field)
    return {**decoder, "fields": fields}


def exact_integers(value: Any) -> Any:
    """`value` with each integer outside 64 bits written as a float: smartby keeps integers exactly
    and refuses larger ones, a rule of the JSON text (1e20 or 100000000000000000000) that a JSON
    Schema cannot state."""
    if isinstance(value, dict):
        return {key: exact_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [exact_integers(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        return float(value)
    return value


SELECTING = frozenset({f"{V1}/entities", f"{V1}/temporal/entities"})
SYSTEM_NAMES = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt", "observedAt"})


def selects(method: str, path: str, query: dict[str, Any]) -> bool:
    """Whether a query of entities selects something as its operation needs: a purge (DELETE) by
    type or q; a temporal query by type, q, scopeQ, a geo-query or an attribute that is not a
    system one; a query of entities by any of SELECTION (clause 5.7.2)."""
    if method.upper() == "DELETE":
        return bool(query.keys() & {"type", "q"})
    if path == f"{V1}/temporal/entities":
        attrs = str(query.get("attrs", "")).split(",")
        return bool(query.keys() & {"type", "q", "scopeQ", "georel"}) or any(
            name and name not in SYSTEM_NAMES for name in attrs
        )
    return bool(query.keys() & set(SELECTION))


KNOWN_GAPS: dict[str, frozenset[str]] = {}
"""Checks not yet passing on an operation ("METHOD /path" -> check names): work left, not accepted
exclusions (docs/api.md, "The OpenAPI document"). None are left: every check passes on every
operation."""


def known_gaps(operation: Any, method: str, path: str) -> frozenset[str]:
    gaps = KNOWN_GAPS.get(f"{method.upper()} {path}", frozenset())
    return gaps


@dataclass
class Authenticated:
    schema: Any
    key: str


@pytest.fixture(scope="module")
def authenticated_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    database = tmp_path_factory.mktemp("fuzz-auth") / "city.db"
    open_settings = Settings(database=f"sqlite:///{database}", remote_contexts=False, _env_file=None)  # type: ignore[call-arg]
    asyncio.run(seed(open_settings))
    settings = open_settings.model_copy(update={"auth": "required"})

    async def operator_key() -> str:
        parts = assemble(settings)
        await parts.broker.open()
        try:
            _, key = await create_app(parts).state.keyring.create("fuzz-operator", ["*"], "admin")
            return str(key)
        finally:
            await parts.broker.close()

    return settings, asyncio.run(operator_key())


@pytest.fixture
def authenticated(authenticated_database: tuple[Settings, str]) -> Authenticated:
    settings, key = authenticated_database
    return Authenticated(schemathesis.openapi.from_asgi("/openapi.json", create_app(assemble(settings))), key)


IN_ITS_OWN_PROCESS = os.environ.get("SMARTBY_FUZZ_PROCESS") == "1"
"""Hypothesis draws the same cases for the same process state; what other test modules did before
in a process changes schemathesis's draws. The every-check run therefore runs in a fresh process of
its own (`test_every_check_passes_in_a_fresh_process`), where its cases are the same in every run."""


def every_check_in_a_fresh_process() -> None:
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", f"{__file__}::{CHECKED}"],
        cwd=root,
        env={**os.environ, "SMARTBY_FUZZ_PROCESS": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    last = run.stdout.strip().splitlines()[-1]
    assert f"{len(operations())} passed" in last and "skipped" not in last, run.stdout[-2_000:]


CHECKED = "test_every_check_passes_with_authentication"


def every_check(authenticated: Authenticated, path: str, method: str) -> None:
    operation = authenticated.schema[path][method]
    skipped = known_gaps(operation, method, path)
    checks = [check for check in ALL_CHECKS if check.__name__ not in skipped]
    positive = st.tuples(operation.as_strategy(GenerationMode.POSITIVE), st.sampled_from(GEO_QUERIES))
    negative = operation.as_strategy(GenerationMode.NEGATIVE)

    @settings(
        max_examples=int(os.environ.get("SMARTBY_FUZZ_EXAMPLES", "6")),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=positive.map(lambda drawn: selecting(*drawn)) | negative)
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {authenticated.key}"}, checks=checks)

    call()


# Collected in one process or the other, never both: the fresh process runs the checks, any other
# runs the test that starts it.
if IN_ITS_OWN_PROCESS:
    test_every_check_passes_with_authentication = pytest.mark.parametrize(("path", "method"), operations())(
        every_check
    )
else:
    test_every_check_passes_in_a_fresh_process = every_check_in_a_fresh_process
