"""History in the SQLite store: recorded with every change, read back, filtered, aggregated."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.reads import Buckets, EntitySelector, HistoryQuery
from smartby.ngsild.timestamps import from_micros, to_micros
from smartby.ngsild.typequery import parse_type_query
from smartby.store import Store
from smartby.store.base import Transaction

EX = "https://example.org/"
SPEED = EX + "speed"
HOUR = 3_600_000_000


def reading(value: Any, observed: str, stamp: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "Property",
        "value": value,
        "observedAt": observed,
        "createdAt": stamp,
        "modifiedAt": stamp,
        **extra,
    }


def sensor(number: int, stamp: str, **attributes: Any) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Sensor:{number}",
        "type": [EX + "Sensor"],
        "createdAt": stamp,
        "modifiedAt": stamp,
        **{EX + name: [value] for name, value in attributes.items()},
    }


async def write_series(store: Store, values: list[float], start: str = "2024-01-01T00:00:00Z") -> None:
    """One sensor whose speed takes `values`, one change per 5 minutes."""
    first = to_micros(start)
    for index, value in enumerate(values):
        stamp = from_micros(first + index * 300_000_000)
        entity = sensor(1, stamp, speed=reading(value, stamp, stamp, unitCode="KMH"))

        def change(tx: Transaction, entity: dict[str, Any] = entity) -> None:
            if tx.get(entity["id"]) is None:
                tx.insert(entity)
            else:
                tx.replace(entity)

        await store.transact("", change)


async def test_every_change_is_recorded_with_its_members(store: Store) -> None:
    await write_series(store, [10, 20.5, 30])
    found, _ = await store.history("", HistoryQuery())
    assert [e.id for e in found] == ["urn:ngsi-ld:Sensor:1"]
    instances = found[0].attributes[SPEED]
    assert [i["value"] for i in instances] == [10, 20.5, 30]
    assert isinstance(instances[0]["value"], int) and isinstance(instances[1]["value"], float)
    assert [i["observedAt"] for i in instances] == [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:05:00Z",
        "2024-01-01T00:10:00Z",
    ]
    assert all(i["unitCode"] == "KMH" for i in instances)
    assert len({i["instanceId"] for i in instances}) == 3


async def test_superseded_instances_reach_history_but_not_the_current_state(store: Store) -> None:
    stamp = "2024-01-01T00:00:00Z"
    readings = [reading(v, f"2024-01-01T00:0{n}:00Z", stamp) for n, v in enumerate([1, 2, 3])]
    await store.transact("", lambda tx: tx.insert(sensor(1, stamp, speed=readings[2]), {SPEED: readings[:2]}))
    later = "2024-01-01T01:00:00Z"
    more = [reading(v, f"2024-01-01T01:0{n}:00Z", later) for n, v in enumerate([4, 5])]
    await store.transact("", lambda tx: tx.replace(sensor(1, later, speed=more[1]), {SPEED: more[:1]}))
    current = await store.get_entity("", "urn:ngsi-ld:Sensor:1")
    assert current is not None and [i["value"] for i in current[SPEED]] == [5]
    found, _ = await store.history("", HistoryQuery())
    instances = found[0].attributes[SPEED]
    assert [(i["observedAt"][11:16], i["value"]) for i in instances] == [
        ("00:00", 1),
        ("00:01", 2),
        ("00:02", 3),
        ("01:00", 4),
        ("01:01", 5),
    ]
    assert len({i["instanceId"] for i in instances}) == 5


async def test_unchanged_attributes_are_not_recorded_again(store: Store) -> None:
    stamp = "2024-01-01T00:00:00Z"
    later = "2024-01-01T01:00:00Z"
    entity = sensor(
        1,
        stamp,
        speed=reading(1, stamp, stamp),
        name={"type": "Property", "value": "A", "createdAt": stamp, "modifiedAt": stamp},
    )
    await store.transact("", lambda tx: tx.insert(entity))

    def touch_speed_only(tx: Transaction) -> None:
        current = tx.get("urn:ngsi-ld:Sensor:1")
        assert current is not None
        current[SPEED] = [reading(2, later, later)]
        current["modifiedAt"] = later
        tx.replace(current)

    await store.transact("", touch_speed_only)
    found, _ = await store.history("", HistoryQuery())
    assert [i["value"] for i in found[0].attributes[SPEED]] == [1, 2]
    assert [i["value"] for i in found[0].attributes[EX + "name"]] == ["A"]


async def test_deletions_are_recorded_and_history_outlives_the_entity(store: Store) -> None:
    await write_series(store, [1, 2])
    await store.transact("", lambda tx: tx.delete("urn:ngsi-ld:Sensor:1", "2024-01-02T00:00:00Z"))
    assert await store.get_entity("", "urn:ngsi-ld:Sensor:1") is None
    found, _ = await store.history("", HistoryQuery())
    assert [i["value"] for i in found[0].attributes[SPEED]] == [1, 2]
    deleted, _ = await store.history("", HistoryQuery(timeproperty="deletedAt"))
    assert deleted[0].attributes[SPEED][0]["deletedAt"] == "2024-01-02T00:00:00Z"


async def test_time_window_and_last_n(store: Store) -> None:
    await write_series(store, [float(v) for v in range(12)])
    start = to_micros("2024-01-01T00:15:00Z")
    end = to_micros("2024-01-01T00:30:00Z")
    window, _ = await store.history("", HistoryQuery(start=start, end=end))
    assert [i["value"] for i in window[0].attributes[SPEED]] == [3.0, 4.0, 5.0]
    last, _ = await store.history("", HistoryQuery(last_n=4))
    assert [i["value"] for i in last[0].attributes[SPEED]] == [8.0, 9.0, 10.0, 11.0]


async def test_selection_by_type_and_attribute(store: Store) -> None:
    await write_series(store, [1])
    by_type = HistoryQuery(selectors=(EntitySelector(types=parse_type_query(EX + "Sensor")),))
    assert len((await store.history("", by_type))[0]) == 1
    other = HistoryQuery(selectors=(EntitySelector(types=parse_type_query(EX + "Other")),))
    assert (await store.history("", other))[0] == []
    assert (await store.history("", HistoryQuery(attrs=(EX + "missing",))))[0] == []


async def test_temporal_writes_and_instance_changes(store: Store) -> None:
    header = {"id": "urn:ngsi-ld:Sensor:9", "type": [EX + "Sensor"]}
    now = "2024-02-01T00:00:00Z"
    instances = [
        {"type": "Property", "value": v, "observedAt": f"2024-01-0{d}T00:00:00Z"} for d, v in ((1, 5), (2, 7))
    ]
    await store.transact("", lambda tx: tx.add_history(header, {SPEED: instances}, now))
    found, _ = await store.history("", HistoryQuery())
    first = found[0].attributes[SPEED][0]
    assert first["createdAt"] == now
    assert await store.get_entity("", "urn:ngsi-ld:Sensor:9") is None
    changed = {"type": "Property", "value": 6, "observedAt": "2024-01-01T00:00:00Z"}
    ok = await store.transact(
        "",
        lambda tx: tx.replace_instance(
            header["id"], SPEED, first["instanceId"], changed, "2024-03-01T00:00:00Z"
        ),
    )
    assert ok
    found, _ = await store.history("", HistoryQuery())
    assert [i["value"] for i in found[0].attributes[SPEED]] == [6, 7]
    assert found[0].attributes[SPEED][0]["modifiedAt"] == "2024-03-01T00:00:00Z"
    assert await store.transact("", lambda tx: tx.delete_instance(header["id"], SPEED, first["instanceId"]))
    found, _ = await store.history("", HistoryQuery())
    assert [i["value"] for i in found[0].attributes[SPEED]] == [7]
    assert await store.transact("", lambda tx: tx.delete_history(header["id"]))
    assert (await store.history("", HistoryQuery()))[0] == []


AGGREGATES = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.integers(-50, 50) | st.floats(-100, 100, allow_nan=False), min_size=1, max_size=40))
async def test_sql_aggregates_match_a_plain_computation(store: Store, values: list[float]) -> None:
    await store.transact("", lambda tx: tx.delete_history("urn:ngsi-ld:Sensor:1"))
    await store.transact("", lambda tx: tx.delete("urn:ngsi-ld:Sensor:1"))
    await write_series(store, values)
    origin = to_micros("2024-01-01T00:00:00Z")
    result, _ = await store.aggregate("", HistoryQuery(), AGGREGATES, Buckets(width=HOUR, origin=origin))
    periods = result[0].attributes[SPEED][0].periods
    expected_buckets = {index // 12 for index in range(len(values))}
    assert [p[0] for p in periods] == [origin + b * HOUR for b in sorted(expected_buckets)]
    for start, end, got in periods:
        bucket = [v for i, v in enumerate(values) if origin + (i // 12) * HOUR == start]
        mean = sum(bucket) / len(bucket)
        assert end - start == HOUR
        assert got["totalCount"] == len(bucket)
        assert got["distinctCount"] == len(set(bucket))
        assert got["sum"] == pytest.approx(sum(bucket))
        assert got["avg"] == pytest.approx(mean)
        assert got["min"] == min(bucket) and got["max"] == max(bucket)
        assert got["sumsq"] == pytest.approx(sum(v * v for v in bucket))
        variance = sum((v - mean) ** 2 for v in bucket) / len(bucket)
        assert got["stddev"] == pytest.approx(math.sqrt(variance), abs=1e-6)


async def test_calendar_buckets(store: Store) -> None:
    await write_series(store, [1, 2, 3, 4], start="2024-01-31T23:50:00Z")
    january = (to_micros("2024-01-01T00:00:00Z"), to_micros("2024-02-01T00:00:00Z"))
    february = (to_micros("2024-02-01T00:00:00Z"), to_micros("2024-03-01T00:00:00Z"))
    months = Buckets(origin=january[0], end=february[1], calendar=lambda start, end: (january, february))
    result, _ = await store.aggregate("", HistoryQuery(), ("sum",), months)
    periods = result[0].attributes[SPEED][0].periods
    assert [(p[0], p[1], p[2]["sum"]) for p in periods] == [(*january, 3), (*february, 7)]


async def test_retention_prunes_old_history(store: Store) -> None:
    await write_series(store, [1, 2, 3, 4])
    removed = await store.prune_history("", EX + "Sensor", to_micros("2024-01-01T00:10:00Z"))
    assert removed == 2
    found, _ = await store.history("", HistoryQuery())
    assert [i["value"] for i in found[0].attributes[SPEED]] == [3, 4]


async def test_an_import_run_twice_adds_nothing_twice(store: Store) -> None:
    header = {"id": "urn:ngsi-ld:TrafficFlowObserved:158324", "type": [EX + "TrafficFlowObserved"]}
    readings = [
        {"type": "Property", "value": v, "observedAt": t}
        for v, t in ((5, "2014-08-01T05:50:00Z"), (6, "2014-08-01T05:55:00Z"), (6, "2014-08-01T05:55:00Z"))
    ]
    now = "2024-01-01T00:00:00Z"
    first = await store.transact(
        "", lambda tx: tx.add_history(header, {SPEED: readings}, now, skip_existing=True)
    )
    again = await store.transact(
        "", lambda tx: tx.add_history(header, {SPEED: readings}, now, skip_existing=True)
    )
    assert (first, again) == (2, 0)
    found, _ = await store.history("", HistoryQuery())
    assert [i["value"] for i in found[0].attributes[SPEED]] == [5, 6]


async def test_periods_start_at_each_entitys_first_instance(store: Store) -> None:
    await write_series(store, [1, 2, 3, 4, 5], start="2024-01-01T00:05:00Z")
    result, _ = await store.aggregate("", HistoryQuery(), ("totalCount",), Buckets(width=HOUR // 6))
    periods = result[0].attributes[SPEED][0].periods
    first = to_micros("2024-01-01T00:05:00Z")
    assert [(p[0] - first, p[2]["totalCount"]) for p in periods] == [
        (0, 2),
        (HOUR // 6, 2),
        (2 * HOUR // 6, 1),
    ]
    whole, _ = await store.aggregate("", HistoryQuery(), ("sum",), Buckets())
    (only,) = whole[0].attributes[SPEED][0].periods
    assert only[0] == first and only[2]["sum"] == 15
