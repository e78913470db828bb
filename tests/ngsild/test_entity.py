"""Tests for smartby.ngsild.entity: parsing every input form into the internal form, and rendering it.

Canonical forms: parsing then rendering normalized gives back the input exactly when the input is in
canonical form, which the generated entities are. Inputs that are not canonical render as follows
(each has an example-based test below):

- an attribute given as an array of one instance renders as that instance;
- an entity type or scope given as an array of one renders as a string; repeated types count once;
- ListRelationship objectList items render as {"object": uri} whether given so or as bare URIs;
- observedAt renders in UTC with a Z, with the fraction of a second it was given;
- createdAt, modifiedAt, instanceId and lang on input are ignored (the broker sets the timestamps);
  an entity's createdAt, modifiedAt or deletedAt that is not a DateTime string would be an attribute
  named by a core member, and is rejected;
- a datasetId of "@none" names the default instance, which renders without a datasetId.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import string
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.context import CORE_CONTEXT_URL, Context, ContextResolver, LoaderFailed
from smartby.ngsild.entity import (
    ENTITY_INPUT_MEMBERS,
    INSTANCE_MEMBERS,
    NULL_URI,
    PROHIBITED_MEMBERS,
    PROOF_NAME,
    UNITLESS,
    Renderer,
    parse_attribute,
    parse_attributes,
    parse_entity,
    parse_instance,
    property_instance,
)
from smartby.ngsild.errors import BadRequestData, NgsiLdError

CORE_DOCUMENT = json.loads(
    (resources.files("smartby.data") / "contexts" / "ngsi-ld-core-context-v1.8.jsonld").read_bytes()
)
CORE_TERMS = frozenset(CORE_DOCUMENT["@context"])
USER_CONTEXT = {
    "ex": "https://example.org/ns#",
    "speed": "ex:speed",
    "Vehicle": "ex:Vehicle",
    "brand": "https://example.org/brand",
}
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def core_only(url: str) -> Any:
    if url == CORE_CONTEXT_URL:
        return CORE_DOCUMENT
    raise LoaderFailed(f"no {url} here")


RESOLVER = ContextResolver(core_only)
CORE = RESOLVER.core
USER = RESOLVER.resolve(USER_CONTEXT)
CONTEXTS = st.sampled_from([CORE, USER])
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------------------------------
# Strategies

RESERVED = INSTANCE_MEMBERS | PROHIBITED_MEMBERS | ENTITY_INPUT_MEMBERS | CORE_TERMS | {PROOF_NAME}
names = st.one_of(
    st.builds(
        operator.add,
        st.sampled_from(string.ascii_lowercase),
        st.text(string.ascii_letters + string.digits + "_", max_size=8),
    ).filter(lambda name: name not in RESERVED),
    st.sampled_from(["speed", "brand", "ex:colour", "straße", "vejNavn"]),
)
uris = st.builds(
    "urn:ngsi-ld:{}:{}".format,
    st.sampled_from(["Streetlight", "Vehicle", "Dataset"]),
    st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=8),
)
texts = st.text(max_size=12).filter(lambda text: text != NULL_URI)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=5,
)
positions = st.tuples(
    st.floats(min_value=-180, max_value=180, allow_subnormal=False),
    st.floats(min_value=-90, max_value=90, allow_subnormal=False),
).map(list)
geometries = st.one_of(
    positions.map(lambda position: {"type": "Point", "coordinates": position}),
    st.lists(positions, min_size=2, max_size=4).map(lambda line: {"type": "LineString", "coordinates": line}),
)
observed = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)).flatmap(
    lambda moment: st.sampled_from(
        [moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:23] + "Z"]
    )
)
language_maps = st.dictionaries(
    st.sampled_from(["da", "en", "en-GB", "de", "@none"]),
    texts | st.lists(texts, min_size=1, max_size=2),
    min_size=1,
    max_size=3,
)


def looks_like_geometry(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in ("Point", "LineString", "Polygon")


def value_members(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """The value member of an attribute of `kind`, in canonical form."""
    if kind == "Property":
        return st.fixed_dictionaries({"value": json_values.filter(lambda v: not looks_like_geometry(v))})
    if kind == "GeoProperty":
        return st.fixed_dictionaries({"value": geometries})
    if kind == "Relationship":
        return st.fixed_dictionaries(
            {"object": uris | st.lists(uris, min_size=1, max_size=3)},
            optional={"objectType": names},
        )
    if kind == "LanguageProperty":
        return st.fixed_dictionaries({"languageMap": language_maps})
    if kind == "VocabProperty":
        return st.fixed_dictionaries({"vocab": names | st.lists(names, min_size=1, max_size=3)})
    if kind == "ListProperty":
        return st.fixed_dictionaries({"valueList": st.lists(json_values, max_size=3)})
    if kind == "ListRelationship":
        return st.fixed_dictionaries(
            {"objectList": st.lists(uris.map(lambda uri: {"object": uri}), max_size=3)},
            optional={"objectType": names},
        )
    assert kind == "JsonProperty"
    return st.fixed_dictionaries({"json": st.dictionaries(texts, json_values, max_size=3)})


ALL_KINDS = (
    "Property",
    "GeoProperty",
    "Relationship",
    "LanguageProperty",
    "VocabProperty",
    "ListProperty",
    "ListRelationship",
    "JsonProperty",
)


@st.composite
def instances(
    draw: st.DrawFn, kinds: tuple[str, ...] = ALL_KINDS, depth: int = 0, metadata: bool = True
) -> dict[str, Any]:
    """One attribute instance in canonical normalized form, with sub-attributes to depth 2."""
    kind = draw(st.sampled_from(kinds))
    instance = {"type": kind, **draw(value_members(kind))}
    if not metadata:
        return instance
    if draw(st.booleans()):
        instance["observedAt"] = draw(observed)
    if kind not in UNITLESS and draw(st.booleans()):
        instance["unitCode"] = draw(st.sampled_from(["CEL", "LUX", "MTR", "KMH"]))
    if depth < 2:
        for name in draw(st.lists(names, max_size=2 - depth, unique=True)):
            instance[name] = draw(instances(kinds, depth + 1))
    return instance


@st.composite
def attributes(draw: st.DrawFn, kinds: tuple[str, ...] = ALL_KINDS) -> Any:
    """One instance, or several told apart by datasetId (at most one default instance)."""
    count = draw(st.integers(min_value=1, max_value=3))
    if count == 1:
        instance = draw(instances(kinds))
        if draw(st.booleans()):
            instance["datasetId"] = draw(uris)
        return instance
    datasets = draw(st.lists(uris, min_size=count, max_size=count, unique=True))
    if draw(st.booleans()):
        datasets[0] = None
    out = []
    for dataset in datasets:
        instance = draw(instances(kinds))
        if dataset is not None:
            instance["datasetId"] = dataset
        out.append(instance)
    return out


@st.composite
def entities(draw: st.DrawFn, attribute: st.SearchStrategy[Any] | None = None) -> dict[str, Any]:
    """A valid entity in canonical normalized form."""
    entity: dict[str, Any] = {"id": draw(uris)}
    types = draw(st.lists(names, min_size=1, max_size=2, unique=True))
    entity["type"] = types[0] if len(types) == 1 else types
    if draw(st.booleans()):
        scopes = draw(
            st.lists(
                st.from_regex(r"(/[A-Za-z][A-Za-z0-9_]{0,4}){1,3}", fullmatch=True),
                min_size=1,
                max_size=2,
                unique=True,
            )
        )
        entity["scope"] = scopes[0] if len(scopes) == 1 else scopes
    for name in draw(st.lists(names, max_size=3, unique=True)):
        entity[name] = draw(attribute if attribute is not None else attributes())
    return entity


member_names = st.sampled_from(
    sorted(INSTANCE_MEMBERS | {"id", "@id", "@context", "scope", "location", "coordinates", "a:b", "name"})
)
any_json = st.recursive(
    st.none()
    | scalars
    | st.sampled_from(["Property", "Relationship", "GeoProperty", "Point", NULL_URI, "urn:a:b"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(member_names | texts, children, max_size=5)
    ),
    max_leaves=25,
)

# ----------------------------------------------------------------------------------------------------
# Properties


@PROPERTY_SETTINGS
@given(body=any_json, ctx=CONTEXTS, key_values=st.booleans())
def test_parse_entity_raises_only_ngsild_errors(body: Any, ctx: Context, key_values: bool) -> None:
    with contextlib.suppress(NgsiLdError):
        parse_entity(body, ctx, key_values=key_values)


@PROPERTY_SETTINGS
@given(body=any_json, ctx=CONTEXTS, flags=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_parse_attributes_raises_only_ngsild_errors(
    body: Any, ctx: Context, flags: tuple[bool, bool, bool]
) -> None:
    key_values, allow_null, partial = flags
    with contextlib.suppress(NgsiLdError):
        parse_attributes(body, ctx, key_values=key_values, allow_null=allow_null, partial=partial)


@PROPERTY_SETTINGS
@given(body=any_json, ctx=CONTEXTS, allow_null=st.booleans(), partial=st.booleans())
def test_parse_instance_raises_only_ngsild_errors(
    body: Any, ctx: Context, allow_null: bool, partial: bool
) -> None:
    with contextlib.suppress(NgsiLdError):
        parse_instance("speed", body, ctx, allow_null=allow_null, partial=partial)


observed_times = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.sampled_from(["2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T00:00:00+01:00", ""]),
    st.text(max_size=30),
)


@PROPERTY_SETTINGS
@given(
    value=any_json,
    unit=st.one_of(st.none(), st.sampled_from(["CEL", ""]), st.integers()),
    text=st.one_of(st.none(), st.sampled_from(["DKK/MWh", "g/kWh", ""]), st.integers()),
    observed=observed_times,
    name=st.sampled_from(["speed", "location", "brand"]),
    ctx=CONTEXTS,
)
def test_property_instance_agrees_with_parse_instance(
    value: Any, unit: Any, text: Any, observed: str, name: str, ctx: Context
) -> None:
    """The quick path for device readings accepts exactly what the general parser accepts (an
    attribute of an entity body, a unit text as its `unitText` sub-Property), the same way."""
    raw: dict[str, Any] = {"type": "Property", "value": value, "observedAt": observed}
    if unit is not None:
        raw["unitCode"] = unit
    if text is not None:
        raw["unitText"] = {"type": "Property", "value": text}
    try:
        expected: Any = parse_attribute(name, raw, ctx)[0]
    except NgsiLdError as error:
        expected = type(error)
    try:
        got: Any = property_instance(
            name, ctx.expand(name), value, ctx, unit_code=unit, observed_at=observed, unit_text=text
        )
    except NgsiLdError as error:
        got = type(error)
    assert got == expected


def test_property_instance_gives_a_unit_text_as_an_expanded_sub_property() -> None:
    instance = property_instance(
        "price",
        DEFAULT + "price",
        612.5,
        CORE,
        unit_code=None,
        observed_at="2024-03-04T12:00:00Z",
        unit_text="DKK/MWh",
    )
    assert instance == {
        "type": "Property",
        "value": 612.5,
        "observedAt": "2024-03-04T12:00:00Z",
        DEFAULT + "unitText": {"type": "Property", "value": "DKK/MWh"},
    }


def test_property_instance_refuses_numbers_json_cannot_carry() -> None:
    for number in (math.inf, -math.inf, math.nan):
        with pytest.raises(BadRequestData, match="finite"):
            property_instance("speed", "x", number, CORE, unit_code=None, observed_at="2024-01-01T00:00:00Z")


@PROPERTY_SETTINGS
@given(entity=entities(), ctx=CONTEXTS)
def test_normalized_round_trip(entity: dict[str, Any], ctx: Context) -> None:
    assert Renderer(ctx).entity(parse_entity(entity, ctx)) == entity


@PROPERTY_SETTINGS
@given(entity=entities(), ctx=CONTEXTS)
def test_concise_reparses_to_the_same_entity(entity: dict[str, Any], ctx: Context) -> None:
    internal = parse_entity(entity, ctx)
    concise = Renderer(ctx, form="concise").entity(internal)
    assert parse_entity(concise, ctx) == internal


@PROPERTY_SETTINGS
@given(
    entity=entities(instances(("Property", "GeoProperty"), metadata=False)),
    ctx=CONTEXTS,
)
def test_key_values_reparse_to_the_same_entity(entity: dict[str, Any], ctx: Context) -> None:
    """keyValues is lossless for single-instance Properties and GeoProperties without metadata."""
    internal = parse_entity(entity, ctx)
    simplified = Renderer(ctx, form="keyValues").entity(internal)
    assert parse_entity(simplified, ctx, key_values=True) == internal


# ----------------------------------------------------------------------------------------------------
# Examples

LIGHT = "urn:ngsi-ld:Streetlight:1"


def internal(**attributes: Any) -> dict[str, Any]:
    """The internal form of a Streetlight with `attributes` (default-context names)."""
    entity: dict[str, Any] = {"id": LIGHT, "type": [DEFAULT + "Streetlight"]}
    entity.update({DEFAULT + name: value for name, value in attributes.items()})
    return entity


def parse(**attributes: Any) -> dict[str, Any]:
    return parse_entity({"id": LIGHT, "type": "Streetlight", **attributes}, CORE)


def rejected(**attributes: Any) -> str:
    with pytest.raises(BadRequestData) as caught:
        parse(**attributes)
    return caught.value.detail


POINT = {"type": "Point", "coordinates": [12.5683, 55.6761]}


@pytest.mark.parametrize(
    ("given", "instance"),
    [
        ("on", {"type": "Property", "value": "on"}),
        (40, {"type": "Property", "value": 40}),
        ([1, 2], {"type": "Property", "value": [1, 2]}),
        ({"value": 40, "unitCode": "P1"}, {"type": "Property", "value": 40, "unitCode": "P1"}),
        ({"object": "urn:ngsi-ld:Cabinet:7"}, {"type": "Relationship", "object": "urn:ngsi-ld:Cabinet:7"}),
        ({"languageMap": {"da": "lys"}}, {"type": "LanguageProperty", "languageMap": {"da": "lys"}}),
        ({"vocab": "led"}, {"type": "VocabProperty", "vocab": DEFAULT + "led"}),
        ({"valueList": [1, "a"]}, {"type": "ListProperty", "valueList": [1, "a"]}),
        ({"objectList": ["urn:a:1"]}, {"type": "ListRelationship", "objectList": [{"object": "urn:a:1"}]}),
        ({"json": {"a": [1]}}, {"type": "JsonProperty", "json": {"a": [1]}}),
        (POINT, {"type": "GeoProperty", "value": POINT}),
        (
            {"value": POINT, "observedAt": "2024-05-01T20:00:00Z"},
            {
                "type": "GeoProperty",
                "value": POINT,
                "observedAt": "2024-05-01T20:00:00Z",
            },
        ),
        (
            {"brand": "Philips", "model": "X"},
            {"type": "Property", "value": {"brand": "Philips", "model": "X"}},
        ),
        (
            {"type": "Feature", "geometry": POINT},
            {"type": "Property", "value": {"type": "Feature", "geometry": POINT}},
        ),
    ],
)
def test_concise_input_is_detected_by_its_members(given: Any, instance: dict[str, Any]) -> None:
    assert parse(lamp=given) == internal(lamp=[instance])


def test_geojson_detection_needs_a_geometry_type_and_coordinates() -> None:
    assert parse(shape={"type": "Point"}) == internal(
        shape=[{"type": "Property", "value": {"type": "Point"}}]
    )
    assert "not a string" in rejected(shape={"type": ["Point"], "coordinates": [1, 2]})
    assert "GeoProperty where" in rejected(where={"type": "Point", "coordinates": [200, 0]})
    assert "GeoProperty where" in rejected(where={"type": "GeoProperty", "value": {"type": "Point"}})
    multi = {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]}
    assert parse(where={"type": "GeoProperty", "value": multi}) == internal(
        where=[{"type": "GeoProperty", "value": multi}]
    )


@pytest.mark.parametrize("null", [None, NULL_URI])
def test_null_is_rejected_except_where_it_means_delete(null: Any) -> None:
    assert "null" in rejected(lamp=null)
    assert "null" in rejected(lamp={"type": "Property", "value": null})
    assert "null" in rejected(lamp={"object": null})
    deleting = parse_attributes({"lamp": null}, CORE, allow_null=True)
    assert deleting == {DEFAULT + "lamp": [{"type": "Property", "value": NULL_URI}]}
    assert parse_attributes({"lamp": {"value": null}}, CORE, allow_null=True, partial=True) == {
        DEFAULT + "lamp": [{"type": "Property", "value": NULL_URI}]
    }


def test_the_null_inside_a_value_is_rejected() -> None:
    assert NULL_URI in rejected(lamp={"value": {"state": NULL_URI}})
    assert NULL_URI in rejected(lamp=[1, [NULL_URI]])
    assert parse(lamp={"value": {"state": None}}) == internal(
        lamp=[{"type": "Property", "value": {"state": None}}]
    )


def test_object_list_items_become_objects() -> None:
    given = {"type": "ListRelationship", "objectList": ["urn:a:1", {"object": "urn:a:2"}]}
    expected = [{"object": "urn:a:1"}, {"object": "urn:a:2"}]
    assert parse(route=given)[DEFAULT + "route"] == [{"type": "ListRelationship", "objectList": expected}]
    rendered = Renderer(CORE).entity(parse(route=given))
    assert rendered["route"] == {"type": "ListRelationship", "objectList": expected}
    assert "objectList of route" in rejected(route={"objectList": ["not a uri"]})
    assert "objectList of route" in rejected(route={"objectList": [{"value": "urn:a:1"}]})


def test_dataset_ids_tell_instances_apart() -> None:
    a = {"type": "Property", "value": 1, "datasetId": "urn:ngsi-ld:Dataset:a"}
    default = {"type": "Property", "value": 0}
    assert parse(level=[default, a]) == internal(level=[default, a])
    assert "datasetId urn:ngsi-ld:Dataset:a more than once" in rejected(level=[a, {**a, "value": 2}])
    assert "default instance" in rejected(level=[default, {**default, "value": 2}])
    assert "default instance" in rejected(level=[default, {**default, "datasetId": "@none"}])
    assert "datasetId of level" in rejected(level={**a, "datasetId": "not a uri"})


def test_an_array_of_one_instance_renders_as_the_instance() -> None:
    entity = {"id": LIGHT, "type": ["Streetlight"], "level": [{"type": "Property", "value": 1}]}
    rendered = Renderer(CORE).entity(parse_entity(entity, CORE))
    assert rendered == {"id": LIGHT, "type": "Streetlight", "level": {"type": "Property", "value": 1}}


def test_input_only_and_system_members_are_dropped() -> None:
    given = {
        "type": "Property",
        "value": 1,
        "createdAt": "2020-01-01T00:00:00Z",
        "modifiedAt": "2020-01-01T00:00:00Z",
        "instanceId": "urn:ngsi-ld:instance:1",
        "observedAt": "2024-05-01T22:00:00.50Z",
    }
    assert parse(level=given) == internal(
        level=[{"type": "Property", "value": 1, "observedAt": "2024-05-01T22:00:00.50Z"}]
    )


@pytest.mark.parametrize("name", ["createdAt", "modifiedAt", "deletedAt"])
def test_system_timestamps_are_ignored_but_cannot_name_an_attribute(name: str) -> None:
    assert parse(**{name: "2016-06-29T15:59:09.224Z"}) == internal()
    assert (
        parse_entity({"id": LIGHT, "type": "Streetlight", name: "2016"}, CORE, key_values=True) == internal()
    )
    stamp = {"@type": "DateTime", "@value": "2016-06-29T15:59:09.224Z"}
    for value in ({"type": "Property", "value": stamp}, stamp, [stamp], 5, None):
        assert rejected(**{name: value}) == f"{name} is an NGSI-LD core member and cannot name an attribute"
        with pytest.raises(BadRequestData, match="core member"):
            parse_attributes({"id": LIGHT, "type": "Streetlight", name: value}, CORE, allow_null=True)


@pytest.mark.parametrize(
    "name",
    [
        "value",
        "object",
        "observedAt",
        "unitCode",
        "datasetId",
        "previousValue",
        "entity",
        "a b",
        "a<b",
        "1st",
        "_x",
        "é-1",
    ],
)
def test_forbidden_attribute_names(name: str) -> None:
    with pytest.raises(BadRequestData):
        parse_attributes({name: 1}, CORE)


def test_compact_iris_and_unicode_letters_are_names() -> None:
    parsed = parse_attributes({"ex:colour": 1, "straße": 2, "vejNavn_2": 3}, USER)
    assert set(parsed) == {"https://example.org/ns#colour", DEFAULT + "straße", DEFAULT + "vejNavn_2"}


def test_the_same_attribute_twice_is_rejected() -> None:
    with pytest.raises(BadRequestData, match="given twice"):
        parse_attributes({"speed": 1, "ex:speed": 2}, USER)


def nested(levels: int) -> dict[str, Any]:
    instance: dict[str, Any] = {"type": "Property", "value": 0}
    for level in range(levels):
        instance = {"type": "Property", "value": level + 1, "sub": instance}
    return instance


def test_sub_attributes_nest_at_most_16_deep() -> None:
    parse(level=nested(16))
    assert "too deeply" in rejected(level=nested(17))


def test_values_nest_at_most_64_arrays_and_objects_deep() -> None:
    value: Any = 1
    for _ in range(64):
        value = [value]
    parse(level={"value": value})
    assert "more than 64 deep" in rejected(level={"value": [value]})
    assert "more than 64 deep" in rejected(level={"value": {"a": value}})
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    assert "more than 64 deep" in rejected(level=deep)


def test_entity_type_and_scope_render_as_strings_when_single() -> None:
    entity = {"id": LIGHT, "type": ["Streetlight", "Streetlight"], "scope": ["/Aarhus"]}
    assert Renderer(CORE).entity(parse_entity(entity, CORE)) == {
        "id": LIGHT,
        "type": "Streetlight",
        "scope": "/Aarhus",
    }


def test_concise_multi_attribute_instances_stay_objects() -> None:
    default = {"type": "Property", "value": 1}
    other = {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:Dataset:b"}
    concise = Renderer(CORE, form="concise").entity(parse(level=[default, other]))
    assert concise["level"] == [{"value": 1}, {"value": 2, "datasetId": "urn:ngsi-ld:Dataset:b"}]
    assert parse_entity(concise, CORE) == parse(level=[default, other])


@PROPERTY_SETTINGS
@given(
    null=st.sampled_from([None, "urn:ngsi-ld:null"]),
    rest=st.dictionaries(st.sampled_from(["value", "object", "observedAt"]), any_json, max_size=2),
    ctx=CONTEXTS,
    allow_null=st.booleans(),
    partial=st.booleans(),
)
def test_an_attribute_type_is_never_null(
    null: Any, rest: dict[str, Any], ctx: Context, allow_null: bool, partial: bool
) -> None:
    """A merge-patch null on `type` would leave an attribute without one: refused in every mode."""
    with pytest.raises(BadRequestData):
        parse_instance("speed", {**rest, "type": null}, ctx, allow_null=allow_null, partial=partial)
