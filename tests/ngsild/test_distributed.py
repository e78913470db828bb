"""Tests for smartby.ngsild.distributed: merging sources' views of an entity, and the Via header."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartby.ngsild.distributed import Part, merge_entities, passed, via_entries, via_with

SPEED = "https://example.org/speed"
NAME = "https://example.org/name"

stamps = st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-02T00:00:00Z"])
instances = st.builds(
    lambda value, at, dataset: {
        "type": "Property",
        "value": value,
        "observedAt": at,
        **({"datasetId": dataset} if dataset else {}),
    },
    st.integers(0, 100),
    stamps,
    st.sampled_from([None, "urn:ngsi-ld:Dataset:a"]),
)
entities = st.builds(
    lambda attrs, types: {"id": "urn:ngsi-ld:Vehicle:1", "type": types, **attrs},
    st.dictionaries(
        st.sampled_from([SPEED, NAME]),
        st.lists(instances, min_size=1, max_size=2, unique_by=lambda i: i.get("datasetId")),
    ),
    st.lists(
        st.sampled_from(["https://example.org/Vehicle", "https://example.org/Car"]), min_size=1, unique=True
    ),
)


def test_newest_wins_and_types_unite() -> None:
    local = {
        "id": "urn:x:1",
        "type": ["T"],
        SPEED: [{"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"}],
    }
    remote = {
        "id": "urn:x:1",
        "type": ["U"],
        SPEED: [{"type": "Property", "value": 2, "observedAt": "2026-01-01T01:00:00Z"}],
        NAME: [{"type": "Property", "value": "n"}],
    }
    merged = merge_entities([Part(local), Part(remote)])
    assert merged["type"] == ["T", "U"]
    assert merged[SPEED][0]["value"] == 2
    assert merged[NAME][0]["value"] == "n"


def test_auxiliary_fills_gaps_only() -> None:
    local = {
        "id": "urn:x:1",
        "type": ["T"],
        SPEED: [{"type": "Property", "value": 1, "observedAt": "2020-01-01T00:00:00Z"}],
    }
    aux = {
        "id": "urn:x:1",
        "type": ["T"],
        SPEED: [{"type": "Property", "value": 9, "observedAt": "2030-01-01T00:00:00Z"}],
        NAME: [{"type": "Property", "value": "n"}],
    }
    merged = merge_entities([Part(aux, auxiliary=True), Part(local)])
    assert merged[SPEED][0]["value"] == 1
    assert merged[NAME][0]["value"] == "n"


def test_exclusive_parts_alone_hold_their_attributes() -> None:
    local = {
        "id": "urn:x:1",
        "type": ["T"],
        SPEED: [{"type": "Property", "value": 1, "observedAt": "2030-01-01T00:00:00Z"}],
        NAME: [{"type": "Property", "value": "local"}],
    }
    source = {
        "id": "urn:x:1",
        "type": ["T"],
        SPEED: [{"type": "Property", "value": 2, "observedAt": "2020-01-01T00:00:00Z"}],
        NAME: [{"type": "Property", "value": "source"}],
    }
    merged = merge_entities([Part(local), Part(source, exclusive=frozenset({SPEED}))])
    assert merged[SPEED][0]["value"] == 2
    assert merged[NAME][0]["value"] == "local"


def test_nothing_to_merge() -> None:
    with pytest.raises(ValueError):
        merge_entities([])


@settings(max_examples=200, deadline=None)
@given(st.lists(entities, min_size=1, max_size=4))
def test_merge_keeps_the_newest_instance_of_each_dataset(views: list[dict[str, Any]]) -> None:
    """Every (attribute, datasetId) any source has is in the answer once, with the newest
    observedAt any source gives it; every type of every source is there."""
    merged = merge_entities([Part(view) for view in views])
    for name in (SPEED, NAME):
        newest: dict[Any, str] = {}
        for view in views:
            for instance in view.get(name, ()):
                key = instance.get("datasetId")
                newest[key] = max(newest.get(key, ""), instance["observedAt"])
        got = {instance.get("datasetId"): instance["observedAt"] for instance in merged.get(name, ())}
        assert got == newest
        assert len(merged.get(name, ())) == len(newest)
    assert set(merged["type"]) == {kind for view in views for kind in view["type"]}


@given(
    st.lists(st.from_regex(r"smartby-[0-9a-f]{4}", fullmatch=True), max_size=4),
    st.from_regex(r"smartby-[0-9a-f]{4}", fullmatch=True),
)
def test_via_round_trip(chain: list[str], me: str) -> None:
    header = None
    for hop in chain:
        header = via_with(header, hop)
    assert passed(header, me) == (me in chain)
    forwarded = via_with(header, me)
    assert passed(forwarded, me)
    assert len(via_entries(forwarded)) == len(chain) + 1


def test_via_of_other_proxies() -> None:
    assert not passed("1.1 proxy.example, HTTP/2.0 gateway", "smartby-1")
    assert passed("1.1 proxy.example, 1.1 smartby-1", "smartby-1")
    assert via_entries(None) == []
