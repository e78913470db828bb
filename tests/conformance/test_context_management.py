"""ETSI NGSI-LD conformance: @context management (ETSI GS CIM 009 V1.8.1 clause 5.13), the three
kinds of stored @context, their use counts, and Cached contexts outliving their server."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import HTTPServer
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from etsi import JSON, LD, V1, problem

from smartby.api.app import create_app
from smartby.assembly import Assembly, assemble
from smartby.ngsild.context import CORE_CONTEXT_URL
from smartby.settings import Settings
from stub_server import Documents

CONTEXTS = f"{V1}/jsonldContexts"
TERMS = {"brightness": "https://example.org/brightness", "Lamp": "https://example.org/Lamp"}


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}


def path_of(url_or_id: str) -> str:
    return f"{CONTEXTS}/{quote(url_or_id, safe='')}"


async def host(client: httpx.AsyncClient, document: Any) -> str:
    response = await client.post(CONTEXTS, json=document, headers=JSON)
    assert response.status_code == 201, response.text
    location: str = response.headers["location"]
    return location


async def details(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.get(path_of(key), params={"details": "true"})
    assert response.status_code == 200, response.text
    info: dict[str, Any] = response.json()
    return info


@dataclass
class ContextServer:
    """A real HTTP server on this machine serving @context documents that a test can change or stop."""

    url: str
    bodies: dict[str, bytes]
    stop: Any


@pytest.fixture
def remote() -> Iterator[ContextServer]:
    bodies = {"/lamp.jsonld": b'{"@context": {"brightness": "https://example.org/brightness"}}'}
    handler = type("Serve", (Documents,), {"bodies": bodies})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    try:
        yield ContextServer(f"http://127.0.0.1:{server.server_address[1]}", bodies, stop)
    finally:
        stop()


class Smartby:
    """smartby on the test's database, fetching remote @contexts; can be restarted on the same data."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.model_copy(update={"remote_contexts": True, "context_timeout": 5.0})
        self.parts: Assembly | None = None
        self.client: httpx.AsyncClient | None = None

    async def start(self, **changes: Any) -> httpx.AsyncClient:
        self.parts = assemble(self.settings.model_copy(update=changes))
        await self.parts.broker.open()
        transport = httpx.ASGITransport(app=create_app(self.parts))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://smartby.test")
        return self.client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.parts is not None:
            await self.parts.broker.close()
            self.parts = None


@pytest.fixture
async def smartby(settings: Settings) -> AsyncIterator[Smartby]:
    running = Smartby(settings)
    try:
        yield running
    finally:
        await running.stop()


async def create_lamp(client: httpx.AsyncClient, entity_id: str, context: Any) -> None:
    entity = {
        "id": entity_id,
        "type": "Lamp",
        "brightness": {"type": "Property", "value": 80},
        "@context": context,
    }
    response = await client.post(f"{V1}/entities", json=entity, headers=LD)
    assert response.status_code == 201, response.text


# -- Add @context ---------------------------------------------------------------------------------


async def test_add_keeps_only_the_context_member(client: httpx.AsyncClient) -> None:
    """Clause 5.13.2.3: all information outside the @context subtree of the added object is discarded;
    5.13.4.4: serving a Hosted context gives back that content."""
    location = await host(client, {"@context": TERMS, "comment": "not part of the context", "n": 1})
    served = await client.get(location)
    assert served.status_code == 200
    assert served.json() == {"@context": TERMS}


async def test_add_an_invalid_json_ld_context_is_rejected(client: httpx.AsyncClient) -> None:
    """Clause 5.13.2.4: the validation of clause 5.5.4 applies; a context JSON-LD cannot process is
    BadRequestData, and nothing is stored."""
    response = await client.post(CONTEXTS, json={"@context": {"bad": {"@id": 5}}}, headers=JSON)
    problem(response, 400, "BadRequestData")
    assert (await client.get(CONTEXTS, params={"kind": "Hosted"})).json() == []


# -- List @contexts -------------------------------------------------------------------------------


async def test_list_details_hold_the_fields_of_5_13_3_5(client: httpx.AsyncClient) -> None:
    """Clause 5.13.3.5: each JSON object holds URL, localId, kind and createdAt, and may hold
    numberOfHits, lastUsage and extraInfo (here: no use yet, so no lastUsage); 5.13.2.4: the local
    identifier is a URI."""
    location = await host(client, {"@context": TERMS})
    [info] = (await client.get(CONTEXTS, params={"details": "true", "kind": "Hosted"})).json()
    assert info["URL"] == location and location.endswith("/" + info["localId"])
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", info["localId"])
    assert info["kind"] == "Hosted"
    assert info["createdAt"].endswith("Z")
    assert info["numberOfHits"] == 0
    assert "lastUsage" not in info


async def test_kind_filter_selects_one_kind(client: httpx.AsyncClient) -> None:
    """Clause 5.13.3.3 and 5.13.3.4: only @contexts of the kind given are listed; without a filter
    every kind is. The core context is kept by the broker as a Cached copy."""
    location = await host(client, {"@context": TERMS})
    hosted = (await client.get(CONTEXTS, params={"kind": "Hosted"})).json()
    cached = (await client.get(CONTEXTS, params={"kind": "Cached"})).json()
    everything = (await client.get(CONTEXTS)).json()
    assert hosted == [location]
    assert CORE_CONTEXT_URL in cached and hosted[0] not in cached
    assert set(everything) == set(hosted) | set(cached)
    assert (await client.get(CONTEXTS, params={"kind": "ImplicitlyCreated"})).json() == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"kind": "Remote"}, "BadRequestData"),
        ({"kind": "hosted"}, "BadRequestData"),
        ({"details": "yes"}, "BadRequestData"),
        ({"detail": "true"}, "InvalidRequest"),
    ],
)
async def test_list_with_wrong_parameters(
    client: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    """Clause 5.13.3.3: kind is one of Cached, Hosted, ImplicitlyCreated and details a boolean; a
    wrong value is BadRequestData, an unknown parameter InvalidRequest (clause 6.3.2)."""
    problem(await client.get(CONTEXTS, params=params), 400, error)


# -- use counts: numberOfHits and lastUsage -------------------------------------------------------


async def test_uses_are_counted_and_survive_a_restart(smartby: Smartby) -> None:
    """Clause 5.13.3.5: numberOfHits is the number of times the @context was found in the storage,
    lastUsage when it last was; both are kept when the broker stops and starts again."""
    client = await smartby.start()
    url = await host(client, {"@context": TERMS})
    local_id = url.rsplit("/", 1)[1]
    await create_lamp(client, "urn:ngsi-ld:Lamp:1", url)
    for _ in range(2):
        response = await client.get(f"{V1}/entities/urn:ngsi-ld:Lamp:1", headers=link(url))
        assert response.status_code == 200 and response.json()["brightness"]["value"] == 80
    info = await details(client, local_id)
    assert info["numberOfHits"] == 3
    assert info["lastUsage"] >= info["createdAt"]
    await smartby.stop()

    client = await smartby.start()
    info = await details(client, local_id)
    assert info["numberOfHits"] == 3 and "lastUsage" in info
    await client.get(f"{V1}/entities", params={"type": "Lamp"}, headers=link(url))
    assert (await details(client, local_id))["numberOfHits"] == 4


async def test_use_counts_are_written_periodically(smartby: Smartby) -> None:
    """Clause 5.13.3.5 (numberOfHits): counted in memory, the uses reach the storage every
    SMARTBY_CONTEXT_SYNC_INTERVAL seconds, where another process sees them."""
    client = await smartby.start(context_sync_interval=0.05)
    location = await host(client, {"@context": TERMS})
    local_id = location.rsplit("/", 1)[1]
    await create_lamp(client, "urn:ngsi-ld:Lamp:2", location)
    assert smartby.parts is not None
    store = smartby.parts.store
    for _ in range(200):
        stored = await store.get_context("", local_id)
        assert stored is not None
        if stored.hits:
            break
        await asyncio.sleep(0.05)
    assert stored.hits == 1 and stored.last_used is not None


async def test_uses_of_the_core_context_are_counted(client: httpx.AsyncClient) -> None:
    """Clause 5.13.3.5: numberOfHits of the core @context (a Cached copy shipped with the broker)
    grows each time a request names it."""
    before = (await details(client, CORE_CONTEXT_URL))["numberOfHits"]
    for _ in range(2):
        response = await client.get(f"{V1}/entities", params={"type": "Lamp"}, headers=link(CORE_CONTEXT_URL))
        assert response.status_code == 200
    after = await details(client, CORE_CONTEXT_URL)
    assert after["numberOfHits"] == before + 2 and "lastUsage" in after


# -- Serve @context -------------------------------------------------------------------------------


async def test_serve_a_cached_context_is_not_supported(client: httpx.AsyncClient) -> None:
    """Clause 5.13.4.4: the content of a Cached @context is not served (OperationNotSupported), its
    metadata is; an unknown identifier is ResourceNotFound."""
    problem(await client.get(path_of(CORE_CONTEXT_URL)), 422, "OperationNotSupported")
    info = await details(client, CORE_CONTEXT_URL)
    assert info["kind"] == "Cached" and info["URL"] == CORE_CONTEXT_URL
    problem(await client.get(path_of("urn:ngsi-ld:nothing")), 404, "ResourceNotFound")
    problem(
        await client.get(path_of("urn:ngsi-ld:nothing"), params={"details": "true"}), 404, "ResourceNotFound"
    )


# -- Delete and Reload @context -------------------------------------------------------------------


@pytest.mark.parametrize("reload", [None, "false"])
async def test_the_core_context_cannot_be_deleted(client: httpx.AsyncClient, reload: str | None) -> None:
    """Clause 5.13.5.4 (ETSI TP 051_08): deleting the NGSI-LD core @context is BadRequestData, and
    it stays in use."""
    params = {} if reload is None else {"reload": reload}
    problem(await client.delete(path_of(CORE_CONTEXT_URL), params=params), 400, "BadRequestData")
    assert CORE_CONTEXT_URL in (await client.get(CONTEXTS)).json()
    assert (await details(client, CORE_CONTEXT_URL))["kind"] == "Cached"


async def test_reloading_the_core_context_keeps_it(client: httpx.AsyncClient) -> None:
    """Clause 5.13.5.4 (ETSI TP 051_09): reload=true on the core @context succeeds, and it is still
    served afterwards."""
    response = await client.delete(path_of(CORE_CONTEXT_URL), params={"reload": "true"})
    assert response.status_code == 204
    assert (await details(client, CORE_CONTEXT_URL))["URL"] == CORE_CONTEXT_URL


async def test_delete_a_hosted_context_by_its_local_id(client: httpx.AsyncClient) -> None:
    """Clause 5.13.5.4: reload false or absent removes the @context of the local identifier; then it
    is ResourceNotFound, and requests naming it (by any host) can no longer use it."""
    location = await host(client, {"@context": TERMS})
    local_id = location.rsplit("/", 1)[1]
    elsewhere = f"http://smartby.example:8080{CONTEXTS}/{local_id}"
    for url in (location, elsewhere):
        used = await client.get(f"{V1}/entities", params={"type": "Lamp"}, headers=link(url))
        assert used.status_code == 200, used.text
    response = await client.delete(path_of(local_id), params={"reload": "false"})
    assert response.status_code == 204
    problem(await client.get(location), 404, "ResourceNotFound")
    problem(await client.delete(path_of(local_id)), 404, "ResourceNotFound")
    for url in (location, elsewhere):
        gone = await client.get(f"{V1}/entities", params={"type": "Lamp"}, headers=link(url))
        problem(gone, 503, "LdContextNotAvailable")


async def test_delete_without_an_identifier(client: httpx.AsyncClient) -> None:
    """Clause 5.13.5.4: if the @context identifier is not supplied, BadRequestData."""
    problem(await client.delete(f"{CONTEXTS}/"), 400, "BadRequestData")


async def test_reload_a_cached_context_replaces_it(smartby: Smartby, remote: ContextServer) -> None:
    """Clause 5.13.5.4: reload=true on a Cached @context downloads it again from its original URL
    (which also identifies it) and the new copy replaces the stored one; its localId stays."""
    client = await smartby.start()
    url = f"{remote.url}/lamp.jsonld"
    await create_lamp(client, "urn:ngsi-ld:Lamp:3", url)
    before = await details(client, url)
    remote.bodies["/lamp.jsonld"] = b'{"@context": {"brightness": "https://example.org/luminosity"}}'
    response = await client.delete(path_of(url), params={"reload": "true"})
    assert response.status_code == 204
    after = await details(client, url)
    assert after["localId"] == before["localId"] and after["kind"] == "Cached"
    await create_lamp(client, "urn:ngsi-ld:Lamp:4", url)
    expanded = (await client.get(f"{V1}/entities/urn:ngsi-ld:Lamp:4")).json()
    assert "https://example.org/luminosity" in expanded and "https://example.org/brightness" not in expanded


async def test_reload_of_an_invalid_download_keeps_the_stored_copy(
    smartby: Smartby, remote: ContextServer
) -> None:
    """Clause 5.13.5.4: if the downloaded @context is invalid, LdContextNotAvailable, and the
    operation ends without removing the existing @context."""
    client = await smartby.start()
    url = f"{remote.url}/lamp.jsonld"
    await create_lamp(client, "urn:ngsi-ld:Lamp:5", url)
    for body in (b"this is { not json", b'{"no": "context"}', b'{"@context": {"x": {"@id": 5}}}'):
        remote.bodies["/lamp.jsonld"] = body
        reloaded = await client.delete(path_of(url), params={"reload": "true"})
        problem(reloaded, 503, "LdContextNotAvailable")
    assert (await details(client, url))["kind"] == "Cached"
    read = await client.get(f"{V1}/entities/urn:ngsi-ld:Lamp:5", headers=link(url))
    assert read.json()["brightness"]["value"] == 80


async def test_a_cached_context_outlives_its_server(smartby: Smartby, remote: ContextServer) -> None:
    """Clause 5.13.1 (Cached: downloaded once and used from the local storage) and 5.13.5.4: once its
    server is gone, a Cached @context still serves requests, also after a restart of the broker;
    a reload then fails with LdContextNotAvailable and keeps it; a delete removes it."""
    client = await smartby.start()
    url = f"{remote.url}/lamp.jsonld"
    await create_lamp(client, "urn:ngsi-ld:Lamp:6", url)
    remote.stop()
    await smartby.stop()

    client = await smartby.start()
    await create_lamp(client, "urn:ngsi-ld:Lamp:7", url)
    read = await client.get(f"{V1}/entities/urn:ngsi-ld:Lamp:7", headers=link(url))
    assert read.status_code == 200 and read.json()["brightness"]["value"] == 80
    problem(await client.delete(path_of(url), params={"reload": "true"}), 503, "LdContextNotAvailable")
    assert (await details(client, url))["numberOfHits"] >= 3
    assert (await client.delete(path_of(url))).status_code == 204
    problem(await client.get(path_of(url), params={"details": "true"}), 404, "ResourceNotFound")
    unavailable = await client.get(f"{V1}/entities/urn:ngsi-ld:Lamp:7", headers=link(url))
    problem(unavailable, 503, "LdContextNotAvailable")


async def test_a_delete_through_another_process_reaches_this_one(settings: Settings) -> None:
    """Clause 5.13.5.4 with several broker processes on one database: once one deletes a Hosted
    @context, another that used it stops using it (at its next sync) and answers ResourceNotFound."""
    first, second = Smartby(settings), Smartby(settings)
    try:
        one = await first.start(context_sync_interval=0.05)
        two = await second.start(context_sync_interval=0.05)
        location = await host(one, {"@context": TERMS})
        await create_lamp(two, "urn:ngsi-ld:Lamp:9", location)
        assert (await one.delete(location)).status_code == 204
        problem(await two.get(location), 404, "ResourceNotFound")
        for _ in range(200):
            read = await two.get(f"{V1}/entities/urn:ngsi-ld:Lamp:9", headers=link(location))
            if read.status_code != 200:
                break
            await asyncio.sleep(0.05)
        problem(read, 503, "LdContextNotAvailable")
    finally:
        await first.stop()
        await second.stop()


# -- ImplicitlyCreated ----------------------------------------------------------------------------


async def test_an_inline_context_kept_implicitly(assembly: Assembly, client: httpx.AsyncClient) -> None:
    """Clause 5.13.3.1 and 5.13.4.1: an inline @context the broker keeps (for a subscription's
    notifications) is an ImplicitlyCreated @context: listed with that kind, served by the broker,
    usable by URL, the same content kept once; it cannot be reloaded (5.13.5.4) but can be deleted."""
    registry = assembly.broker.jsonld_contexts
    inline = [TERMS, {"colour": "https://example.org/colour"}]
    subscription = "urn:ngsi-ld:Subscription:s1"
    url = await registry.keep_inline("", inline, "http://smartby.test/", created_for=subscription)
    assert await registry.keep_inline("", inline, "http://smartby.test/") == url
    assert await registry.keep_inline("", "https://example.org/c.jsonld", "http://smartby.test/") == (
        "https://example.org/c.jsonld"
    )
    assert (await client.get(CONTEXTS, params={"kind": "ImplicitlyCreated"})).json() == [url]
    served = await client.get(url.removeprefix("http://smartby.test"))
    assert served.status_code == 200 and served.json() == {"@context": inline}
    local_id = url.rsplit("/", 1)[1]
    info = await details(client, local_id)
    assert info["kind"] == "ImplicitlyCreated" and info["localId"] == local_id
    assert info["extraInfo"] == {"createdFor": subscription}
    await create_lamp(client, "urn:ngsi-ld:Lamp:8", url)
    read = await client.get(f"{V1}/entities/urn:ngsi-ld:Lamp:8", headers=link(url))
    assert read.json()["brightness"]["value"] == 80 and read.json()["type"] == "Lamp"
    problem(await client.delete(path_of(local_id), params={"reload": "true"}), 400, "BadRequestData")
    assert (await client.delete(path_of(local_id))).status_code == 204
    assert (await client.get(CONTEXTS, params={"kind": "ImplicitlyCreated"})).json() == []
