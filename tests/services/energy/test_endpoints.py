"""The energy service's endpoints over real HTTP (smartby served by uvicorn), on both backends: the
town written through the NGSI-LD API, a building's performance, the ranked candidates, the KPIs
written on request, and ProblemDetails for every malformed request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer
from services.energy.conftest import HOUSES, entities, temporal
from smartby.services.results import KPI_CONTEXT
from smartby.settings import Settings

LD = {"Content-Type": "application/ld+json"}


@pytest.fixture
def server(energy_settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(energy_settings.model_copy(update={"services_in_server": False}))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def build(http: httpx.Client) -> None:
    for context, body in entities():
        answer = http.post("/ngsi-ld/v1/entities", json={**body, "@context": context}, headers=LD)
        assert answer.status_code == 201, answer.text
    for context, body in temporal():
        answer = http.post("/ngsi-ld/v1/temporal/entities", json={**body, "@context": context}, headers=LD)
        assert answer.status_code in (201, 204), answer.text


def test_performance_retrofit_and_kpis_over_http(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        build(http)
        house = HOUSES[0]
        answer = http.get(f"/energy/v1/buildings/{house.id}/performance", params={"year": "2026"})
        assert answer.status_code == 200, answer.text
        figures = answer.json()
        assert figures["normalisedKWh"] == pytest.approx(365 * 30 + 5 * 2906)
        assert (figures["label"], figures["labelIsEstimate"]) == ("E", True)
        ranked = http.get("/energy/v1/retrofit", params={"year": "2026"})
        assert ranked.status_code == 200, ranked.text
        assert next(c["id"] for c in ranked.json()["candidates"]) == house.id
        written = http.post("/energy/v1/kpis", params={"year": "2026"})
        assert written.status_code == 200 and written.json()["written"] == sorted(h.id for h in HOUSES)
        kpi = http.get(
            "/ngsi-ld/v1/entities/urn:ngsi-ld:KeyPerformanceIndicator:energy:Building:town-0001:2026",
            params={"format": "keyValues"},
            headers={"Link": f'<{KPI_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"'},
        )
        assert kpi.status_code == 200, kpi.text
        assert kpi.json()["kpiValue"] == pytest.approx(figures["kWhPerM2"], abs=1e-3)


@pytest.mark.parametrize(
    ("path", "params", "status", "problem"),
    [
        (
            "/energy/v1/buildings/urn:ngsi-ld:Building:none/performance",
            {"year": "2026"},
            404,
            "ResourceNotFound",
        ),
        ("/energy/v1/buildings/urn:ngsi-ld:Building:none/performance", {}, 400, "BadRequestData"),
        (
            "/energy/v1/buildings/urn:ngsi-ld:Building:none/performance",
            {"year": "20x6"},
            400,
            "BadRequestData",
        ),
        (
            "/energy/v1/buildings/urn:ngsi-ld:Building:none/performance",
            {"year": "-2026"},
            400,
            "BadRequestData",
        ),
        ("/energy/v1/buildings/nourn/performance", {"year": "2026"}, 400, "BadRequestData"),
        ("/energy/v1/retrofit", {"year": "99999"}, 400, "BadRequestData"),
        ("/energy/v1/retrofit", {"sort": "label"}, 400, "BadRequestData"),
    ],
)
def test_malformed_requests_are_problem_details(
    server: LiveServer, path: str, params: dict[str, str], status: int, problem: str
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.get(path, params=params)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/") and answer.json()["type"].endswith(
            problem
        )
