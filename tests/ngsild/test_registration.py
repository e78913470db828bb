"""Tests for smartby.ngsild.registration: checking CSourceRegistrations, their expanded form, and
which registrations a query selects."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.context import CORE_CONTEXT_URL, ContextResolver, LoaderFailed
from smartby.ngsild.errors import BadRequestData, Conflict, NgsiLdError
from smartby.ngsild.query import parse_q
from smartby.ngsild.registration import (
    MODES,
    OPERATION_GROUPS,
    OPERATIONS,
    RegistrationFilter,
    compact_registration,
    expand_operations,
    merge_registration,
    overlapping_exclusive,
    parse_registration,
)
from smartby.ngsild.typequery import parse_type_query

CORE_DOCUMENT = json.loads(
    (resources.files("smartby.data") / "contexts" / "ngsi-ld-core-context-v1.8.jsonld").read_bytes()
)


def core_only(url: str) -> Any:
    if url == CORE_CONTEXT_URL:
        return CORE_DOCUMENT
    raise LoaderFailed(f"no {url} here")


RESOLVER = ContextResolver(core_only)
TERMS = {
    "Lamp": "ex:Lamp",
    "Meter": "ex:Meter",
    "power": "ex:power",
    "feeds": "ex:feeds",
    "owner": "ex:owner",
}
CTX = RESOLVER.resolve({"ex": "https://example.org/", **TERMS})
CORE = RESOLVER.resolve(None)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LAMP = "https://example.org/Lamp"
POWER = "https://example.org/power"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def body(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Lamp"}], "propertyNames": ["power"]}],
        "endpoint": "http://neighbour.example/ngsi-ld",
    }
    base.update(members)
    return base


def test_defaults_and_expansion() -> None:
    stored = parse_registration(body(id="urn:ngsi-ld:ContextSourceRegistration:1"), CTX, now=NOW)
    assert stored["mode"] == "inclusive"
    assert stored["operations"] == ["federationOps"]
    assert stored["information"] == [{"entities": [{"type": LAMP}], "propertyNames": [POWER]}]
    assert compact_registration(stored, CTX)["information"] == body()["information"]


def test_generated_id() -> None:
    stored = parse_registration(body(), CTX, now=NOW)
    assert stored["id"].startswith("urn:ngsi-ld:ContextSourceRegistration:")
    assert "id" not in parse_registration(body(), CTX, now=NOW, fill_id=False)


def test_operation_groups_name_known_operations() -> None:
    for group, operations in OPERATION_GROUPS.items():
        assert set(operations) <= set(OPERATIONS), group
    assert expand_operations(["retrieveOps"]) == {"retrieveEntity", "queryEntity"}
    assert expand_operations(["updateOps", "createEntity"]) == {
        "updateEntity",
        "updateAttrs",
        "replaceEntity",
        "replaceAttrs",
        "createEntity",
    }
    assert "createEntity" not in expand_operations(["federationOps"])


@pytest.mark.parametrize(
    "members",
    [
        {"information": [{"entities": [{"type": "Lamp", "colour": "red"}]}]},
        {"information": [{"entities": [{"id": "urn:x:1"}]}]},
        {"information": [{"entities": [{"type": "Lamp", "idPattern": "(("}]}]},
        {"information": [{"propertyNames": []}]},
        {"information": "Lamp"},
        {"operations": []},
        {"operations": ["retrieveEntity", "fly"]},
        {"refreshRate": "every minute"},
        {"management": {"timeout": 0}},
        {"management": {"retries": 3}},
        {"contextSourceInfo": [{"key": "a"}]},
        {"observationInterval": {"startAt": "2024-02-01T00:00:00Z", "endAt": "2024-01-01T00:00:00Z"}},
        {"scope": "no-leading-slash"},
        {"tenant": ""},
        {"datasetId": ["not a uri"]},
        {"power": None},
    ],
)
def test_invalid_members(members: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData):
        parse_registration(body(**members), CTX, now=NOW)


def test_exclusive_rules() -> None:
    named = [{"entities": [{"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp"}], "propertyNames": ["power"]}]
    first = parse_registration(body(id="urn:r:1", mode="exclusive", information=named), CTX, now=NOW)
    second = parse_registration(body(id="urn:r:2", mode="exclusive", information=named), CTX, now=NOW)
    with pytest.raises(Conflict):
        overlapping_exclusive(second, [first])
    overlapping_exclusive(first, [first])  # Itself (an update) is no conflict.
    inclusive = parse_registration(body(id="urn:r:3", information=named), CTX, now=NOW)
    overlapping_exclusive(inclusive, [first])
    with pytest.raises(BadRequestData):
        parse_registration(body(mode="exclusive"), CTX, now=NOW)


def test_merge_keeps_removes_and_guards_the_id() -> None:
    stored = parse_registration(body(id="urn:r:1", description="d"), CTX, now=NOW)
    merged = merge_registration(stored, {"description": None, "registrationName": "n"})
    again = parse_registration(merged, CTX, now=NOW)
    assert "description" not in again and again["registrationName"] == "n"
    assert again["information"] == stored["information"]
    with pytest.raises(BadRequestData):
        merge_registration(stored, {"id": "urn:r:2"})
    with pytest.raises(BadRequestData):
        merge_registration(stored, {})


names = st.sampled_from(sorted(TERMS))
entity_infos = st.fixed_dictionaries(
    {"type": st.sampled_from(["Lamp", "Meter"])},
    optional={
        "id": st.integers(0, 999).map(lambda n: f"urn:ngsi-ld:Thing:{n}"),
        "idPattern": st.sampled_from(["^urn:ngsi-ld:Thing:1", ".*", "Thing:[0-9]+$"]),
    },
)
infos = st.fixed_dictionaries(
    {},
    optional={
        "entities": st.lists(entity_infos, min_size=1, max_size=3),
        "propertyNames": st.lists(st.sampled_from(["power", "owner"]), min_size=1, max_size=2, unique=True),
        "relationshipNames": st.lists(st.just("feeds"), min_size=1, max_size=1),
    },
).filter(bool)
registrations = st.fixed_dictionaries(
    {
        "type": st.just("ContextSourceRegistration"),
        "information": st.lists(infos, min_size=1, max_size=3),
        "endpoint": st.sampled_from(["http://a.example/ngsi-ld", "https://b.example:8443/"]),
    },
    optional={
        "mode": st.sampled_from([m for m in MODES if m != "exclusive"]),
        "operations": st.lists(
            st.sampled_from([*OPERATIONS, *OPERATION_GROUPS]), min_size=1, max_size=4, unique=True
        ),
        "registrationName": st.text(min_size=1, max_size=10),
        "scope": st.sampled_from(["/Denmark", ["/Denmark/Aarhus", "/Denmark/Copenhagen"]]),
        "refreshRate": st.sampled_from(["PT1M", "P1D", "PT0.5S"]),
        "location": st.tuples(st.floats(-180, 180), st.floats(-90, 90)).map(
            lambda xy: {"type": "Point", "coordinates": list(xy)}
        ),
        "owner": st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
    },
)


@SETTINGS
@given(registrations)
def test_valid_registrations_round_trip(raw: dict[str, Any]) -> None:
    """A valid registration parses; compacted with the same @context it reads as given (with the
    defaults filled in); parsing the stored form again changes nothing."""
    stored = parse_registration(raw, CTX, now=NOW, fill_id=False)
    shown = compact_registration(stored, CTX)
    expected = {"mode": "inclusive", "operations": ["federationOps"], **raw}
    if isinstance(raw.get("scope"), str):
        expected["scope"] = [raw["scope"]]
    for info in expected["information"]:
        for key in ("propertyNames", "relationshipNames"):
            if key in info:
                info[key] = list(dict.fromkeys(info[key]))
    assert shown == expected
    assert parse_registration(stored, CORE, now=NOW, fill_id=False) == stored


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "information", "endpoint", "mode", "operations", "management", "expiresAt", "x"]
        ),
        json_values,
    )
)
def test_anything_else_is_bad_request_data(raw: dict[str, Any]) -> None:
    """Whatever a client sends, the parser answers with a registration or BadRequestData."""
    try:
        parse_registration(raw, CTX, now=NOW)
    except NgsiLdError as error:
        assert isinstance(error, BadRequestData)


@SETTINGS
@given(registrations, st.integers(0, 999), st.sampled_from(["Lamp", "Meter"]))
def test_filter_by_id_and_type(raw: dict[str, Any], number: int, type_name: str) -> None:
    """A registration is selected for an entity id and type exactly when one of its EntityInfos
    covers them (or one of its RegistrationInfos names no entities)."""
    stored = parse_registration(raw, CTX, now=NOW, fill_id=False)
    entity_id = f"urn:ngsi-ld:Thing:{number}"
    selection = RegistrationFilter(ids=(entity_id,), types=parse_type_query(type_name).map_names(CTX.expand))

    def covers(info: dict[str, Any]) -> bool:
        if "entities" not in info:
            return True
        for entity in info["entities"]:
            if entity["type"] != type_name:
                continue
            if "id" in entity:
                if entity["id"] == entity_id:
                    return True
            elif "idPattern" in entity:
                if re.search(entity["idPattern"], entity_id):
                    return True
            else:
                return True
        return False

    assert selection.matches(stored) == any(covers(info) for info in raw["information"])


def test_filter_attrs_geo_q_and_expiry() -> None:
    stored = parse_registration(
        body(
            id="urn:r:1",
            location={"type": "Point", "coordinates": [12.57, 55.68]},
            owner="city",
            expiresAt="2026-06-01T00:00:00Z",
        ),
        CTX,
        now=NOW,
    )
    assert RegistrationFilter(attrs=frozenset({POWER})).matches(stored)
    assert not RegistrationFilter(attrs=frozenset({"https://example.org/feeds"})).matches(stored)
    assert RegistrationFilter(q=parse_q('owner=="city"').map_names(CTX.expand)).matches(stored)
    assert not RegistrationFilter(csf=parse_q('owner=="utility"').map_names(CTX.expand)).matches(stored)
    assert not RegistrationFilter().matches(stored, datetime(2027, 1, 1, tzinfo=UTC))
    assert RegistrationFilter(operations=frozenset({"queryEntity"})).matches(stored)
    assert not RegistrationFilter(operations=frozenset({"createEntity"})).matches(stored)
