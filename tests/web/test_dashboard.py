"""Tests for smartby.web.dashboard over HTTP in-process: the page, its static files (served from
installed packages, nothing from the internet), and the JSON endpoints the page reads."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import httpx
import pytest

from smartby.api.app import create_app
from smartby.assembly import Assembly
from smartby.broker import Broker
from smartby.ngsild.errors import ERRORS_BASE
from smartby.services.results import Results
from smartby.web.readmodel.citymap import CityMap
from smartby.web.readmodel.overview import Overview
from web.readmodel import testbed as tb

RING = [(12.53, 55.66), (12.56, 55.66), (12.56, 55.68), (12.53, 55.68), (12.53, 55.66)]
LIGHT = "urn:ngsi-ld:Streetlight:vesterbro-0001"
OTHER = "urn:ngsi-ld:Streetlight:vesterbro-0002"


@pytest.fixture
async def http(assembly: Assembly) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a real database, its snapshot and overview read afresh on every request."""
    broker = assembly.broker
    app = create_app(assembly)
    dashboard = app.state.dashboard
    dashboard.city = CityMap(broker, max_age=0, patience=0)
    dashboard.overview = Overview(broker, dashboard.city, max_age=0)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://smartby.test"
    ) as client:
        yield client


def city(at: datetime) -> list[tb.Body]:
    return [
        tb.district("vesterbro", "Vesterbro", RING),
        tb.streetlight("vesterbro-0001", 12.54, 55.67, "on", "ok", at),
        tb.streetlight("vesterbro-0002", 12.545, 55.671, "off", "ok", at),
        tb.basin("vesterbro-1", 12.55, 55.665, 1.8, 2.0, at),
        tb.grid_signal(600.0, 80.0, at),
    ]


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    problem = response.json()
    assert problem["type"].startswith(ERRORS_BASE) and problem["detail"]


async def test_the_page_names_its_controls_and_loads_nothing_from_elsewhere(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="en">' in html and 'name="viewport"' in html
    for domain in ("lighting", "traffic", "bikes", "air", "rain", "water", "heat", "ev", "grid", "reports"):
        assert f'id="tile-{domain}"' in html and f'href="?domain={domain}#map"' in html
    assert html.count('type="checkbox" name="domain"') == 9  # every domain with markers
    assert '<label for="search-id">Find a device by id</label>' in html
    assert 'aria-label="Zoom in"' in html and 'role="img"' in html
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and not [u for u in urls if u.startswith(("http:", "https:", "//"))]
    assets = re.findall(r"/dashboard/static/([\w.]+)\?v=(\w+)", html)
    assert {name for name, _ in assets} >= {
        "dashboard.css",
        "dashboard.js",
        "citymap.js",
        "charts.js",
        "plotly.min.js",
    }
    for name, _ in assets:
        if name != "plotly.min.js":
            text = (await http.get(f"/dashboard/static/{name}")).text
            assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), name


async def test_static_files_are_gzipped_and_cached_by_content(http: httpx.AsyncClient) -> None:
    html = (await http.get("/")).text
    url = re.search(r"/dashboard/static/plotly\.min\.js\?v=\w+", html)
    assert url is not None
    response = await http.get(url.group(0), headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    packaged = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    assert response.content == packaged  # httpx decoded the gzip
    assert response.num_bytes_downloaded < len(packaged) / 2
    again = await http.get(url.group(0), headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and not again.content
    plain = await http.get("/dashboard/static/dashboard.css", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["cache-control"] == "no-cache"
    assert plain.headers["content-type"].startswith("text/css")
    assert_problem(await http.get("/dashboard/static/secrets.py"), 404)
    assert_problem(await http.get("/dashboard/static/..%2Fdashboard.py"), 404)


async def test_devices_as_a_compact_table(http: httpx.AsyncClient) -> None:
    at = datetime.now(UTC) - timedelta(minutes=1)
    await tb.upsert_http(http, city(at))
    answer = (await http.get("/dashboard/api/devices")).json()
    table = answer["devices"]
    assert answer["reset"] is True and answer["removed"] == []
    rows = {
        table["id"][i]: (
            answer["domains"][table["domain"][i]],
            answer["states"][table["state"][i]],
            table["lon"][i],
        )
        for i in range(len(table["id"]))
    }
    # the grid signal has no location: no marker
    assert rows == {
        LIGHT: ("lighting", "on", 12.54),
        "urn:ngsi-ld:Streetlight:vesterbro-0002": ("lighting", "off", 12.545),
        "urn:ngsi-ld:FloodMonitoring:vesterbro-1": ("water", "warning", 12.55),
    }
    assert set(table) == {"id", "domain", "state", "lon", "lat"}


async def test_changes_since_a_version_come_with_the_overview(http: httpx.AsyncClient) -> None:
    at = datetime.now(UTC) - timedelta(minutes=1)
    await tb.upsert_http(http, city(at))
    first = (await http.get("/dashboard/api/changes")).json()
    assert first["reset"] and len(first["devices"]["id"]) == 3
    await tb.upsert_http(http, [tb.streetlight("vesterbro-0001", 12.54, 55.67, "low", "ok", at)])
    changed = (await http.get("/dashboard/api/changes", params={"since": first["version"]})).json()
    assert not changed["reset"]
    assert changed["devices"]["id"] == [LIGHT]
    assert changed["states"][changed["devices"]["state"][0]] == "dimmed"
    tiles = {tile["domain"]: tile for tile in changed["overview"]["tiles"]}
    assert tiles["water"]["value"] == 1 and tiles["water"]["alert"] is True
    assert tiles["grid"]["value"] == 600.0
    assert_problem(await http.get("/dashboard/api/changes", params={"since": "x" * 100}), 400)
    assert_problem(await http.get("/dashboard/api/changes", params={"since": "yesterday"}), 400)


async def test_overview_and_districts(http: httpx.AsyncClient) -> None:
    await tb.upsert_http(http, city(datetime.now(UTC)))
    overview = (await http.get("/dashboard/api/overview")).json()
    assert [tile["domain"] for tile in overview["tiles"]] == [
        "lighting",
        "traffic",
        "bikes",
        "rain",
        "water",
        "heat",
        "air",
        "ev",
        "grid",
        "reports",
    ]
    lighting = overview["tiles"][0]
    assert lighting["figures"]["on"] == 1 and lighting["figures"]["off"] == 1
    assert set(lighting) == {"domain", "title", "value", "unit", "detail", "alert", "figures", "devices"}
    (district,) = (await http.get("/dashboard/api/districts")).json()["districts"]
    assert district["name"] == "Vesterbro" and district["rings"] == [[list(p) for p in RING]]


async def test_a_device_and_its_history(http: httpx.AsyncClient, broker: Broker) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await tb.upsert_http(http, city(now))
    earlier = [(now - timedelta(hours=h - 0.5), 20.0 + h) for h in range(1, 31)]
    await tb.history(broker, "Streetlight", LIGHT, "powerConsumption", earlier, "WTT")
    device = (await http.get(f"/dashboard/api/devices/{LIGHT}")).json()
    assert (device["type"], device["domain"], device["state"]) == ("Streetlight", "lighting", "on")
    names = {a["name"]: a for a in device["attributes"]}
    assert names["powerConsumption"]["value"] == 35.0 and names["powerConsumption"]["unit"] == "W"
    assert names["powerState"]["value"] == "on"
    day = (await http.get(f"/dashboard/api/devices/{LIGHT}/history")).json()
    series = {s["name"]: s for s in day["series"]}
    assert day["span"] == "24h" and len(series["powerConsumption"]["values"]) == 24 + 1  # and now
    assert series["powerConsumption"]["unit"] == "W"
    week = (await http.get(f"/dashboard/api/devices/{LIGHT}/history", params={"span": "7d"})).json()
    hourly = {s["name"]: s for s in week["series"]}["powerConsumption"]
    # one mean an hour: the 30 readings each in an hour of their own, now's shares one if past :30
    assert hourly["aggregated"] is True and len(hourly["values"]) == 31 - (now.minute >= 30)
    assert_problem(await http.get(f"/dashboard/api/devices/{LIGHT}/history", params={"span": "1y"}), 400)
    assert_problem(await http.get("/dashboard/api/devices/not-a-uri"), 400)
    assert_problem(await http.get("/dashboard/api/devices/urn:ngsi-ld:Streetlight:none"), 404)
    assert_problem(await http.get("/dashboard/api/devices/urn:ngsi-ld:Streetlight:none/history"), 404)


async def test_every_dashboard_endpoint_is_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    paths: dict[str, Any] = (await http.get("/openapi.json")).json()["paths"]
    dashboard = sorted(path for path in paths if path.startswith("/dashboard"))
    assert dashboard == [
        "/dashboard/api/alerts",
        "/dashboard/api/changes",
        "/dashboard/api/devices",
        "/dashboard/api/devices/{deviceId}",
        "/dashboard/api/devices/{deviceId}/alerts",
        "/dashboard/api/devices/{deviceId}/history",
        "/dashboard/api/districts",
        "/dashboard/api/overview",
        "/dashboard/oidc/callback",
        "/dashboard/oidc/login",
        "/dashboard/oidc/logout",
    ]
    assert "/" not in paths
    gzipped = await http.get("/dashboard/api/overview", headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert len(gzipped.json()["tiles"]) == 10


async def test_the_services_alerts_and_indicators(http: httpx.AsyncClient, assembly: Assembly) -> None:
    """As a service writes them (services/results.py): open alerts newest first, a device's alerts
    open and closed, indicators."""
    results = Results(assembly.broker, "freshness")
    t0 = datetime(2026, 1, 15, 8, tzinfo=UTC)
    common = {"sub_category": "deviceNotReporting", "category": "technical", "severity": "medium"}
    first = await results.open_alert(
        "", source=LIGHT, description="silent", valid_from=t0, issued=t0, **common
    )
    second = await results.open_alert(
        "", source=OTHER, description="silent", valid_from=t0 + timedelta(hours=1), issued=t0, **common
    )
    assert first and second
    await results.indicator(
        "",
        key="devices-reporting",
        name="Devices reporting",
        value=0.75,
        period=(t0, t0 + timedelta(hours=1)),
        frequency="hourly",
        formula="reporting / devices",
        description="share",
        at=t0 + timedelta(hours=1),
    )
    answer = (await http.get("/dashboard/api/alerts")).json()
    assert [a["source"] for a in answer["alerts"]] == [OTHER, LIGHT]  # newest first
    assert answer["alerts"][1]["validFrom"].startswith("2026-01-15T08:00:00")
    assert answer["alerts"][1]["provider"] == "freshness" and answer["alerts"][1]["validTo"] is None
    [kpi] = answer["indicators"]
    assert (kpi["name"], kpi["value"], kpi["provider"]) == ("Devices reporting", 0.75, "freshness")
    await results.close_alert("", first, t0 + timedelta(hours=2))
    answer = (await http.get("/dashboard/api/alerts")).json()
    assert [a["source"] for a in answer["alerts"]] == [OTHER]
    mine = (await http.get(f"/dashboard/api/devices/{LIGHT}/alerts")).json()
    assert [a["id"] for a in mine["alerts"]] == [first]
    assert mine["alerts"][0]["validTo"].startswith("2026-01-15T10:00:00")
    assert_problem(await http.get("/dashboard/api/devices/not-a-uri/alerts"), 400)


async def city_and_part(
    assembly: Assembly, service: str, city: tuple[str, str, float], part: tuple[str, str, dict[str, Any]]
) -> None:
    """Write a service's city-wide indicator (key, name, value) and one of a part of the city (key,
    name, the attribute naming the part)."""
    results = Results(assembly.broker, service)
    t0 = datetime(2026, 1, 15, 8, tzinfo=UTC)
    common: dict[str, Any] = {
        "period": (t0, t0),
        "frequency": "f",
        "formula": "f",
        "description": "d",
        "at": t0,
    }
    key, name, value = city
    await results.indicator("", key=key, name=name, value=value, **common)
    key, name, extra = part
    contexts = ("https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld",)
    await results.indicator("", key=key, name=name, value=3.0, extra=extra, contexts=contexts, **common)


async def test_the_lighting_saving_is_a_tile_and_its_groups_are_not(
    http: httpx.AsyncClient, assembly: Assembly
) -> None:
    """The lighting service's city-wide indicators are tiles; those of one group of lights (they name
    it in refStreetlightGroup) are left to queries."""
    group = {"refStreetlightGroup": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightGroup:a"}}
    await city_and_part(
        assembly,
        "lighting",
        ("city:energy-saved", "Street lighting energy saved today", 240.5),
        ("StreetlightGroup:a:energy-used", "Energy used today: a", group),
    )
    [kpi] = (await http.get("/dashboard/api/alerts")).json()["indicators"]
    assert (kpi["name"], kpi["value"], kpi["provider"]) == (
        "Street lighting energy saved today",
        240.5,
        "lighting",
    )
    # and the lighting tile tells it
    lighting = (await http.get("/dashboard/api/overview")).json()["tiles"][0]
    assert lighting["figures"]["saved_kwh"] == 240.5 and "240 kWh saved today" in lighting["detail"]


async def test_the_energy_citys_saving_is_a_tile_and_its_buildings_are_not(
    http: httpx.AsyncClient, assembly: Assembly
) -> None:
    """The energy service's indicator per building and year (it names the building in refBuilding)
    is left to queries; the city's retrofit saving is a tile."""
    building = {"refBuilding": {"type": "Relationship", "object": "urn:ngsi-ld:Building:a"}}
    await city_and_part(
        assembly,
        "energy",
        ("city:2026:retrofit-saving", "Heat saved", 120.5),
        ("Building:a:2026", "Climate-normalised heat use (kWh/m2): a 2026", building),
    )
    [kpi] = (await http.get("/dashboard/api/alerts")).json()["indicators"]
    assert (kpi["name"], kpi["value"], kpi["provider"]) == ("Heat saved", 120.5, "energy")
