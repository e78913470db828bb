from __future__ import annotations

import string
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.entity import Entity, Instance
from smartby.ngsild.errors import BadRequestData, InvalidRequest
from smartby.ngsild.query import (
    MEMBERS,
    And,
    AttrPath,
    Compare,
    Exists,
    Expr,
    InList,
    InRange,
    Literal,
    NotExists,
    Or,
    Pattern,
    parse_attrs_list,
    parse_q,
)

NS = "https://example.org/ns/"
CORE = {"observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt", "deletedAt", "objectType", "lang"}
QUERY_ERRORS = (BadRequestData, InvalidRequest)


def expand(name: str) -> str:
    return name if ":" in name else NS + name


def _instance(kind: str, member: str, value: Any, extra: dict[str, Any]) -> Instance:
    instance: Instance = {"type": kind, member: value}
    for key, item in extra.items():
        instance[key if key in CORE else expand(key)] = item
    return instance


def prop(value: Any, **extra: Any) -> Instance:
    return _instance("Property", "value", value, extra)


def rel(target: Any, **extra: Any) -> Instance:
    return _instance("Relationship", "object", target, extra)


def lang(language_map: dict[str, Any], **extra: Any) -> Instance:
    return _instance("LanguageProperty", "languageMap", language_map, extra)


def entity(**attributes: Instance | list[Instance]) -> Entity:
    """An entity in the internal form; attribute names are expanded against NS."""
    built: Entity = {
        "id": "urn:ngsi-ld:Thing:1",
        "type": [NS + "Thing"],
        "createdAt": "2024-01-01T00:00:00Z",
        "modifiedAt": "2024-01-01T00:00:00Z",
    }
    for name, instances in attributes.items():
        built[expand(name)] = instances if isinstance(instances, list) else [instances]
    return built


def matches(query: str, target: Entity) -> bool:
    return parse_q(query).map_names(expand).matches(target)


def path(attr: str, *subattrs: str, member: str | None = None, keys: tuple[str, ...] = ()) -> AttrPath:
    return AttrPath(attr, subattrs, member, keys)


def num(value: int | float) -> Literal:
    return Literal("number", value)


def text(value: str) -> Literal:
    return Literal("string", value)


# Parsing


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("temperature>20", Compare(path("temperature"), ">", num(20))),
        ('brandName!="Mercedes"', Compare(path("brandName"), "!=", text("Mercedes"))),
        (
            'isParked=="urn:ngsi-ld:OffStreetParking:Downtown1"',
            Compare(path("isParked"), "==", text("urn:ngsi-ld:OffStreetParking:Downtown1")),
        ),
        (
            "isParked==urn:ngsi-ld:OffStreetParking:Downtown1",
            Compare(path("isParked"), "==", Literal("uri", "urn:ngsi-ld:OffStreetParking:Downtown1")),
        ),
        (
            "(temperature>=20;temperature<=25)|capacity<=10",
            Or(
                (
                    And(
                        (
                            Compare(path("temperature"), ">=", num(20)),
                            Compare(path("temperature"), "<=", num(25)),
                        )
                    ),
                    Compare(path("capacity"), "<=", num(10)),
                )
            ),
        ),
        ("temperature==20..25", InRange(path("temperature"), num(20), num(25))),
        ("temperature!=20..25", InRange(path("temperature"), num(20), num(25), negated=True)),
        ('brand=="Seat","Mercedes"', InList(path("brand"), (text("Seat"), text("Mercedes")))),
        ('brand!="Seat","Mercedes"', InList(path("brand"), (text("Seat"), text("Mercedes")), negated=True)),
        (
            "speed.observedAt>=2018-12-04T12:00:00Z",
            Compare(
                path("speed", member="observedAt"),
                ">=",
                Literal("datetime", datetime(2018, 12, 4, 12, tzinfo=UTC)),
            ),
        ),
        ('address[city]=="Berlin"', Compare(path("address", keys=("city",)), "==", text("Berlin"))),
        ('name~="(?i)ju.*"', Pattern(path("name"), "(?i)ju.*")),
        ("name~=(?i)ju.*", Pattern(path("name"), "(?i)ju.*")),
        ("name!~=^Ju", Pattern(path("name"), "^Ju", negated=True)),
        ("!isParked", NotExists(path("isParked"))),
        ("isParked", Exists(path("isParked"))),
        ("a.b.c==1", Compare(path("a", "b", "c"), "==", num(1))),
        ("a.b[k1][k2]>=-3.5e2", Compare(path("a", "b", keys=("k1", "k2")), ">=", num(-350.0))),
        ('a.b.unitCode=="CEL"', Compare(path("a", "b", member="unitCode"), "==", text("CEL"))),
        ("almostFull==false", Compare(path("almostFull"), "==", Literal("bool", False))),
        ("d<2018-12-04", Compare(path("d"), "<", Literal("date", date(2018, 12, 4)))),
        ("t>=12:00:00Z", Compare(path("t"), ">=", Literal("time", time(12, tzinfo=UTC)))),
        (
            "t<12:30:00.5+01:00",
            Compare(path("t"), "<", Literal("time", time(12, 30, 0, 500000, timezone(timedelta(hours=1))))),
        ),
        (
            "at==2018-12-04T12:00:00.123+01:00",
            Compare(
                path("at"),
                "==",
                Literal("datetime", datetime(2018, 12, 4, 11, 0, 0, 123000, tzinfo=UTC)),
            ),
        ),
        (
            "at>2018-12-04T12:00:00",
            Compare(path("at"), ">", Literal("datetime", datetime(2018, 12, 4, 12, tzinfo=UTC))),
        ),
        ("x==1.5..2.5", InRange(path("x"), num(1.5), num(2.5))),
        ("x==abc", Compare(path("x"), "==", text("abc"))),
        ("ex:speed>5", Compare(path("ex:speed"), ">", num(5))),
        (
            "https://example.org/ns/speed.observedAt<2020-01-01T00:00:00Z",
            Compare(
                path("https://example.org/ns/speed", member="observedAt"),
                "<",
                Literal("datetime", datetime(2020, 1, 1, tzinfo=UTC)),
            ),
        ),
        (
            "https://example.org/v1.0/speed.https://example.org/v1.0/accuracy>1",
            Compare(path("https://example.org/v1.0/speed", "https://example.org/v1.0/accuracy"), ">", num(1)),
        ),
        (
            " a == 5 ; ( b | !c ) ",
            And((Compare(path("a"), "==", num(5)), Or((Exists(path("b")), NotExists(path("c")))))),
        ),
    ],
)
def test_parse(query: str, expected: Expr) -> None:
    assert parse_q(query) == expected


def test_nested_parentheses_flatten_same_operator() -> None:
    parsed = parse_q("((a;(b;c))|((d|e)));f")
    assert parsed == And(
        (
            Or(
                (
                    And((Exists(path("a")), Exists(path("b")), Exists(path("c")))),
                    Exists(path("d")),
                    Exists(path("e")),
                )
            ),
            Exists(path("f")),
        )
    )


def test_and_binds_tighter_than_or() -> None:
    assert parse_q("a;b|c") == Or((And((Exists(path("a")), Exists(path("b")))), Exists(path("c"))))
    assert parse_q("a|b;c") == Or((Exists(path("a")), And((Exists(path("b")), Exists(path("c"))))))


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("(temperature>=20;temperature<=25)|capacity<=10", "(temperature>=20;temperature<=25)|capacity<=10"),
        ("(a|b);c", "(a|b);c"),
        ("brand==Seat,Mercedes", 'brand=="Seat","Mercedes"'),
        ("name~=(?i)ju.*", 'name~="(?i)ju.*"'),
        ('name~="a\\"b\\\\d"', 'name~="a\\"b\\\\d"'),
        ("x==-3.5e2", "x==-350.0"),
        ("at>=2018-12-04T12:00:00.123+01:00", "at>=2018-12-04T12:00:00.123000+01:00"),
        ("at>=2018-12-04T12:00:00+00:00", "at>=2018-12-04T12:00:00Z"),
        ("t<12:00", "t<12:00:00Z"),
        ("!a;b.observedAt", "!a;b.observedAt"),
        ("r==urn:ngsi-ld:X:1,urn:ngsi-ld:X:2", "r==urn:ngsi-ld:X:1,urn:ngsi-ld:X:2"),
    ],
)
def test_canonical_form(query: str, canonical: str) -> None:
    assert parse_q(query).to_q() == canonical


def test_quoted_string_escapes() -> None:
    assert parse_q(r'name=="say \"hi\" \\ now"') == Compare(path("name"), "==", text('say "hi" \\ now'))
    assert parse_q(r'name~="\d+"') == Pattern(path("name"), r"\d+")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "a;",
        ";a",
        "a|",
        "a;;b",
        "(a",
        "a)",
        "((a)",
        "()",
        "a==",
        "a==;b",
        "a==1,",
        "a==1..",
        "a==..1",
        "a==1..2..3",
        "a==1,2..3",
        "a>1,2",
        "a<1..2",
        "a>=true",
        "a=1",
        "a=>1",
        "a<>1",
        "a===1",
        "a==>1",
        "a!1",
        "a==1a",
        "a==1.2.3",
        "a==-.5",
        "a==1e400",
        "a==2018-13-45",
        "a==2018-12-04T25:00:00Z",
        "a==1.." + '"x"',
        "a==true..false",
        'a=="unterminated',
        "a~=",
        "a~=;b",
        "a~=(",
        'a~="[a-"',
        "!a==1",
        "!",
        "!(a)",
        "a..b==1",
        "a.==1",
        ".a==1",
        "a.observedAt.b==1",
        "a.observedAt[k]==1",
        "a[k].b==1",
        "a[==1",
        "a[]==1",
        "[k]==1",
        "a{b}==1",
        "a==1 2",
        "a b",
        "a==(1)",
        "(" * 200 + "a" + ")" * 200,
    ],
)
def test_malformed_queries_raise_bad_request_data(query: str) -> None:
    with pytest.raises(BadRequestData):
        parse_q(query)


def test_error_message_points_at_the_problem() -> None:
    with pytest.raises(BadRequestData, match="unknown operator '=>' at position 11"):
        parse_q("temperature=>20")


def test_long_flat_query_parses_without_recursion() -> None:
    query = ";".join(f"a{index}>{index}" for index in range(5000))
    parsed = parse_q(query)
    assert isinstance(parsed, And)
    assert len(parsed.terms) == 5000


# map_names and attributes


def test_map_names_maps_attributes_and_subattributes_only() -> None:
    parsed = parse_q('a.b.observedAt>2020-01-01T00:00:00Z;c.d[k]=="x"|!e')
    mapped = parsed.map_names(str.upper)
    assert mapped.to_q() == '(A.B.observedAt>2020-01-01T00:00:00Z;C.D[k]=="x")|!E'
    assert mapped.attributes() == {"A", "C", "E"}
    assert parsed.attributes() == {"a", "c", "e"}


def test_map_names_expands_to_iris_that_still_serialise() -> None:
    parsed = parse_q("speed.accuracy>1;brand==Seat,Mercedes")
    mapped = parsed.map_names(expand)
    assert mapped.attributes() == {NS + "speed", NS + "brand"}
    assert parse_q(mapped.to_q()) == mapped


# Evaluation


def test_greater_than_compares_numbers_only() -> None:
    assert matches("temperature>20", entity(temperature=prop(21)))
    assert matches("temperature>20", entity(temperature=prop(20.5)))
    assert not matches("temperature>20", entity(temperature=prop(20)))
    assert not matches("temperature>20", entity(temperature=prop("30")))
    assert not matches("temperature>20", entity(temperature=prop(True)))
    assert not matches("temperature>20", entity(other=prop(30)))


def test_unequal_needs_the_attribute() -> None:
    query = 'brandName!="Mercedes"'
    assert matches(query, entity(brandName=prop("Seat")))
    assert not matches(query, entity(brandName=prop("Mercedes")))
    assert not matches(query, entity(other=prop("Seat")))
    assert matches(query, entity(brandName=prop(7)))


def test_relationship_object_is_compared() -> None:
    parking = "urn:ngsi-ld:OffStreetParking:Downtown1"
    car = entity(isParked=rel(parking))
    assert matches(f'isParked=="{parking}"', car)
    assert matches(f"isParked=={parking}", car)
    assert not matches("isParked==urn:ngsi-ld:OffStreetParking:Other", car)
    assert matches(f"isParked=={parking}", entity(isParked=rel(["urn:a:b", parking])))
    assert matches("isParked!=urn:ngsi-ld:OffStreetParking:Other", car)


def test_relationship_with_ordering_or_pattern_never_matches() -> None:
    car = entity(isParked=rel("urn:ngsi-ld:OffStreetParking:Downtown1"))
    assert not matches('isParked>"urn:a"', car)
    assert not matches("isParked~=Downtown", car)
    assert matches(
        'isParked.observedAt>"2000"', entity(isParked=rel("urn:x:y", observedAt="2024-01-01T00:00:00Z"))
    )


def test_and_or_with_parentheses() -> None:
    query = "(temperature>=20;temperature<=25)|capacity<=10"
    assert matches(query, entity(temperature=prop(22), capacity=prop(50)))
    assert not matches(query, entity(temperature=prop(26), capacity=prop(50)))
    assert matches(query, entity(temperature=prop(26), capacity=prop(10)))
    assert matches(query, entity(capacity=prop(3)))
    assert not matches(query, entity(temperature=prop(19)))


def test_nested_parentheses_evaluate() -> None:
    query = "((a==1|b==2);(c==3|(d==4;e==5)))|f"
    assert matches(query, entity(a=prop(1), c=prop(3)))
    assert matches(query, entity(b=prop(2), d=prop(4), e=prop(5)))
    assert not matches(query, entity(b=prop(2), d=prop(4), e=prop(6)))
    assert not matches(query, entity(a=prop(0), c=prop(3)))
    assert matches(query, entity(f=prop(0)))


def test_range_is_inclusive() -> None:
    assert matches("temperature==20..25", entity(temperature=prop(20)))
    assert matches("temperature==20..25", entity(temperature=prop(25)))
    assert matches("temperature==20..25", entity(temperature=prop(22.5)))
    assert not matches("temperature==20..25", entity(temperature=prop(25.01)))
    assert not matches("temperature==20..25", entity(temperature=prop("22")))
    assert matches("temperature!=20..25", entity(temperature=prop(19)))
    assert not matches("temperature!=20..25", entity(temperature=prop(21)))
    assert not matches("temperature!=20..25", entity(other=prop(1)))
    assert matches('name=="b".."d"', entity(name=prop("c")))
    assert not matches('name=="b".."d"', entity(name=prop("e")))


def test_value_list_matches_any() -> None:
    assert matches('brand=="Seat","Mercedes"', entity(brand=prop("Mercedes")))
    assert matches("brand==Seat,Mercedes", entity(brand=prop("Seat")))
    assert not matches('brand=="Seat","Mercedes"', entity(brand=prop("Volvo")))
    assert matches('brand!="Seat","Mercedes"', entity(brand=prop("Volvo")))
    assert not matches('brand!="Seat","Mercedes"', entity(brand=prop("Seat")))
    assert matches("level==1,2,true", entity(level=prop(True)))
    assert not matches("level==1,2", entity(level=prop(True)))


def test_observed_at_compares_chronologically() -> None:
    query = "speed.observedAt>=2018-12-04T12:00:00Z"
    assert matches(query, entity(speed=prop(80, observedAt="2018-12-04T12:00:00Z")))
    assert matches(query, entity(speed=prop(80, observedAt="2018-12-04T13:30:00+01:00")))
    assert not matches(query, entity(speed=prop(80, observedAt="2018-12-04T12:30:00+01:00")))
    assert not matches(query, entity(speed=prop(80, observedAt="yesterday")))
    assert not matches(query, entity(speed=prop(80)))
    assert matches("speed.observedAt", entity(speed=prop(80, observedAt="2018-12-04T12:00:00Z")))
    assert not matches("speed.observedAt", entity(speed=prop(80)))


def test_members_unit_code_and_dataset_id() -> None:
    speed = entity(
        speed=[
            prop(80, unitCode="KMH"),
            prop(50, unitCode="MPH", datasetId="urn:ngsi-ld:Dataset:gps"),
        ]
    )
    assert matches('speed.unitCode=="MPH"', speed)
    assert matches("speed.datasetId==urn:ngsi-ld:Dataset:gps", speed)
    assert not matches("speed.datasetId==urn:ngsi-ld:Dataset:radar", speed)


def test_any_instance_matches() -> None:
    speed = entity(speed=[prop(80), prop(120, datasetId="urn:ngsi-ld:Dataset:radar")])
    assert matches("speed>100", speed)
    assert matches("speed<100", speed)
    assert not matches("speed>200", speed)


def test_compound_value_keys() -> None:
    building = entity(address=prop({"city": "Berlin", "street": {"name": "Unter den Linden", "number": 1}}))
    assert matches('address[city]=="Berlin"', building)
    assert not matches('address[city]=="Paris"', building)
    assert not matches('address[postcode]=="Berlin"', building)
    assert matches("address[street][number]==1", building)
    assert matches("address[city]", building)
    assert not matches("address[postcode]", building)
    assert matches("!address[postcode]", building)
    many = entity(address=prop([{"city": "Paris"}, {"city": "Berlin"}]))
    assert matches('address[city]=="Berlin"', many)


def test_pattern_matches_strings_only() -> None:
    assert matches('name~="(?i)ju.*"', entity(name=prop("Julia")))
    assert matches("name~=(?i)ju.*", entity(name=prop("Ajuna")))
    assert not matches('name~="(?i)ju.*"', entity(name=prop("Bob")))
    assert not matches('name~="1"', entity(name=prop(1)))
    assert matches('name!~="^Ju"', entity(name=prop("Bob")))
    assert not matches('name!~="^Ju"', entity(name=prop("Julia")))
    assert not matches('name!~="^Ju"', entity(name=prop(1)))
    assert not matches('name!~="^Ju"', entity(other=prop("x")))


def test_exists_and_not_exists() -> None:
    car = entity(isParked=rel("urn:ngsi-ld:OffStreetParking:1"))
    assert matches("isParked", car)
    assert not matches("!isParked", car)
    assert matches("!isParked", entity(speed=prop(1)))
    assert not matches("isParked", entity(speed=prop(1)))


def test_sub_attribute_path() -> None:
    thing = entity(a=prop(0, b=prop(0, c=prop(1))))
    assert matches("a.b.c==1", thing)
    assert not matches("a.b.c==2", thing)
    assert matches("a.b", thing)
    assert not matches("a.x", thing)
    assert matches(
        "a.b.c.observedAt", entity(a=prop(0, b=prop(0, c=prop(1, observedAt="2024-01-01T00:00:00Z"))))
    )


def test_dates_and_times() -> None:
    typed = entity(opened=prop({"@type": "Date", "@value": "2018-12-04"}))
    assert matches("opened==2018-12-04", typed)
    assert matches("opened>2018-12-01", typed)
    assert not matches("opened>2018-12-05", typed)
    assert matches("opened==2018-12-01..2018-12-31", typed)
    assert not matches('opened=="2018-12-05"', typed)
    times = entity(closes=prop("22:00:00Z"))
    assert matches("closes>12:00:00Z", times)
    assert matches("closes>=23:00:00+01:00", times)
    assert not matches("closes>22:30:00", times)
    moment = entity(at=prop({"@type": "DateTime", "@value": "2018-12-04T12:00:00Z"}))
    assert matches("at==2018-12-04T13:00:00+01:00", moment)
    assert matches("at<2019-01-01T00:00:00Z", moment)
    assert not matches("at<2018-01-01T00:00:00Z", moment)


def test_incompatible_kinds_never_match() -> None:
    thing = entity(a=prop("text"), b=prop(5), c=prop({"k": 1}), d=prop(None))
    for query in [
        "a>5",
        "a==2018-12-04",
        "a<12:00:00",
        'b>"a"',
        "b==true",
        "b>=2018-12-04T00:00:00Z",
        "c==1",
        "d==1",
        "d<1",
    ]:
        assert not matches(query, thing), query


def test_property_list_values_match_any_element() -> None:
    tags = entity(tags=prop(["red", "green"]), sizes=prop([1, [2, 3]]))
    assert matches('tags=="green"', tags)
    assert not matches('tags=="blue"', tags)
    assert matches("sizes==3", tags)
    assert matches("sizes>2", tags)


def test_language_property() -> None:
    color = entity(color=lang({"en": "red", "fr": "rouge"}))
    assert matches('color=="rouge"', color)
    assert matches('color[en]=="red"', color)
    assert not matches('color[en]=="rouge"', color)
    assert matches('color[*]=="rouge"', color)
    assert not matches('color[*]!="red"', color)
    assert matches('color[*]!="blue"', color)
    assert not matches('color[de]=="red"', color)


def test_other_attribute_types() -> None:
    thing = entity(
        category={"type": "VocabProperty", "vocab": [NS + "commercial", NS + "office"]},
        readings={"type": "ListProperty", "valueList": [1, 5, 9]},
        members={"type": "ListRelationship", "objectList": [{"object": "urn:a:1"}, {"object": "urn:a:2"}]},
        config={"type": "JsonProperty", "json": {"mode": "eco", "levels": [1, 2]}},
        location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.5, 55.6]}},
    )
    assert matches(f'category=="{NS}office"', thing)
    assert not matches('category=="office"', thing)
    assert matches("readings>8", thing)
    assert not matches("readings>9", thing)
    assert matches("members==urn:a:2", thing)
    assert not matches("members>urn:a:0", thing)
    assert matches('config[mode]=="eco"', thing)
    assert matches("config[levels]==2", thing)
    assert matches('location[type]=="Point"', thing)


@pytest.mark.parametrize(
    "query",
    ["temperature>20", "!temperature", 'name~="x"', "a==1..2", "a[k]", "a.observedAt"],
)
def test_entity_without_the_attribute(query: str) -> None:
    assert matches(query, entity()) == query.startswith("!")


# parse_attrs_list


def test_parse_attrs_list() -> None:
    assert parse_attrs_list(" speed , brand,speed,https://example.org/ns/speed,ex:x ") == [
        "speed",
        "brand",
        "https://example.org/ns/speed",
        "ex:x",
    ]


@pytest.mark.parametrize("value", ["", " ", "a,,b", "a,", ",a", "id;name", "a b", "locatedAt{name}", 'a"b'])
def test_parse_attrs_list_rejects(value: str) -> None:
    with pytest.raises(BadRequestData):
        parse_attrs_list(value)


# Properties

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True)
attribute_names = st.one_of(
    names,
    names.map(lambda name: "ex:" + name),
    names.map(lambda name: "https://example.org/ns#" + name),
    names.map(lambda name: "https://example.org/v1.0/" + name),
)
sub_names = attribute_names.filter(lambda name: name not in MEMBERS)
keys = st.text(st.characters(blacklist_characters="[]"), min_size=1, max_size=6)


@st.composite
def paths(draw: st.DrawFn) -> AttrPath:
    member = draw(st.none() | st.sampled_from(sorted(MEMBERS)))
    return AttrPath(
        draw(attribute_names),
        tuple(draw(st.lists(sub_names, max_size=2))),
        member,
        () if member else tuple(draw(st.lists(keys, max_size=2))),
    )


zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))])
comparable = st.one_of(
    st.integers(-(10**30), 10**30).map(num),
    st.floats(allow_nan=False, allow_infinity=False).map(num),
    st.text().map(text),
    st.datetimes(timezones=zones).map(lambda value: Literal("datetime", value)),
    st.dates().map(lambda value: Literal("date", value)),
    st.times(timezones=zones).map(lambda value: Literal("time", value)),
)
literals = st.one_of(
    comparable,
    st.booleans().map(lambda value: Literal("bool", value)),
    st.from_regex(r"urn:ngsi-ld:[A-Za-z]{1,6}:[A-Za-z0-9_-]{1,6}", fullmatch=True).map(
        lambda v: Literal("uri", v)
    ),
)
regexes = st.sampled_from(["^a", "(?i)ju.*", r"\d+", 'say "hi"', "a|b", "x(y)z", r"\\"])


@st.composite
def ranges(draw: st.DrawFn) -> InRange:
    low = draw(comparable)
    same_kind = comparable.filter(lambda literal: literal.kind == low.kind)
    return InRange(draw(paths()), low, draw(same_kind), draw(st.booleans()))


@st.composite
def comparisons(draw: st.DrawFn) -> Compare:
    value = draw(literals)
    op = "==" if value.kind == "bool" else draw(st.sampled_from(["==", "!=", ">", ">=", "<", "<="]))
    return Compare(draw(paths()), op, value)


terms = st.one_of(
    paths().map(Exists),
    paths().map(NotExists),
    comparisons(),
    st.builds(InList, paths(), st.lists(literals, min_size=2, max_size=4).map(tuple), st.booleans()),
    ranges(),
    st.builds(Pattern, paths(), regexes, st.booleans()),
)
expressions = st.recursive(
    terms,
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_round_trip_of_generated_trees(expr: Expr) -> None:
    assert parse_q(expr.to_q()) == expr


query_alphabet = string.ascii_letters[:6] + string.digits[:4] + ' .:;|()!=<>~",[]-T*#\\/+e'


@settings(max_examples=500, deadline=None)
@given(st.text(query_alphabet, min_size=1, max_size=30))
def test_reparsing_canonical_form_is_stable(query: str) -> None:
    try:
        parsed = parse_q(query)
    except QUERY_ERRORS:
        return
    assert parse_q(parsed.to_q()) == parsed


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_any_text_parses_or_raises_a_query_error(query: str) -> None:
    try:
        parsed = parse_q(query)
    except QUERY_ERRORS:
        return
    assert parse_q(parsed.to_q()) == parsed


@st.composite
def mutated_queries(draw: st.DrawFn) -> str:
    query = draw(expressions).to_q()
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(query)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(list(query_alphabet)) | st.characters())
        if action == "insert":
            query = query[:position] + char + query[position:]
        elif action == "delete":
            query = query[:position] + query[position + 1 :]
        else:
            query = query[:position] + char + query[position + 1 :]
    return query


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_queries())
def test_mutated_queries_parse_or_raise_a_query_error(query: str) -> None:
    try:
        parsed = parse_q(query)
    except QUERY_ERRORS:
        return
    assert parse_q(parsed.to_q()) == parsed


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["2018-12-04", "2018-12-04T12:00:00Z", "12:00:00", "9999-12-31T23:59:59-23:59"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["k", "@value", "x"]), children, max_size=3)
    ),
    max_leaves=6,
)
attribute_types = st.sampled_from(
    [
        "Property",
        "Relationship",
        "GeoProperty",
        "LanguageProperty",
        "VocabProperty",
        "ListProperty",
        "ListRelationship",
        "JsonProperty",
        "Other",
    ]
)


@st.composite
def arbitrary_entities(draw: st.DrawFn) -> Entity:
    built: Entity = {"id": "urn:ngsi-ld:Thing:1", "type": [NS + "Thing"]}
    for name in draw(st.lists(st.sampled_from(["a", "b", "ex:a"]), max_size=3)):
        instance: Instance = {"type": draw(attribute_types)}
        for member in draw(
            st.lists(
                st.sampled_from(
                    [
                        "value",
                        "object",
                        "languageMap",
                        "vocab",
                        "valueList",
                        "objectList",
                        "json",
                        "observedAt",
                        "unitCode",
                        "https://example.org/ns/b",
                    ]
                ),
                max_size=3,
            )
        ):
            instance[member] = draw(json_values)
        built[expand(name)] = [instance]
    return built


small_paths = st.builds(
    AttrPath,
    st.sampled_from(["a", "b", "ex:a"]),
    st.lists(st.just("b"), max_size=1).map(tuple),
    st.none() | st.sampled_from(["observedAt", "unitCode"]),
).flatmap(
    lambda p: (
        st.just(p)
        if p.member
        else st.lists(st.sampled_from(["k", "x", "*"]), max_size=2).map(
            lambda ks: AttrPath(p.attr, p.subattrs, None, tuple(ks))
        )
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, arbitrary_entities(), small_paths)
def test_evaluation_never_raises(expr: Expr, target: Entity, small_path: AttrPath) -> None:
    renamed = expr.map_names(lambda _: "a")
    assert isinstance(renamed.map_names(expand).matches(target), bool)
    for term in (Exists(small_path), NotExists(small_path), Compare(small_path, ">", num(1))):
        assert isinstance(term.map_names(expand).matches(target), bool)


@given(expressions)
def test_attributes_are_the_top_level_names(expr: Expr) -> None:
    assert expr.map_names(lambda name: "x:" + name).attributes() == {
        "x:" + name for name in expr.attributes()
    }
