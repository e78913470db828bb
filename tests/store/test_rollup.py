"""Hourly rollups of history: aggregations they serve give exactly what every instance gives, through
writes, instance changes and deletions, retention and the migration that fills them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.reads import AggregatedEntity, Buckets, HistoryQuery
from smartby.ngsild.timestamps import from_micros, to_micros
from smartby.settings import Settings
from smartby.store import Store, open_store
from smartby.store.base import Transaction
from smartby.store.rollup_plan import ROLLUP_METHODS, hourly_plan

EX = "https://example.org/"
SENSOR = EX + "Sensor"
ATTRS = (EX + "speed", EX + "level")
DATASET = "urn:ngsi-ld:Dataset:b"
MINUTE = 60_000_000
HOUR = 3_600_000_000
DAY = 24 * HOUR
BASE = to_micros("2024-03-10T00:00:00Z")
SPAN = 40 * 60
"""Instances fall in the first SPAN minutes after BASE."""
ENTITIES = tuple(f"urn:ngsi-ld:Sensor:{n}" for n in range(2))
ROLLED_UP = "from history_hour"


def _methods_of(methods: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(m for m in methods if m in ROLLUP_METHODS)


# Numbers: integers, and floats that never equal an integer (so the least of 5 and 5.0 is never a
# matter of which one a scan meets first); some strings, which count but have no sum.
values = (
    st.integers(-1000, 1000)
    | st.integers(-10_000, 10_000).map(lambda k: k / 100 + 0.005)
    | st.sampled_from(["low", "high"])
)


@st.composite
def instances(draw: st.DrawFn) -> dict[str, Any]:
    instance: dict[str, Any] = {"type": "Property", "value": draw(values)}
    if draw(st.integers(0, 5)):
        instance["observedAt"] = from_micros(
            BASE + draw(st.integers(0, 6 * 60) | st.integers(0, SPAN)) * MINUTE
        )
    if draw(st.integers(0, 3)) == 0:
        instance["datasetId"] = DATASET
    return instance


entity_numbers = st.integers(0, len(ENTITIES) - 1)
attr_numbers = st.integers(0, len(ATTRS) - 1)
moments = st.integers(0, SPAN).map(lambda minutes: BASE + minutes * MINUTE)

additions = st.tuples(
    st.just("add"),
    entity_numbers,
    attr_numbers,
    st.lists(instances(), min_size=1, max_size=12),
    moments,
    st.sampled_from(["plain", "skip_existing", "replace_observed"]),
)
operations = st.one_of(
    additions,
    st.tuples(st.just("patch"), entity_numbers, attr_numbers, st.integers(0, 50), instances(), moments),
    st.tuples(st.just("delete_instance"), entity_numbers, attr_numbers, st.integers(0, 50)),
    st.tuples(st.just("delete_attribute"), entity_numbers, attr_numbers, st.booleans()),
    st.tuples(st.just("delete_history"), entity_numbers),
    st.tuples(st.just("prune"), moments),
    st.tuples(st.just("change"), entity_numbers, values, moments),
    st.tuples(st.just("delete_entity"), entity_numbers, moments),
)


async def _instance_ids(store: Store, entity: str, attr: str) -> list[str]:
    found, _ = await store.history("", HistoryQuery(selectors=(), attrs=(attr,), limit=100, dataset_ids=None))
    for temporal in found:
        if temporal.id == entity:
            return [i["instanceId"] for i in temporal.attributes.get(attr, [])]
    return []


async def _apply(store: Store, operation: tuple[Any, ...]) -> None:
    kind = operation[0]
    if kind == "add":
        _, e, a, added, now, mode = operation
        header = {"id": ENTITIES[e], "type": [SENSOR]}
        flags = {mode: True} if mode != "plain" else {}
        await store.transact(
            "", lambda tx: tx.add_history(header, {ATTRS[a]: added}, from_micros(now), **flags)
        )
    elif kind in ("patch", "delete_instance"):
        e, a, pick = operation[1:4]
        ids = await _instance_ids(store, ENTITIES[e], ATTRS[a])
        if not ids:
            return
        chosen = ids[pick % len(ids)]
        if kind == "patch":
            replacement, now = operation[4], from_micros(operation[5])
            await store.transact(
                "", lambda tx: tx.replace_instance(ENTITIES[e], ATTRS[a], chosen, replacement, now)
            )
        else:
            await store.transact("", lambda tx: tx.delete_instance(ENTITIES[e], ATTRS[a], chosen))
    elif kind == "delete_attribute":
        _, e, a, every = operation
        await store.transact("", lambda tx: tx.delete_attribute_history(ENTITIES[e], ATTRS[a], None, every))
    elif kind == "delete_history":
        await store.transact("", lambda tx: tx.delete_history(ENTITIES[operation[1]]))
    elif kind == "prune":
        await store.prune_history("", SENSOR, operation[1])
    elif kind == "change":
        _, e, value, now = operation
        stamp = from_micros(now)
        attribute = {"type": "Property", "value": value, "createdAt": stamp, "modifiedAt": stamp}
        entity = {"id": ENTITIES[e], "type": [SENSOR], "createdAt": stamp, "modifiedAt": stamp}
        entity[ATTRS[0]] = [attribute]

        def change(tx: Transaction) -> None:
            if tx.get(entity["id"]) is None:
                tx.insert(entity)
            else:
                tx.replace({**entity, "createdAt": tx.get(entity["id"])["createdAt"]})  # type: ignore[index]

        await store.transact("", change)
    elif kind == "delete_entity":
        _, e, now = operation
        await store.transact("", lambda tx: tx.delete(ENTITIES[e], from_micros(now)))


@dataclass(frozen=True)
class Case:
    query: HistoryQuery
    methods: tuple[str, ...]
    buckets: Buckets


def _days(start: int, end: int) -> list[tuple[int, int]]:
    return [(low, min(low + DAY, end)) for low in range(start, end, DAY)]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Queries whose periods and window edges fall on whole hours or not, as the broker makes them
    (the origin is the window's start) or not."""
    aligned = draw(st.booleans())
    start = BASE + draw(st.integers(-2, 8)) * HOUR
    if not aligned:
        start += draw(st.sampled_from([1, 10, 59])) * MINUTE
    end = start + draw(st.integers(1, 36)) * HOUR + (0 if aligned else draw(st.integers(0, 59)) * MINUTE)
    origin = start if draw(st.integers(0, 3)) else start - draw(st.integers(1, 5)) * HOUR
    shape = draw(st.sampled_from(["fixed", "whole", "calendar", "after"]))
    if shape == "fixed":
        width = draw(st.sampled_from([HOUR, 2 * HOUR, 3 * HOUR, 5 * HOUR, DAY, 30 * MINUTE, 90 * MINUTE]))
        buckets = Buckets(width=width, origin=origin, end=end)
    elif shape == "after":
        buckets = Buckets(width=draw(st.sampled_from([HOUR, 5 * HOUR])), origin=origin)
        end = None  # type: ignore[assignment]
    elif shape == "whole":
        buckets = Buckets(origin=origin, end=end)
    else:
        buckets = Buckets(origin=origin, end=end, calendar=_days)
    attrs = draw(st.sampled_from([(), (ATTRS[0],), ATTRS]))
    datasets = draw(st.sampled_from([None, (None,), (DATASET,)]))
    query = HistoryQuery(attrs=attrs, dataset_ids=datasets, start=start, end=end, limit=10)
    methods = tuple(draw(st.lists(st.sampled_from(sorted(ROLLUP_METHODS)), min_size=1, unique=True)))
    return Case(query, methods, buckets)


def _periods(entities: list[AggregatedEntity], methods: tuple[str, ...]) -> list[Any]:
    return [
        (entity.id, name, aggregate.kind, aggregate.dataset_id, start, end, {m: got[m] for m in methods})
        for entity in entities
        for name, aggregates in sorted(entity.attributes.items())
        for aggregate in aggregates
        for start, end, got in aggregate.periods
    ]


def _same(rolled: Any, raw: Any, method: str) -> None:
    if method == "stddev":
        assert rolled == pytest.approx(raw, abs=1e-5)
        return
    assert type(rolled) is type(raw), (method, rolled, raw)
    if isinstance(raw, float):
        assert rolled == pytest.approx(raw, rel=1e-9, abs=1e-9), method
    else:
        assert rolled == raw, method


async def _assert_same_as_raw(store: Store, case: Case) -> None:
    """The case's answer (from the rollup when it can) equals the instances' own (distinctCount
    asked too, which only the instances give)."""
    rolled, _ = await store.aggregate("", case.query, case.methods, case.buckets)
    raw, _ = await store.aggregate("", case.query, (*case.methods, "distinctCount"), case.buckets)
    got, expected = _periods(rolled, case.methods), _periods(raw, case.methods)
    assert [row[:6] for row in got] == [row[:6] for row in expected]
    for mine, theirs in zip(got, expected, strict=True):
        for method in case.methods:
            _same(mine[6][method], theirs[6][method], method)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(additions, min_size=1, max_size=3),
    steps=st.lists(operations, max_size=8),
    checks=st.lists(cases(), min_size=1, max_size=4),
)
async def test_rollup_answers_as_every_instance_does(
    store: Store, first: list[tuple[Any, ...]], steps: list[tuple[Any, ...]], checks: list[Case]
) -> None:
    for entity in ENTITIES:
        await store.transact("", lambda tx, entity=entity: tx.delete_history(entity))
        await store.transact("", lambda tx, entity=entity: tx.delete(entity))
    for step in [*first, *steps]:
        await _apply(store, step)
    for case in checks:
        await _assert_same_as_raw(store, case)


async def _daily_sensor(store: Store) -> None:
    header = {"id": ENTITIES[0], "type": [SENSOR]}
    readings = [
        {"type": "Property", "value": n % 7 + 0.5, "observedAt": from_micros(BASE + n * 5 * MINUTE)}
        for n in range(12 * 48)
    ]
    await store.transact("", lambda tx: tx.add_history(header, {ATTRS[0]: readings}, from_micros(BASE)))


async def test_aggregations_read_the_rollup_when_it_answers_the_same(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await _daily_sensor(store)
    caplog.set_level(logging.DEBUG, logger="smartby.store")
    daily = Buckets(width=DAY, origin=BASE, end=BASE + 2 * DAY)
    query = HistoryQuery(start=BASE, end=BASE + 2 * DAY)
    result, _ = await store.aggregate("", query, ("sum", "totalCount"), daily)
    sums = [(p[2]["sum"], p[2]["totalCount"]) for p in result[0].attributes[ATTRS[0]][0].periods]
    days = [sum(n % 7 + 0.5 for n in range(day * 288, (day + 1) * 288)) for day in (0, 1)]
    assert [s[1] for s in sums] == [288, 288]
    assert [s[0] for s in sums] == pytest.approx(days)
    assert any(ROLLED_UP in r.getMessage() for r in caplog.records)
    caplog.clear()
    # Days from 00:05: whole hours from the rollup, the cut ones (00:00, 24:00) from the instances.
    shifted = Case(
        HistoryQuery(start=BASE + 5 * MINUTE, end=BASE + 2 * DAY - 5 * MINUTE),
        ("sum", "totalCount", "avg", "min", "max", "stddev", "sumsq"),
        Buckets(width=DAY, origin=BASE + 5 * MINUTE, end=BASE + 2 * DAY - 5 * MINUTE),
    )
    await _assert_same_as_raw(store, shifted)
    assert any(ROLLED_UP in r.getMessage() for r in caplog.records)
    caplog.clear()
    await store.aggregate("", query, ("sum", "distinctCount"), daily)
    await store.aggregate("", HistoryQuery(start=BASE, timeproperty="createdAt"), ("sum",), daily)
    await store.aggregate("", query, ("sum",), Buckets(width=30 * MINUTE, origin=BASE))
    assert not any(ROLLED_UP in r.getMessage() for r in caplog.records)


def test_the_plan_reads_whole_hours_from_the_rollup_and_cut_ones_from_the_instances() -> None:
    window = HistoryQuery(start=BASE, end=BASE + DAY)
    aligned = hourly_plan(window, ("sum",), Buckets(width=DAY, origin=BASE))
    assert aligned is not None and aligned.cut == () and (aligned.first, aligned.last) == (BASE, BASE + DAY)
    assert hourly_plan(window, ("sum",), Buckets(width=30 * MINUTE, origin=BASE)) is None
    assert hourly_plan(window, ("sum",), Buckets(width=DAY)) is None
    assert hourly_plan(window, ("distinctCount",), Buckets(width=DAY, origin=BASE)) is None
    modified = HistoryQuery(start=BASE, timeproperty="modifiedAt")
    assert hourly_plan(modified, ("sum",), Buckets(width=DAY, origin=BASE)) is None
    shifted = HistoryQuery(start=BASE + 10 * MINUTE, end=BASE + 2 * DAY + 10 * MINUTE)
    plan = hourly_plan(shifted, ("sum",), Buckets(width=DAY, origin=BASE + 10 * MINUTE))
    assert plan is not None
    assert plan.cut == (BASE, BASE + DAY, BASE + 2 * DAY)
    assert plan.partial == (
        (BASE + 10 * MINUTE, BASE + HOUR),
        (BASE + DAY, BASE + DAY + HOUR),
        (BASE + 2 * DAY, BASE + 2 * DAY + 10 * MINUTE),
    )
    assert (plan.first, plan.last) == (BASE, BASE + 2 * DAY + HOUR)
    assert hourly_plan(shifted, ("sum",), Buckets(width=90 * MINUTE, origin=BASE + 10 * MINUTE)) is None
    after = HistoryQuery(start=BASE + 10 * MINUTE)
    assert hourly_plan(after, ("sum",), Buckets(width=DAY, origin=BASE + 10 * MINUTE)) is None
    whole = hourly_plan(window, ("avg",), Buckets(origin=BASE, end=BASE + DAY))
    assert whole is not None and whole.bounds == ((BASE, BASE + DAY),) and whole.cut == ()
    assert hourly_plan(window, ("avg",), Buckets(origin=BASE)) is None


def _drop_rollup(url: str) -> None:
    """Make the database look as it did before the rollup existed (PostgreSQL's later migrations
    do not touch history; SQLite's upgrade from before the rollup is tests/store/test_sqlite_upgrade.py)."""
    with psycopg.connect(url) as pg:
        pg.execute("DROP TABLE history_hour")
        pg.execute("DELETE FROM schema_migration WHERE version = 3")


async def test_the_migration_fills_the_rollup_from_recorded_history(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    database_url = postgres_database
    settings = Settings(database=database_url, remote_contexts=False, _env_file=None)  # type: ignore[call-arg]
    store = open_store(database_url, settings)
    await store.open()
    try:
        await _daily_sensor(store)
        await store.transact(
            "",
            lambda tx: tx.add_history(
                {"id": ENTITIES[1], "type": [SENSOR]},
                {ATTRS[1]: [{"type": "Property", "value": 3, "observedAt": from_micros(BASE)}]},
                from_micros(BASE),
            ),
        )
    finally:
        await store.close()
    _drop_rollup(database_url)
    store = open_store(database_url, settings)
    await store.open()
    try:
        caplog.set_level(logging.DEBUG, logger="smartby.store")
        case = Case(
            HistoryQuery(start=BASE, end=BASE + 2 * DAY),
            ("totalCount", "sum", "avg", "min", "max", "stddev", "sumsq"),
            Buckets(width=3 * HOUR, origin=BASE, end=BASE + 2 * DAY),
        )
        await _assert_same_as_raw(store, case)
        assert any(ROLLED_UP in r.getMessage() for r in caplog.records)
        result, _ = await store.aggregate("", case.query, ("totalCount",), case.buckets)
        assert (
            sum(p[2]["totalCount"] for e in result for a in e.attributes.values() for p in a[0].periods)
            == 577
        )
    finally:
        await store.close()
