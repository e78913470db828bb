"""NGSI-LD conformance: which error type a bad request gets (ETSI GS CIM 009 V1.8.1 clause 5.5.2).

InvalidRequest is a request that cannot be read (no JSON, an `options` or `format` the operation
does not define); BadRequestData is well-formed input that breaks the information model or the
operation's rules. Every route reads `options` and `format` the same way.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import (
    ENTITIES,
    JSON,
    LD,
    LINK,
    SUITE_CONTEXT,
    TEMPORAL,
    V1,
    WITH_LINK,
    created,
    ld,
    problem,
    retrieve,
    vehicle,
)

OPERATIONS = f"{V1}/entityOperations"


async def test_5_5_2_body_that_is_not_json_is_invalid_request(client: httpx.AsyncClient) -> None:
    """V1.8.1 clause 5.5.2 and 6.3.4: an empty body or one that is not JSON cannot be read."""
    for content in (b"", b"   ", b"{not json", b'{"id": '):
        response = await client.post(ENTITIES, content=content, headers=LD)
        problem(response, 400, "InvalidRequest")
        response = await client.post(f"{OPERATIONS}/query", content=content, headers=JSON)
        problem(response, 400, "InvalidRequest")


def _reads(entity_id: str) -> list[tuple[str, str, dict[str, str]]]:
    """Every read that takes options and format: method, path and the parameters it needs."""
    window = {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}
    return [
        ("GET", f"{ENTITIES}/{entity_id}", {}),
        ("GET", ENTITIES, {"type": "Vehicle"}),
        ("POST", f"{OPERATIONS}/query", {}),
        ("GET", TEMPORAL, {"type": "Vehicle", **window}),
        ("GET", f"{TEMPORAL}/{entity_id}", {}),
    ]


async def _send(client: httpx.AsyncClient, method: str, path: str, params: dict[str, str]) -> httpx.Response:
    if method == "POST":
        body = {"type": "Query", "entities": [{"type": "Vehicle"}]}
        return await client.post(path, params=params, json=body, headers={**JSON, **WITH_LINK})
    return await client.get(path, params=params, headers=WITH_LINK)


@pytest.mark.parametrize(
    "params",
    [
        {"options": "bogus"},
        {"options": "sysAttrs,bogus"},
        {"format": "bogus"},
        {"format": "sysAttrs"},
        {"format": ""},
        {"format": "keyValues", "options": "bogus"},
    ],
)
async def test_6_3_unknown_options_or_format_are_invalid_requests_everywhere(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    """V1.8.1 clause 5.5.2 with 6.3.7 and 6.3.12: an `options` or `format` value the operation does
    not define makes the request unreadable, on every route that takes them: InvalidRequest."""
    entity = vehicle()
    await created(client, entity)
    for method, path, needed in _reads(entity["id"]):
        response = await _send(client, method, path, {**needed, **params})
        problem(response, 400, "InvalidRequest")
    response = await client.post(ENTITIES, params={"options": "bogus"}, json=ld(vehicle()), headers=LD)
    problem(response, 400, "InvalidRequest")


async def test_6_3_format_is_read_alike_everywhere(client: httpx.AsyncClient) -> None:
    """V1.8.1 clause 6.3.7: `format=keyValues` (or `simplified`) names the representation and wins
    over a representation in `options`, on retrieval, on both queries and on the temporal API."""
    entity = vehicle()
    await created(client, entity)
    for params in ({"format": "keyValues"}, {"format": "simplified", "options": "normalized"}):
        one = await retrieve(client, entity["id"], **params)
        assert one.json()["speed"] == 80, one.text
        for method, path, needed in _reads(entity["id"])[1:3]:
            many = await _send(client, method, path, {**needed, **params})
            assert many.status_code == 200, many.text
            assert many.json()[0]["speed"] == 80


async def test_5_6_19_scope_is_not_an_attribute_to_replace(client: httpx.AsyncClient) -> None:
    """V1.8.1 clause 5.6.19 (Attribute Replace) replaces an Attribute; scope is an entity member
    (clause 4.18), so PUT .../attrs/scope is BadRequestData and changes nothing."""
    entity = vehicle(scope="/Madrid")
    await created(client, entity)
    for body in ({"type": "Property", "value": "/Paris"}, "/Paris"):
        response = await client.put(
            f"{ENTITIES}/{entity['id']}/attrs/scope", json=body, headers={**JSON, "Link": LINK}
        )
        problem(response, 400, "BadRequestData")
    assert (await retrieve(client, entity["id"])).json()["scope"] == "/Madrid"


async def test_5_7_1_4_attrs_naming_only_unknown_attributes(client: httpx.AsyncClient) -> None:
    """V1.8.1 clause 5.7.1.4: Retrieve Entity with `attrs` of which the entity has none finds
    nothing (ResourceNotFound); one it has is enough."""
    entity = vehicle()
    await created(client, entity)
    problem(await retrieve(client, entity["id"], attrs="notThere,norThis"), 404, "ResourceNotFound")
    found = await retrieve(client, entity["id"], attrs="notThere,speed")
    assert found.status_code == 200 and set(found.json()) == {"id", "type", "speed"}


async def test_5_6_9_batch_update_keeps_and_adds_types(client: httpx.AsyncClient) -> None:
    """V1.8.1 clause 5.6.9 (Batch Entity Update) updates each entity as clause 5.6.2 does, where the
    types given are added (clause 4.16): an entity of several types keeps them all."""
    entity = vehicle()
    entity["type"] = ["Vehicle", "Building"]
    await created(client, entity)
    updates: list[dict[str, Any]] = [
        {"id": entity["id"], "type": "Vehicle", "speed": {"type": "Property", "value": 1}},
        {"id": entity["id"], "type": ["Vehicle", "Bus"], "speed": {"type": "Property", "value": 2}},
    ]
    for update in updates:
        response = await client.post(f"{OPERATIONS}/update", json=[ld(update)], headers=LD)
        assert response.status_code == 204, response.text
    got = (await retrieve(client, entity["id"])).json()
    assert sorted(got["type"]) == ["Building", "Bus", "Vehicle"]
    assert got["speed"]["value"] == 2


@pytest.mark.parametrize(
    "fragment",
    [
        {"speed": {"type": None}},
        {"speed": {"type": "urn:ngsi-ld:null"}},
        {"isParked": {"type": None, "object": "urn:ngsi-ld:OffStreetParking:1"}},
        {"speed": {"value": 1, "accuracy": {"type": None}}},
        {"isParked": {"object": 5}},
        {"location": {"value": {"coordinates": "nowhere"}}},
    ],
)
async def test_5_6_17_merge_that_breaks_the_model(
    client: httpx.AsyncClient, fragment: dict[str, Any]
) -> None:
    """V1.8.1 clause 5.6.17 (Merge Entity, RFC 7396): a fragment whose merge would leave an
    attribute the model does not allow (no type, a relationship to no URI, a GeoProperty that is
    no geometry) is BadRequestData, and the entity is unchanged."""
    entity = vehicle(
        speed={"type": "Property", "value": 80, "accuracy": {"type": "Property", "value": 1}},
        isParked={"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:0"},
        location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.5, 55.7]}},
    )
    await created(client, entity)
    before = (await retrieve(client, entity["id"])).json()
    response = await client.patch(
        f"{ENTITIES}/{entity['id']}",
        json={**fragment, "@context": [SUITE_CONTEXT]},
        headers={"Content-Type": "application/ld+json"},
    )
    problem(response, 400, "BadRequestData")
    assert (await retrieve(client, entity["id"])).json() == before
