"""Tests for services/lighting/endpoints.py over real HTTP (smartby served by uvicorn), on both
backends: a group's schedule for a date, ProblemDetails for bad parameters and unknown groups, and
smartby's lighting @context, which resolves offline for entities that use it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from astral import Observer
from astral.sun import sun
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import LiveServer
from smartby.services.lighting.vocabulary import LIGHTING_CONTEXT, STREETLIGHTING_CONTEXT
from smartby.settings import Settings

GROUP = "urn:ngsi-ld:StreetlightGroup:http:1"
BOTH = {"Content-Type": "application/ld+json"}


@pytest.fixture
def server(lighting_settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(lighting_settings.model_copy(update={"services_in_server": False}))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def create(http: httpx.Client, body: dict[str, object]) -> None:
    body = {**body, "@context": [STREETLIGHTING_CONTEXT, LIGHTING_CONTEXT]}
    answer = http.post("/ngsi-ld/v1/entities", json=body, headers=BOTH)
    assert answer.status_code == 201, answer.text


def test_the_schedule_of_a_group_for_a_date(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        create(
            http,
            {
                "id": "urn:ngsi-ld:LightingProgram:late",
                "type": "LightingProgram",
                "calendarRules": {
                    "type": "Property",
                    "value": [
                        {
                            "weekdays": ["Mo"],
                            "steps": [
                                {"event": "sunset", "offset": 15, "level": 1},
                                {"time": "23:00", "level": 0.4},
                                {"event": "sunrise", "offset": -15, "level": 0},
                            ],
                        }
                    ],
                },
            },
        )
        create(
            http,
            {
                "id": GROUP,
                "type": "StreetlightGroup",
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [12.5683, 55.6761]},
                },
                "activeProgramId": {"type": "Property", "value": "urn:ngsi-ld:LightingProgram:late"},
            },
        )
        monday = http.get("/lighting/v1/schedule", params={"group": GROUP, "date": "2026-12-21"})
        sunday = http.get("/lighting/v1/schedule", params={"group": GROUP, "date": "2026-12-20"})
    assert monday.status_code == 200, monday.text
    times = sun(Observer(55.6761, 12.5683), date=date(2026, 12, 21), tzinfo=ZoneInfo("Europe/Copenhagen"))
    off = times["sunrise"].astimezone(UTC).replace(microsecond=0) - timedelta(minutes=15)
    on = times["sunset"].astimezone(UTC).replace(microsecond=0) + timedelta(minutes=15)
    assert monday.json() == [
        {"at": off.strftime("%Y-%m-%dT%H:%M:%SZ"), "illuminanceLevel": 0.0, "reason": "sunrise-15"},
        {"at": on.strftime("%Y-%m-%dT%H:%M:%SZ"), "illuminanceLevel": 1.0, "reason": "sunset+15"},
        {"at": "2026-12-21T22:00:00Z", "illuminanceLevel": 0.4, "reason": "23:00"},
    ]
    assert sunday.json() == []  # no rule matches a Sunday


def test_bad_requests_are_problem_details(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        create(http, {"id": GROUP, "type": "StreetlightGroup"})
        cases = {
            400: [
                {"date": "2026-12-21"},
                {"group": GROUP},
                {"group": "not a uri", "date": "2026-12-21"},
                {"group": GROUP, "date": "2026-13-01"},
                {"group": GROUP, "date": "21/12/2026"},
                {"group": GROUP, "date": "2026-W51-1"},
                {"group": GROUP, "date": "2026-12-21", "colour": "red"},
            ],
            404: [{"group": "urn:ngsi-ld:StreetlightGroup:nowhere", "date": "2026-12-21"}],
        }
        for status, queries in cases.items():
            for query in queries:
                answer = http.get("/lighting/v1/schedule", params=query)
                assert answer.status_code == status, (query, answer.text)
                problem = answer.json()
                assert problem["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/"), problem
        default = http.get("/lighting/v1/schedule", params={"group": GROUP, "date": "2026-06-21"})
    assert [event["reason"] for event in default.json()] == ["sunrise+0", "sunset+0"]  # dusk to dawn


def test_the_lighting_context_is_served_and_resolves_offline(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        document = http.get("/lighting/v1/context.jsonld").json()
        create(
            http,
            {
                "id": "urn:ngsi-ld:LightingProgram:p",
                "type": "LightingProgram",
                "calendarRules": {"type": "Property", "value": [{"steps": [{"time": "18:00", "level": 1}]}]},
            },
        )
        plain = http.get("/ngsi-ld/v1/entities/urn:ngsi-ld:LightingProgram:p")
    assert document["@context"]["LightingProgram"] == "https://smartby.org/ns/lighting/LightingProgram"
    assert plain.json()["type"] == "https://smartby.org/ns/lighting/LightingProgram"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["group", "date", "other"]),
        st.one_of(st.text(max_size=30), st.sampled_from([GROUP, "2026-12-21", "2026-02-30", "urn:x:y"])),
        max_size=3,
    )
)
def test_no_query_breaks_the_schedule(server: LiveServer, query: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url) as http:
        answer = http.get("/lighting/v1/schedule", params=query)
    assert answer.status_code in (200, 400, 404), answer.text
    if answer.status_code != 200:
        assert (
            answer.headers["content-type"].startswith("application/")
            and "json" in answer.headers["content-type"]
        )
        assert answer.json()["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
