"""ETSI NGSI-LD conformance: TP/NGSI-LD/ContextInformation/Consumption/TemporalEntity/
QueryTemporalEvolutionOfEntities (021_*, 5244_01, 5741_01, 5743_01, 5744_*).

Decided where the suite contradicts itself: 021_14 and 021_18 write the values of the simplified
representation as floats (80.0) where 020_10, 021_18_04/05/06 and every normalized expectation keep
integers; 4.5.9 pairs each instance's value with its time and converts nothing, so integers stay
integers here.

Not covered: 021_15 and 021_16 are in test_temporal_pagination.py; 021_23 and 5741_01_06 need
`orderBy` (v1.9), 5734_01 needs EntityMaps (distributed operations, v1.9), and 5744_03 needs the
temporal evolution of the scope, none of which smartby has.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import (
    LINK,
    TEMPORAL,
    TEMPORAL_QUERY,
    create_temporal,
    instances,
    new_id,
    problem,
    query_temporal,
    same,
    vehicle_history,
)

A = "urn:ngsi-ld:Vehicle:021-A"
B = "urn:ngsi-ld:Vehicle:021-B"
BUS = "urn:ngsi-ld:Bus:021-C"
SINCE_JULY = {"timerel": "after", "timeAt": "2020-07-01T12:05:00Z"}
JSON_LINK = {"Content-Type": "application/json", "Link": LINK}


def window(entity: dict[str, Any], start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """The entity with only its instances observed in [start, end), attributes without any left out."""
    kept: dict[str, Any] = {"id": entity["id"], "type": entity["type"]}
    for name, series in entity.items():
        if name in ("id", "type"):
            continue
        inside = [
            instance
            for instance in series
            if (start is None or instance["observedAt"] >= start)
            and (end is None or instance["observedAt"] < end)
        ]
        if inside:
            kept[name] = inside
    return kept


@pytest.fixture
async def fleet(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The vehicles of August and September 2020 and the bus of August 2020."""
    entities = {
        "A": vehicle_history("2020-08-01", A),
        "B": vehicle_history("2020-09-01", B),
        "bus": vehicle_history("2020-08-01", BUS, "Bus"),
    }
    for entity in entities.values():
        await create_temporal(client, entity)
    return entities


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.mark.parametrize(
    ("case", "params", "start", "end"),
    [
        (
            "021_01_01 after",
            {"timerel": "after", "timeAt": "2020-08-01T12:04:00Z"},
            "2020-08-01T12:04:00Z",
            None,
        ),
        (
            "021_01_02 before",
            {"timerel": "before", "timeAt": "2020-09-01T13:06:00Z"},
            None,
            "2020-09-01T13:06:00Z",
        ),
        (
            "021_01_03 between",
            {"timerel": "between", "timeAt": "2020-08-01T12:04:00Z", "endTimeAt": "2020-09-01T13:06:00Z"},
            "2020-08-01T12:04:00Z",
            "2020-09-01T13:06:00Z",
        ),
    ],
)
async def test_021_01_time_windows(
    client: httpx.AsyncClient,
    fleet: dict[str, dict[str, Any]],
    case: str,
    params: dict[str, str],
    start: str | None,
    end: str | None,
) -> None:
    got = await ok(await query_temporal(client, type="Vehicle", **params))
    same(got, [window(fleet["A"], start, end), window(fleet["B"], start, end)])


async def test_021_02_01_attrs(client: httpx.AsyncClient, fleet: dict[str, dict[str, Any]]) -> None:
    got = await ok(await query_temporal(client, type="Vehicle", attrs="speed", **SINCE_JULY))
    same(got, [{key: entity[key] for key in ("id", "type", "speed")} for entity in (fleet["A"], fleet["B"])])


async def test_021_03_01_last_n(client: httpx.AsyncClient) -> None:
    many = {
        "id": A,
        "type": "Vehicle",
        "speed": instances(
            "2020-08-01",
            *zip((85, 105, 120, 125, 130), ("12:25", "12:27", "12:29", "12:31", "12:35"), strict=True),
        ),
        "fuelLevel": instances(
            "2020-08-01",
            *zip((35, 31, 28, 24, 19), ("20:05", "20:07", "21:03", "21:05", "22:07"), strict=True),
        ),
    }
    september = vehicle_history("2020-09-01", B)
    await create_temporal(client, many)
    await create_temporal(client, september)
    got = await ok(await query_temporal(client, type="Vehicle", lastN="4", **SINCE_JULY))
    same(got, [{**many, "speed": many["speed"][-4:], "fuelLevel": many["fuelLevel"][-4:]}, september])


@pytest.mark.parametrize(
    ("case", "params", "expected"),
    [
        ("021_04_01 with a context", {"type": "Vehicle"}, ["A", "B"]),
        ("021_05_01 by type", {"type": "Bus"}, ["bus"]),
        ("021_06_01 by id", {"type": "Vehicle", "id": A}, ["A"]),
        ("021_07_01 by id pattern", {"type": "Vehicle", "idPattern": "urn:ngsi-ld:Vehicle:.*"}, ["A", "B"]),
        ("021_08_01 by q on the instances", {"type": "Vehicle", "q": "speed>90"}, ["A", "B"]),
        ("021_25 local", {"local": "true"}, ["A", "B", "bus"]),
    ],
)
async def test_021_04_to_021_08_and_021_25_selection(
    client: httpx.AsyncClient,
    fleet: dict[str, dict[str, Any]],
    case: str,
    params: dict[str, str],
    expected: list[str],
) -> None:
    got = await ok(await query_temporal(client, **params, **SINCE_JULY))
    same(got, [fleet[name] for name in expected])


@pytest.mark.parametrize(
    ("case", "geo"),
    [
        (
            "021_09_01 near a point",
            {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": "[-8.503,41.202]"},
        ),
        (
            "021_09_02 within a polygon",
            {
                "georel": "within",
                "geometry": "Polygon",
                "coordinates": "[[[-13.503,47.202],[6.541, 52.961],[20.37,44.653],[9.46,32.57],"
                "[-13.503,32.57],[-13.503,47.202]]]",
                "geoproperty": "location",
            },
        ),
    ],
)
async def test_021_09_geo_query(client: httpx.AsyncClient, case: str, geo: dict[str, str]) -> None:
    october = {
        **vehicle_history("2020-10-01", B),
        "location": [
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [2.35, 42.22]},
                "observedAt": "2020-10-01T12:03:00Z",
            },
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [-8.5, 41.2]},
                "observedAt": "2020-10-01T12:05:00Z",
            },
        ],
    }
    await create_temporal(client, vehicle_history("2020-08-01", A))
    await create_temporal(client, october)
    got = await ok(await query_temporal(client, type="Vehicle", **geo, **SINCE_JULY))
    same(got, [october])


@pytest.mark.parametrize(("case", "limit"), [("021_11_01 some", 2), ("021_11_02 all", 3)])
async def test_021_11_limit(client: httpx.AsyncClient, case: str, limit: int) -> None:
    for day in ("2020-08-01", "2020-09-01", "2020-09-01"):
        await create_temporal(client, vehicle_history(day))
    got = await ok(await query_temporal(client, type="Bus,Vehicle", limit=str(limit), **SINCE_JULY))
    assert [entity["type"] for entity in got] == ["Vehicle"] * limit


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("021_12_01 no entity selection", {}),
        ("021_24 ids alone", {"id": "urn:ngsi-ld:Entity:01,urn:ngsi-ld:Entity:02"}),
        ("5741_01_01 system attributes alone", {"attrs": "createdAt"}),
        ("5741_01_02 linked projection", {"type": "Building", "pick": "owner{name}"}),
        ("5741_01_03 linked filter", {"type": "Building", "q": 'owner{name}=="x"'}),
        ("5741_01_04 invalid id", {"type": "Building", "id": "not a uri"}),
        ("5741_01_05 invalid context source filter", {"type": "Building", "csf": "))bad(("}),
    ],
)
async def test_021_12_021_24_5741_01_bad_queries(
    client: httpx.AsyncClient, fleet: dict[str, dict[str, Any]], case: str, params: dict[str, str]
) -> None:
    response = await query_temporal(client, **params, **SINCE_JULY)
    problem(response, 400, "BadRequestData")


AFTER = {"timerel": "after", "timeAt": "2020-08-02T12:05:00Z"}


@pytest.mark.parametrize(
    ("case", "entities", "temporal_q", "expected"),
    [
        ("021_13_01 after", [{"type": "Vehicle"}], AFTER, [("B", None, None)]),
        ("021_13_02 before", [{"type": "Vehicle"}], {**AFTER, "timerel": "before"}, [("A", None, None)]),
        (
            "021_13_03 between",
            [{"type": "Vehicle"}],
            {**AFTER, "timerel": "between", "endTimeAt": "2020-09-01T13:06:00Z"},
            [("B", None, "2020-09-01T13:06:00Z")],
        ),
        ("021_13_04 two types", [{"type": "Vehicle"}, {"type": "Bus"}], AFTER, [("B", None, None)]),
    ],
)
async def test_021_13_query_with_post(
    client: httpx.AsyncClient,
    fleet: dict[str, dict[str, Any]],
    case: str,
    entities: list[dict[str, str]],
    temporal_q: dict[str, str],
    expected: list[tuple[str, str | None, str | None]],
) -> None:
    """Entities without an instance in the time window are left out (021_13_04: the bus)."""
    body = {"type": "Query", "entities": entities, "temporalQ": temporal_q}
    got = await ok(await client.post(TEMPORAL_QUERY, json=body, headers=JSON_LINK))
    same(got, [window(fleet[name], start, end) for name, start, end in expected])


def simplified(entity: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entity["id"], "type": entity["type"]}
    for name, series in entity.items():
        if name not in ("id", "type"):
            out[name] = {"type": "Property", "values": [[i["value"], i["observedAt"]] for i in series]}
    return out


@pytest.mark.parametrize(
    ("case", "params", "start", "end"),
    [
        (
            "021_14_01 after",
            {"timerel": "after", "timeAt": "2020-08-01T12:04:00Z"},
            "2020-08-01T12:04:00Z",
            None,
        ),
        (
            "021_14_02 before",
            {"timerel": "before", "timeAt": "2020-09-01T13:06:00Z"},
            None,
            "2020-09-01T13:06:00Z",
        ),
        (
            "021_14_03 between",
            {"timerel": "between", "timeAt": "2020-08-01T12:04:00Z", "endTimeAt": "2020-09-01T13:06:00Z"},
            "2020-08-01T12:04:00Z",
            "2020-09-01T13:06:00Z",
        ),
    ],
)
async def test_021_14_temporal_values(
    client: httpx.AsyncClient,
    fleet: dict[str, dict[str, Any]],
    case: str,
    params: dict[str, str],
    start: str | None,
    end: str | None,
) -> None:
    got = await ok(await query_temporal(client, type="Vehicle", options="temporalValues", **params))
    same(got, [simplified(window(fleet[name], start, end)) for name in ("A", "B")])


def hours(day: str, *rows: tuple[float, str, str]) -> list[list[Any]]:
    return [[value, f"{day}T{start}:00Z", f"{day}T{end}:00Z"] for value, start, end in rows]


AVG_FUEL = hours("2020-08-01", (67.0, "12:03", "13:03"), (53.0, "13:03", "14:03"), (40.0, "14:03", "15:03"))
AVG_SPEED = hours("2020-08-01", (100.0, "12:03", "13:03"))
DAY_BUCKET = ["2020-08-01T12:03:00Z", "2020-08-02T12:03:00Z"]


@pytest.mark.parametrize(
    ("case", "methods", "period", "attrs", "expected"),
    [
        (
            "021_17_01 avg PT1H",
            "avg",
            "PT1H",
            None,
            {"speed": {"avg": AVG_SPEED}, "fuelLevel": {"avg": AVG_FUEL}},
        ),
        ("021_17_02 avg PT1H of fuelLevel", "avg", "PT1H", "fuelLevel", {"fuelLevel": {"avg": AVG_FUEL}}),
        (
            "021_17_03 avg,max PT1H",
            "avg,max",
            "PT1H",
            None,
            {
                "speed": {"avg": AVG_SPEED, "max": hours("2020-08-01", (120.0, "12:03", "13:03"))},
                "fuelLevel": {"avg": AVG_FUEL, "max": AVG_FUEL},
            },
        ),
        (
            "021_17_04 min,max P1D",
            "min,max",
            "P1D",
            None,
            {
                "speed": {"min": [[80.0, *DAY_BUCKET]], "max": [[120.0, *DAY_BUCKET]]},
                "fuelLevel": {"min": [[40.0, *DAY_BUCKET]], "max": [[67.0, *DAY_BUCKET]]},
            },
        ),
    ],
)
async def test_021_17_aggregated(
    client: httpx.AsyncClient,
    case: str,
    methods: str,
    period: str,
    attrs: str | None,
    expected: dict[str, dict[str, Any]],
) -> None:
    """Periods start at timeAt (2020-01-01T12:03), so August's fall on the hour at 12:03."""
    entity = vehicle_history("2020-08-01")
    await create_temporal(client, entity)
    params = {
        "type": "Vehicle",
        "options": "aggregatedValues",
        "aggrMethods": methods,
        "aggrPeriodDuration": period,
        "timerel": "after",
        "timeAt": "2020-01-01T12:03:00Z",
    }
    if attrs:
        params["attrs"] = attrs
    got = await ok(await query_temporal(client, **params))
    body = {"id": entity["id"], "type": "Vehicle"}
    body.update({name: {"type": "Property", **methods_} for name, methods_ in expected.items()})
    same(got[0], body)


COMMON = "urn:ngsi-ld:Dataset:Common"
SPEED_SET = "urn:ngsi-ld:Dataset:Speed"
FUEL_SET = "urn:ngsi-ld:Dataset:fuel"
MULTI = {
    "id": "urn:ngsi-ld:Vehicle:021-18-A",
    "type": "Vehicle",
    "speed": [
        *instances("2020-09-01", (120, "12:03")),
        *instances("2020-09-01", (80, "12:05"), (90, "13:05"), datasetId=COMMON),
        *instances("2020-09-01", (60, "12:05"), (62, "12:15"), datasetId=SPEED_SET),
    ],
    "fuelLevel": [
        *instances("2020-09-01", (67, "12:03")),
        {"type": "Property", "value": 68, "observedAt": "2020-09-01T12:03:30Z"},
        *instances("2020-09-01", (53, "13:05"), datasetId=COMMON),
        *instances("2020-09-01", (40, "14:07"), datasetId=FUEL_SET),
    ],
}


def values(name: str, dataset: str | None) -> dict[str, Any]:
    series = [i for i in MULTI[name] if i.get("datasetId") == dataset]
    out: dict[str, Any] = {"type": "Property"}
    if dataset is not None:
        out["datasetId"] = dataset
    out["values"] = [[i["value"], i["observedAt"]] for i in series]
    return out


@pytest.mark.parametrize(
    ("case", "attrs", "dataset", "expected"),
    [
        (
            "021_18_01 attrs only",
            "speed",
            None,
            {"speed": [values("speed", d) for d in (None, SPEED_SET, COMMON)]},
        ),
        (
            "021_18_02 one datasetId",
            None,
            COMMON,
            {"speed": values("speed", COMMON), "fuelLevel": values("fuelLevel", COMMON)},
        ),
        (
            "021_18_03 two datasetIds",
            None,
            f"{COMMON},{SPEED_SET}",
            {
                "speed": [values("speed", SPEED_SET), values("speed", COMMON)],
                "fuelLevel": values("fuelLevel", COMMON),
            },
        ),
        (
            "021_18_04 default instances",
            None,
            "@none",
            {"speed": values("speed", None), "fuelLevel": values("fuelLevel", None)},
        ),
        ("021_18_05 attrs and default instances", "speed", "@none", {"speed": values("speed", None)}),
        (
            "021_18_06 attrs and datasetId",
            "fuelLevel",
            FUEL_SET,
            {"fuelLevel": values("fuelLevel", FUEL_SET)},
        ),
        ("021_18_07 attrs and datasetId with no match", "speed", FUEL_SET, None),
    ],
)
async def test_021_18_dataset_ids(
    client: httpx.AsyncClient, case: str, attrs: str | None, dataset: str, expected: dict[str, Any] | None
) -> None:
    await create_temporal(client, MULTI)
    params = {
        "type": "Vehicle",
        "timerel": "after",
        "timeAt": "2020-08-01T12:04:00Z",
        "options": "temporalValues",
    }
    if attrs:
        params["attrs"] = attrs
    if dataset:
        params["datasetId"] = dataset
    got = await ok(await query_temporal(client, **params))
    same(got, [] if expected is None else [{"id": MULTI["id"], "type": "Vehicle", **expected}])


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("021_19_01 format only", {"format": "temporalValues"}),
        (
            "021_19_02 format wins over options",
            {"format": "temporalValues", "options": "aggregatedValues", "aggrMethods": "sum"},
        ),
        ("021_19_03 options only", {"options": "temporalValues"}),
    ],
)
async def test_021_19_format_and_options(
    client: httpx.AsyncClient, case: str, params: dict[str, str]
) -> None:
    entities = [vehicle_history("2020-08-01", A), vehicle_history("2020-09-01", B)]
    for entity in entities:
        await create_temporal(client, entity)
    got = await ok(
        await query_temporal(client, type="Vehicle", timerel="after", timeAt="2020-01-01T12:03:00Z", **params)
    )
    same(got, [simplified(entity) for entity in entities])


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("021_20_01 invalid format", {"format": "invalidFormat"}),
        ("021_20_02 invalid options", {"options": "invalidOptions"}),
        ("021_20_03 one invalid option", {"options": "temporalValues,invalidOptions"}),
        (
            "021_20_04 format and an invalid option",
            {"format": "temporalValues", "options": "aggregatedValues,invalidOptions"},
        ),
    ],
)
async def test_021_20_invalid_format_or_options(
    client: httpx.AsyncClient, case: str, params: dict[str, str]
) -> None:
    response = await query_temporal(
        client, type="Vehicle", timerel="after", timeAt="2020-01-01T12:03:00Z", **params
    )
    problem(response, 400, "InvalidRequest")


@pytest.mark.parametrize(
    ("case", "params", "members"),
    [
        ("021_21_01 pick an attribute", {"pick": "speed"}, ["speed"]),
        ("021_21_02 omit an attribute", {"omit": "speed"}, ["id", "type", "fuelLevel"]),
        ("021_21_03 pick a core member", {"pick": "id"}, ["id"]),
        ("021_21_04 omit a core member", {"omit": "type"}, ["id", "speed", "fuelLevel"]),
        ("021_21_05 pick both", {"pick": "id,speed"}, ["id", "speed"]),
        ("021_21_06 omit both", {"omit": "type,speed"}, ["id", "fuelLevel"]),
    ],
)
async def test_021_21_pick_and_omit(
    client: httpx.AsyncClient,
    fleet: dict[str, dict[str, Any]],
    case: str,
    params: dict[str, str],
    members: list[str],
) -> None:
    got = await ok(
        await query_temporal(
            client, type="Bus,Vehicle", timerel="after", timeAt="1970-01-01T00:00:00Z", **params
        )
    )
    same(got, [{member: entity[member] for member in members} for entity in fleet.values()])


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("021_22_01 same member in pick and omit", {"pick": "speed", "omit": "speed"}),
        ("021_22_02 pick and attrs", {"pick": "speed", "attrs": "fuelLevel"}),
        ("021_22_03 omit and attrs", {"omit": "speed", "attrs": "fuelLevel"}),
    ],
)
async def test_021_22_invalid_pick_and_omit(
    client: httpx.AsyncClient, fleet: dict[str, dict[str, Any]], case: str, params: dict[str, str]
) -> None:
    response = await query_temporal(
        client, type="Building,Vehicle", timerel="after", timeAt="1970-01-01T00:00:00Z", **params
    )
    problem(response, 400, "BadRequestData")


@pytest.mark.parametrize(
    ("case", "timerel", "time_at", "end_time_at", "expected"),
    [
        ("021_26_01 after includes timeAt", "after", "2020-08-01T12:05:00Z", None, ["12:05", "12:07"]),
        ("021_26_02 after, with a fraction", "after", "2020-08-01T12:05:00.000Z", None, ["12:05", "12:07"]),
        ("021_26_03 before excludes timeAt", "before", "2020-08-01T12:05:00Z", None, ["12:03"]),
        ("021_26_04 before, with a fraction", "before", "2020-08-01T12:05:00.000Z", None, ["12:03"]),
        ("021_26_05 between", "between", "2020-08-01T12:03:00Z", "2020-08-01T12:05:00Z", ["12:03"]),
        (
            "021_26_06 between, with fractions",
            "between",
            "2020-08-01T12:03:00.000Z",
            "2020-08-01T12:05:00.000Z",
            ["12:03"],
        ),
        ("021_26_07 unknown timerel", "during", "2020-08-01T12:05:00Z", None, None),
        ("021_26_08 between without endTimeAt", "between", "2020-08-01T12:05:00Z", None, None),
        ("021_26_09 a date is not a date-time", "after", "2020-08-01", None, None),
    ],
)
async def test_021_26_bounds(
    client: httpx.AsyncClient,
    case: str,
    timerel: str,
    time_at: str,
    end_time_at: str | None,
    expected: list[str] | None,
) -> None:
    entity = vehicle_history("2020-08-01")
    await create_temporal(client, entity)
    params = {"id": entity["id"], "attrs": "speed", "timerel": timerel, "timeAt": time_at}
    if end_time_at:
        params["endTimeAt"] = end_time_at
    response = await query_temporal(client, **params)
    if expected is None:
        problem(response, 400, "BadRequestData")
        return
    got = await ok(response)
    assert sorted(i["observedAt"] for i in got[0]["speed"]) == [f"2020-08-01T{t}:00Z" for t in expected]


@pytest.mark.parametrize(
    ("case", "temporal_q", "aggr_params", "status", "present", "absent"),
    [
        ("021_27_01 lastN", {"lastN": 1}, None, 200, "2020-08-01T12:07:00Z", "2020-08-01T12:03:00Z"),
        ("021_27_02 lastN zero", {"lastN": 0}, None, 400, "BadRequestData", None),
        ("021_27_03 fractional lastN", {"lastN": 2.5}, None, 400, "BadRequestData", None),
        ("021_27_04 invalid timerel", {"timerel": "during"}, None, 400, "BadRequestData", None),
        ("021_27_05 between without endTimeAt", {"timerel": "between"}, None, 400, "BadRequestData", None),
        ("021_27_06 invalid timeproperty", {"timeproperty": "expiresAt"}, None, 400, "BadRequestData", None),
        ("021_27_07 aggrMethods as an array", {"aggrMethods": ["avg"]}, None, 200, "avg", "instanceId"),
        ("021_27_08 aggrMethods as a string", {"aggrMethods": "avg,max"}, None, 200, "avg", "instanceId"),
        (
            "021_27_09 invalid aggrPeriodDuration",
            {"aggrMethods": ["avg"], "aggrPeriodDuration": "bogus"},
            None,
            400,
            "aggrPeriodDuration",
            None,
        ),
        (
            "5244_01_01 aggrParams",
            {},
            {"aggrMethods": ["avg"], "aggrPeriodDuration": "PT0S"},
            200,
            "avg",
            "instanceId",
        ),
        ("5244_01_02 unknown method", {}, {"aggrMethods": ["bogus"]}, 400, "aggrMethods", None),
        (
            "5244_01_03 invalid duration",
            {},
            {"aggrMethods": ["avg"], "aggrPeriodDuration": "bogus"},
            400,
            "aggrPeriodDuration",
            None,
        ),
    ],
)
async def test_021_27_and_5244_01_query_body(
    client: httpx.AsyncClient,
    case: str,
    temporal_q: dict[str, Any],
    aggr_params: dict[str, Any] | None,
    status: int,
    present: str,
    absent: str | None,
) -> None:
    await create_temporal(client, vehicle_history("2020-08-01"))
    body: dict[str, Any] = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "temporalQ": {"timerel": "after", "timeAt": "2020-08-01T12:00:00Z", **temporal_q},
    }
    if aggr_params is not None:
        body["aggrParams"] = aggr_params
    response = await client.post(TEMPORAL_QUERY, json=body, headers=JSON_LINK)
    assert response.status_code == status, response.text
    assert present in response.text
    assert absent is None or absent not in response.text


IN = "2026-03-01T12:00:00Z"
OUT = "2026-01-05T00:00:00Z"
MARCH_1 = {"timerel": "between", "timeAt": "2026-03-01T00:00:00Z", "endTimeAt": "2026-03-02T00:00:00Z"}


def at(moment: str, value: Any, kind: str = "Property", **members: Any) -> dict[str, Any]:
    member = {"Property": "value", "Relationship": "object", "LanguageProperty": "languageMap"}.get(
        kind, "value"
    )
    return {"type": kind, member: value, "observedAt": moment, **members}


def point(lon: float, lat: float, moment: str) -> dict[str, Any]:
    return {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [lon, lat]},
        "observedAt": moment,
    }


VALUES_FILTER = {
    "fast": {"speed": [at(IN, 30), at(OUT, 90)], "heading": [at(IN, 45)], "route": [at(IN, "550")]},
    "slow": {"speed": [at(IN, 10), at(OUT, 80)], "heading": [at(IN, 170)]},
    "shapes": {
        "name": [at(IN, "m")],
        "ref": [at(IN, "urn:dest:qp1", "Relationship")],
        "tags": [at(IN, ["a", "b"])],
    },
    "nowin": {"speed": [at(OUT, 99)]},
    "multi": {"speed": [at(IN, 5), at(IN, 60, datasetId="urn:ngsi-ld:Dataset:qp1")]},
    "typed": {
        "speed": [at(IN, 30)],
        "route": [at(IN, "550")],
        "active": [at(IN, True)],
        "departure": [at(IN, "2026-03-01T06:00:00Z")],
    },
    "second": {"active": [at(IN, False)], "departure": [at(IN, "2026-02-01T00:00:00Z")]},
    "langv": {"label": [at(IN, {"en": "red", "fr": "rouge"}, "LanguageProperty")]},
    "langother": {"label": [at(IN, {"en": "black", "fr": "rouge"}, "LanguageProperty")]},
    "relv": {"ref": [at(IN, "urn:dest:qpA", "Relationship")]},
    "arrv": {"tags": [at(IN, ["a", "b"])]},
    "fastest": {"speed": [at(IN, 99)]},
    "mm": {"name": [at(IN, "m")]},
    "zz": {"name": [at(IN, "z")]},
    "num": {"name": [at(IN, 5)]},
    "lang": {"label": [at(IN, {"en": "hello", "fr": "bonjour"}, "LanguageProperty")]},
    "geoin": {"location": [point(17.1001, 48.1001, IN)]},
    "geoout": {"location": [point(10.0, 40.0, IN), point(17.1, 48.1, OUT)]},
    "paris": {"location": [point(2.29, 48.85, IN)]},
    "far": {"location": [point(10.0, 50.0, IN)]},
    "outw": {"location": [point(2.29, 48.85, OUT)]},
    "obs": {"observationSpace": [point(2.29, 48.85, IN)]},
}


@pytest.fixture
async def values_filter(client: httpx.AsyncClient) -> None:
    """The fixtures of 5744_01, _02, _04 and _06, created without a @context."""
    for name, attributes in VALUES_FILTER.items():
        body = {"id": f"urn:ngsi-ld:Vehicle:qp5744-{name}", "type": "Vehicle", **attributes}
        response = await client.post(TEMPORAL, json=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 201, response.text


PARIS_BOX = "[[[2.0,48.5],[2.6,48.5],[2.6,49.2],[2.0,49.2],[2.0,48.5]]]"
NEAR_PARIS = {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": "[2.29,48.85]"}


@pytest.mark.parametrize(
    ("case", "params", "selected"),
    [
        (
            "5744_01_01 out-of-window never satisfies q",
            {"q": "speed>25"},
            {"fast", "fastest", "multi", "typed"},
        ),
        ("5744_01_04 and across attributes", {"q": "speed>=5;heading<90"}, {"fast"}),
        ("5744_01_05 or", {"q": "speed>25|heading>100"}, {"fast", "slow", "fastest", "multi", "typed"}),
        (
            "5744_01_06 or with a pattern",
            {"q": 'speed>25|name~="^m"'},
            {"fast", "fastest", "multi", "typed", "shapes", "mm"},
        ),
        ("5744_01_07 unequal", {"q": "speed!=10"}, {"fast", "fastest", "multi", "typed"}),
        ("5744_01_08 negated existence", {"q": "!heading;speed>25"}, {"fastest", "multi", "typed"}),
        ("5744_01_09 range", {"q": "speed==10..40"}, {"fast", "slow", "typed"}),
        ("5744_01_10 value list", {"q": 'route=="550","551"'}, {"fast", "typed"}),
        ("5744_01_11 relationship object", {"q": 'ref=="urn:dest:qp1"'}, {"shapes"}),
        ("5744_01_12 array element", {"q": 'tags=="a"'}, {"shapes", "arrv"}),
        ("5744_01_13 datasetId instance", {"q": "speed>50"}, {"fastest", "multi"}),
        ("5744_02_01 string is not a number", {"q": 'speed=="30"'}, set()),
        ("5744_02_01 number", {"q": "speed==30"}, {"fast", "typed"}),
        (
            "5744_02_02 unequal datatypes",
            {"q": 'speed!="thirty"'},
            {"fast", "slow", "multi", "typed", "fastest"},
        ),
        ("5744_02_03 ordering needs the same datatype", {"q": "route>100"}, set()),
        ("5744_02_03 string ordering", {"q": 'route>"200"'}, {"fast", "typed"}),
        ("5744_02_04 relationship ordering", {"q": 'ref>"urn:a"'}, set()),
        ("5744_02_05 pattern on a number", {"q": 'speed~="3.*"'}, set()),
        ("5744_02_05 pattern on a string", {"q": 'route~="5.*"'}, {"fast", "typed"}),
        ("5744_02_06 do-not-match pattern", {"q": 'route!~="9.*"'}, {"fast", "typed"}),
        ("5744_02_06 do-not-match pattern, matching", {"q": 'route!~="5.*"'}, set()),
        ("5744_02_07 language key", {"q": 'label[en]=="red"'}, {"langv"}),
        ("5744_02_07 other language key", {"q": 'label[fr]=="red"'}, set()),
        ("5744_02_08 any language", {"q": 'label[*]=="rouge"'}, {"langv", "langother"}),
        ("5744_02_09 value list on an array", {"q": 'tags=="b","z"'}, {"shapes", "arrv"}),
        ("5744_02_09 value list missing", {"q": 'tags=="x","z"'}, set()),
        ("5744_02_10 unequal range", {"q": "speed!=10..40"}, {"fastest", "multi"}),
        ("5744_02_11 dates order in time", {"q": 'departure>"2026-02-15T00:00:00Z"'}, {"typed"}),
        ("5744_02_12 true", {"q": "active==true"}, {"typed"}),
        ("5744_02_12 false", {"q": "active==false"}, {"second"}),
        ("5744_02_13 parentheses", {"q": '(speed>25|route=="551");active==true'}, {"typed"}),
        ("5744_06_01 string ordering", {"q": 'name>"m"'}, {"zz"}),
        ("5744_06_02 string ordering, inclusive", {"q": 'name>="m"'}, {"mm", "zz", "shapes"}),
        ("5744_06_03 above the highest", {"q": 'name>"z"'}, set()),
        ("5744_06_04 unequal scalar", {"q": 'name!="m"'}, {"zz", "num"}),
        ("5744_06_05 unequal on an array", {"q": 'tags!="c"'}, {"shapes", "arrv"}),
        ("5744_06_05 unequal on an array, matching", {"q": 'tags!="a"'}, set()),
        ("5744_06_06 unequal value list", {"q": 'name!="m","z"'}, {"num"}),
        ("5744_06_07 language tag", {"q": 'label[en]=="hello"'}, {"lang"}),
        ("5744_06_08 language wildcard", {"q": 'label[*]=="bonjour"'}, {"lang"}),
        ("5744_06_08 other language tag", {"q": 'label[en]=="bonjour"'}, set()),
        (
            "5744_02_14 geo-query on windowed instances",
            {"georel": "near;maxDistance==1000", "geometry": "Point", "coordinates": "[17.1,48.1]"},
            {"geoin"},
        ),
        ("5744_04_01 near", NEAR_PARIS, {"paris"}),
        (
            "5744_04_03 within",
            {"georel": "within", "geometry": "Polygon", "coordinates": PARIS_BOX},
            {"paris"},
        ),
        (
            "5744_04_04 intersects",
            {"georel": "intersects", "geometry": "Polygon", "coordinates": PARIS_BOX},
            {"paris"},
        ),
        (
            "5744_04_05 disjoint",
            {"georel": "disjoint", "geometry": "Polygon", "coordinates": PARIS_BOX},
            {"far", "geoin", "geoout"},
        ),
        (
            "5744_04_06 equals",
            {"georel": "equals", "geometry": "Point", "coordinates": "[2.29,48.85]"},
            {"paris"},
        ),
        ("5744_04_07 other geoproperty", {**NEAR_PARIS, "geoproperty": "observationSpace"}, {"obs"}),
    ],
)
async def test_5744_values_filter_on_instances(
    client: httpx.AsyncClient, values_filter: None, case: str, params: dict[str, str], selected: set[str]
) -> None:
    """5.7.4.4: q and geo-queries are checked against the instances in the time window, and the
    selected entities come with all their instances in the window (5744_01_02)."""
    got = await ok(await client.get(TEMPORAL, params={"type": "Vehicle", **params, **MARCH_1}))
    assert {entity["id"].removeprefix("urn:ngsi-ld:Vehicle:qp5744-") for entity in got} == selected
    assert OUT not in str(got)


async def test_5744_01_03_offset_time_is_refused(client: httpx.AsyncClient) -> None:
    body = {"id": new_id(), "type": "Vehicle", "speed": [at("2026-03-01T02:00:00+03:00", 50)]}
    response = await client.post(TEMPORAL, json=body, headers={"Content-Type": "application/json"})
    problem(response, 400, "BadRequestData")


async def test_5744_05_count_and_pages_after_the_values_filter(client: httpx.AsyncClient) -> None:
    for name, speeds in (
        ("one", [at(IN, 30)]),
        ("two", [at(IN, 40)]),
        ("decoy", [at("2026-02-28T23:00:00Z", 90), at(IN, 5)]),
    ):
        body = {"id": f"urn:ngsi-ld:Vehicle:qpage5744-{name}", "type": "Vehicle", "speed": speeds}
        assert (
            await client.post(TEMPORAL, json=body, headers={"Content-Type": "application/json"})
        ).status_code == 201
    base = {"type": "Vehicle", "q": "speed>25", **MARCH_1}
    counted = await client.get(TEMPORAL, params={**base, "count": "true", "limit": "1"})
    assert counted.headers["NGSILD-Results-Count"] == "2"
    pages = [
        (await ok(await client.get(TEMPORAL, params={**base, "limit": "1", "offset": str(n)})))
        for n in range(3)
    ]
    assert [[entity["id"] for entity in page] for page in pages] == [
        ["urn:ngsi-ld:Vehicle:qpage5744-one"],
        ["urn:ngsi-ld:Vehicle:qpage5744-two"],
        [],
    ]


@pytest.mark.parametrize(
    ("case", "expand", "found"),
    [("5743_01_01 with expandValues", True, True), ("5743_01_02 without", False, False)],
)
async def test_5743_01_expand_values(client: httpx.AsyncClient, case: str, expand: bool, found: bool) -> None:
    shop = "urn:ngsi-ld:Shop:ev5743"
    body = {"id": shop, "type": "Shop", "category": {"type": "VocabProperty", "vocab": "commercial"}}
    assert (
        await client.post("/ngsi-ld/v1/entities", json=body, headers={"Content-Type": "application/json"})
    ).status_code == 201
    params = {
        "type": "Shop",
        "q": "category==commercial",
        "timerel": "after",
        "timeAt": "2000-01-01T00:00:00Z",
        "timeproperty": "createdAt",
    }
    if expand:
        params["expandValues"] = "category"
    got = await ok(await client.get(TEMPORAL, params=params))
    assert (shop in str(got)) is found
