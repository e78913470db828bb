"""@contexts are kept per tenant (docs/contexts.md): another tenant does not list, read, delete,
reload or resolve them; the shipped contexts are every tenant's. Both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import pytest

from conftest import api_client
from smartby.broker import Broker
from smartby.ngsild.context import CORE_CONTEXT_URL
from smartby.ngsild.errors import LdContextNotAvailable
from smartby.settings import Settings
from stub_server import Documents, served

CONTEXTS = "/ngsi-ld/v1/jsonldContexts"
ENTITIES = "/ngsi-ld/v1/entities"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
A = {"NGSILD-Tenant": "city-a"}
B = {"NGSILD-Tenant": "city-b"}
JSON = {"Content-Type": "application/json"}


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}


class _Remote(Documents):
    bodies: ClassVar[dict[str, bytes]] = {
        "/lamp.jsonld": b'{"@context": {"brightness": "https://example.org/brightness"}, '
        b'"owner": "city-a only"}'
    }


@pytest.fixture
def remote() -> Iterator[str]:
    with served(_Remote, host="127.0.0.1") as url:
        yield url + "/lamp.jsonld"


@pytest.fixture
async def fetching(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database=database_url, context_timeout=5.0, _env_file=None)  # type: ignore[call-arg]
    async with api_client(settings) as http:
        yield http


async def listed(client: httpx.AsyncClient, tenant: dict[str, str], kind: str | None = None) -> list[str]:
    params = {"kind": kind} if kind else {}
    response = await client.get(CONTEXTS, params=params, headers=tenant)
    assert response.status_code == 200, response.text
    return list(response.json())


def lamp(number: int) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Lamp:{number}",
        "type": "Lamp",
        "brightness": {"type": "Property", "value": 1},
    }


async def test_a_hosted_context_is_its_tenants_alone(client: httpx.AsyncClient) -> None:
    document = {"@context": {"brightness": "https://example.org/brightness"}}
    added = await client.post(CONTEXTS, json=document, headers={**JSON, **A})
    assert added.status_code == 201, added.text
    location = added.headers["location"]
    path = location.removeprefix("http://smartby.test")
    assert location in await listed(client, A, "Hosted")
    assert location not in await listed(client, B) and location not in await listed(client, {})
    for params in ({}, {"details": "true"}):
        gone = await client.get(path, params=params, headers=B)
        assert gone.status_code == 404 and gone.json()["type"] == ERRORS + "ResourceNotFound"
    assert (await client.delete(path, headers=B)).status_code == 404
    assert (await client.get(path, headers=A)).json() == document
    # Resolving its URL: a use in tenant A works, tenant B has no such context (also after A's use).
    made = await client.post(ENTITIES, json=lamp(1), headers={**JSON, **A, **link(location)})
    assert made.status_code == 201, made.text
    refused = await client.post(ENTITIES, json=lamp(2), headers={**JSON, **B, **link(location)})
    assert refused.status_code == 503, refused.text
    assert refused.json()["type"] == ERRORS + "LdContextNotAvailable"
    assert (await client.delete(path, headers=A)).status_code == 204


async def test_the_shipped_contexts_are_every_tenants(client: httpx.AsyncClient) -> None:
    for tenant in (A, B, {}):
        assert CORE_CONTEXT_URL in await listed(client, tenant, "Cached")
        found = await client.get(
            f"{CONTEXTS}/{quote(CORE_CONTEXT_URL, safe='')}", params={"details": "true"}, headers=tenant
        )
        assert found.status_code == 200, found.text


async def test_an_implicit_context_belongs_to_the_subscriptions_tenant(client: httpx.AsyncClient) -> None:
    body = {
        "type": "Subscription",
        "entities": [{"type": "Lamp"}],
        "notification": {"endpoint": {"uri": "http://192.0.2.1/notify"}},
        "@context": [{"brightness": "https://example.org/brightness"}, CORE_CONTEXT_URL],
    }
    made = await client.post(
        "/ngsi-ld/v1/subscriptions", json=body, headers={"Content-Type": "application/ld+json", **A}
    )
    assert made.status_code == 201, made.text
    implicit = await listed(client, A, "ImplicitlyCreated")
    assert len(implicit) == 1
    assert await listed(client, B, "ImplicitlyCreated") == []
    path = implicit[0].removeprefix("http://smartby.test")
    assert (await client.get(path, headers=B)).status_code == 404
    assert (await client.get(path, headers=A)).status_code == 200


async def test_a_fetched_context_is_cached_per_tenant(fetching: httpx.AsyncClient, remote: str) -> None:
    for tenant in (A, B):
        made = await fetching.post(ENTITIES, json=lamp(1), headers={**JSON, **tenant, **link(remote)})
        assert made.status_code == 201, made.text
        assert remote in await listed(fetching, tenant, "Cached")
    key = quote(remote, safe="")
    assert (await fetching.delete(f"{CONTEXTS}/{key}", headers=B)).status_code == 204
    assert remote not in await listed(fetching, B, "Cached")
    assert remote in await listed(fetching, A, "Cached")
    details = await fetching.get(f"{CONTEXTS}/{key}", params={"details": "true"}, headers=A)
    assert details.status_code == 200 and "city-a only" not in details.text
    assert (
        await fetching.delete(f"{CONTEXTS}/{key}", params={"reload": "true"}, headers=B)
    ).status_code == 400
    reloaded = await fetching.delete(f"{CONTEXTS}/{key}", params={"reload": "true"}, headers=A)
    assert reloaded.status_code == 204, reloaded.text


async def test_work_done_for_a_tenant_resolves_its_contexts(
    client: httpx.AsyncClient, broker: Broker
) -> None:
    """Device readings, imports and commands resolve a device's @context among its tenant's."""
    document = {"@context": {"brightness": "https://example.org/brightness"}}
    location = (await client.post(CONTEXTS, json=document, headers={**JSON, **A})).headers["location"]
    ctx = await broker.context(location, "city-a")
    assert ctx.expand("brightness") == "https://example.org/brightness"
    with pytest.raises(LdContextNotAvailable):
        await broker.context(location, "city-b")
