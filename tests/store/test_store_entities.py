"""Any store backend: transactions, tenants, paging, and SQL filters that agree with the evaluator."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.geo import parse_geo_query
from smartby.ngsild.ordering import parse_order_by
from smartby.ngsild.query import instance_values, parse_q
from smartby.ngsild.reads import EntityQuery, EntitySelector, HistoryQuery
from smartby.ngsild.typequery import parse_type_query
from smartby.store import Store
from smartby.store.base import Transaction

EX = "https://example.org/"


def entity(number: int, **attributes: Any) -> dict[str, Any]:
    built: dict[str, Any] = {"id": f"urn:ngsi-ld:Thing:{number}", "type": [EX + "Thing"]}
    for name, value in attributes.items():
        if isinstance(value, dict) and "type" in value:
            built[EX + name] = [value]
        else:
            built[EX + name] = [{"type": "Property", "value": value}]
    return built


async def test_failed_change_writes_nothing(store: Store) -> None:
    def half_then_fail(tx: Transaction) -> None:
        tx.insert(entity(1, speed=10))
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await store.transact("", half_then_fail)
    assert await store.get_entity("", "urn:ngsi-ld:Thing:1") is None
    result = await store.query_entities("", EntityQuery(q=parse_q(EX + "speed")))
    assert result.entities == []


async def test_group_commit_keeps_the_good_changes(store: Store) -> None:
    def good(number: int) -> Any:
        return lambda tx: tx.insert(entity(number, speed=number))

    def bad(tx: Transaction) -> None:
        tx.insert(entity(99, speed=99))
        raise RuntimeError("rejected")

    outcomes = await asyncio.gather(
        *(store.transact("", good(n)) for n in range(20)), store.transact("", bad), return_exceptions=True
    )
    assert sum(isinstance(o, RuntimeError) for o in outcomes) == 1
    assert await store.get_entity("", "urn:ngsi-ld:Thing:99") is None
    for number in range(20):
        assert await store.get_entity("", f"urn:ngsi-ld:Thing:{number}") is not None


async def test_replace_and_delete_update_the_indexes(store: Store) -> None:
    point = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.56, 55.67]}}
    await store.transact("", lambda tx: tx.insert(entity(1, speed=10, location=point)))

    def change(tx: Transaction) -> None:
        current = tx.get("urn:ngsi-ld:Thing:1")
        assert current is not None
        current[EX + "speed"] = [{"type": "Property", "value": 70}]
        tx.replace(current)

    await store.transact("", change)
    fast = await store.query_entities("", EntityQuery(q=parse_q(EX + "speed>50")))
    slow = await store.query_entities("", EntityQuery(q=parse_q(EX + "speed<50")))
    assert [e["id"] for e in fast.entities] == ["urn:ngsi-ld:Thing:1"] and slow.entities == []
    await store.transact("", lambda tx: tx.delete("urn:ngsi-ld:Thing:1"))
    near = parse_geo_query("near;maxDistance==100", "Point", "[12.56,55.67]", None)
    assert near is not None
    for query in (
        EntityQuery(q=parse_q(EX + "speed")),
        EntityQuery(selectors=(EntitySelector(types=parse_type_query(EX + "Thing")),)),
        EntityQuery(geo=dataclasses.replace(near, geoproperty=EX + "location")),
    ):
        assert (await store.query_entities("", query)).entities == []


async def test_paging_and_count(store: Store) -> None:
    def fill(tx: Transaction) -> None:
        for number in range(25):
            tx.insert(entity(number, speed=number))

    await store.transact("", fill)
    selector = EntitySelector(types=parse_type_query(EX + "Thing"))
    page = await store.query_entities(
        "", EntityQuery(selectors=(selector,), q=parse_q(EX + "speed>=5"), limit=7, offset=7, count=True)
    )
    assert page.count == 20
    assert [e["id"] for e in page.entities] == [f"urn:ngsi-ld:Thing:{n}" for n in range(12, 19)]


VALUES = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([0.5, 2.5, -1.5]),
    st.sampled_from(["a", "b", "ab", "Seat", "2024-01-01T00:00:00Z"]),
    st.booleans(),
    st.lists(st.integers(-3, 3), max_size=3),
    st.fixed_dictionaries({"city": st.sampled_from(["Aarhus", "Odense"])}),
)


ATTRIBUTE = st.one_of(
    VALUES.map(lambda v: {"type": "Property", "value": v}),
    st.sampled_from(["urn:a", "urn:b"]).map(lambda o: {"type": "Relationship", "object": o}),
    st.sampled_from(["a", "b"]).map(lambda v: {"type": "LanguageProperty", "languageMap": {"da": v}}),
    st.lists(st.integers(-3, 3), min_size=1, max_size=3).map(
        lambda v: {"type": "ListProperty", "valueList": v}
    ),
)


ENTITY_ATTRS = st.dictionaries(st.sampled_from(["a", "b", "c"]), ATTRIBUTE, max_size=3)


LITERALS = st.sampled_from(
    ["0", "1", "-2", "2.5", '"a"', '"b"', '"Seat"', "true", "urn:a", "2024-01-01T00:00:00Z"]
)


TERMS = st.one_of(
    st.builds(
        lambda a, op, v: f"{a}{op}{v}",
        st.sampled_from("abc"),
        st.sampled_from(["==", "!=", ">", "<", ">=", "<="]),
        LITERALS,
    ),
    st.sampled_from(
        [
            "a",
            "b",
            "!a",
            "!c",
            'a~="^a"',
            'b!~="b"',
            "a==1..3",
            "b!=0..2",
            'a=="a","b"',
            "a==1,2",
            'c[city]=="Aarhus"',
        ]
    ),
)


EXPRESSIONS = st.recursive(
    TERMS,
    lambda inner: st.builds(lambda x, y, op: f"({x}){op}({y})", inner, inner, st.sampled_from([";", "|"])),
    max_leaves=4,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(population=st.lists(ENTITY_ATTRS, min_size=1, max_size=8), text=EXPRESSIONS)
async def test_sql_filter_agrees_with_evaluator(
    store: Store, population: list[dict[str, Any]], text: str
) -> None:
    try:
        expr = parse_q(text).map_names(lambda name: EX + name)
    except BadRequestData:
        reject()
    entities = [entity(n) | {EX + k: [v] for k, v in attrs.items()} for n, attrs in enumerate(population)]

    def refill(tx: Transaction) -> None:
        for number in range(8):
            tx.delete(f"urn:ngsi-ld:Thing:{number}")
        for item in entities:
            tx.insert(item)

    await store.transact("", refill)
    result = await store.query_entities("", EntityQuery(q=expr, limit=100, count=True))
    expected = [e["id"] for e in entities if expr.matches(e)]
    assert [e["id"] for e in result.entities] == expected, text
    assert [e["id"] for e in entities if EntityQuery(q=expr).matches(e)] == expected
    assert result.count == len(expected)


async def test_numbers_are_indexed_exactly(store: Store) -> None:
    """Doubles reach the index as they are: 17 significant digits, and the largest double (a
    PostgreSQL cast through numeric once rounded both to 15 digits, the second past the range)."""
    values = [0.1 + 0.2, 0.3, 1.7976931348623157e308, -1.7976931348623157e308, 2.5e-308]
    for number, value in enumerate(values):
        await store.transact("", lambda tx, n=number, v=value: tx.insert(entity(n, level=v)))
    for number, value in enumerate(values):
        found = await store.query_entities("", EntityQuery(q=parse_q(f"{EX}level=={value!r}")))
        assert [e["id"] for e in found.entities] == [f"urn:ngsi-ld:Thing:{number}"], value
    above = await store.query_entities("", EntityQuery(q=parse_q(f"{EX}level>0.3")))
    assert {e["id"] for e in above.entities} == {"urn:ngsi-ld:Thing:0", "urn:ngsi-ld:Thing:2"}


async def test_one_entity_changed_twice_in_one_transaction(store: Store) -> None:
    def insert_replace_delete(tx: Transaction) -> None:
        tx.insert(entity(1, speed=1))
        tx.replace(entity(1, speed=2))
        tx.insert(entity(2, speed=5))
        tx.delete("urn:ngsi-ld:Thing:2")
        tx.insert(entity(3, speed=7))
        tx.replace(entity(3, speed=8))
        tx.replace(entity(3, speed=9))

    await store.transact("", insert_replace_delete)
    found = await store.query_entities("", EntityQuery(q=parse_q(EX + "speed>0"), count=True))
    assert [(e["id"], e[EX + "speed"][0]["value"]) for e in found.entities] == [
        ("urn:ngsi-ld:Thing:1", 2),
        ("urn:ngsi-ld:Thing:3", 9),
    ]
    assert found.count == 2
    for value in (1, 5, 7, 8):
        assert (await store.query_entities("", EntityQuery(q=parse_q(f"{EX}speed=={value}")))).entities == []


COORDINATE = st.integers(0, 4).map(lambda step: step * 0.01)


def _box(x: float, y: float, size: float) -> dict[str, Any]:
    ring = [
        [12 + x, 55 + y],
        [12 + x + size, 55 + y],
        [12 + x + size, 55 + y + size],
        [12 + x, 55 + y + size],
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


GEOMETRIES = st.one_of(
    st.builds(lambda x, y: {"type": "Point", "coordinates": [12 + x, 55 + y]}, COORDINATE, COORDINATE),
    st.builds(_box, COORDINATE, COORDINATE, st.sampled_from([0.01, 0.02])),
    st.builds(
        lambda x, y, z: {"type": "LineString", "coordinates": [[12 + x, 55 + y], [12 + z, 55 + y + 0.01]]},
        COORDINATE,
        COORDINATE,
        COORDINATE,
    ),
)
GEO_QUERIES = st.one_of(
    st.builds(
        lambda relation, shape: (relation, shape["type"], shape["coordinates"]),
        st.sampled_from(["within", "contains", "intersects", "equals", "disjoint", "overlaps"]),
        GEOMETRIES,
    ),
    st.builds(
        lambda distance, bound, x, y: (f"near;{bound}=={distance}", "Point", [12 + x, 55 + y]),
        st.sampled_from([200, 700, 1500, 3000]),
        st.sampled_from(["maxDistance", "minDistance"]),
        COORDINATE,
        COORDINATE,
    ),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(population=st.lists(GEOMETRIES, min_size=1, max_size=8), question=GEO_QUERIES)
async def test_geo_queries_agree_with_shapely(
    store: Store, population: list[dict[str, Any]], question: tuple[str, str, Any]
) -> None:
    georel, geometry, coordinates = question
    parsed = parse_geo_query(georel, geometry, coordinates, None)
    assert parsed is not None
    geo = dataclasses.replace(parsed, geoproperty=EX + "location")
    entities = [entity(n, location={"type": "GeoProperty", "value": g}) for n, g in enumerate(population)]

    def refill(tx: Transaction) -> None:
        for number in range(8):
            tx.delete(f"urn:ngsi-ld:Thing:{number}")
        for item in entities:
            tx.insert(item)

    await store.transact("", refill)
    result = await store.query_entities("", EntityQuery(geo=geo, limit=100, count=True))
    expected = [e["id"] for e in entities if geo.matches(e[EX + "location"][0]["value"])]
    assert [e["id"] for e in result.entities] == expected, question
    assert result.count == len(expected)


async def test_a_partial_change_leaves_the_index_as_a_fresh_write_would(store: Store) -> None:
    """Only the index rows of changed attributes are rewritten; the rows that stay, those that go and
    those that come must add up to the rows of the new state, geometries included."""
    from smartby.store.sql.index_rows import ATTR_COLUMNS, attribute_rows

    point = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.5, 55.6]}}
    first = entity(1, speed=10, name="a", tags={"type": "Property", "value": ["x", 2]}, location=point)
    await store.transact("", lambda tx: tx.insert(first))
    later = [
        {**first, EX + "speed": [{"type": "Property", "value": 11}]},
        {
            **first,
            EX + "name": [
                {"type": "Property", "value": "b"},
                {"type": "Property", "value": 3, "datasetId": "urn:d"},
            ],
        },
        {k: v for k, v in first.items() if k != EX + "tags"},
        {
            **first,
            EX + "location": [
                {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [10.2, 56.1]}}
            ],
        },
    ]
    for state in later:
        await store.transact("", lambda tx, state=state: tx.replace(state))
        rows = await store._read(  # type: ignore[attr-defined]
            lambda db: [
                tuple(r) for r in db.execute(f"SELECT {', '.join(ATTR_COLUMNS)} FROM attr").fetchall()
            ]
        )
        terms = await store._read(  # type: ignore[attr-defined]
            lambda db: dict(db.execute("SELECT iri, id FROM term").fetchall())
        )
        key = rows[0][0]
        expected = attribute_rows(rows[0][3], key, state, terms.__getitem__)
        assert sorted(rows) == sorted(expected)
        near = parse_geo_query(
            "near;maxDistance==1000", "Point", str(state[EX + "location"][0]["value"]["coordinates"]), None
        )
        assert near is not None
        query = EntityQuery(geo=dataclasses.replace(near, geoproperty=EX + "location"))
        assert [e["id"] for e in (await store.query_entities("", query)).entities] == ["urn:ngsi-ld:Thing:1"]


async def test_several_changes_of_one_entity_in_one_transaction_leave_its_final_state(store: Store) -> None:
    """A second change of an entity in a transaction replaces what the first left waiting (no
    flush in between): the index holds the final state's rows, history every instance."""
    from smartby.store.sql.index_rows import ATTR_COLUMNS, attribute_rows

    point = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.5, 55.6]}}
    moved = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [10.2, 56.1]}}
    stored = entity(2, speed=1, name="x", location=point)
    await store.transact("", lambda tx: tx.insert(stored))

    def stamped(state: dict[str, Any], number: int) -> dict[str, Any]:
        changed = dict(state)
        for key, value in state.items():
            if key.startswith(EX):
                changed[key] = [{**i, "modifiedAt": f"2024-01-01T00:00:0{number}Z"} for i in value]
        return changed

    states = [
        entity(1, speed=10, name="a", location=point),
        {**entity(1, speed=11, name="a"), EX + "location": [moved]},
        entity(1, speed=11, name="b", tags={"type": "Property", "value": [1, 2]}, location=moved),
        entity(1, speed=12, name="b", location=moved),
    ]

    def many(tx: Transaction) -> None:
        tx.insert(stamped(states[0], 0))
        for number, state in enumerate(states[1:], start=1):
            tx.replace(stamped(state, number))
        current = tx.get("urn:ngsi-ld:Thing:2")
        assert current is not None
        tx.replace(
            {
                **current,
                EX + "speed": [{"type": "Property", "value": 2, "modifiedAt": "2024-01-02T00:00:00Z"}],
            }
        )
        tx.replace(
            {
                **current,
                EX + "speed": [{"type": "Property", "value": 3, "modifiedAt": "2024-01-03T00:00:00Z"}],
            }
        )

    await store.transact("", many)
    rows = await store._read(  # type: ignore[attr-defined]
        lambda db: [tuple(r) for r in db.execute(f"SELECT {', '.join(ATTR_COLUMNS)} FROM attr").fetchall()]
    )
    terms = await store._read(  # type: ignore[attr-defined]
        lambda db: dict(db.execute("SELECT iri, id FROM term").fetchall())
    )
    keys = {row[0] for row in rows}
    final = {1: stamped(states[-1], 3)}
    first = await store.get_entity("", "urn:ngsi-ld:Thing:1")
    second = await store.get_entity("", "urn:ngsi-ld:Thing:2")
    assert first is not None and second is not None
    assert first[EX + "speed"][0]["value"] == 12 and EX + "tags" not in first
    assert second[EX + "speed"][0]["value"] == 3
    expected = [
        row
        for key in keys
        for row in attribute_rows(
            rows[0][3],
            key,
            first if any(r[0] == key and r[5] == 12.0 for r in rows) else second,
            terms.__getitem__,
        )
    ]
    assert sorted(rows) == sorted(expected) and len(final) == 1
    near = parse_geo_query("near;maxDistance==1000", "Point", "[10.2,56.1]", None)
    assert near is not None
    query = EntityQuery(geo=dataclasses.replace(near, geoproperty=EX + "location"))
    assert [e["id"] for e in (await store.query_entities("", query)).entities] == ["urn:ngsi-ld:Thing:1"]
    history, _ = await store.history("", HistoryQuery(attrs=(EX + "speed",)))
    speeds = {e.id: [i["value"] for i in e.attributes[EX + "speed"]] for e in history}
    assert speeds == {"urn:ngsi-ld:Thing:1": [10, 11, 11, 12], "urn:ngsi-ld:Thing:2": [1, 2, 3]}


ORDER_KEYS = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c[city]", "id"]), st.booleans()), min_size=1, max_size=3
)


def _first_value(entity: dict[str, Any], key: str) -> Any:
    """What an ordering reads of an entity for one key (see store/sql/ordering.py), in Python."""
    if key == "id":
        return entity["id"]
    name, _, rest = key.partition("[")
    instances = entity.get(EX + name)
    if not instances:
        return None
    if rest:
        value = instances[0].get("value")
        found = value.get(rest.rstrip("]")) if isinstance(value, dict) else None
        return found if _scalar(found) else None
    values = [value for value in instance_values(instances[0]) if _scalar(value)]
    return values[0] if values else None


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _compare(left: Any, right: Any, descending: bool) -> int:
    """Numbers, then strings (descending: strings, then numbers, each reversed), then nothing."""

    def rank(value: Any) -> int:
        if value is None:
            return 2
        return (1 if descending else 0) if not isinstance(value, str) else (0 if descending else 1)

    if rank(left) != rank(right):
        return -1 if rank(left) < rank(right) else 1
    if left is None or left == right:
        return 0
    smaller = left < right
    return (1 if smaller else -1) if descending else (-1 if smaller else 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(population=st.lists(ENTITY_ATTRS, min_size=1, max_size=8), keys=ORDER_KEYS)
async def test_sql_order_agrees_with_the_rule(
    store: Store, population: list[dict[str, Any]], keys: list[tuple[str, bool]]
) -> None:
    """orderBy in SQL orders as the rule says, page by page, on both backends."""
    entities = [entity(n) | {EX + k: [v] for k, v in attrs.items()} for n, attrs in enumerate(population)]

    def refill(tx: Transaction) -> None:
        for number in range(8):
            tx.delete(f"urn:ngsi-ld:Thing:{number}")
        for item in entities:
            tx.insert(item)

    await store.transact("", refill)
    ordering = parse_order_by(",".join(f"{key};{'desc' if down else 'asc'}" for key, down in keys))
    ordering = tuple(key.map_names(lambda name: EX + name) for key in ordering)

    def compare(left: dict[str, Any], right: dict[str, Any]) -> int:
        for key, down in keys:
            found = _compare(_first_value(left, key), _first_value(right, key), down)
            if found:
                return found
        return 0

    expected = [e["id"] for e in sorted(entities, key=functools.cmp_to_key(compare))]
    got: list[str] = []
    for offset in range(0, len(entities), 3):
        page = await store.query_entities("", EntityQuery(order_by=ordering, limit=3, offset=offset))
        got.extend(e["id"] for e in page.entities)
    assert got == expected, keys
