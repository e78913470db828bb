"""Tests for smartby.ngsild.distributed: merging sources' views of an entity, and the Via header."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartby.ngsild.distributed import (
    Part,
    merge_entities,
    merge_temporal,
    passed,
    plan_write,
    via_entries,
    via_with,
)
from smartby.ngsild.reads import TemporalEntity
from smartby.ngsild.registration import expand_operations

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


VEHICLE = "https://example.org/Vehicle"
BRAND = "https://example.org/brandName"
MOMENT = datetime(2026, 12, 7, tzinfo=UTC)
WRITE_OPERATIONS = ["createEntity", "updateEntity", "deleteEntity", "redirectionOps", "retrieveOps"]


def registration(number: int, mode: str, operations: list[str], names: list[str] | None) -> dict[str, Any]:
    info: dict[str, Any] = {"entities": [{"id": "urn:ngsi-ld:Vehicle:1", "type": VEHICLE}]}
    if names:
        info["propertyNames"] = names
    return {
        "id": f"urn:ngsi-ld:ContextSourceRegistration:{number}",
        "information": [info],
        "mode": mode,
        "operations": operations,
    }


def test_plan_by_mode() -> None:
    """Clause 4.3.6: inclusive sources take their attributes beside this broker, exclusive ones
    instead of it, auxiliary ones nothing; a source without the operation refuses what it holds."""
    inclusive = registration(1, "inclusive", ["createEntity"], None)
    exclusive = registration(2, "exclusive", ["createEntity"], [SPEED])
    auxiliary = registration(3, "auxiliary", ["createEntity"], None)
    refusing = registration(4, "exclusive", ["retrieveOps"], [NAME])
    attrs = frozenset({SPEED, NAME, BRAND})
    plan = plan_write(
        [inclusive, exclusive, auxiliary, refusing],
        "createEntity",
        "urn:ngsi-ld:Vehicle:1",
        [VEHICLE],
        attrs,
        MOMENT,
    )
    assert [(target.registration["id"][-1], target.attrs) for target in plan.targets] == [
        ("1", attrs),
        ("2", frozenset({SPEED})),
    ]
    assert plan.withheld == {SPEED, NAME}
    assert [(refusal.attribute, refusal.registration_id[-1]) for refusal in plan.refused] == [(NAME, "4")]
    assert plan.local


def test_plan_redirect_of_whole_entities() -> None:
    """A redirect registration naming no attributes takes the whole entity: this broker writes
    nothing; one of another type, or an expired one, is not concerned."""
    redirect = registration(1, "redirect", ["redirectionOps"], None)
    plan = plan_write([redirect], "deleteEntity", "urn:ngsi-ld:Vehicle:1", None, None, MOMENT)
    assert not plan.local and plan.targets[0].attrs is None
    other = plan_write(
        [redirect], "deleteEntity", "urn:ngsi-ld:Vehicle:1", ["https://example.org/Car"], None, MOMENT
    )
    assert other.local and not other.targets
    expired = {**redirect, "expiresAt": "2026-01-01T00:00:00Z"}
    assert plan_write([expired], "deleteEntity", "urn:ngsi-ld:Vehicle:1", None, None, MOMENT).local


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["inclusive", "exclusive", "redirect", "auxiliary"]),
            st.lists(st.sampled_from(WRITE_OPERATIONS), min_size=1, max_size=3, unique=True),
            st.one_of(st.none(), st.lists(st.sampled_from([SPEED, NAME, BRAND]), min_size=1, unique=True)),
        ),
        max_size=4,
    ),
    st.frozensets(st.sampled_from([SPEED, NAME, BRAND])),
)
def test_plan_invariants(
    registrations: list[tuple[str, list[str], list[str] | None]], attrs: frozenset[str]
) -> None:
    """Whatever the registrations: auxiliary ones never take writes; each target takes only the
    attributes written and supports the operation; this broker writes nothing an exclusive or
    redirect source holds, and writes (unless every attribute is withheld or a redirect holds the
    whole entity); refusals are of withheld attributes."""
    documents = [
        registration(number, mode, operations, names)
        for number, (mode, operations, names) in enumerate(registrations)
    ]
    plan = plan_write(documents, "updateEntity", "urn:ngsi-ld:Vehicle:1", [VEHICLE], attrs, MOMENT)
    for target in plan.targets:
        assert target.registration["mode"] != "auxiliary"
        assert target.attrs is not None and target.attrs <= attrs
        assert "updateEntity" in expand_operations(target.registration["operations"])
    assert plan.withheld <= attrs
    assert {refusal.attribute for refusal in plan.refused} <= plan.withheld
    whole = any(mode == "redirect" and names is None for mode, _, names in registrations)
    assert plan.local == (not whole and not (attrs and attrs <= plan.withheld))


def test_temporal_instances_are_united_in_time_order() -> None:
    """Instances of one attribute from this broker and a source, in time order, one per datasetId
    and moment (this broker's winning); lastN keeps the newest; a source's own entity joins."""
    at = ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]
    local = [
        TemporalEntity(
            "urn:a",
            [VEHICLE],
            None,
            {SPEED: [{"value": 1, "observedAt": at[0]}, {"value": 3, "observedAt": at[2]}]},
        )
    ]
    remote = [
        TemporalEntity(
            "urn:a",
            ["https://example.org/Car"],
            None,
            {SPEED: [{"value": 2, "observedAt": at[1]}, {"value": 9, "observedAt": at[2]}]},
        ),
        TemporalEntity("urn:b", [VEHICLE], None, {SPEED: [{"value": 5, "observedAt": at[0]}]}),
    ]
    merged = merge_temporal(local, remote, "observedAt", None)
    assert [entity.id for entity in merged] == ["urn:a", "urn:b"]
    assert [item["value"] for item in merged[0].attributes[SPEED]] == [1, 2, 3]
    assert merged[0].types == [VEHICLE, "https://example.org/Car"]
    newest = merge_temporal(local, remote, "observedAt", 2)
    assert [item["value"] for item in newest[0].attributes[SPEED]] == [2, 3]
