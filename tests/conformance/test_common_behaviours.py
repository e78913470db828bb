"""ETSI NGSI-LD conformance: TP/NGSI-LD/CommonBehaviours (responses, media types, tenancy)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import (
    ENTITIES,
    JSON,
    LD,
    LINK,
    UNKNOWN_CONTEXT,
    V1,
    building,
    created,
    ld,
    new_id,
    problem,
    retrieve,
    vehicle,
)


@pytest.fixture
async def a_building(client: httpx.AsyncClient) -> str:
    entity = building()
    await created(client, entity)
    return str(entity["id"])


async def _content_type(client: httpx.AsyncClient, entity_id: str, accept: str) -> str:
    response = await client.get(f"{ENTITIES}/{entity_id}", headers={"Accept": accept})
    assert response.status_code == 200, response.text
    return response.headers["content-type"]


async def test_045_01_01_any_accept_means_json(client: httpx.AsyncClient, a_building: str) -> None:
    response = await retrieve(client, a_building, headers={"Accept": "*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["link"]


@pytest.mark.parametrize(
    ("case", "accept", "expected"),
    [
        ("045_02_01 ld+json listed before json", "application/ld+json, application/json", "application/json"),
        (
            "045_02_02 geo+json listed before json",
            "application/geo+json, application/json",
            "application/json",
        ),
        (
            "045_02_03 q-values override list order",
            "application/json;q=0.1, application/ld+json;q=0.9",
            "application/ld+json",
        ),
        ("045_02_04 a single supported type", "application/ld+json", "application/ld+json"),
        ("045_04_01 q=0 and a wildcard", "application/json;q=0, */*", "application/ld+json"),
        (
            "045_04_02 q=0 and another option",
            "application/json;q=0, application/ld+json",
            "application/ld+json",
        ),
        ("045_04_03 a weighted wildcard", "*/*;q=0.9, application/ld+json;q=0.8", "application/json"),
        ("045_04_04 an unparseable weight", "application/ld+json;q=notanumber", "application/ld+json"),
    ],
)
async def test_045_accept_precedence(
    client: httpx.AsyncClient, a_building: str, case: str, accept: str, expected: str
) -> None:
    assert (await _content_type(client, a_building, accept)).startswith(expected)


@pytest.mark.parametrize(
    ("case", "accept", "expected"),
    [
        ("045_03_01 geo+json listed with json", "application/geo+json, application/json", "application/json"),
        (
            "045_03_02 geo+json listed with ld+json",
            "application/geo+json;q=0.9, application/ld+json;q=0.1",
            "application/ld+json",
        ),
        ("045_03_03 a wildcard", "*/*", "application/json"),
        ("045_03_04 q=0 json", "application/json;q=0, application/ld+json", "application/ld+json"),
    ],
)
async def test_045_03_geojson_not_offered(
    client: httpx.AsyncClient, a_building: str, case: str, accept: str, expected: str
) -> None:
    """045_03 asks this of Retrieve Subscription; smartby has no subscriptions yet, so it is checked on
    /types, another operation that does not offer application/geo+json."""
    response = await client.get(f"{V1}/types", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(expected)


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_046_01_bare_411_without_content_length(live_server: Any, method: str) -> None:
    """046_01_01..03, 05: a chunked body has no Content-Length: a bare 411, before any tenant look-up."""
    targets = {
        "POST": "/ngsi-ld/v1/entities",
        "PATCH": "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:411-01/attrs",
        "PUT": "/ngsi-ld/v1/entities/urn:ngsi-ld:Building:411-01",
    }
    body = b'{"id": "urn:ngsi-ld:Building:411-01", "type": "Building"}'
    headers = {"Content-Type": "application/json", "NGSILD-Tenant": "tp46105nosuchtenant"}
    with httpx.Client(base_url=live_server.url) as http:
        response = http.request(method, targets[method], content=iter([body]), headers=headers)
    assert "content-length" not in response.request.headers
    assert response.status_code == 411
    assert response.content == b""


def test_046_01_04_get_is_outside_the_precondition(live_server: Any) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        response = http.get("/ngsi-ld/v1/entities", params={"type": "Building"})
    assert response.status_code == 200


async def test_048_01_unsupported_media_type(client: httpx.AsyncClient) -> None:
    xml = {"Content-Type": "application/xml"}
    entity = vehicle()
    await created(client, entity)
    fragment = {"brandName": {"type": "Property", "value": "BMW"}}
    problem(
        await client.patch(f"{ENTITIES}/{entity['id']}/attrs/brandName", json=fragment, headers=xml),
        415,
        "UnsupportedMediaType",
    )
    problem(await client.post(ENTITIES, json=building(), headers=xml), 415, "UnsupportedMediaType")
    batch = await client.post(f"{V1}/entityOperations/create", json=[building(), building()], headers=xml)
    problem(batch, 415, "UnsupportedMediaType")


async def test_049_01_01_not_acceptable(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ENTITIES}/{new_id('Building')}", headers={"Accept": "application/xml"})
    problem(response, 406, "NotAcceptable")


async def test_049_02_geojson_only_where_not_offered(client: httpx.AsyncClient) -> None:
    """049_02 names subscriptions and temporal queries; the same holds for /types and /attributes."""
    for path in ("types", "attributes"):
        problem(
            await client.get(f"{V1}/{path}", headers={"Accept": "application/geo+json"}), 406, "NotAcceptable"
        )


async def test_043_01_01_unretrievable_context_on_create(client: httpx.AsyncClient) -> None:
    entity = building()
    response = await client.post(ENTITIES, json=ld(entity, UNKNOWN_CONTEXT), headers=LD)
    problem(response, 503, "LdContextNotAvailable")


async def test_043_01_04_unretrievable_context_in_batch_create(client: httpx.AsyncClient) -> None:
    entities = [ld(building(), UNKNOWN_CONTEXT), ld(building(), UNKNOWN_CONTEXT)]
    response = await client.post(f"{V1}/entityOperations/create", json=entities, headers=LD)
    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [e["entityId"] for e in errors] == [e["id"] for e in entities]
    for error in errors:
        assert error["error"]["type"] == "https://uri.etsi.org/ngsi-ld/errors/LdContextNotAvailable"
        assert error["error"]["title"]


async def test_044_01_merge_patch_partial_attribute_update(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    await created(client, entity)
    headers = {"Content-Type": "application/merge-patch+json", "Link": LINK}
    response = await client.patch(
        f"{ENTITIES}/{entity['id']}/attrs/brandName", json={"value": "BMW"}, headers=headers
    )
    assert response.status_code == 204
    assert (await retrieve(client, entity["id"])).json()["brandName"]["value"] == "BMW"


@pytest.mark.parametrize(
    ("case", "method", "path", "body"),
    [
        ("059_01_01 CreateEntity", "POST", "entities", building()),
        ("059_01_02 QueryEntities", "GET", "entities?type=Building&", None),
        ("059_01_05 RetrieveEntityTypes", "GET", "types", None),
        ("RetrieveAttributes", "GET", "attributes", None),
        ("BatchCreate", "POST", "entityOperations/create", [building()]),
        ("ListContexts", "GET", "jsonldContexts", None),
    ],
)
async def test_059_01_invalid_parameter(
    client: httpx.AsyncClient, case: str, method: str, path: str, body: Any
) -> None:
    separator = "" if path.endswith("&") else "?"
    url = f"{V1}/{path}{separator}invalidParams=invalidValue"
    response = await client.request(method, url, json=body, headers=JSON if body is not None else {})
    problem(response, 400, "InvalidRequest")


@pytest.fixture
async def parked_vehicle(client: httpx.AsyncClient) -> str:
    body = {
        "id": "urn:ngsi-ld:Vehicle:geo636",
        "type": "Vehicle",
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [8.5, 41.2]}},
    }
    assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201
    return str(body["id"])


async def test_636_01_01_geojson_body_embeds_the_context(
    client: httpx.AsyncClient, parked_vehicle: str
) -> None:
    response = await client.get(
        ENTITIES, params={"type": "Vehicle"}, headers={"Accept": "application/geo+json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert "ngsi-ld-core-context" in str(body["@context"])
    assert all("@context" not in feature for feature in body["features"])


async def test_636_01_02_prefer_body_json_moves_the_context_to_link(
    client: httpx.AsyncClient, parked_vehicle: str
) -> None:
    headers = {"Accept": "application/geo+json", "Prefer": "body=json"}
    response = await client.get(ENTITIES, params={"type": "Vehicle"}, headers=headers)
    assert response.status_code == 200
    assert "@context" not in response.json()
    assert "ngsi-ld-core-context" in response.headers["link"]


async def test_636_01_03_no_content_length_on_204(client: httpx.AsyncClient, parked_vehicle: str) -> None:
    response = await client.delete(f"{ENTITIES}/{parked_vehicle}")
    assert response.status_code == 204
    assert "content-length" not in response.headers


async def test_414_01_tenants_are_isolated_and_echoed(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    headers = {**JSON, "Link": LINK}
    response = await client.post(ENTITIES, json=entity, headers={**headers, "NGSILD-Tenant": "tp414a"})
    assert response.status_code == 201
    assert response.headers["ngsild-tenant"] == "tp414a"
    got = await retrieve(client, entity["id"], headers={"NGSILD-Tenant": "tp414a"})
    assert got.status_code == 200 and got.headers["ngsild-tenant"] == "tp414a"
    problem(await retrieve(client, entity["id"]), 404, "ResourceNotFound")
    other = vehicle()
    response = await client.post(ENTITIES, json=other, headers={**headers, "NGSILD-Tenant": "tp414b"})
    assert response.status_code == 201
    problem(
        await retrieve(client, entity["id"], headers={"NGSILD-Tenant": "tp414b"}), 404, "ResourceNotFound"
    )


async def test_5510_01_01_unknown_tenant_until_created(client: httpx.AsyncClient) -> None:
    tenant = {"NGSILD-Tenant": "tp551012345"}
    response = await client.get(ENTITIES, params={"type": "Building"}, headers=tenant)
    problem(response, 404, "NonexistentTenant")
    assert response.headers["ngsild-tenant"] == "tp551012345"
    entity_id = new_id()
    created_response = await client.post(
        ENTITIES, json={"id": entity_id, "type": "Building"}, headers={**JSON, **tenant}
    )
    assert created_response.status_code == 201
    assert created_response.headers["ngsild-tenant"] == "tp551012345"
    response = await client.get(ENTITIES, params={"type": "Building"}, headers=tenant)
    assert response.status_code == 200
    assert [e["id"] for e in response.json()] == [entity_id]


async def test_5510_01_02_default_tenant_exists(client: httpx.AsyncClient) -> None:
    response = await client.get(ENTITIES, params={"type": "Building"})
    assert response.status_code == 200
    assert "NonexistentTenant" not in response.text


@pytest.mark.parametrize(
    ("case", "path"),
    [("556_01_01 no @context member", "/invalid.jsonld"), ("556_01_02 not JSON", "/broken.jsonld")],
)
async def test_556_01_invalid_remote_context(
    remote_client: httpx.AsyncClient, context_server: str, case: str, path: str
) -> None:
    entity_id = new_id()
    body = {"id": entity_id, "type": "Vehicle", "@context": context_server + path}
    problem(await remote_client.post(ENTITIES, json=body, headers=LD), 400, "BadRequestData")
    assert (await remote_client.get(f"{ENTITIES}/{entity_id}")).status_code == 404


async def test_043_01_unavailable_remote_context(
    remote_client: httpx.AsyncClient, context_server: str
) -> None:
    body = {"id": new_id(), "type": "Vehicle", "@context": context_server + "/missing.jsonld"}
    problem(await remote_client.post(ENTITIES, json=body, headers=LD), 503, "LdContextNotAvailable")


@pytest.mark.parametrize("url", ["A:0", "urn:ngsi-ld:context:nowhere", "ftp://example.org/ctx.jsonld"])
async def test_context_that_no_scheme_can_fetch_is_a_bad_request(
    remote_client: httpx.AsyncClient, url: str
) -> None:
    """Not a network failure (503) but a request that can never work: 400, nothing written."""
    entity_id = new_id()
    body = {"id": entity_id, "type": "Vehicle", "@context": url}
    problem(await remote_client.post(ENTITIES, json=body, headers=LD), 400, "BadRequestData")
    assert (await remote_client.get(f"{ENTITIES}/{entity_id}")).status_code == 404
