"""ETSI NGSI-LD conformance: the /jsonldContexts endpoints (clause 5.13; TPs 050-053, 5132)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from etsi import JSON, V1, problem

CONTEXTS = f"{V1}/jsonldContexts"
MINIMAL = {"@context": {"minimal": "https://example.org/minimal"}}


async def add(client: httpx.AsyncClient, document: object) -> str:
    response = await client.post(CONTEXTS, json=document, headers=JSON)
    assert response.status_code == 201, response.text
    location = response.headers["location"]
    assert location.startswith(f"http://smartby.test{CONTEXTS}/")
    return location.removeprefix("http://smartby.test")


async def test_050_01_add_then_053_01_serve(client: httpx.AsyncClient) -> None:
    location = await add(client, MINIMAL)
    for params in ({}, {"details": "false"}):
        response = await client.get(location, params=params)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == MINIMAL


@pytest.mark.parametrize(
    ("case", "body", "error"),
    [
        ("050_02_01 no @context member", b'{"minimal": "https://example.org/minimal"}', "InvalidRequest"),
        ("050_02_02 wrong JSON", b'{"@context": {"minimal": ', "InvalidRequest"),
        ("5132_01_01 a number as @context", b'{"@context": 5}', "BadRequestData"),
        ("5132_01_02 a boolean as @context", b'{"@context": true}', "BadRequestData"),
        (
            "5132_01_03 an array with a number",
            b'{"@context": [{"a": "https://example.org/a"}, 5]}',
            "BadRequestData",
        ),
    ],
)
async def test_invalid_context_documents(
    client: httpx.AsyncClient, case: str, body: bytes, error: str
) -> None:
    response = await client.post(CONTEXTS, content=body, headers=JSON)
    problem(response, 400, error)
    assert "location" not in response.headers


async def test_052_list_hosted_contexts(client: httpx.AsyncClient) -> None:
    locations = [await add(client, {"@context": {f"term{n}": f"https://example.org/{n}"}}) for n in range(3)]
    for params in ({}, {"kind": "Hosted"}, {"details": "false"}, {"details": "false", "kind": "Hosted"}):
        listed = (await client.get(CONTEXTS, params=params)).json()
        assert all(any(url.endswith(location) for url in listed) for location in locations)
    hosted = (await client.get(CONTEXTS, params={"details": "true", "kind": "Hosted"})).json()
    assert len(hosted) == 3
    for info in hosted:
        assert info["kind"] == "Hosted"
        assert info["localId"] and info["URL"].endswith(info["localId"])
        assert info["createdAt"].endswith("Z")
    assert (await client.get(CONTEXTS, params={"kind": "ImplicitlyCreated"})).json() == []


async def test_053_02_serve_with_details(client: httpx.AsyncClient) -> None:
    location = await add(client, MINIMAL)
    info = (await client.get(location, params={"details": "true"})).json()
    assert info["kind"] == "Hosted"
    assert location.endswith(info["localId"])


async def test_051_01_delete_hosted(client: httpx.AsyncClient) -> None:
    location = await add(client, MINIMAL)
    response = await client.delete(location)
    assert response.status_code == 204
    assert response.content == b""
    problem(await client.get(location), 404, "ResourceNotFound")


@pytest.mark.parametrize(
    ("case", "target", "reload", "status", "error"),
    [
        ("051_04_01 wrong id, reload=true", "wrong_id_context", "true", 400, "BadRequestData"),
        ("051_04_02 wrong id, reload=false", "wrong_id_context", "false", 404, "ResourceNotFound"),
        ("051_04_03 wrong id, no reload", "wrong_id_context", None, 404, "ResourceNotFound"),
        ("051_04_04 wrong id, reload=xxx", "wrong_id_context", "xxx", 400, "BadRequestData"),
        ("051_04_05 hosted, reload=true", None, "true", 400, "BadRequestData"),
    ],
)
async def test_051_04_delete_with_wrong_data(
    client: httpx.AsyncClient, case: str, target: str | None, reload: str | None, status: int, error: str
) -> None:
    location = await add(client, MINIMAL)
    url = location if target is None else f"{CONTEXTS}/{target}"
    params = {"reload": reload} if reload is not None else {}
    problem(await client.delete(url, params=params), status, error)
    assert (await client.get(location)).status_code == 200


async def test_051_cached_context_listed_reloaded_and_deleted(
    remote_client: httpx.AsyncClient, context_server: str
) -> None:
    """A remote @context used by a request is cached (kind Cached); it can be reloaded and deleted."""
    url = f"{context_server}/valid.jsonld"
    entity = {"id": "urn:ngsi-ld:Vehicle:cached", "type": "Vehicle", "@context": url}
    response = await remote_client.post(
        "/ngsi-ld/v1/entities", json=entity, headers={"Content-Type": "application/ld+json"}
    )
    assert response.status_code == 201
    cached = (await remote_client.get(CONTEXTS, params={"kind": "Cached", "details": "true"})).json()
    info = next(c for c in cached if c["URL"] == url)
    assert (
        info["kind"] == "Cached" and isinstance(info["numberOfHits"], int) and info["createdAt"].endswith("Z")
    )
    # Serve @context gives the document of a Hosted or ImplicitlyCreated one only (5.13.4.4).
    problem(await remote_client.get(f"{CONTEXTS}/{quote(url, safe='')}"), 422, "OperationNotSupported")
    details = await remote_client.get(f"{CONTEXTS}/{quote(url, safe='')}", params={"details": "true"})
    assert details.status_code == 200 and details.json()["URL"] == url and details.json()["kind"] == "Cached"
    assert (
        await remote_client.delete(f"{CONTEXTS}/{quote(url, safe='')}", params={"reload": "true"})
    ).status_code == 204
    assert (await remote_client.delete(f"{CONTEXTS}/{quote(url, safe='')}")).status_code == 204
    problem(await remote_client.get(f"{CONTEXTS}/{quote(url, safe='')}"), 404, "ResourceNotFound")
