"""Counting the use of stored @contexts in memory (broker/contexts.py `ContextUsage`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from smartby.broker.contexts import ContextUsage
from smartby.ngsild.reads import StoredContext

HOSTED = "http://smartby.test/ngsi-ld/v1/jsonldContexts/"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
URLS = [
    "https://example.org/a.jsonld",
    "https://example.org/b.jsonld",
    HOSTED + "h1",
    "http://elsewhere/ngsi-ld/v1/jsonldContexts/h1",
    CORE,
]
items = st.one_of(st.sampled_from(URLS), st.fixed_dictionaries({"x": st.just("https://example.org/x")}))
sources = st.one_of(st.sampled_from(URLS), st.lists(items, max_size=4))


def expected(requests: list[Any]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for source in requests:
        for item in source if isinstance(source, list) else [source]:
            if isinstance(item, str) and item != CORE:
                counted["h1" if "/jsonldContexts/" in item else item] += 1
    return counted


@given(st.lists(sources, max_size=20))
def test_every_named_stored_context_counts_once_per_naming(requests: list[Any]) -> None:
    usage = ContextUsage({CORE: CORE})
    for source in requests:
        usage.record(source)
    taken = usage.take()
    assert Counter({key: hits for _, key, hits, _ in taken}) == expected(requests)
    assert all(used_at.endswith("Z") for _, _, _, used_at in taken)
    assert usage.take() == []
    usage.give_back(taken)
    assert Counter({key: hits for _, key, hits, _ in usage.take()}) == expected(requests)


def test_pending_uses_are_added_to_a_stored_context() -> None:
    usage = ContextUsage({})
    hosted = StoredContext("h1", HOSTED + "h1", "Hosted", {}, "2026-01-01T00:00:00Z", None, 4)
    cached = StoredContext("c1", URLS[0], "Cached", {}, "2026-01-01T00:00:00Z", None, 0)
    assert usage.pending(hosted) is hosted
    usage.record([HOSTED + "h1", URLS[0]])
    usage.record(HOSTED + "h1")
    seen = usage.pending(hosted)
    assert seen.hits == 6 and seen.last_used is not None and seen.last_used.endswith("Z")
    assert usage.pending(cached).hits == 1


def test_built_in_contexts_are_counted_apart_and_kept() -> None:
    """Shipped contexts have no row to write to: their counts are not taken by a flush."""
    older = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld"
    usage = ContextUsage({CORE: CORE, older: CORE})
    usage.record([older, "https://example.org/a.jsonld"])
    usage.record(CORE)
    assert [(key, hits) for _, key, hits, _ in usage.take()] == [("https://example.org/a.jsonld", 1)]
    core = StoredContext(CORE, CORE, "Cached", {}, "2026-01-01T00:00:00Z")
    assert usage.pending(core).hits == 2
    assert usage.take() == [] and usage.pending(core).hits == 2
    assert usage.pending(core).last_used is not None


def test_uses_are_counted_per_tenant() -> None:
    usage = ContextUsage({CORE: CORE})
    hosted = StoredContext("h1", HOSTED + "h1", "Hosted", {}, "2026-01-01T00:00:00Z", None, 0)
    usage.record(HOSTED + "h1", "a")
    usage.record([HOSTED + "h1", CORE], "b")
    usage.record(HOSTED + "h1", "b")
    assert usage.pending(hosted, "a").hits == 1 and usage.pending(hosted, "b").hits == 2
    assert usage.pending(hosted).hits == 0
    assert sorted((tenant, key, hits) for tenant, key, hits, _ in usage.take()) == [
        ("a", "h1", 1),
        ("b", "h1", 2),
    ]
