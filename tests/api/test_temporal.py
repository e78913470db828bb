"""The temporal API through HTTP: history of every change, temporal writes, queries, aggregation."""

from __future__ import annotations

from typing import Any

import httpx

from smartby.ngsild.errors import ERRORS_BASE

V1 = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}
SENSOR = "urn:ngsi-ld:TrafficFlowObserved:158324"


async def record(client: httpx.AsyncClient, readings: list[tuple[str, float]]) -> None:
    """Create the sensor, then one PATCH per reading (value, observedAt)."""
    first_time, first_value = readings[0]
    created = await client.post(
        f"{V1}/entities",
        json={
            "id": SENSOR,
            "type": "TrafficFlowObserved",
            "intensity": {"type": "Property", "value": first_value, "observedAt": first_time},
        },
        headers=JSON,
    )
    assert created.status_code == 201, created.text
    for moment, value in readings[1:]:
        patched = await client.patch(
            f"{V1}/entities/{SENSOR}/attrs",
            json={"intensity": {"type": "Property", "value": value, "observedAt": moment}},
            headers=JSON,
        )
        assert patched.status_code == 204, patched.text


READINGS = [
    ("2024-05-01T07:00:00Z", 10),
    ("2024-05-01T07:20:00Z", 20),
    ("2024-05-01T07:40:00Z", 30),
    ("2024-05-01T08:00:00Z", 40),
    ("2024-05-01T08:30:00Z", 50),
]


def problem(response: httpx.Response) -> str:
    body = response.json()
    assert body["status"] == response.status_code
    return str(body["type"]).removeprefix(ERRORS_BASE)


async def test_every_update_is_history(client: httpx.AsyncClient) -> None:
    await record(client, READINGS)
    got = await client.get(f"{V1}/temporal/entities/{SENSOR}")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["id"] == SENSOR and body["type"] == "TrafficFlowObserved"
    assert [(i["value"], i["observedAt"]) for i in body["intensity"]] == [(v, t) for t, v in READINGS]
    assert all(i["instanceId"].startswith("urn:ngsi-ld:") for i in body["intensity"])


async def test_time_window_last_n_and_temporal_values(client: httpx.AsyncClient) -> None:
    await record(client, READINGS)
    window = await client.get(
        f"{V1}/temporal/entities/{SENSOR}",
        params={"timerel": "between", "timeAt": "2024-05-01T07:20:00Z", "endTimeAt": "2024-05-01T08:00:00Z"},
    )
    assert [i["value"] for i in window.json()["intensity"]] == [20, 30]
    last = await client.get(f"{V1}/temporal/entities/{SENSOR}", params={"lastN": "2"})
    assert [i["value"] for i in last.json()["intensity"]] == [40, 50]
    simple = await client.get(
        f"{V1}/temporal/entities/{SENSOR}",
        params={"options": "temporalValues", "timerel": "after", "timeAt": "2024-05-01T08:00:00Z"},
    )
    assert simple.json()["intensity"] == {
        "type": "Property",
        "values": [[40, "2024-05-01T08:00:00Z"], [50, "2024-05-01T08:30:00Z"]],
    }


async def test_hourly_aggregation(client: httpx.AsyncClient) -> None:
    await record(client, READINGS)
    got = await client.get(
        f"{V1}/temporal/entities/{SENSOR}",
        params={
            "options": "aggregatedValues",
            "aggrMethods": "avg,max,totalCount",
            "aggrPeriodDuration": "PT1H",
            "timerel": "after",
            "timeAt": "2024-05-01T07:00:00Z",
        },
    )
    assert got.status_code == 200, got.text
    intensity = got.json()["intensity"]
    assert intensity["avg"] == [
        [20.0, "2024-05-01T07:00:00Z", "2024-05-01T08:00:00Z"],
        [45.0, "2024-05-01T08:00:00Z", "2024-05-01T09:00:00Z"],
    ]
    assert [row[0] for row in intensity["max"]] == [30, 50]
    assert [row[0] for row in intensity["totalCount"]] == [3, 2]


async def test_aggregations_on_whole_hours_follow_corrections(client: httpx.AsyncClient) -> None:
    """Daily and monthly sums (read from the hourly rollup) after an instance is corrected and one
    deleted through the temporal API equal what every instance gives (asked with distinctCount,
    which only the instances can answer)."""
    await record(
        client,
        [(f"2024-05-0{day}T{hour:02}:30:00Z", day * 10 + hour) for day in (1, 2) for hour in (6, 7, 8)],
    )
    instances = (await client.get(f"{V1}/temporal/entities/{SENSOR}")).json()["intensity"]
    first, second = instances[0]["instanceId"], instances[1]["instanceId"]
    corrected = await client.patch(
        f"{V1}/temporal/entities/{SENSOR}/attrs/intensity/{first}",
        json={"type": "Property", "value": 100.5, "observedAt": "2024-05-02T23:00:00Z"},
        headers=JSON,
    )
    assert corrected.status_code == 204, corrected.text
    deleted = await client.delete(f"{V1}/temporal/entities/{SENSOR}/attrs/intensity/{second}")
    assert deleted.status_code == 204, deleted.text
    window = {"timerel": "between", "timeAt": "2024-05-01T00:00:00Z", "endTimeAt": "2024-06-01T00:00:00Z"}
    methods = "sum,avg,min,max,totalCount,stddev,sumsq"
    for period in ("P1D", "P1M", "PT1H"):
        params = {"type": "TrafficFlowObserved", "options": "aggregatedValues", "aggrPeriodDuration": period}
        rolled = await client.get(
            f"{V1}/temporal/entities", params={**params, **window, "aggrMethods": methods}
        )
        raw = await client.get(
            f"{V1}/temporal/entities", params={**params, **window, "aggrMethods": methods + ",distinctCount"}
        )
        assert rolled.status_code == raw.status_code == 200, rolled.text
        got, expected = rolled.json()[0]["intensity"], raw.json()[0]["intensity"]
        for method in methods.split(","):
            assert [p[1:] for p in got[method]] == [p[1:] for p in expected[method]]
            for mine, theirs in zip(got[method], expected[method], strict=True):
                assert abs(mine[0] - theirs[0]) < 1e-9, (period, method)
    daily = await client.get(
        f"{V1}/temporal/entities",
        params={
            "type": "TrafficFlowObserved",
            "options": "aggregatedValues",
            "aggrMethods": "sum,totalCount",
            "aggrPeriodDuration": "P1D",
            **window,
        },
    )
    intensity = daily.json()[0]["intensity"]
    assert intensity["sum"] == [
        [18, "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z"],
        [26 + 27 + 28 + 100.5, "2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z"],
    ]
    assert [row[0] for row in intensity["totalCount"]] == [1, 4]


async def test_query_by_type_and_q(client: httpx.AsyncClient) -> None:
    await record(client, READINGS)
    common = {"timerel": "before", "timeAt": "2030-01-01T00:00:00Z"}
    found = await client.get(
        f"{V1}/temporal/entities", params={"type": "TrafficFlowObserved", "q": "intensity>40", **common}
    )
    assert [e["id"] for e in found.json()] == [SENSOR]
    assert len(found.json()[0]["intensity"]) == 5
    none = await client.get(
        f"{V1}/temporal/entities", params={"type": "TrafficFlowObserved", "q": "intensity>99", **common}
    )
    assert none.json() == []
    counted = await client.get(
        f"{V1}/temporal/entities", params={"type": "TrafficFlowObserved", "count": "true", **common}
    )
    assert counted.headers["NGSILD-Results-Count"] == "1"
    posted = await client.post(
        f"{V1}/temporal/entityOperations/query",
        json={
            "type": "Query",
            "entities": [{"type": "TrafficFlowObserved"}],
            "temporalQ": {**common, "lastN": 1},
        },
        headers=JSON,
    )
    assert [i["value"] for i in posted.json()[0]["intensity"]] == [50]
    # a query selects something (clause 5.7.4, as GET /temporal/entities asks): no selector is a 400
    unselective = await client.post(
        f"{V1}/temporal/entityOperations/query",
        json={"type": "Query", "temporalQ": {**common, "lastN": 1}},
        headers=JSON,
    )
    assert unselective.status_code == 400
    assert unselective.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    by_place = await client.post(
        f"{V1}/temporal/entityOperations/query",
        json={
            "type": "Query",
            "geoQ": {"geometry": "Point", "coordinates": [0, 0], "georel": "near;maxDistance==1"},
            "temporalQ": common,
        },
        headers=JSON,
    )
    assert by_place.status_code == 200 and by_place.json() == []


async def test_temporal_writes(client: httpx.AsyncClient) -> None:
    meter = "urn:ngsi-ld:HeatMeter:660"
    body = {
        "id": meter,
        "type": "HeatMeter",
        "energy": [
            {"type": "Property", "value": 5347.6, "unitCode": "KWH", "observedAt": "2018-01-02T23:00:00Z"},
            {"type": "Property", "value": 5350.7, "unitCode": "KWH", "observedAt": "2018-01-03T00:00:00Z"},
        ],
    }
    created = await client.post(f"{V1}/temporal/entities", json=body, headers=JSON)
    assert created.status_code == 201, created.text
    assert (await client.get(f"{V1}/entities/{meter}")).status_code == 404
    more = {"energy": [{"type": "Property", "value": 5353.9, "observedAt": "2018-01-03T01:00:00Z"}]}
    assert (
        await client.post(f"{V1}/temporal/entities/{meter}/attrs", json=more, headers=JSON)
    ).status_code == 204
    again = await client.post(f"{V1}/temporal/entities", json=body, headers=JSON)
    assert again.status_code == 204
    history = (await client.get(f"{V1}/temporal/entities/{meter}")).json()["energy"]
    assert len(history) == 3, "instances observed at a recorded moment replace the recorded ones"
    first = history[0]["instanceId"]
    patched = await client.patch(
        f"{V1}/temporal/entities/{meter}/attrs/energy/{first}", json={"value": 5347.0}, headers=JSON
    )
    assert patched.status_code == 204, patched.text
    history = (await client.get(f"{V1}/temporal/entities/{meter}")).json()["energy"]
    assert history[0]["value"] == 5347.0 and history[0]["unitCode"] == "KWH"
    assert (await client.delete(f"{V1}/temporal/entities/{meter}/attrs/energy/{first}")).status_code == 204
    assert len((await client.get(f"{V1}/temporal/entities/{meter}")).json()["energy"]) == 2
    assert (await client.delete(f"{V1}/temporal/entities/{meter}/attrs/energy")).status_code == 204
    assert "energy" not in (await client.get(f"{V1}/temporal/entities/{meter}")).json()
    assert (await client.delete(f"{V1}/temporal/entities/{meter}")).status_code == 204
    gone = await client.get(f"{V1}/temporal/entities/{meter}")
    assert gone.status_code == 404 and problem(gone) == "ResourceNotFound"


async def test_bad_temporal_requests_are_400_and_write_nothing(client: httpx.AsyncClient) -> None:
    await record(client, READINGS[:1])
    url = f"{V1}/temporal/entities/{SENSOR}"
    for params in (
        {"timerel": "after", "timeAt": "yesterday"},
        {"timerel": "between", "timeAt": "2024-01-01T00:00:00Z"},
        {"timerel": "around", "timeAt": "2024-01-01T00:00:00Z"},
        {"timeAt": "2024-01-01T00:00:00Z"},
        {"options": "aggregatedValues", "aggrMethods": "median"},
        {"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "hourly"},
        {"lastN": "-3"},
    ):
        response = await client.get(url, params=params)
        assert response.status_code == 400, (params, response.text)
        assert problem(response) == "BadRequestData"
    query = await client.get(f"{V1}/temporal/entities", params={"type": "TrafficFlowObserved"})
    assert query.status_code == 400
    broken = {
        "id": SENSOR,
        "type": "TrafficFlowObserved",
        "intensity": [
            {"type": "Property", "value": 1, "observedAt": "2024-06-01T00:00:00Z"},
            {"type": "Property", "value": 2, "observedAt": "not a time"},
        ],
    }
    rejected = await client.post(f"{V1}/temporal/entities", json=broken, headers=JSON)
    assert rejected.status_code == 400
    history = (await client.get(url)).json()["intensity"]
    assert [i["value"] for i in history] == [10]


async def test_long_histories_come_in_pages(client: httpx.AsyncClient) -> None:
    await record(client, READINGS)
    broker: Any = client._transport.app.state.broker  # type: ignore[attr-defined]
    broker.settings.temporal_page_size = 2
    got = await client.get(f"{V1}/temporal/entities/{SENSOR}")
    assert got.status_code == 206
    assert got.headers["Content-Range"] == "date-time 2024-05-01T07:00:00Z-2024-05-01T07:20:00Z/*"
    assert [i["value"] for i in got.json()["intensity"]] == [10, 20]
