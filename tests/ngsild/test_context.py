"""Tests for smartby.ngsild.context: @context resolution, term expansion and compaction, caching."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.ngsild.context import (
    CORE_CONTEXT_URL,
    DEFAULT_VOCAB,
    ContextResolver,
    LoaderFailed,
)
from smartby.ngsild.errors import BadRequestData, LdContextNotAvailable
from smartby.settings import Settings

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
CORE_DOCUMENT = json.loads(
    (resources.files("smartby.data") / "contexts" / "ngsi-ld-core-context-v1.8.jsonld").read_bytes()
)
CITY_URL = "https://example.org/city/context.jsonld"
CITY_DOCUMENT = {
    "@context": {
        "city": "https://example.org/city#",
        "Streetlight": "city:Streetlight",
        "powerState": "city:powerState",
        "location": "city:where",
    }
}


class Loader:
    """Serves documents from a dict and counts what it was asked for."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = {CORE_CONTEXT_URL: CORE_DOCUMENT, **documents}
        self.calls: list[str] = []

    def __call__(self, url: str) -> Any:
        self.calls.append(url)
        if url not in self.documents:
            raise LoaderFailed(f"nothing at {url}")
        return self.documents[url]


@pytest.fixture
def loader() -> Loader:
    return Loader({CITY_URL: CITY_DOCUMENT, "https://example.org/empty.jsonld": {"title": "no context"}})


@pytest.fixture
def resolver(loader: Loader) -> ContextResolver:
    return ContextResolver(loader)


def test_core_context_expands_core_terms_and_defaults_the_rest(resolver: ContextResolver) -> None:
    core = resolver.core
    assert core.is_core and core.link_url == CORE_CONTEXT_URL
    assert core.expand("location") == NGSI_LD + "location"
    assert core.expand("observedAt") == NGSI_LD + "observedAt"
    assert core.expand("powerState") == DEFAULT_VOCAB + "powerState"
    assert core.compact(NGSI_LD + "location") == "location"
    assert core.compact(DEFAULT_VOCAB + "powerState") == "powerState"
    assert core.compact("https://example.org/elsewhere") == "https://example.org/elsewhere"


def test_user_context_terms_expand_and_compact(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(CITY_URL)
    assert not ctx.is_core and ctx.link_url == CITY_URL
    assert ctx.expand("Streetlight") == "https://example.org/city#Streetlight"
    assert ctx.expand("powerState") == "https://example.org/city#powerState"
    assert ctx.compact("https://example.org/city#powerState") == "powerState"
    assert ctx.expand("dimLevel") == DEFAULT_VOCAB + "dimLevel"


def test_core_terms_win_over_user_terms(resolver: ContextResolver) -> None:
    for ctx in (resolver.resolve(CITY_URL), resolver.resolve(CITY_DOCUMENT["@context"])):
        assert ctx.expand("location") == NGSI_LD + "location"
        assert ctx.compact(NGSI_LD + "location") == "location"
    inline = resolver.resolve({"Property": "https://example.org/P", "type": "https://example.org/t"})
    assert inline.expand("Property") == NGSI_LD + "Property"


def test_compact_iris(resolver: ContextResolver) -> None:
    ctx = resolver.resolve([CITY_URL, {"dk": "https://data.gov.dk/ns/"}])
    assert ctx.expand("city:lamp") == "https://example.org/city#lamp"
    assert ctx.expand("dk:vej") == "https://data.gov.dk/ns/vej"
    assert ctx.compact("https://example.org/city#lamp") == "city:lamp"
    assert ctx.compact("https://data.gov.dk/ns/vej") == "dk:vej"
    assert ctx.expand("urn:ngsi-ld:thing") == "urn:ngsi-ld:thing"


def test_the_second_resolve_does_not_load(resolver: ContextResolver, loader: Loader) -> None:
    assert resolver.cached(CITY_URL) is None
    first = resolver.resolve(CITY_URL)
    assert CITY_URL in loader.calls
    calls = list(loader.calls)
    assert resolver.resolve(CITY_URL) is first
    assert resolver.cached(CITY_URL) is first
    assert loader.calls == calls
    inline = resolver.resolve({"b": "https://example.org/b", "a": "https://example.org/a"})
    calls = list(loader.calls)
    assert resolver.resolve({"a": "https://example.org/a", "b": "https://example.org/b"}) is inline
    assert loader.calls == calls


def test_forget_makes_the_next_resolve_load_again(resolver: ContextResolver, loader: Loader) -> None:
    resolver.resolve(CITY_URL)
    resolver.forget(CITY_URL)
    assert resolver.cached(CITY_URL) is None
    resolver.resolve(CITY_URL)
    assert loader.calls.count(CITY_URL) == 2


def test_core_context_aliases_are_not_loaded(resolver: ContextResolver, loader: Loader) -> None:
    ctx = resolver.resolve(["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld", CITY_URL])
    assert ctx.expand("powerState") == "https://example.org/city#powerState"
    assert set(loader.calls) == {CORE_CONTEXT_URL, CITY_URL}


def test_a_context_that_cannot_be_had_is_not_available(resolver: ContextResolver) -> None:
    missing = "https://example.org/missing.jsonld"
    with pytest.raises(LdContextNotAvailable, match=missing):
        resolver.resolve(missing)
    with pytest.raises(LdContextNotAvailable):
        resolver.resolve([{"a": "https://example.org/a"}, missing])
    assert resolver.cached(missing) is None


def test_a_document_without_a_context_is_bad_request_data(resolver: ContextResolver) -> None:
    with pytest.raises(BadRequestData, match="holds no @context"):
        resolver.resolve("https://example.org/empty.jsonld")


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        (5, "a URL, an object or an array"),
        ("", "empty"),
        ([CITY_URL, None], "a URL, an object or an array"),
        ({"a": {"@id": 5}}, "@id value must be a string"),
        ({"@version": 2}, "Unsupported JSON-LD version"),
        ({"a": {"@reverse": "https://example.org/r", "@id": "https://example.org/a"}}, "@reverse"),
    ],
)
def test_an_invalid_context_is_bad_request_data(resolver: ContextResolver, source: Any, detail: str) -> None:
    with pytest.raises(BadRequestData) as caught:
        resolver.resolve(source)
    assert detail in caught.value.detail
    assert "Details:" not in caught.value.detail


@pytest.mark.parametrize(
    ("source", "term"),
    [
        # JSON-LD 1.1: a term in the form of a compact IRI must expand to what it maps to.
        ({"city:name": "https://example.org/city#name"}, "city:name"),
        ({"ex": "https://example.org/", "link": {"@type": "@id"}}, "link"),
    ],
)
def test_an_invalid_context_names_the_term_at_fault(
    resolver: ContextResolver, source: Any, term: str
) -> None:
    with pytest.raises(BadRequestData) as caught:
        resolver.resolve(source)
    assert f"term {term!r}: " in caught.value.detail


def test_an_invalid_remote_context_names_the_term_at_fault(loader: Loader) -> None:
    url = "https://example.org/open311.jsonld"
    loader.documents[url] = {"@context": {"open311:type": "https://example.org/open311:type"}}
    with pytest.raises(BadRequestData) as caught:
        ContextResolver(loader).resolve([url, CITY_URL])
    assert "term 'open311:type': " in caught.value.detail
    assert "invalid IRI mapping" in caught.value.detail


@pytest.mark.parametrize("term", ["@type", "", "hidden"])
def test_a_term_that_is_no_iri_is_bad_request_data(resolver: ContextResolver, term: str) -> None:
    ctx = resolver.resolve({"hidden": None})
    with pytest.raises(BadRequestData):
        ctx.expand(term)


# ----------------------------------------------------------------------------------------------------
# SMARTBY_CONTEXT_DIR through the HTTP API: contexts from a folder resolve offline.


@pytest.fixture
async def city_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    folder = tmp_path / "contexts"
    folder.mkdir()
    (folder / "city.jsonld").write_text(json.dumps(CITY_DOCUMENT))
    (folder / "index.json").write_text(json.dumps({CITY_URL: "city.jsonld"}))
    monkeypatch.setenv("SMARTBY_DATABASE", f"sqlite:///{tmp_path / 'city.db'}")
    monkeypatch.setenv("SMARTBY_REMOTE_CONTEXTS", "false")
    monkeypatch.setenv("SMARTBY_CONTEXT_DIR", str(folder))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.context_dir == folder and not settings.remote_contexts
    parts = assemble(settings)
    await parts.broker.open()
    try:
        transport = httpx.ASGITransport(app=create_app(parts))
        async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as client:
            yield client
    finally:
        await parts.broker.close()


async def test_context_dir_resolves_offline_and_compacts_back(city_client: httpx.AsyncClient) -> None:
    link = f'<{CITY_URL}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    entity = {
        "id": "urn:ngsi-ld:Streetlight:1",
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on"},
    }
    created = await city_client.post(
        "/ngsi-ld/v1/entities", json=entity, headers={"Content-Type": "application/json", "Link": link}
    )
    assert created.status_code == 201, created.text
    url = "/ngsi-ld/v1/entities/" + quote(entity["id"], safe="")
    compacted = await city_client.get(url, headers={"Link": link})
    assert compacted.status_code == 200
    assert compacted.json() == entity
    assert CITY_URL in compacted.headers["link"]
    expanded = (await city_client.get(url)).json()
    assert expanded["type"] == "https://example.org/city#Streetlight"
    assert expanded["https://example.org/city#powerState"] == {"type": "Property", "value": "on"}
    elsewhere = "https://example.org/other/context.jsonld"
    unknown = await city_client.get(
        url, headers={"Link": f'<{elsewhere}>; rel="http://www.w3.org/ns/json-ld#context"'}
    )
    assert unknown.status_code == 503
    assert unknown.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/LdContextNotAvailable"


def test_terms_with_a_type_mapping_still_name_attributes() -> None:
    documents = {
        "https://example.org/vocab.jsonld": {
            "@context": {
                "category": {"@id": "https://example.org/category", "@type": "@vocab"},
                "owner": {"@id": "https://example.org/owner", "@type": "@id"},
            }
        }
    }
    resolver = ContextResolver(Loader(documents))
    ctx = resolver.resolve("https://example.org/vocab.jsonld")
    assert ctx.expand("category") == "https://example.org/category"
    assert ctx.compact("https://example.org/category") == "category"
    assert ctx.compact("https://example.org/owner") == "owner"
