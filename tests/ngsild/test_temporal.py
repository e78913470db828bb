"""Tests for smartby.ngsild.temporal: temporal query parameters, aggregation periods and methods, the
temporal representations and temporal entity input.

Expected shapes are re-typed from the ETSI NGSI-LD conformance suite's expectation files (named in
each test) for the suite's vehicle: speed 120, 80, 100 at 12:03, 12:05, 12:07 and fuelLevel 67, 53,
40 at 12:03, 13:05, 14:07 on 2020-08-01.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.context import CORE_CONTEXT_URL, ContextResolver, LoaderFailed
from smartby.ngsild.entity import NULL_URI, Instance, LanguagePreference
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.geo import parse_geo_query
from smartby.ngsild.query import parse_q
from smartby.ngsild.scope import parse_scope_query
from smartby.ngsild.temporal import (
    AGGREGATION_METHODS,
    AggregatedAttribute,
    AggregationPeriod,
    Bucket,
    InstancePage,
    TemporalQuery,
    aggregate,
    instance_time,
    next_window,
    paginate,
    paginate_periods,
    parse_instance_fragment,
    parse_temporal_attributes,
    parse_temporal_entity,
    parse_temporal_query,
    render_aggregated_entity,
    render_temporal_entity,
    selects,
    temporal_query_from_json,
)
from smartby.ngsild.timestamps import from_micros, micros_of, to_micros

CORE_DOCUMENT = json.loads(
    (resources.files("smartby.data") / "contexts" / "ngsi-ld-core-context-v1.8.jsonld").read_bytes()
)


def core_only(url: str) -> Any:
    if url == CORE_CONTEXT_URL:
        return CORE_DOCUMENT
    raise LoaderFailed(f"no {url} here")


TS = "https://ngsi-ld-test-suite/context#"
RESOLVER = ContextResolver(core_only)
CORE = RESOLVER.core
SUITE = RESOLVER.resolve(
    {
        name: TS + name
        for name in (
            "Vehicle",
            "speed",
            "fuelLevel",
            "isParkedIn",
            "name",
            "street",
            "vocabProperty",
            "monument",
            "sightseeing",
            "brandName",
            "added_attribute",
            "tags",
            "owners",
            "config",
        )
    }
)
VEHICLE = "urn:ngsi-ld:Vehicle:4656271219750725"
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def history(kind: str, member: str, value: Any, observed: str | None, number: int, **extra: Any) -> Instance:
    """A history instance as the store returns it."""
    instance: Instance = {"type": kind, member: value}
    if observed is not None:
        instance["observedAt"] = observed
    instance.update(extra)
    instance["instanceId"] = f"urn:ngsi-ld:Instance:{number}"
    instance.setdefault("createdAt", "2024-12-01T00:00:00Z")
    instance.setdefault("modifiedAt", instance["createdAt"])
    return instance


def prop(value: Any, observed: str | None, number: int = 0, **extra: Any) -> Instance:
    return history("Property", "value", value, observed, number, **extra)


SPEED = [
    prop(120, "2020-08-01T12:03:00Z", 1),
    prop(80, "2020-08-01T12:05:00Z", 2),
    prop(100, "2020-08-01T12:07:00Z", 3),
]
FUEL = [
    prop(67, "2020-08-01T12:03:00Z", 4),
    prop(53, "2020-08-01T13:05:00Z", 5),
    prop(40, "2020-08-01T14:07:00Z", 6),
]
VEHICLE_HISTORY = {TS + "speed": SPEED, TS + "fuelLevel": FUEL}


def without_history_members(rendered: dict[str, Any]) -> dict[str, Any]:
    """A normalized temporal entity without instanceIds (the suite ignores them too)."""
    out: dict[str, Any] = {}
    for key, value in rendered.items():
        if isinstance(value, list):
            out[key] = [{k: v for k, v in item.items() if k != "instanceId"} for item in value]
        else:
            out[key] = value
    return out


# ----------------------------------------------------------------------------------------------------
# Query parameters

T0 = "2020-08-01T12:00:00Z"
T1 = "2020-08-01T13:00:00Z"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timerel": "during", "time_at": T0}, "timerel must be before, after or between, not 'during'"),
        ({"timerel": "", "time_at": T0}, "timerel must be before, after or between, not ''"),
        ({"timerel": "after"}, "timerel=after needs timeAt"),
        ({"timerel": "between"}, "timerel=between needs timeAt"),
        ({"time_at": T0}, "timeAt and endTimeAt need timerel (before, after or between)"),
        ({"end_time_at": T1}, "timeAt and endTimeAt need timerel (before, after or between)"),
        ({"timerel": "between", "time_at": T0}, "timerel=between needs endTimeAt"),
        ({"timerel": "between", "time_at": T0, "end_time_at": T0}, "endTimeAt must be later than timeAt"),
        ({"timerel": "between", "time_at": T1, "end_time_at": T0}, "endTimeAt must be later than timeAt"),
        ({"timerel": "after", "time_at": "yesterday"}, "timeAt is not an ISO 8601 date-time: 'yesterday'"),
        (
            {"timerel": "between", "time_at": T0, "end_time_at": "2020-13-01T00:00:00Z"},
            "endTimeAt is not an ISO 8601 date-time: '2020-13-01T00:00:00Z'",
        ),
        (
            {"timerel": "before", "time_at": "0001-01-01T00:00:00+01:00"},
            "timeAt is out of range: '0001-01-01T00:00:00+01:00'",
        ),
        (
            {"timeproperty": "observed"},
            "timeproperty must be observedAt, createdAt, modifiedAt or deletedAt, not 'observed'",
        ),
        ({"last_n": "0"}, "lastN must be a positive integer, not '0'"),
        ({"last_n": "-1"}, "lastN must be a positive integer, not '-1'"),
        ({"last_n": "2.5"}, "lastN must be a positive integer, not '2.5'"),
        ({"last_n": "+3"}, "lastN must be a positive integer, not '+3'"),
        ({"last_n": ""}, "lastN must be a positive integer, not ''"),
        ({"last_n": "٣"}, "lastN must be a positive integer, not '٣'"),
        ({"last_n": "9" * 20}, "lastN is too large: " + "9" * 20),
        (
            {"aggregated": True, "aggr_methods": "avg,median"},
            "'median' is not an aggregation method; aggrMethods takes totalCount, distinctCount, sum, avg, "
            "min, max, stddev, sumsq",
        ),
        (
            {"aggr_methods": "avg,"},
            "'' is not an aggregation method; aggrMethods takes totalCount, distinctCount, sum, avg, "
            "min, max, stddev, sumsq",
        ),
        ({"aggregated": True}, "The aggregated representation (aggregatedValues) needs aggrMethods"),
        (
            {"aggregated": True, "aggr_methods": "avg", "aggr_period_duration": "bogus"},
            "aggrPeriodDuration must be an ISO 8601 duration like PT1H, P1D or P1M, not 'bogus'",
        ),
        (
            {"aggr_period_duration": "-PT1H"},
            "aggrPeriodDuration must be an ISO 8601 duration like PT1H, P1D or P1M, not '-PT1H'",
        ),
        ({"required": True}, "Querying the temporal evolution of entities needs timerel and timeAt"),
    ],
)
def test_parse_temporal_query_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        parse_temporal_query(**params)
    assert raised.value.detail == message
    assert raised.value.status == 400


def test_parse_temporal_query_defaults() -> None:
    query = parse_temporal_query()
    assert query == TemporalQuery()
    assert query.timeproperty == "observedAt"
    assert query.range() == (None, None)
    assert not query.aggregated


def test_parse_temporal_query_normalizes_times_to_utc() -> None:
    query = parse_temporal_query(
        timerel="between",
        time_at="2020-08-01T14:00:00+02:00",
        end_time_at="2020-08-01T13:00:00",
        timeproperty="modifiedAt",
        last_n="3",
    )
    assert query.time_at == utc("2020-08-01T12:00:00Z")
    assert query.end_time_at == utc("2020-08-01T13:00:00Z")
    assert query.timeproperty == "modifiedAt"
    assert query.last_n == 3


def test_end_time_at_is_kept_only_for_between() -> None:
    query = parse_temporal_query(timerel="after", time_at=T0, end_time_at=T1)
    assert query.end_time_at is None
    assert query.range() == (utc(T0), None)


@pytest.mark.parametrize(
    ("timerel", "end", "inside", "outside"),
    [
        ("before", None, ["2020-08-01T11:59:59.999999Z", "1970-01-01T00:00:00Z"], [T0, T1]),
        (
            "after",
            None,
            [T0, "2020-08-01T12:00:00.000001Z", "2999-01-01T00:00:00Z"],
            ["2020-08-01T11:59:59Z"],
        ),
        ("between", T1, [T0, "2020-08-01T12:59:59.999999Z"], [T1, "2020-08-01T11:59:59Z"]),
    ],
)
def test_time_ranges_are_half_open(
    timerel: str, end: str | None, inside: list[str], outside: list[str]
) -> None:
    query = parse_temporal_query(timerel=timerel, time_at=T0, end_time_at=end)
    assert all(query.matches(utc(moment)) for moment in inside)
    assert not any(query.matches(utc(moment)) for moment in outside)
    assert not query.matches(None)


def test_aggregation_parameters() -> None:
    query = parse_temporal_query(aggregated=True, aggr_methods="max, avg,max")
    assert query.aggr_methods == ("max", "avg")
    assert query.aggregated
    assert query.aggr_period is not None and query.aggr_period.whole_range
    hourly = parse_temporal_query(aggregated=True, aggr_methods="sum", aggr_period_duration="PT1H")
    assert hourly.aggr_period == AggregationPeriod.parse("PT1H")


def test_aggregation_parameters_are_checked_but_dropped_without_aggregated() -> None:
    query = parse_temporal_query(aggr_methods="avg", aggr_period_duration="PT1H")
    assert query.aggr_methods == ()
    assert query.aggr_period is None
    with pytest.raises(BadRequestData):
        parse_temporal_query(aggr_methods="mean")


def test_temporal_query_from_json_suite_bodies() -> None:
    """The temporalQ bodies of the suite's 021_27 and 5244_01 cases."""
    after = {"timerel": "after", "timeAt": "2020-08-01T12:00:00Z"}
    array = temporal_query_from_json({**after, "aggrMethods": ["avg"]})
    assert array.aggregated and array.aggr_methods == ("avg",)
    assert array.aggr_period is not None and array.aggr_period.whole_range
    assert temporal_query_from_json({**after, "aggrMethods": "avg,max"}).aggr_methods == ("avg", "max")
    assert temporal_query_from_json({**after, "lastN": 1}).last_n == 1
    params = temporal_query_from_json(after, {"aggrMethods": ["avg"], "aggrPeriodDuration": "PT0S"})
    assert params.aggr_methods == ("avg",) and params.time_at == utc("2020-08-01T12:00:00Z")
    plain = temporal_query_from_json(after)
    assert not plain.aggregated and plain.timerel == "after"


def test_aggr_params_win_over_temporal_q() -> None:
    query = temporal_query_from_json(
        {"aggrMethods": ["min"], "aggrPeriodDuration": "P1D"},
        {"aggrMethods": "max", "aggrPeriodDuration": "PT1H"},
    )
    assert query.aggr_methods == ("max",)
    assert query.aggr_period == AggregationPeriod.parse("PT1H")


@pytest.mark.parametrize(
    ("temporal_q", "aggr_params", "message"),
    [
        ({"timerel": "after", "timeAt": T0, "lastN": 0}, None, "lastN must be a positive integer, not '0'"),
        ({"timerel": "after", "timeAt": T0, "lastN": 2.5}, None, "lastN must be a positive integer, not 2.5"),
        ({"lastN": True}, None, "lastN must be a positive integer, not True"),
        ({"lastN": "2"}, None, "lastN must be a positive integer, not '2'"),
        ({"timerel": "during", "timeAt": T0}, None, "timerel must be before, after or between, not 'during'"),
        ({"timerel": "between", "timeAt": T0}, None, "timerel=between needs endTimeAt"),
        (
            {"timeproperty": "foo"},
            None,
            "timeproperty must be observedAt, createdAt, modifiedAt or deletedAt, not 'foo'",
        ),
        ({"timerel": "after", "timeAt": 5}, None, "timeAt must be a string"),
        (
            {"aggrMethods": ["avg"], "aggrPeriodDuration": "bogus"},
            None,
            "aggrPeriodDuration must be an ISO 8601 duration like PT1H, P1D or P1M, not 'bogus'",
        ),
        (
            {},
            {"aggrMethods": ["bogus"]},
            "'bogus' is not an aggregation method; aggrMethods takes totalCount, distinctCount, sum, avg, "
            "min, max, stddev, sumsq",
        ),
        (
            {},
            {"aggrMethods": []},
            "aggrMethods must be a non-empty array of strings or a comma-separated string",
        ),
        (
            {},
            {"aggrMethods": [1]},
            "aggrMethods must be a non-empty array of strings or a comma-separated string",
        ),
        ({}, {"aggrMethods": 3}, "aggrMethods must be a string"),
        ({}, {"aggrMethods": "avg", "aggrPeriodDuration": 3600}, "aggrPeriodDuration must be a string"),
        ([], None, "temporalQ must be a JSON object"),
        ({}, [], "aggrParams must be a JSON object"),
    ],
)
def test_temporal_query_from_json_errors(temporal_q: Any, aggr_params: Any, message: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        temporal_query_from_json(temporal_q, aggr_params)
    assert raised.value.detail == message


def test_temporal_query_from_json_required() -> None:
    with pytest.raises(BadRequestData):
        temporal_query_from_json(None, required=True)
    assert temporal_query_from_json(None) == TemporalQuery()


# ----------------------------------------------------------------------------------------------------
# Aggregation periods


@pytest.mark.parametrize(
    ("text", "canonical", "seconds"),
    [
        ("PT1H", "PT1H", 3600.0),
        ("PT4M", "PT4M", 240.0),
        ("PT1.5S", "PT1.5S", 1.5),
        ("P1D", "P1D", 86400.0),
        ("P1W", "P7D", 604800.0),
        ("P1DT12H", "P1DT12H", 129600.0),
        ("P1,5D", "P1DT12H", 129600.0),
        ("PT36H", "P1DT12H", 129600.0),
        ("P1M", "P1M", None),
        ("P1Y", "P1Y", None),
        ("P1Y2M3DT4H5M6S", "P1Y2M3DT4H5M6S", None),
        ("PT0S", "PT0S", 0.0),
        ("P0D", "PT0S", 0.0),
        ("P0Y0M", "PT0S", 0.0),
    ],
)
def test_duration_round_trip(text: str, canonical: str, seconds: float | None) -> None:
    period = AggregationPeriod.parse(text)
    assert period.to_text() == canonical
    assert AggregationPeriod.parse(period.to_text()) == period
    assert period.fixed_seconds() == seconds
    assert period.whole_range == (seconds == 0.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "P1",
        "PT1",
        "P1DT",
        "1D",
        "p1d",
        "-P1D",
        "P1.5M",
        "P0.5Y",
        "P1W2D",
        "P0003-06-04T12:30:05",
        "0",
    ],
)
def test_invalid_durations(text: str) -> None:
    with pytest.raises(BadRequestData, match="aggrPeriodDuration must be an ISO 8601 duration"):
        AggregationPeriod.parse(text)


@pytest.mark.parametrize("text", ["P99999Y", "PT99999999999999999H", "P400000000D"])
def test_durations_out_of_range(text: str) -> None:
    with pytest.raises(BadRequestData, match="is out of range"):
        AggregationPeriod.parse(text)


def test_hourly_buckets() -> None:
    period = AggregationPeriod.parse("PT1H")
    assert period.buckets(utc("2020-08-01T12:03:00Z"), utc("2020-08-01T14:07:00Z")) == [
        (utc("2020-08-01T12:03:00Z"), utc("2020-08-01T13:03:00Z")),
        (utc("2020-08-01T13:03:00Z"), utc("2020-08-01T14:03:00Z")),
        (utc("2020-08-01T14:03:00Z"), utc("2020-08-01T15:03:00Z")),
    ]
    assert period.buckets(utc(T0), utc(T0)) == []
    assert period.buckets(utc(T1), utc(T0)) == []


def test_monthly_buckets_clamp_to_month_ends_without_drift() -> None:
    period = AggregationPeriod.parse("P1M")
    starts = [low for low, _ in period.buckets(utc("2024-01-31T06:00:00Z"), utc("2024-06-01T00:00:00Z"))]
    assert starts == [
        utc("2024-01-31T06:00:00Z"),
        utc("2024-02-29T06:00:00Z"),
        utc("2024-03-31T06:00:00Z"),
        utc("2024-04-30T06:00:00Z"),
        utc("2024-05-31T06:00:00Z"),
    ]
    assert period.shift(utc("2023-01-31T00:00:00Z"), 1) == utc("2023-02-28T00:00:00Z")


def test_yearly_buckets_from_a_leap_day() -> None:
    period = AggregationPeriod.parse("P1Y")
    starts = [low for low, _ in period.buckets(utc("2020-02-29T00:00:00Z"), utc("2024-03-01T00:00:00Z"))]
    assert starts == [
        utc(f"{year}-02-{day}T00:00:00Z")
        for year, day in ((2020, 29), (2021, 28), (2022, 28), (2023, 28), (2024, 29))
    ]


def test_calendar_and_fixed_parts_combine() -> None:
    period = AggregationPeriod.parse("P1M1D")
    origin = utc("2024-01-31T00:00:00Z")
    assert period.shift(origin, 1) == utc("2024-03-01T00:00:00Z")
    assert period.shift(origin, 2) == utc("2024-04-02T00:00:00Z")
    assert period.shift(origin, -1) == utc("2023-12-30T00:00:00Z")


def test_whole_range_bucket() -> None:
    period = AggregationPeriod.parse("PT0S")
    assert period.buckets(utc(T0), utc(T1)) == [(utc(T0), utc(T1))]
    with pytest.raises(ValueError):
        period.bucket_of(utc(T0), utc(T0))


def test_bucket_of() -> None:
    hourly = AggregationPeriod.parse("PT1H")
    origin = utc("2020-08-01T12:03:00Z")
    assert hourly.bucket_of(origin, origin) == (origin, utc("2020-08-01T13:03:00Z"))
    assert hourly.bucket_of(utc("2020-08-01T13:03:00Z"), origin)[0] == utc("2020-08-01T13:03:00Z")
    assert hourly.bucket_of(utc("2020-08-01T13:02:59.999999Z"), origin)[0] == origin
    assert hourly.bucket_of(utc("2020-08-01T10:00:00Z"), origin) == (
        utc("2020-08-01T09:03:00Z"),
        utc("2020-08-01T10:03:00Z"),
    )
    monthly = AggregationPeriod.parse("P1M")
    month_origin = utc("2024-01-31T00:00:00Z")
    assert monthly.bucket_of(utc("2024-03-30T00:00:00Z"), month_origin) == (
        utc("2024-02-29T00:00:00Z"),
        utc("2024-03-31T00:00:00Z"),
    )
    assert monthly.bucket_of(utc("2023-12-30T00:00:00Z"), month_origin) == (
        utc("2023-11-30T00:00:00Z"),
        utc("2023-12-31T00:00:00Z"),
    )


moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
periods = st.sampled_from(
    ["PT1S", "PT15M", "PT1H", "P1D", "P1W", "P1M", "P3M", "P1Y", "P1M15D", "P2Y1MT1H"]
).map(AggregationPeriod.parse)


@PROPERTY_SETTINGS
@given(period=periods, origin=moments, moment=moments)
def test_bucket_of_holds_the_moment(period: AggregationPeriod, origin: datetime, moment: datetime) -> None:
    start, end = period.bucket_of(moment, origin)
    assert start <= moment < end
    assert period.bucket_of(start, origin) == (start, end)
    fixed = period.fixed_seconds()
    if fixed is not None:
        assert (start - origin) % timedelta(seconds=fixed) == timedelta(0)


@PROPERTY_SETTINGS
@given(
    period=periods, start=moments, count=st.integers(min_value=0, max_value=40), back=st.integers(0, 10**5)
)
def test_buckets_cover_the_range(period: AggregationPeriod, start: datetime, count: int, back: int) -> None:
    end = max(start, period.shift(start, count) - timedelta(seconds=back))
    buckets = period.buckets(start, end)
    if end == start:
        assert buckets == []
        return
    assert buckets[0][0] == start
    assert buckets[-1][1] >= end
    assert all(low < high for low, high in buckets)
    assert all(buckets[i][1] == buckets[i + 1][0] for i in range(len(buckets) - 1))
    assert all(low < end for low, _ in buckets)


# ----------------------------------------------------------------------------------------------------
# Selecting instances


def test_select_filters_sorts_and_keeps_the_last_n() -> None:
    instances = [FUEL[2], FUEL[0], FUEL[1]]
    assert parse_temporal_query().select(instances) == FUEL
    assert parse_temporal_query(last_n="2").select(instances) == FUEL[1:]
    after = parse_temporal_query(timerel="after", time_at="2020-08-01T13:05:00Z")
    assert after.select(instances) == FUEL[1:]
    before = parse_temporal_query(timerel="before", time_at="2020-08-01T13:05:00Z", last_n="5")
    assert before.select(instances) == FUEL[:1]


def test_instances_without_observed_at_are_placed_when_recorded() -> None:
    recorded = prop(7, None, 9, createdAt="2020-08-01T12:30:00Z")
    query = parse_temporal_query(timerel="between", time_at=T0, end_time_at=T1)
    assert query.moment_of(recorded) == utc("2020-08-01T12:30:00Z")
    assert query.select([*FUEL, recorded]) == [FUEL[0], recorded]


def test_timeproperty_deleted_at_selects_deletions() -> None:
    deletion = {
        "type": "Property",
        "value": NULL_URI,
        "instanceId": "urn:ngsi-ld:Instance:10",
        "deletedAt": "2024-12-09T17:16:12.031483Z",
    }
    query = parse_temporal_query(timeproperty="deletedAt")
    assert query.select([*FUEL, deletion]) == [deletion]
    assert instance_time(deletion, "deletedAt") == "2024-12-09T17:16:12.031483Z"
    assert instance_time(deletion) == "2024-12-09T17:16:12.031483Z"
    created = parse_temporal_query(timeproperty="createdAt", timerel="after", time_at="2024-12-02T00:00:00Z")
    assert created.select(FUEL) == []


# ----------------------------------------------------------------------------------------------------
# Aggregation


def aggregated_vehicle(methods: str, duration: str) -> dict[str, Any]:
    query = parse_temporal_query(aggregated=True, aggr_methods=methods, aggr_period_duration=duration)
    assert query.aggr_period is not None
    moments_ = [m for instances in VEHICLE_HISTORY.values() for i in instances if (m := query.moment_of(i))]
    origin, end = query.window(min(moments_), max(moments_))
    aggregates = {
        iri: [
            AggregatedAttribute(
                "Property", aggregate(instances, query.aggr_methods, query.aggr_period, origin, end)
            )
        ]
        for iri, instances in VEHICLE_HISTORY.items()
    }
    return render_aggregated_entity(
        VEHICLE, [TS + "Vehicle"], None, aggregates, SUITE, methods=query.aggr_methods
    )


def period(value: float, start: str, end: str) -> list[Any]:
    return [value, f"2020-08-01T{start}:00Z", f"2020-08-{end}:00Z"]


def test_aggregated_avg_hourly_matches_the_suite() -> None:
    """vehicle-temporal-representation-aggregated-avg-PT1H.json (020_11_01)."""
    assert aggregated_vehicle("avg", "PT1H") == {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": {"type": "Property", "avg": [period(100.0, "12:03", "01T13:03")]},
        "fuelLevel": {
            "type": "Property",
            "avg": [
                period(67.0, "12:03", "01T13:03"),
                period(53.0, "13:03", "01T14:03"),
                period(40.0, "14:03", "01T15:03"),
            ],
        },
    }


def test_aggregated_avg_max_hourly_matches_the_suite() -> None:
    """vehicle-temporal-representation-020-11-03.json."""
    rendered = aggregated_vehicle("avg,max", "PT1H")
    assert rendered["speed"] == {
        "type": "Property",
        "avg": [period(100.0, "12:03", "01T13:03")],
        "max": [period(120.0, "12:03", "01T13:03")],
    }
    assert rendered["fuelLevel"]["max"] == [
        period(67.0, "12:03", "01T13:03"),
        period(53.0, "13:03", "01T14:03"),
        period(40.0, "14:03", "01T15:03"),
    ]
    assert all(type(value) is float for value, _, _ in rendered["fuelLevel"]["max"])


def test_aggregated_min_max_daily_matches_the_suite() -> None:
    """vehicle-temporal-representation-020-11-04.json."""
    rendered = aggregated_vehicle("min,max", "P1D")
    assert rendered["speed"] == {
        "type": "Property",
        "min": [period(80.0, "12:03", "02T12:03")],
        "max": [period(120.0, "12:03", "02T12:03")],
    }
    assert rendered["fuelLevel"] == {
        "type": "Property",
        "min": [period(40.0, "12:03", "02T12:03")],
        "max": [period(67.0, "12:03", "02T12:03")],
    }


def numbers_at(values: list[Any], kind: str = "Property") -> list[Instance]:
    member = {"Property": "value", "Relationship": "object"}[kind]
    return [
        history(kind, member, value, f"2020-08-01T12:{index:02d}:00Z", index)
        for index, value in enumerate(values)
    ]


def whole(instances: list[Instance], methods: tuple[str, ...] = AGGREGATION_METHODS) -> dict[str, Any]:
    buckets = aggregate(instances, methods, AggregationPeriod.parse("PT0S"), utc(T0), utc(T1))
    assert len(buckets) == 1
    assert (buckets[0].start, buckets[0].end) == (micros_of(utc(T0)), micros_of(utc(T1)))
    return buckets[0].values


def test_every_method_on_numbers() -> None:
    values = whole(numbers_at([2, 4, 4, 4, 5, 5, 7, 9]))
    assert values == {
        "totalCount": 8,
        "distinctCount": 5,
        "sum": 40.0,
        "avg": 5.0,
        "min": 2.0,
        "max": 9.0,
        "stddev": 2.0,
        "sumsq": 4.0 + 3 * 16.0 + 2 * 25.0 + 49.0 + 81.0,
    }
    assert list(values) == list(AGGREGATION_METHODS)


def test_stddev_is_the_population_standard_deviation() -> None:
    assert whole(numbers_at([21.5]), ("stddev",)) == {"stddev": 0.0}
    assert whole(numbers_at([1, 3]), ("stddev", "avg")) == {"stddev": 1.0, "avg": 2.0}


def test_methods_on_booleans_count_true_as_one() -> None:
    values = whole(numbers_at([True, False, True]))
    assert values["sum"] == 2.0
    assert values["avg"] == pytest.approx(2 / 3)
    assert (values["min"], values["max"]) == (0.0, 1.0)
    assert values["distinctCount"] == 2
    assert values["sumsq"] == 2.0


def test_methods_on_strings() -> None:
    values = whole(numbers_at(["b", "a", "c", "a", "Z"]))
    assert values == {
        "totalCount": 5,
        "distinctCount": 4,
        "sum": None,
        "avg": None,
        "min": "Z",
        "max": "c",
        "stddev": None,
        "sumsq": None,
    }


def test_min_max_of_date_times_are_chronological() -> None:
    def moment(text: str) -> dict[str, str]:
        return {"@type": "DateTime", "@value": text}

    values = [
        moment("2020-01-01T00:00:00Z"),
        moment("2020-01-01T00:00:00.5Z"),
        moment("2020-01-01T01:00:00+02:00"),
    ]
    assert whole(numbers_at(values), ("min", "max", "totalCount")) == {
        "min": moment("2020-01-01T01:00:00+02:00"),
        "max": moment("2020-01-01T00:00:00.5Z"),
        "totalCount": 3,
    }


def test_numbers_win_over_other_values_in_a_mixed_period() -> None:
    assert whole(numbers_at([3, "x", {"a": 1}, 1]), ("min", "max", "sum", "totalCount")) == {
        "min": 1.0,
        "max": 3.0,
        "sum": 4.0,
        "totalCount": 4,
    }


def test_non_property_values_are_only_counted() -> None:
    values = whole(numbers_at(["urn:ngsi-ld:P:1", "urn:ngsi-ld:P:2", "urn:ngsi-ld:P:1"], "Relationship"))
    assert values["totalCount"] == 3
    assert values["distinctCount"] == 2
    assert values["min"] is None and values["sum"] is None


def test_distinct_count_compares_values_not_spellings() -> None:
    assert whole(numbers_at([1, 1.0, {"a": 1, "b": 2}, {"b": 2, "a": 1}, True]), ("distinctCount",)) == {
        "distinctCount": 3
    }


def test_non_finite_results_are_null() -> None:
    assert whole(numbers_at([1e308, 1e308]), ("sum", "max")) == {"sum": None, "max": 1e308}
    assert whole(numbers_at([10**400]), ("sum", "totalCount")) == {"sum": None, "totalCount": 1}


def test_deletions_are_left_out() -> None:
    deletion = {"type": "Property", "value": NULL_URI, "instanceId": "x", "deletedAt": "2020-08-01T12:30:00Z"}
    assert whole([*numbers_at([5]), deletion], ("totalCount", "sum")) == {"totalCount": 1, "sum": 5.0}
    assert aggregate([deletion], ("totalCount",), AggregationPeriod.parse("PT0S"), utc(T0), utc(T1)) == []


def test_empty_periods_are_left_out() -> None:
    instances = [
        prop(1, "2020-08-01T00:10:00Z"),
        prop(2, "2020-08-01T02:10:00Z"),
        prop(3, "2020-08-01T02:50:00Z"),
    ]
    buckets = aggregate(
        instances,
        ("sum",),
        AggregationPeriod.parse("PT1H"),
        utc("2020-08-01T00:00:00Z"),
        utc("2020-08-01T03:00:00Z"),
    )
    assert buckets == [
        Bucket(to_micros("2020-08-01T00:00:00Z"), to_micros("2020-08-01T01:00:00Z"), {"sum": 1.0}),
        Bucket(to_micros("2020-08-01T02:00:00Z"), to_micros("2020-08-01T03:00:00Z"), {"sum": 5.0}),
    ]


def test_monthly_aggregation() -> None:
    instances = [
        prop(1, "2024-01-15T00:00:00Z"),
        prop(2, "2024-01-31T23:59:59Z"),
        prop(3, "2024-02-10T00:00:00Z"),
        prop(4, "2024-03-31T00:00:00Z"),
    ]
    origin = utc("2024-01-01T00:00:00Z")
    buckets = aggregate(instances, ("totalCount", "avg"), AggregationPeriod.parse("P1M"), origin, origin)
    months = [(from_micros(b.start)[:7], from_micros(b.end)[:7], b.values) for b in buckets]
    assert months == [
        ("2024-01", "2024-02", {"totalCount": 2, "avg": 1.5}),
        ("2024-02", "2024-03", {"totalCount": 1, "avg": 3.0}),
        ("2024-03", "2024-04", {"totalCount": 1, "avg": 4.0}),
    ]


def test_aggregation_by_another_timeproperty() -> None:
    instances = [prop(1, "2020-08-01T12:00:00Z", createdAt="2024-01-01T00:00:00Z"), prop(2, None)]
    buckets = aggregate(
        instances,
        ("totalCount",),
        AggregationPeriod.parse("P1D"),
        utc("2024-01-01T00:00:00Z"),
        utc("2024-01-02T00:00:00Z"),
        timeproperty="createdAt",
    )
    assert [(b.start, b.values) for b in buckets] == [
        (to_micros("2024-01-01T00:00:00Z"), {"totalCount": 1}),
        (to_micros("2024-12-01T00:00:00Z"), {"totalCount": 1}),
    ]


def test_window() -> None:
    first, last = utc("2020-08-01T12:03:00Z"), utc("2020-08-01T14:07:00Z")
    assert parse_temporal_query().window(first, last) == (first, last)
    assert parse_temporal_query(timerel="after", time_at=T0).window(first, last) == (utc(T0), last)
    assert parse_temporal_query(timerel="before", time_at=T1).window(first, last) == (first, utc(T1))
    between = parse_temporal_query(timerel="between", time_at=T0, end_time_at="2020-08-01T15:00:00Z")
    assert between.window(first, last) == (utc(T0), utc("2020-08-01T15:00:00Z"))


@PROPERTY_SETTINGS
@given(
    values=st.lists(
        st.tuples(st.integers(min_value=-1000, max_value=1000), st.integers(min_value=0, max_value=10**6)),
        max_size=30,
    ),
    duration=st.sampled_from(["PT0S", "PT1M", "PT1H", "P1D"]),
)
def test_aggregates_partition_the_instances(values: list[tuple[int, int]], duration: str) -> None:
    origin = utc(T0)
    instances = [
        prop(value, (origin + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for value, offset in values
    ]
    end = origin + timedelta(seconds=10**6)
    buckets = aggregate(
        instances, ("totalCount", "sum", "min", "max"), AggregationPeriod.parse(duration), origin, end
    )
    counts: list[Any] = [bucket.values["totalCount"] for bucket in buckets]
    sums: list[Any] = [bucket.values["sum"] for bucket in buckets]
    assert sum(counts) == len(values)
    assert sum(sums) == pytest.approx(sum(v for v, _ in values))
    assert [bucket.start for bucket in buckets] == sorted(bucket.start for bucket in buckets)
    for bucket in buckets:
        inside = [
            v
            for v, offset in values
            if bucket.start <= micros_of(origin + timedelta(seconds=offset)) < bucket.end
        ]
        if duration == "PT0S":
            inside = [v for v, _ in values]
        assert bucket.values["min"] == min(inside) and bucket.values["max"] == max(inside)


# ----------------------------------------------------------------------------------------------------
# Temporal representations


def test_normalized_matches_the_suite() -> None:
    """vehicle-temporal-representation-020-01.jsonld: without a user @context names stay expanded;
    each instance carries its instanceId (which the suite ignores)."""
    rendered = render_temporal_entity(VEHICLE, [TS + "Vehicle"], None, VEHICLE_HISTORY, CORE)
    assert without_history_members(rendered) == {
        "id": VEHICLE,
        "type": TS + "Vehicle",
        TS + "speed": [
            {"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z"},
            {"type": "Property", "value": 80, "observedAt": "2020-08-01T12:05:00Z"},
            {"type": "Property", "value": 100, "observedAt": "2020-08-01T12:07:00Z"},
        ],
        TS + "fuelLevel": [
            {"type": "Property", "value": 67, "observedAt": "2020-08-01T12:03:00Z"},
            {"type": "Property", "value": 53, "observedAt": "2020-08-01T13:05:00Z"},
            {"type": "Property", "value": 40, "observedAt": "2020-08-01T14:07:00Z"},
        ],
    }
    assert [item["instanceId"] for item in rendered[TS + "speed"]] == [
        f"urn:ngsi-ld:Instance:{n}" for n in (1, 2, 3)
    ]


def test_a_single_instance_is_still_an_array() -> None:
    """vehicle-temporal-representation-property-020-17.jsonld: a deletion, with its deletedAt."""
    deletion = {
        "type": "Property",
        "value": NULL_URI,
        "instanceId": "urn:ngsi-ld:Instance:901883e6",
        "createdAt": "2024-12-09T17:16:12.031483Z",
        "deletedAt": "2024-12-09T17:16:12.031483Z",
    }
    rendered = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, {TS + "fuelLevel": [deletion]}, SUITE, timeproperty="deletedAt"
    )
    assert rendered == {
        "id": VEHICLE,
        "type": "Vehicle",
        "fuelLevel": [
            {
                "type": "Property",
                "value": NULL_URI,
                "instanceId": "urn:ngsi-ld:Instance:901883e6",
                "deletedAt": "2024-12-09T17:16:12.031483Z",
            }
        ],
    }


def test_system_attributes() -> None:
    instance = prop(
        1, "2020-08-01T12:03:00Z", 1, createdAt="2024-01-01T00:00:00Z", modifiedAt="2024-01-02T00:00:00Z"
    )
    system = {"createdAt": "2023-01-01T00:00:00Z", "modifiedAt": "2024-01-02T00:00:00Z"}
    plain = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, {TS + "speed": [instance]}, SUITE, system=system
    )
    assert "createdAt" not in plain and "createdAt" not in plain["speed"][0]
    full = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, {TS + "speed": [instance]}, SUITE, sys_attrs=True, system=system
    )
    assert (full["createdAt"], full["modifiedAt"]) == (system["createdAt"], system["modifiedAt"])
    assert full["speed"][0]["createdAt"] == "2024-01-01T00:00:00Z"
    assert full["speed"][0]["modifiedAt"] == "2024-01-02T00:00:00Z"
    by_creation = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, {TS + "speed": [instance]}, SUITE, timeproperty="createdAt"
    )
    assert by_creation["speed"][0]["createdAt"] == "2024-01-01T00:00:00Z"
    assert "modifiedAt" not in by_creation["speed"][0]


def test_concise_temporal_representation() -> None:
    instance = prop(21.5, "2020-08-01T12:03:00Z", 1, unitCode="CEL")
    instance[TS + "brandName"] = {"type": "Property", "value": "Seat"}
    rendered = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], ["/Copenhagen"], {TS + "speed": [instance]}, SUITE, form="concise"
    )
    assert rendered == {
        "id": VEHICLE,
        "type": "Vehicle",
        "scope": "/Copenhagen",
        "speed": [
            {
                "value": 21.5,
                "observedAt": "2020-08-01T12:03:00Z",
                "unitCode": "CEL",
                "brandName": "Seat",
                "instanceId": "urn:ngsi-ld:Instance:1",
            }
        ],
    }


def test_temporal_values_match_the_suite() -> None:
    """vehicle-temporal-representation-020-10.jsonld."""
    rendered = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, VEHICLE_HISTORY, SUITE, form="temporalValues"
    )
    assert rendered == {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": {
            "type": "Property",
            "values": [
                [120, "2020-08-01T12:03:00Z"],
                [80, "2020-08-01T12:05:00Z"],
                [100, "2020-08-01T12:07:00Z"],
            ],
        },
        "fuelLevel": {
            "type": "Property",
            "values": [
                [67, "2020-08-01T12:03:00Z"],
                [53, "2020-08-01T13:05:00Z"],
                [40, "2020-08-01T14:07:00Z"],
            ],
        },
    }


def simplified(iri: str, instances: list[Instance], **options: Any) -> Any:
    rendered = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, {iri: instances}, SUITE, form="temporalValues", **options
    )
    return rendered[SUITE.compact(iri)]


def test_temporal_values_per_attribute_type() -> None:
    at = ["2020-08-01T12:03:00Z", "2020-08-01T12:05:00Z", "2020-08-01T12:07:00Z"]
    parked = [
        history("Relationship", "object", f"urn:ngsi-ld:OffStreetParking:{n}", at[n], n) for n in range(2)
    ]
    assert simplified(TS + "isParkedIn", parked) == {
        "type": "Relationship",
        "objects": [["urn:ngsi-ld:OffStreetParking:0", at[0]], ["urn:ngsi-ld:OffStreetParking:1", at[1]]],
    }
    # vehicle-vocab-property-simplified-temporal-representation.json
    vocabs = [
        history("VocabProperty", "vocab", TS + "monument", at[0], 0),
        history("VocabProperty", "vocab", TS + "sightseeing", at[1], 1),
        history("VocabProperty", "vocab", [TS + "monument", TS + "sightseeing"], at[2], 2),
    ]
    assert simplified(TS + "vocabProperty", vocabs) == {
        "type": "VocabProperty",
        "vocabs": [
            [{"vocab": "monument"}, at[0]],
            [{"vocab": "sightseeing"}, at[1]],
            [{"vocab": ["monument", "sightseeing"]}, at[2]],
        ],
    }
    # vehicle-json-property-simplified-temporal-representation.json
    jsons = [history("JsonProperty", "json", {"value": v}, at[n], n) for n, v in enumerate((120, 80, 100))]
    assert simplified(TS + "speed", jsons) == {
        "type": "JsonProperty",
        "jsons": [
            [{"json": {"value": 120}}, at[0]],
            [{"json": {"value": 80}}, at[1]],
            [{"json": {"value": 100}}, at[2]],
        ],
    }
    # vehicle-language-property-simplified-temporal-representation.jsonld
    streets = [
        history("LanguageProperty", "languageMap", {"fr": "Grand Place", "nl": "Grote Markt"}, at[0], 0),
        history("LanguageProperty", "languageMap", {"fr": "Grand Marché", "nl": "Grote Markt"}, at[1], 1),
    ]
    assert simplified(TS + "street", streets) == {
        "type": "LanguageProperty",
        "languageMaps": [
            [{"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}}, at[0]],
            [{"languageMap": {"fr": "Grand Marché", "nl": "Grote Markt"}}, at[1]],
        ],
    }
    assert simplified(TS + "street", streets, lang=LanguagePreference("nl"))["languageMaps"] == [
        ["Grote Markt", at[0]],
        ["Grote Markt", at[1]],
    ]
    lists = [history("ListProperty", "valueList", [1, 2], at[0], 0)]
    assert simplified(TS + "tags", lists) == {"type": "ListProperty", "valueLists": [[[1, 2], at[0]]]}
    owners = [history("ListRelationship", "objectList", [{"object": "urn:ngsi-ld:Person:1"}], at[0], 0)]
    assert simplified(TS + "owners", owners) == {
        "type": "ListRelationship",
        "objectLists": [[["urn:ngsi-ld:Person:1"], at[0]]],
    }
    point = {"type": "Point", "coordinates": [2.35, 42.22]}
    places = [history("GeoProperty", "value", point, at[0], 0)]
    assert simplified("https://uri.etsi.org/ngsi-ld/location", places) == {
        "type": "GeoProperty",
        "values": [[point, at[0]]],
    }


def test_temporal_values_of_deletions_use_the_deletion_time() -> None:
    """vehicle-temporal-values-representation-relationship-020-18 and -languageproperty-020-18."""
    deleted = "2024-12-11T15:19:24.696152Z"
    relationship = {"type": "Relationship", "object": NULL_URI, "instanceId": "a", "deletedAt": deleted}
    language = {
        "type": "LanguageProperty",
        "languageMap": {"@none": NULL_URI},
        "instanceId": "b",
        "deletedAt": deleted,
    }
    assert simplified(TS + "isParkedIn", [relationship], timeproperty="deletedAt") == {
        "type": "Relationship",
        "objects": [[NULL_URI, deleted]],
    }
    assert simplified(TS + "name", [language], timeproperty="deletedAt") == {
        "type": "LanguageProperty",
        "languageMaps": [[{"languageMap": {"@none": NULL_URI}}, deleted]],
    }


def test_temporal_values_with_dataset_ids() -> None:
    """vehicle-temporal-representation-speed-attribute.json (021_18_01)."""
    speed = [
        prop(120, "2020-09-01T12:03:00Z", 1),
        prop(80, "2020-09-01T12:05:00Z", 2, datasetId="urn:ngsi-ld:Dataset:Common"),
        prop(60, "2020-09-01T12:05:00Z", 3, datasetId="urn:ngsi-ld:Dataset:Speed"),
        prop(90, "2020-09-01T13:05:00Z", 4, datasetId="urn:ngsi-ld:Dataset:Common"),
        prop(62, "2020-09-01T12:15:00Z", 5, datasetId="urn:ngsi-ld:Dataset:Speed"),
    ]
    assert simplified(TS + "speed", speed) == [
        {"type": "Property", "values": [[120, "2020-09-01T12:03:00Z"]]},
        {
            "type": "Property",
            "datasetId": "urn:ngsi-ld:Dataset:Common",
            "values": [[80, "2020-09-01T12:05:00Z"], [90, "2020-09-01T13:05:00Z"]],
        },
        {
            "type": "Property",
            "datasetId": "urn:ngsi-ld:Dataset:Speed",
            "values": [[60, "2020-09-01T12:05:00Z"], [62, "2020-09-01T12:15:00Z"]],
        },
    ]
    assert simplified(TS + "speed", speed, dataset_ids={"urn:ngsi-ld:Dataset:Speed"}) == {
        "type": "Property",
        "datasetId": "urn:ngsi-ld:Dataset:Speed",
        "values": [[60, "2020-09-01T12:05:00Z"], [62, "2020-09-01T12:15:00Z"]],
    }
    normalized = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, {TS + "speed": speed}, SUITE, dataset_ids={None}
    )
    assert [item["value"] for item in normalized["speed"]] == [120]


def test_pick_and_omit() -> None:
    """pick-omit/vehicle-pick-speed.json and vehicle-omit-type-speed.json."""
    picked = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, VEHICLE_HISTORY, SUITE, pick={TS + "speed"}
    )
    assert list(picked) == ["speed"]
    assert [item["value"] for item in picked["speed"]] == [120, 80, 100]
    omitted = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, VEHICLE_HISTORY, SUITE, omit={"type", TS + "speed"}
    )
    assert list(omitted) == ["id", "fuelLevel"]
    empty = render_temporal_entity(VEHICLE, [TS + "Vehicle"], None, {TS + "speed": []}, SUITE)
    assert empty == {"id": VEHICLE, "type": "Vehicle"}


def test_language_property_with_lang_renders_as_property() -> None:
    street = history("LanguageProperty", "languageMap", {"fr": "Grand Place", "nl": "Grote Markt"}, T0, 1)
    rendered = render_temporal_entity(
        VEHICLE, [TS + "Vehicle"], None, {TS + "street": [street]}, SUITE, lang=LanguagePreference("fr")
    )
    assert rendered["street"] == [
        {
            "type": "Property",
            "value": "Grand Place",
            "lang": "fr",
            "observedAt": T0,
            "instanceId": "urn:ngsi-ld:Instance:1",
        }
    ]


def test_aggregated_with_dataset_ids_and_no_periods() -> None:
    start, end = utc(T0), utc(T1)
    aggregates = {
        TS + "speed": [
            AggregatedAttribute(
                "Property", [Bucket(micros_of(start), micros_of(end), {"sum": 3.0, "stddev": None})]
            ),
            AggregatedAttribute("Property", [], "urn:ngsi-ld:Dataset:Speed"),
        ],
        TS + "fuelLevel": [],
    }
    rendered = render_aggregated_entity(
        VEHICLE, [TS + "Vehicle"], None, aggregates, SUITE, methods=("stddev", "sum")
    )
    assert rendered == {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": [
            {"type": "Property", "stddev": [[None, T0, T1]], "sum": [[3.0, T0, T1]]},
            {"type": "Property", "datasetId": "urn:ngsi-ld:Dataset:Speed", "stddev": [], "sum": []},
        ],
    }
    assert list(rendered["speed"][0]) == ["type", "stddev", "sum"]
    assert render_aggregated_entity(
        VEHICLE, [TS + "Vehicle"], None, aggregates, SUITE, methods=("sum",), omit={"id"}
    ) == {
        "type": "Vehicle",
        "speed": [
            {"type": "Property", "sum": [[3.0, T0, T1]]},
            {"type": "Property", "datasetId": "urn:ngsi-ld:Dataset:Speed", "sum": []},
        ],
    }


# ----------------------------------------------------------------------------------------------------
# Temporal entity input

SUITE_VEHICLE: dict[str, Any] = {
    "id": "urn:ngsi-ld:Vehicle:randomUUID",
    "type": "Vehicle",
    "speed": [
        {"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z"},
        {"type": "Property", "value": 80, "observedAt": "2020-08-01T12:05:00Z"},
        {"type": "Property", "value": 100, "observedAt": "2020-08-01T12:07:00Z"},
    ],
    "fuelLevel": [
        {"type": "Property", "value": 67, "observedAt": "2020-08-01T12:03:00Z"},
        {"type": "Property", "value": 53, "observedAt": "2020-08-01T13:05:00Z"},
        {"type": "Property", "value": 40, "observedAt": "2020-08-01T14:07:00Z"},
    ],
    "@context": [
        "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/x.jsonld"
    ],
}


def test_parse_the_suite_vehicle() -> None:
    """2020-08-vehicle-temporal-representation.jsonld."""
    entity = parse_temporal_entity(SUITE_VEHICLE, SUITE)
    assert entity.id == "urn:ngsi-ld:Vehicle:randomUUID"
    assert entity.types == [TS + "Vehicle"]
    assert entity.scope is None
    assert entity.attributes == {
        TS + "speed": SUITE_VEHICLE["speed"],
        TS + "fuelLevel": SUITE_VEHICLE["fuelLevel"],
    }


def test_repeated_dataset_ids_are_history() -> None:
    """vehicle-temporal-representation-with-multi-attributes-instances.jsonld."""
    body = {
        "id": "urn:ngsi-ld:Vehicle:021-18-A",
        "type": "Vehicle",
        "scope": ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"],
        "speed": [
            {"type": "Property", "value": 120, "observedAt": "2020-09-01T12:03:00Z"},
            {
                "type": "Property",
                "value": 80,
                "observedAt": "2020-09-01T12:05:00Z",
                "datasetId": "urn:ngsi-ld:Dataset:Common",
            },
            {
                "type": "Property",
                "value": 90,
                "observedAt": "2020-09-01T13:05:00Z",
                "datasetId": "urn:ngsi-ld:Dataset:Common",
            },
        ],
    }
    entity = parse_temporal_entity(body, SUITE)
    assert entity.scope == ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]
    assert [i.get("datasetId") for i in entity.attributes[TS + "speed"]] == [
        None,
        "urn:ngsi-ld:Dataset:Common",
        "urn:ngsi-ld:Dataset:Common",
    ]


def test_concise_and_single_instances() -> None:
    body = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": ["Vehicle"],
        "speed": [{"value": 120, "observedAt": "2020-08-01T12:03:00.000Z"}, 80],
        "isParkedIn": {"object": "urn:ngsi-ld:OffStreetParking:Downtown1"},
        "location": [{"value": {"type": "Point", "coordinates": [12.57, 55.68]}}],
    }
    attributes = parse_temporal_entity(body, SUITE).attributes
    assert attributes[TS + "speed"] == [
        {"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00.000Z"},
        {"type": "Property", "value": 80},
    ]
    assert attributes[TS + "isParkedIn"] == [
        {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:Downtown1"}
    ]
    assert attributes["https://uri.etsi.org/ngsi-ld/location"][0]["type"] == "GeoProperty"


def test_history_members_on_input_are_ignored() -> None:
    body = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": "Vehicle",
        "createdAt": "2000-01-01T00:00:00Z",
        "speed": [
            {
                "type": "Property",
                "value": 1,
                "instanceId": "urn:ngsi-ld:Instance:mine",
                "createdAt": "2000-01-01T00:00:00Z",
                "modifiedAt": "2000-01-01T00:00:00Z",
            }
        ],
    }
    assert parse_temporal_entity(body, SUITE).attributes == {TS + "speed": [{"type": "Property", "value": 1}]}


def test_a_system_timestamp_cannot_name_an_attribute() -> None:
    modified = [{"type": "Property", "value": "2000-01-01T00:00:00Z", "observedAt": "2000-01-01T00:00:00Z"}]
    with pytest.raises(BadRequestData, match="modifiedAt is an NGSI-LD core member"):
        parse_temporal_attributes({"modifiedAt": modified}, SUITE)


def test_parse_temporal_attributes_fragment() -> None:
    """fragments/vehicle-temporal-representation-fragment.jsonld (POST .../attrs)."""
    fragment = {
        "added_attribute": [
            {"type": "Property", "value": 120, "observedAt": "2020-09-01T12:03:00Z"},
            {"type": "Property", "value": 80, "observedAt": "2020-09-01T12:05:00Z"},
        ],
        "@context": ["https://example.org/context.jsonld"],
    }
    assert parse_temporal_attributes(fragment, SUITE) == {
        TS + "added_attribute": [
            {"type": "Property", "value": 120, "observedAt": "2020-09-01T12:03:00Z"},
            {"type": "Property", "value": 80, "observedAt": "2020-09-01T12:05:00Z"},
        ]
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "A temporal entity must be a JSON object"),
        ({"type": "Vehicle"}, "Entity id must be a non-empty string (a URI)"),
        ({**SUITE_VEHICLE, "id": ""}, "Entity id must be a non-empty string (a URI)"),
        ({"id": "not a uri", "type": "Vehicle"}, "Entity id must be a URI: 'not a uri'"),
        ({"id": "urn:ngsi-ld:Vehicle:1"}, "Entity urn:ngsi-ld:Vehicle:1 has no type"),
        ({"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "speed": []}, "Attribute speed has no instances"),
        (
            {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "observedAt": []},
            "observedAt is an NGSI-LD core member and cannot name an attribute",
        ),
        (
            {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "speed": [1], TS + "speed": [2]},
            f"Attribute {TS}speed is given twice",
        ),
        (
            {
                "id": "urn:ngsi-ld:Vehicle:1",
                "type": "Vehicle",
                "speed": [{"value": 1, "observedAt": "yesterday"}],
            },
            "observedAt of speed must be a UTC date-time string ending in Z",
        ),
        (
            {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "speed": [None]},
            "Attribute speed has a null value",
        ),
        (
            {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "speed": [{"type": "Property"}]},
            "Attribute speed is a Property and needs a 'value' member",
        ),
        (
            {
                "id": "urn:ngsi-ld:Vehicle:1",
                "type": "Vehicle",
                "location": [{"type": "Property", "value": 1}],
            },
            "location is a GeoProperty, not a Property",
        ),
        (
            {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "scope": 3},
            "scope must be a string or an array of strings",
        ),
    ],
)
def test_invalid_temporal_entities(body: Any, message: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        parse_temporal_entity(body, SUITE)
    assert raised.value.detail == message


def test_parse_instance_fragment() -> None:
    """fragments/vehicle-temporal-modify-attribute-instance-fragment.jsonld and wrapped forms."""
    bare = {"type": "Property", "value": 129, "observedAt": "2020-09-01T12:03:00Z"}
    expected = {"type": "Property", "value": 129, "observedAt": "2020-09-01T12:03:00Z"}
    assert parse_instance_fragment("speed", bare, SUITE) == expected
    assert parse_instance_fragment("speed", {"speed": bare, "@context": "x"}, SUITE) == expected
    assert parse_instance_fragment("speed", {TS + "speed": [bare]}, SUITE) == expected
    assert parse_instance_fragment(TS + "speed", {"speed": bare}, SUITE) == expected
    assert parse_instance_fragment("speed", {"observedAt": "2020-09-01T12:03:00Z"}, SUITE) == {
        "observedAt": "2020-09-01T12:03:00Z"
    }
    assert parse_instance_fragment("speed", {"value": 5}, SUITE) == {"type": "Property", "value": 5}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (129, "An instance of speed must be given as a JSON object"),
        ([{"value": 1}], "An instance of speed must be given as a JSON object"),
        ({"speed": [{"value": 1}, {"value": 2}]}, "Give exactly one instance of speed to replace"),
        ({}, "The instance fragment of speed holds nothing to change"),
        ({"@context": "x"}, "The instance fragment of speed holds nothing to change"),
        ({"type": "Property", "value": None}, "Attribute speed has a null value"),
    ],
)
def test_invalid_instance_fragments(body: Any, message: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        parse_instance_fragment("speed", body, SUITE)
    assert raised.value.detail == message


# ----------------------------------------------------------------------------------------------------
# No crash on anything

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        ["Property", "Relationship", "GeoProperty", "Point", NULL_URI, "urn:a:b", T0, "PT1H", "avg"]
    ),
)
keys = st.sampled_from(
    [
        "id",
        "type",
        "scope",
        "speed",
        "location",
        "value",
        "object",
        "observedAt",
        "datasetId",
        "timerel",
        "timeAt",
        "endTimeAt",
        "timeproperty",
        "lastN",
        "aggrMethods",
        "aggrPeriodDuration",
        "@context",
        "instanceId",
    ]
) | st.text(max_size=8)
any_json = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
parameter = (
    st.none()
    | st.text(max_size=25)
    | st.sampled_from([T0, T1, "before", "after", "between", "avg", "PT1H", "3"])
)


@PROPERTY_SETTINGS
@given(body=any_json)
def test_parsing_bodies_raises_only_bad_request_data(body: Any) -> None:
    for parse in (
        lambda: parse_temporal_entity(body, SUITE),
        lambda: parse_temporal_attributes(body, SUITE),
        lambda: parse_instance_fragment("speed", body, SUITE),
        lambda: temporal_query_from_json(body),
        lambda: temporal_query_from_json({}, body),
    ):
        with contextlib.suppress(BadRequestData):
            parse()


@PROPERTY_SETTINGS
@given(
    values=st.tuples(parameter, parameter, parameter, parameter, parameter, parameter, parameter),
    aggregated=st.booleans(),
)
def test_parsing_parameters_raises_only_bad_request_data(
    values: tuple[str | None, ...], aggregated: bool
) -> None:
    timerel, time_at, end_time_at, timeproperty, last_n, methods, duration = values
    try:
        query = parse_temporal_query(
            timerel=timerel,
            time_at=time_at,
            end_time_at=end_time_at,
            timeproperty=timeproperty,
            last_n=last_n,
            aggr_methods=methods,
            aggr_period_duration=duration,
            aggregated=aggregated,
        )
    except BadRequestData:
        return
    start, end = query.range()
    if start is not None and end is not None:
        assert start < end


@PROPERTY_SETTINGS
@given(text=st.text(alphabet="PYMWDTHS0123456789.,-:", max_size=14))
def test_duration_parsing_raises_only_bad_request_data(text: str) -> None:
    try:
        period = AggregationPeriod.parse(text)
    except BadRequestData:
        return
    assert AggregationPeriod.parse(period.to_text()) == period
    origin = utc(T0)
    if not period.whole_range:
        start, end = period.bucket_of(origin + timedelta(days=3), origin)
        assert start <= origin + timedelta(days=3) < end


# -- selecting entities by their instances, pages of instances ------------------------------------


def minutely(first: int, count: int, day: str = "2020-01-01", **members: Any) -> list[Instance]:
    return [
        {"type": "Property", "value": n, "observedAt": f"{day}T01:{first + n:02d}:00Z", **members}
        for n in range(count)
    ]


def test_selects_checks_q_and_geo_on_the_instances_and_scope_on_the_entity() -> None:
    """5.7.4.4: a term holds when one instance in the window satisfies it (suite 5744_01)."""
    attributes = {
        "speed": [{"type": "Property", "value": 10}, {"type": "Property", "value": 30}],
        "location": [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.29, 48.85]}}],
    }
    assert selects(attributes, None, q=parse_q("speed>25"))
    assert not selects(attributes, None, q=parse_q("speed>50"))
    assert selects(attributes, None, q=parse_q("!heading;speed<20"))
    assert not selects(attributes, None, q=parse_q("heading<90"))
    near = parse_geo_query("near;maxDistance==2000", "Point", "[2.29,48.85]", None)
    far = parse_geo_query("near;maxDistance==2000", "Point", "[10,50]", None)
    assert near is not None and far is not None
    assert selects(attributes, None, geo=near) and not selects(attributes, None, geo=far)
    assert selects(attributes, ["/A/B"], scope=parse_scope_query("/A/#"))
    assert not selects(attributes, None, scope=parse_scope_query("/A/#"))


def test_pages_run_forwards_and_cut_every_attribute_at_one_moment() -> None:
    """Suite 020_13_01, 020_14_01: twenty speeds from 01:01 and twenty fuel levels from 01:03,
    ten per page: both end at 01:10, the speed's tenth."""
    entity = {"speed": minutely(1, 20), "fuelLevel": minutely(3, 20)}
    (kept,), page = paginate([entity], 10, TemporalQuery())
    assert page is not None
    assert (page.start, page.end, page.size) == ("2020-01-01T01:01:00Z", "2020-01-01T01:10:00Z", "*")
    assert page.content_range == "date-time 2020-01-01T01:01:00Z-2020-01-01T01:10:00Z/*"
    assert [i["value"] for i in kept["speed"]] == list(range(10))
    assert [i["value"] for i in kept["fuelLevel"]] == list(range(8))
    later = {"speed": minutely(1, 20), "fuelLevel": minutely(1, 20, day="2020-01-02")}
    after = TemporalQuery(timerel="after", time_at=datetime(2019, 1, 1, tzinfo=UTC))
    (kept,), page = paginate([later], 10, after)
    assert page is not None and page.start == "2019-01-01T00:00:00Z"
    assert kept["fuelLevel"] == [] and page.emptied == [{"fuelLevel": "Property"}]


def test_pages_run_backwards_with_last_n() -> None:
    """Suite 020_13_02, _03: with lastN the page holds the most recent instances."""
    entity = {"speed": minutely(1, 20), "fuelLevel": minutely(3, 20)}
    (kept,), page = paginate([entity], 10, TemporalQuery(last_n=20))
    assert page is not None
    assert (page.start, page.end, page.size) == ("2020-01-01T01:22:00Z", "2020-01-01T01:13:00Z", "20")
    assert min(i["observedAt"] for i in kept["speed"]) == "2020-01-01T01:13:00Z"
    before = TemporalQuery(timerel="before", time_at=datetime(2021, 1, 1, tzinfo=UTC), last_n=20)
    _, page = paginate([entity], 10, before)
    assert page is not None and page.start == "2021-01-01T00:00:00Z"


def test_no_page_when_everything_fits() -> None:
    entity = {"speed": minutely(1, 20), "fuelLevel": minutely(3, 5)}
    assert paginate([entity], 20, TemporalQuery())[1] is None
    assert paginate([entity], 10, TemporalQuery(last_n=10))[1] is None
    datasets = {"speed": minutely(1, 8) + minutely(1, 8, datasetId="urn:ngsi-ld:Dataset:a")}
    assert paginate([datasets], 10, TemporalQuery())[1] is None, "ten per attribute and datasetId"


# -- pages of instances, one after the other (6.3.10) -----------------------------------------------

minutes = st.lists(st.integers(0, 30), max_size=30)
"""The minutes at which one series' instances were observed: few enough for many equal moments."""


def observed(name: str, offsets: list[int], **members: Any) -> list[Instance]:
    return [
        {"type": "Property", "value": f"{name}{n}", "observedAt": at(offset), **members}
        for n, offset in enumerate(offsets)
    ]


def at(minute: int) -> str:
    return f"2020-01-01T01:{minute:02d}:00Z"


def three_series(speed: list[int], fuel: list[int], other: list[int]) -> dict[str, list[Instance]]:
    """Two attributes, one of them in two datasets: three series."""
    return {
        "speed": observed("s", speed) + observed("d", other, datasetId="urn:ngsi-ld:Dataset:b"),
        "fuelLevel": observed("f", fuel),
    }


def read(
    entity: dict[str, list[Instance]], temporal: TemporalQuery, limit: int
) -> tuple[dict[str, list[Instance]], InstancePage | None]:
    """One page as the broker reads it: the window, of each series only one instance more than a
    page (forwards) and everything when that page is overfull."""
    selected = {}
    for name, instances in entity.items():
        series: dict[Any, list[Instance]] = {}
        for instance in instances:
            series.setdefault(instance.get("datasetId"), []).append(instance)
        selected[name] = [i for group in series.values() for i in temporal.select(group)]
    ends = slice(-limit - 1, None) if temporal.last_n is not None else slice(limit + 1)
    bounded = {
        name: [
            i
            for dataset in {i.get("datasetId") for i in instances}
            for i in [j for j in instances if j.get("datasetId") == dataset][ends]
        ]
        for name, instances in selected.items()
    }
    (kept,), page = paginate([bounded], limit, temporal)
    if page is not None and page.overfull:
        (kept,), page = paginate([selected], limit, temporal)
    return kept, page


def values(entity: dict[str, list[Instance]]) -> list[str]:
    return [instance["value"] for instances in entity.values() for instance in instances]


@given(speed=minutes, fuel=minutes, other=minutes, limit=st.integers(1, 6), after=st.integers(0, 40))
@PROPERTY_SETTINGS
def test_forward_pages_give_every_instance_once(
    speed: list[int], fuel: list[int], other: list[int], limit: int, after: int
) -> None:
    """6.3.10: following each page with `next_window` gives the window's instances, each once, even
    when several share a moment (within a series, across series); each page holds at most `limit`
    instances of a series unless one moment alone has more, and its Content-Range ends at its
    latest instance."""
    entity = three_series(speed, fuel, other)
    start = datetime(2020, 1, 1, 1, tzinfo=UTC) + timedelta(minutes=after)
    temporal: TemporalQuery | None = TemporalQuery(timerel="after", time_at=start)
    everything = entity["speed"] + entity["fuelLevel"]
    expected = sorted(i["value"] for i in everything if i["observedAt"] >= at(after))
    seen: list[str] = []
    for _ in range(200):
        assert temporal is not None
        kept, page = read(entity, temporal, limit)
        seen += values(kept)
        if page is None:
            break
        shown = [i["observedAt"] for instances in kept.values() for i in instances]
        assert page.end == max(shown) and page.content_range.endswith("/*")
        if not page.overfull:
            for instances in kept.values():
                for dataset in {i.get("datasetId") for i in instances}:
                    assert len([i for i in instances if i.get("datasetId") == dataset]) <= limit
        temporal = next_window(temporal, page)
    else:
        raise AssertionError("the pages never end")
    assert sorted(seen) == expected


@given(speed=minutes, limit=st.integers(1, 6), last_n=st.integers(1, 40))
@PROPERTY_SETTINGS
def test_backward_pages_give_the_last_n_once(speed: list[int], limit: int, last_n: int) -> None:
    """6.3.10: with lastN the pages run backwards; following them gives the last N instances of
    a series, each once."""
    entity = {"speed": observed("s", speed)}
    temporal: TemporalQuery | None = TemporalQuery(last_n=last_n)
    expected = sorted(i["value"] for i in TemporalQuery(last_n=last_n).select(entity["speed"]))
    seen: list[str] = []
    while temporal is not None:
        kept, page = read(entity, temporal, limit)
        seen += values(kept)
        if page is None:
            break
        assert page.end == min(i["observedAt"] for i in kept["speed"])
        assert page.content_range.endswith(f"/{temporal.last_n}")
        temporal = next_window(temporal, page)
    assert sorted(seen) == expected


@given(speed=minutes, fuel=minutes, other=minutes, limit=st.integers(1, 6), last_n=st.integers(1, 40))
@PROPERTY_SETTINGS
def test_backward_pages_of_several_series_never_repeat(
    speed: list[int], fuel: list[int], other: list[int], limit: int, last_n: int
) -> None:
    """6.3.10: backwards over several series each instance comes once, at most lastN of a series,
    and what comes of a series is the most recent of it: nothing is skipped in between."""
    entity = three_series(speed, fuel, other)
    temporal: TemporalQuery | None = TemporalQuery(last_n=last_n)
    seen: list[Instance] = []
    while temporal is not None:
        kept, page = read(entity, temporal, limit)
        seen += [i for instances in kept.values() for i in instances]
        temporal = next_window(temporal, page) if page is not None else None
    names = [i["value"] for i in seen]
    assert len(names) == len(set(names))
    for prefix in ("s", "d", "f"):
        got = [i for i in seen if i["value"].startswith(prefix)]
        assert len(got) <= last_n
        if got:
            floor = min(i["observedAt"] for i in got)
            everything = entity["fuelLevel"] if prefix == "f" else entity["speed"]
            ours = [i for i in everything if i["value"].startswith(prefix)]
            assert {i["value"] for i in ours if i["observedAt"] > floor} <= set(names)


def test_a_page_never_splits_equal_moments() -> None:
    """6.3.10: three speeds at 01:02 with a page of two: the page stops before them, the next one
    holds all three (more than two: overfull), and the one after starts a microsecond later."""
    entity = {"speed": observed("s", [0, 1, 2, 2, 2, 3])}
    (kept,), page = paginate([entity], 2, TemporalQuery())
    assert page is not None and values(kept) == ["s0", "s1"] and page.end == "2020-01-01T01:01:00Z"
    following = next_window(TemporalQuery(), page)
    assert following is not None and following.timerel == "after"
    assert following.time_at == datetime(2020, 1, 1, 1, 1, 0, 1, tzinfo=UTC)
    (kept,), page = paginate([{"speed": following.select(entity["speed"])}], 2, following)
    assert page is not None and page.overfull and values(kept) == ["s2", "s3", "s4"]
    assert page.start == "2020-01-01T01:01:00.000001Z"
    assert page.content_range == "date-time 2020-01-01T01:01:00.000001Z-2020-01-01T01:02:00Z/*"
    last = next_window(following, page)
    assert last is not None
    assert paginate([{"speed": last.select(entity["speed"])}], 2, last)[1] is None


def test_next_window_keeps_the_bounds_of_the_query() -> None:
    """6.3.10: forwards a before or between window keeps its end, backwards its start; lastN
    shrinks by what the fullest series sent, and nothing is left once it is used up."""
    moment = datetime(2020, 1, 1, 1, 5, tzinfo=UTC)
    early, late = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)
    forwards = InstancePage("a", "b", "*", [], last=moment, sent=3)
    before = next_window(TemporalQuery(timerel="before", time_at=late), forwards)
    assert before is not None and (before.timerel, before.end_time_at) == ("between", late)
    backwards = InstancePage("a", "b", "9", [], backwards=True, last=moment, sent=3)
    between = TemporalQuery(timerel="between", time_at=early, end_time_at=late, last_n=9)
    following = next_window(between, backwards)
    assert following is not None
    assert (following.time_at, following.end_time_at, following.last_n) == (early, moment, 6)
    after = next_window(TemporalQuery(timerel="after", time_at=early, last_n=9), backwards)
    assert after is not None
    assert (after.timerel, after.time_at, after.end_time_at) == ("between", early, moment)
    assert next_window(TemporalQuery(last_n=3), backwards) is None


@given(
    series=st.lists(st.sets(st.integers(0, 40), max_size=30), min_size=1, max_size=3),
    limit=st.integers(1, 6),
)
@PROPERTY_SETTINGS
def test_pages_of_periods_give_every_period_once(series: list[set[int]], limit: int) -> None:
    """6.3.10 with 4.5.19: pages of at most `limit` periods per series on one grid of minutes,
    each following the last from where its last period ended, give every period once."""
    origin = to_micros("2020-01-01T00:00:00Z")
    minute = 60_000_000

    def periods(after: int) -> dict[str, list[AggregatedAttribute]]:
        return {
            f"a{n}": [
                AggregatedAttribute(
                    "Property",
                    [Bucket(origin + m * minute, origin + (m + 1) * minute, {"sum": m}) for m in sorted(ms)],
                )
            ]
            for n, ms in enumerate(series)
            if any(origin + m * minute >= after for m in ms)
        }

    def trimmed(after: int) -> dict[str, list[AggregatedAttribute]]:
        return {
            name: [a._replace(buckets=[b for b in a.buckets if b.start >= after]) for a in attribute]
            for name, attribute in periods(after).items()
        }

    temporal: TemporalQuery | None = TemporalQuery(timerel="after", time_at=datetime(2020, 1, 1, tzinfo=UTC))
    seen: list[tuple[str, int]] = []
    for _ in range(100):
        assert temporal is not None and temporal.time_at is not None
        (kept,), page = paginate_periods([trimmed(micros_of(temporal.time_at))], limit, temporal)
        for name, attribute in kept.items():
            for aggregated in attribute:
                assert page is None or len(aggregated.buckets) <= limit
                seen += [(name, bucket.start) for bucket in aggregated.buckets]
        if page is None:
            break
        assert page.end == from_micros(max(start for _, start in seen) + minute)
        temporal = next_window(temporal, page)
    expected = [(f"a{n}", origin + m * minute) for n, ms in enumerate(series) for m in ms]
    assert sorted(seen) == sorted(expected)
