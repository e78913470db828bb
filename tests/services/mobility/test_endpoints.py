"""The mobility service's endpoints over real HTTP (smartby served by uvicorn), on both backends:
a segment's figures of a day, writing a day's indicators, ProblemDetails for bad requests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import LiveServer
from smartby.services.mobility.vocabulary import TRANSPORTATION_CONTEXT
from smartby.services.results import KPI_CONTEXT
from smartby.settings import Settings

SEGMENT = "urn:ngsi-ld:TrafficFlowObserved:http:1"
DAY = datetime(2026, 3, 10, tzinfo=UTC)  # a Tuesday; 01:00 UTC is 02:00 in Copenhagen


@pytest.fixture
def server(mobility_settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(mobility_settings.model_copy(update={"services_in_server": False}))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def readings(http: httpx.Client, rows: list[tuple[datetime, int, float]]) -> None:
    for at, count, time in rows:
        stamp = at.isoformat().replace("+00:00", "Z")
        body = {
            "id": SEGMENT,
            "type": "TrafficFlowObserved",
            "intensity": {"type": "Property", "value": count, "observedAt": stamp},
            "averageTravelTime": {"type": "Property", "value": time, "observedAt": stamp},
            "@context": TRANSPORTATION_CONTEXT,
        }
        answer = http.post(
            "/ngsi-ld/v1/entityOperations/upsert",
            json=[body],
            params={"options": "update"},
            headers={"Content-Type": "application/ld+json"},
        )
        assert answer.status_code in (201, 204), answer.text


def test_a_segments_figures_and_the_days_indicators(server: LiveServer) -> None:
    night = [
        (DAY - timedelta(days=1) + timedelta(hours=1, minutes=5 * k), 3, 60.0 + k % 3) for k in range(12)
    ]
    day = [(DAY + timedelta(hours=6, minutes=10 * k), 20, 60.0 + 10 * k) for k in range(12)]  # 07:00-08:50
    empty = (DAY + timedelta(hours=9), 0, 500.0)  # no traffic: not counted
    with httpx.Client(base_url=server.url, timeout=30) as http:
        readings(http, [*night, *day, empty])
        answer = http.get(f"/mobility/v1/segments/{SEGMENT}/kpis", params={"date": "2026-03-10"})
        assert answer.status_code == 200, answer.text
        figures = answer.json()
        times = [time for _, _, time in day]
        assert figures["freeFlowTravelTime"] == pytest.approx(60.0)
        assert figures["tti"] == pytest.approx(sum(times) / len(times) / 60.0)
        assert (figures["peakHour"], figures["readings"]) == (8, 12)
        written = http.post("/mobility/v1/kpis", params={"date": "2026-03-10"})
        assert written.status_code == 200, written.text
        assert set(written.json()["segments"]) == {SEGMENT}
        kpi = http.get(
            "/ngsi-ld/v1/entities/urn:ngsi-ld:KeyPerformanceIndicator:mobility:city:tti",
            params={"format": "keyValues"},
            headers={"Link": f'<{KPI_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"'},
        )
        assert kpi.status_code == 200 and kpi.json()["kpiValue"] == pytest.approx(figures["tti"], abs=1e-4)
        nothing = http.get(f"/mobility/v1/segments/{SEGMENT}/kpis", params={"date": "2026-01-01"})
        assert nothing.status_code == 404 and nothing.json()["type"].endswith("ResourceNotFound")
        before = http.get(f"/mobility/v1/segments/{SEGMENT}/kpis", params={"date": "2026-03-09"})
        assert before.status_code == 200 and before.json()["tti"] is None  # no night before it


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"/mobility/v1/segments/{SEGMENT}/kpis", {}),
        (f"/mobility/v1/segments/{SEGMENT}/kpis", {"date": "10.03.2026"}),
        (f"/mobility/v1/segments/{SEGMENT}/kpis", {"date": "2026-02-30"}),
        (f"/mobility/v1/segments/{SEGMENT}/kpis", {"date": "2026-03-10", "segment": "x"}),
        ("/mobility/v1/segments/not an id/kpis", {"date": "2026-03-10"}),
    ],
)
def test_bad_requests_are_problems(server: LiveServer, path: str, params: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url) as http:
        answer = http.get(path, params=params)
    assert answer.status_code == 400, answer.text
    assert (
        answer.headers["content-type"].startswith("application/") and "json" in answer.headers["content-type"]
    )
    assert answer.json()["type"].endswith("BadRequestData")
