"""The stored @contexts (store/sql/contexts.py) on both backends: replacing a copy keeps its id and
counts, an implicit context is kept once, kinds are listed apart, and use counts add up."""

from __future__ import annotations

from smartby.ngsild.reads import StoredContext
from smartby.store import Store

BASE = "http://smartby.test/ngsi-ld/v1/jsonldContexts/"
REMOTE = "https://example.org/city.jsonld"


def cached(document: object, local_id: str = "c1") -> StoredContext:
    return StoredContext(
        local_id, REMOTE, "Cached", document, "2026-01-01T00:00:00Z", extra={"contentType": "x"}
    )


async def test_a_new_copy_replaces_the_document_and_keeps_id_and_counts(store: Store) -> None:
    await store.put_context("", cached({"@context": {"a": "https://example.org/a"}}))
    await store.record_context_use([("", REMOTE, 2, "2026-01-02T00:00:00Z")])
    await store.put_context("", cached({"@context": {"a": "https://example.org/b"}}, local_id="c2"))
    found = await store.get_context("", REMOTE)
    assert found is not None and found.id == "c1"
    assert found.document == {"@context": {"a": "https://example.org/b"}}
    assert found.hits == 2 and found.last_used == "2026-01-02T00:00:00Z"
    assert found.extra == {"contentType": "x"}


async def test_an_implicit_context_is_kept_once(store: Store) -> None:
    first = StoredContext("i1", BASE + "i1", "ImplicitlyCreated", {"@context": {}}, "2026-01-01T00:00:00Z")
    again = StoredContext(
        "i1", "http://other.host/x/i1", "ImplicitlyCreated", {"@context": {}}, "2026-02-01T00:00:00Z"
    )
    assert await store.keep_context("", first) == first
    assert await store.keep_context("", again) == first
    assert [c.id for c in await store.list_contexts("")] == ["i1"]


async def test_kinds_are_listed_apart_and_uses_add_up(store: Store) -> None:
    hosted = StoredContext("h1", BASE + "h1", "Hosted", {"@context": {}}, "2026-01-03T00:00:00Z")
    await store.put_context("", hosted)
    await store.put_context("", cached({"@context": {}}))
    assert [c.id for c in await store.list_contexts("", "Hosted")] == ["h1"]
    assert [c.id for c in await store.list_contexts("", "Cached")] == ["c1"]
    assert [c.id for c in await store.list_contexts("")] == ["c1", "h1"]
    assert await store.list_contexts("", "ImplicitlyCreated") == []
    await store.record_context_use(
        [
            ("", "h1", 3, "2026-01-04T00:00:00Z"),
            ("", REMOTE, 1, "2026-01-05T00:00:00Z"),
            ("", "nothing", 9, "2026-01-06T00:00:00Z"),
        ]
    )
    await store.record_context_use([("", "h1", 2, "2026-01-07T00:00:00Z")])
    found = {c.id: (c.hits, c.last_used) for c in await store.list_contexts("")}
    assert found == {"h1": (5, "2026-01-07T00:00:00Z"), "c1": (1, "2026-01-05T00:00:00Z")}
    assert await store.delete_context("", "h1") and not await store.delete_context("", "h1")
    assert await store.get_context("", "h1") is None


async def test_each_tenant_has_its_own_contexts(store: Store) -> None:
    """The same URL and id in two tenants are two contexts: listed, read, counted and deleted apart."""
    await store.put_context("a", cached({"@context": {"a": "https://example.org/a"}}))
    await store.put_context("b", cached({"@context": {"b": "https://example.org/b"}}))
    hosted = StoredContext("h1", BASE + "h1", "Hosted", {"@context": {}}, "2026-01-03T00:00:00Z")
    await store.keep_context("a", hosted)
    assert [c.id for c in await store.list_contexts("a")] == ["c1", "h1"]
    assert [c.id for c in await store.list_contexts("b")] == ["c1"]
    assert await store.list_contexts("") == []
    assert await store.get_context("b", "h1") is None
    found = await store.get_context("b", REMOTE)
    assert found is not None and found.document == {"@context": {"b": "https://example.org/b"}}
    await store.record_context_use([("a", REMOTE, 4, "2026-01-04T00:00:00Z")])
    assert [c.hits for c in await store.list_contexts("b")] == [0]
    assert not await store.delete_context("b", "h1")
    assert await store.delete_context("b", REMOTE)
    assert [c.id for c in await store.list_contexts("a")] == ["c1", "h1"]
