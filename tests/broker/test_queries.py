"""Building entity queries from the NGSI-LD query parameters and Query bodies, names expanded with the
@context, as pure functions."""

from __future__ import annotations

import json
import string
from importlib import resources
from typing import Any

import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from smartby.broker.queries import (
    MAX_JOIN_LEVEL,
    QueryBody,
    Selection,
    check_csf,
    check_pattern,
    entity_query,
    geo_from_json,
    geo_from_params,
    join_of,
    narrows,
    query_body,
    relationship_targets,
    selection,
    selector,
    text_member,
    type_query,
)
from smartby.ngsild.context import CORE_CONTEXT_URL, ContextResolver, LoaderFailed
from smartby.ngsild.entity import Entity
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.geo import GeoQuery
from smartby.ngsild.query import And, AttrPath, Compare, InList, Literal, Or, Pattern
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.scope import parse_scope_query
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeName

CORE_DOCUMENT = json.loads(
    (resources.files("smartby.data") / "contexts" / "ngsi-ld-core-context-v1.8.jsonld").read_bytes()
)
EX = "https://example.org/ns#"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"


def core_only(url: str) -> Any:
    if url == CORE_CONTEXT_URL:
        return CORE_DOCUMENT
    raise LoaderFailed(f"no {url} here")


CTX = ContextResolver(core_only).resolve(
    {"ex": EX, "brand": "ex:brand", "category": "ex:category", "Vehicle": "ex:Vehicle", "Seat": "ex:Seat"}
)
POINT = {"type": "Point", "coordinates": [10.2, 56.15]}


def bad_request(error: pytest.ExceptionInfo[BadRequestData], *words: str) -> None:
    assert type(error.value) is BadRequestData and error.value.status == 400
    for word in words:
        assert word in str(error.value)


# ----------------------------------------------------------------------------------------------------
# Entity selectors


def test_an_id_pattern_that_compiles_is_kept() -> None:
    assert check_pattern("^urn:ngsi-ld:Vehicle:[0-9]+$") == "^urn:ngsi-ld:Vehicle:[0-9]+$"


@pytest.mark.parametrize("pattern", ["(", "[a-", "*a", "a{2,1}", "\\", "(?<=a+)b"])
def test_an_id_pattern_that_does_not_compile_is_bad_request_data(pattern: str) -> None:
    with pytest.raises(BadRequestData) as error:
        check_pattern(pattern)
    bad_request(error, "idPattern")


@given(st.text(string.printable, max_size=12))
def test_any_id_pattern_is_kept_exactly_when_it_compiles(pattern: str) -> None:
    """Patterns are read as RE2 reads them (docs/limits.md): what RE2 compiles is kept, the rest refused."""
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options)
    except re2.error:
        with pytest.raises(BadRequestData):
            check_pattern(pattern)
    else:
        assert check_pattern(pattern) == pattern


def test_a_selector_expands_its_types_and_checks_its_ids() -> None:
    found = selector(CTX, ids=["urn:ngsi-ld:Vehicle:1", "urn:ngsi-ld:Vehicle:2"], types="Vehicle;Car")
    assert found == EntitySelector(
        ids=("urn:ngsi-ld:Vehicle:1", "urn:ngsi-ld:Vehicle:2"),
        types=TypeAll((TypeName(EX + "Vehicle"), TypeName(DEFAULT + "Car"))),
    )


def test_a_selector_with_ids_has_no_id_pattern() -> None:
    assert selector(CTX, ids=["urn:ngsi-ld:Vehicle:1"], id_pattern="Vehicle").id_pattern is None
    assert selector(CTX, id_pattern="Vehicle").id_pattern == "Vehicle"


def test_a_selector_of_every_type_or_of_none_has_no_type_expression() -> None:
    assert selector(CTX, types="*") == EntitySelector()
    assert selector(CTX) == EntitySelector()


@pytest.mark.parametrize("entity_id", ["not a uri", "", "urn:ngsi-ld:null"])
def test_a_selector_with_an_id_that_is_no_uri_is_bad_request_data(entity_id: str) -> None:
    with pytest.raises(BadRequestData) as error:
        selector(CTX, ids=["urn:ngsi-ld:Vehicle:1", entity_id])
    bad_request(error)


def test_a_selector_with_a_bad_id_pattern_or_type_is_bad_request_data() -> None:
    with pytest.raises(BadRequestData) as error:
        selector(CTX, id_pattern="(")
    bad_request(error, "idPattern")
    with pytest.raises(BadRequestData) as error:
        selector(CTX, types="Vehicle;;")
    bad_request(error)


def test_a_type_query_names_expanded_types() -> None:
    assert type_query(CTX, "Vehicle,Car") == TypeAny((TypeName(EX + "Vehicle"), TypeName(DEFAULT + "Car")))
    assert type_query(CTX, "ex:Bus") == TypeName(EX + "Bus")
    with pytest.raises(BadRequestData) as error:
        type_query(CTX, "")
    bad_request(error)


# ----------------------------------------------------------------------------------------------------
# What narrows a query


@pytest.mark.parametrize(
    ("q", "attrs", "expected"),
    [
        (None, None, False),
        (None, [], False),
        (None, ["id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"], False),
        (None, ["id", "brand"], True),
        ("brand==1", None, True),
        ("!brand", None, True),
        ("speed>1|brand.observedAt>2024-01-01T00:00:00Z", ["id"], True),
    ],
)
def test_a_query_narrows_by_any_non_system_attribute(
    q: str | None, attrs: list[str] | None, expected: bool
) -> None:
    assert narrows(q, attrs) is expected


def test_a_q_that_does_not_parse_does_not_say_whether_it_narrows() -> None:
    with pytest.raises(BadRequestData) as error:
        narrows("brand==", None)
    bad_request(error)


# ----------------------------------------------------------------------------------------------------
# Linked Entity Retrieval


@pytest.mark.parametrize(
    ("join", "level", "expected"),
    [
        (None, None, (None, 1)),
        ("inline", None, ("inline", 1)),
        ("flat", "3", ("flat", 3)),
        ("@none", "2", (None, 2)),
        ("inline", 10, ("inline", 10)),
        (None, "1", (None, 1)),
    ],
)
def test_join_and_join_level_give_the_kind_and_the_hops(
    join: str | None, level: str | int | None, expected: tuple[str | None, int]
) -> None:
    assert join_of(join, level) == expected


@pytest.mark.parametrize("join", ["", "INLINE", "none", "deep"])
def test_another_join_is_bad_request_data(join: str) -> None:
    with pytest.raises(BadRequestData) as error:
        join_of(join, None)
    bad_request(error, "join must be one of inline, flat, @none")


@pytest.mark.parametrize("level", ["0", "11", "-1", "1.5", "", " 2", "two", 0, 11, True, 2.0])
def test_a_join_level_outside_one_to_ten_is_bad_request_data(level: Any) -> None:
    with pytest.raises(BadRequestData) as error:
        join_of("inline", level)
    bad_request(error, f"joinLevel must be a whole number from 1 to {MAX_JOIN_LEVEL}")


@given(st.text(string.printable, max_size=4))
def test_any_join_level_is_one_to_ten_or_bad_request_data(level: str) -> None:
    try:
        _, hops = join_of("flat", level)
    except BadRequestData:
        assert not (level.isdigit() and 1 <= int(level) <= MAX_JOIN_LEVEL)
    else:
        assert str(hops) == level.lstrip("0") and 1 <= hops <= MAX_JOIN_LEVEL


@pytest.mark.parametrize(
    "level",
    ["\u00b2", "\u2460", "\u0663", "\uff13"],
    ids=["superscript two", "circled one", "arabic-indic 3", "fullwidth 3"],
)
def test_a_join_level_in_other_digits_is_bad_request_data(level: str) -> None:
    try:
        found = join_of("inline", level)
    except BadRequestData:
        return
    raise AssertionError(f"joinLevel {level!r} was read as {found}")


def test_the_targets_of_an_entity_are_those_of_its_relationships() -> None:
    entity: Entity = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": ["urn:ngsi-ld:Type:not-a-target"],
        "scope": ["/a"],
        "createdAt": "2024-01-01T00:00:00Z",
        EX + "garage": [
            {"type": "Relationship", "object": "urn:ngsi-ld:Garage:1"},
            {"type": "Relationship", "object": "urn:ngsi-ld:Garage:2", "datasetId": "urn:ngsi-ld:Dataset:b"},
        ],
        EX + "owners": [{"type": "Relationship", "object": ["urn:ngsi-ld:Person:1", "urn:ngsi-ld:Person:2"]}],
        EX + "route": [
            {
                "type": "ListRelationship",
                "objectList": [{"object": "urn:ngsi-ld:Stop:1"}, {"object": "urn:ngsi-ld:Stop:2"}],
            }
        ],
        EX + "brand": [
            {"type": "Property", "value": "urn:ngsi-ld:Brand:not-a-target"},
            {
                "type": "Property",
                "value": 1,
                EX + "madeBy": {"type": "Relationship", "object": "urn:ngsi-ld:Factory:sub-attribute"},
            },
        ],
        EX + "broken": [
            {"type": "Relationship", "object": 5},
            {"type": "ListRelationship", "objectList": [{}]},
        ],
    }
    assert relationship_targets(entity) == {
        "urn:ngsi-ld:Garage:1",
        "urn:ngsi-ld:Garage:2",
        "urn:ngsi-ld:Person:1",
        "urn:ngsi-ld:Person:2",
        "urn:ngsi-ld:Stop:1",
        "urn:ngsi-ld:Stop:2",
    }


def test_an_entity_without_relationships_has_no_targets() -> None:
    assert relationship_targets({"id": "urn:ngsi-ld:Vehicle:1", "type": ["urn:x:T"]}) == set()


def test_a_context_source_filter_must_parse_as_q() -> None:
    check_csf('brand=="Seat";speed>10')
    with pytest.raises(BadRequestData) as error:
        check_csf("brand==")
    bad_request(error)


# ----------------------------------------------------------------------------------------------------
# Entity queries


def brand_is(value: str) -> Compare:
    return Compare(AttrPath(EX + "brand"), "==", Literal("string", value))


def test_an_entity_query_expands_the_names_in_q_attrs_and_geo() -> None:
    geo = geo_from_params("near;maxDistance==100", "Point", "[10.2,56.15]", "brand")
    query = entity_query(
        CTX,
        selectors=[selector(CTX, types="Vehicle")],
        q='brand=="Seat";speed>10',
        geo=geo,
        scope_q="/city/#",
        attrs=["brand", "speed"],
        limit=7,
        offset=3,
        count=True,
    )
    assert query == EntityQuery(
        selectors=(EntitySelector(types=TypeName(EX + "Vehicle")),),
        q=And((brand_is("Seat"), Compare(AttrPath(DEFAULT + "speed"), ">", Literal("number", 10)))),
        geo=GeoQuery(georel="near", max_distance=100, geometry=POINT, geoproperty=EX + "brand"),
        scope=parse_scope_query("/city/#"),
        attrs=(EX + "brand", DEFAULT + "speed"),
        limit=7,
        offset=3,
        count=True,
    )


def test_an_entity_query_without_filters_has_none() -> None:
    assert entity_query(CTX, limit=20) == EntityQuery(limit=20)


def test_expand_values_expands_the_strings_compared_with_the_attributes_named() -> None:
    query = entity_query(
        CTX,
        q='brand=="Seat"|(category==Seat,"Opel";category!=ex:Bus;speed=="Seat";brand~="^S")',
        expand_values=["brand", "category"],
        limit=1,
    )
    category = AttrPath(EX + "category")
    assert query.q == Or(
        (
            brand_is(EX + "Seat"),
            And(
                (
                    InList(category, (Literal("string", EX + "Seat"), Literal("string", DEFAULT + "Opel"))),
                    Compare(category, "!=", Literal("string", EX + "Bus")),
                    Compare(AttrPath(DEFAULT + "speed"), "==", Literal("string", "Seat")),
                    Pattern(AttrPath(EX + "brand"), "^S"),
                )
            ),
        )
    )


def test_expand_values_leaves_numbers_and_other_literals() -> None:
    query = entity_query(CTX, q="brand==12;brand==true", expand_values=["brand"], limit=1)
    assert query.q == And(
        (
            Compare(AttrPath(EX + "brand"), "==", Literal("number", 12)),
            Compare(AttrPath(EX + "brand"), "==", Literal("bool", True)),
        )
    )


def test_without_expand_values_strings_stay_as_written() -> None:
    assert entity_query(CTX, q='brand=="Seat"', limit=1).q == brand_is("Seat")


@pytest.mark.parametrize(
    ("q", "scope_q"),
    [('brand~="("', None), ("brand==", None), ("speed>>1", None), (None, "city"), (None, "/a//b")],
)
def test_an_entity_query_with_a_bad_q_or_scope_q_is_bad_request_data(
    q: str | None, scope_q: str | None
) -> None:
    with pytest.raises(BadRequestData) as error:
        entity_query(CTX, q=q, scope_q=scope_q, limit=1)
    bad_request(error)


def test_a_geo_query_from_parameters_is_none_when_none_is_asked() -> None:
    assert geo_from_params(None, None, None, "location") is None
    found = geo_from_params("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,0]]]", None)
    assert found is not None and found.georel == "within" and found.geoproperty == "location"
    with pytest.raises(BadRequestData) as error:
        geo_from_params("near;maxDistance==1", None, "[1,2]", None)
    bad_request(error, "geometry")


def test_a_geo_query_from_json_is_an_object() -> None:
    found = geo_from_json(
        {"georel": "near;maxDistance==100", "geometry": "Point", "coordinates": [10.2, 56.15]}
    )
    assert found == GeoQuery(georel="near", max_distance=100, geometry=POINT)
    for value in (None, "near", [1, 2], 3):
        with pytest.raises(BadRequestData) as error:
            geo_from_json(value)
        bad_request(error, "geoQ must be a JSON object")
    with pytest.raises(BadRequestData) as error:
        geo_from_json({"georel": "near;maxDistance==100", "geometry": "Point"})
    bad_request(error, "coordinates")


# ----------------------------------------------------------------------------------------------------
# Projection


def test_attrs_picks_the_attributes_with_id_type_and_scope() -> None:
    assert selection(CTX, attrs=["brand", "speed"], pick=None, omit=None) == Selection(
        {"id", "type", "scope", EX + "brand", DEFAULT + "speed"}, set()
    )


def test_pick_names_what_it_keeps_and_omit_what_it_drops() -> None:
    assert selection(CTX, attrs=None, pick=["id", "brand", "createdAt"], omit=None) == Selection(
        {"id", EX + "brand", "createdAt"}, set()
    )
    assert selection(CTX, attrs=None, pick=None, omit=["type", "brand"]) == Selection(
        None, {"type", EX + "brand"}
    )


def test_no_projection_keeps_everything() -> None:
    assert selection(CTX, attrs=None, pick=None, omit=None) == Selection(None, set())


@pytest.mark.parametrize(
    ("attrs", "pick", "omit", "words"),
    [
        (["brand"], ["id"], None, "attrs cannot be combined"),
        (["brand"], None, ["id"], "attrs cannot be combined"),
        (None, ["brand"], ["id"], "pick and omit cannot be used together"),
    ],
)
def test_projections_that_do_not_go_together_are_bad_request_data(
    attrs: list[str] | None, pick: list[str] | None, omit: list[str] | None, words: str
) -> None:
    with pytest.raises(BadRequestData) as error:
        selection(CTX, attrs=attrs, pick=pick, omit=omit)
    bad_request(error, words)


# ----------------------------------------------------------------------------------------------------
# Query bodies


def test_a_text_member_is_a_string_or_absent() -> None:
    assert text_member("a", "q") == "a"
    assert text_member(None, "q") is None
    for value in (1, ["a"], {"a": 1}, True):
        with pytest.raises(BadRequestData) as error:
            text_member(value, "scopeQ")
        bad_request(error, "scopeQ must be a string")


def test_a_full_query_body_is_read_with_its_names_expanded() -> None:
    body = query_body(
        CTX,
        {
            "type": "Query",
            "entities": [
                {"type": "Vehicle", "id": "urn:ngsi-ld:Vehicle:1"},
                {"type": "Vehicle,Car", "id": ["urn:ngsi-ld:Car:1", "urn:ngsi-ld:Car:2"], "idPattern": "x"},
                {"type": "*", "idPattern": "^urn:ngsi-ld:Bus:"},
            ],
            "attrs": ["brand", "speed,colour"],
            "geoQ": {"georel": "near;maxDistance==100", "geometry": "Point", "coordinates": "[10.2,56.15]"},
            "q": "speed>10",
            "scopeQ": "/city",
            "lang": "da",
            "other": "ignored",
        },
    )
    assert body == QueryBody(
        selectors=[
            EntitySelector(ids=("urn:ngsi-ld:Vehicle:1",), types=TypeName(EX + "Vehicle")),
            EntitySelector(
                ids=("urn:ngsi-ld:Car:1", "urn:ngsi-ld:Car:2"),
                types=TypeAny((TypeName(EX + "Vehicle"), TypeName(DEFAULT + "Car"))),
            ),
            EntitySelector(id_pattern="^urn:ngsi-ld:Bus:"),
        ],
        attrs=["brand", "speed", "colour"],
        pick=None,
        omit=None,
        geo=GeoQuery(georel="near", max_distance=100, geometry=POINT),
        q="speed>10",
        scope_q="/city",
        lang="da",
    )
    assert body.narrows


def test_a_query_body_names_its_attributes_as_a_string_or_an_array() -> None:
    body = query_body(CTX, {"attrs": "brand,speed", "pick": ["id", "brand"], "omit": "type"})
    assert (body.attrs, body.pick, body.omit) == (["brand", "speed"], ["id", "brand"], ["type"])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, False),
        ({"type": "Query", "lang": "da", "pick": ["id"], "omit": ["type"], "geoQ": None}, False),
        ({"entities": [{"type": "Vehicle"}]}, True),
        ({"attrs": ["brand"]}, True),
        ({"q": "speed>1"}, True),
        ({"scopeQ": "/a"}, True),
        ({"geoQ": {"georel": "near;maxDistance==1", "geometry": "Point", "coordinates": [1, 2]}}, True),
    ],
)
def test_a_query_body_narrows_by_entities_attrs_geo_q_or_scope(data: dict[str, Any], expected: bool) -> None:
    assert query_body(CTX, data).narrows is expected


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ([], "The query must be a JSON object"),
        ("Query", "The query must be a JSON object"),
        ({"type": "Subscription"}, "The query's type must be Query"),
        ({"type": None}, "The query's type must be Query"),
        ({"entities": []}, "entities must not be an empty array"),
        ({"attrs": []}, "attrs must not be an empty array"),
        ({"pick": []}, "pick must not be an empty array"),
        ({"omit": []}, "omit must not be an empty array"),
        ({"entities": {"type": "Vehicle"}}, "entities must be an array of entity selectors"),
        ({"entities": ["Vehicle"]}, "entities must be an array of entity selectors"),
        ({"entities": [{"id": "urn:ngsi-ld:Vehicle:1"}]}, "An entity selector needs a type"),
        ({"entities": [{"type": "Vehicle", "id": 5}]}, "id must be a string or an array of strings"),
        (
            {"entities": [{"type": "Vehicle", "id": ["urn:a:1", 5]}]},
            "id must be a string or an array of strings",
        ),
        ({"entities": [{"type": "Vehicle", "id": "not a uri"}]}, "must be a URI"),
        ({"entities": [{"type": ["Vehicle"]}]}, "type must be a string"),
        ({"entities": [{"type": "Vehicle", "idPattern": 5}]}, "idPattern must be a string"),
        (
            {"entities": [{"type": "Vehicle", "idPattern": "("}]},
            "idPattern is not a valid regular expression",
        ),
        ({"entities": [{"type": ""}]}, "empty"),
        ({"attrs": 5}, "attrs must be an array of attribute names"),
        ({"pick": ["id", 5]}, "pick must be an array of attribute names"),
        ({"omit": {"type": 1}}, "omit must be an array of attribute names"),
        ({"attrs": ""}, "empty"),
        ({"geoQ": "near"}, "geoQ must be a JSON object"),
        ({"geoQ": {"georel": "near", "geometry": "Point", "coordinates": [1, 2]}}, "near needs"),
        ({"q": 5}, "q must be a string"),
        ({"scopeQ": ["/a"]}, "scopeQ must be a string"),
        ({"lang": 1}, "lang must be a string"),
    ],
)
def test_a_query_body_that_is_not_a_query_is_bad_request_data(data: Any, words: str) -> None:
    with pytest.raises(BadRequestData) as error:
        query_body(CTX, data)
    bad_request(error, words)
