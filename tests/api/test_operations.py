"""/version, /health, /health/ready and /metrics, and CORS, on a real database (both backends), a
real MQTT broker address, and `smartby serve` with two workers."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from conftest import free_port
from smartby.api.app import create_app
from smartby.api.operations import uptime
from smartby.assembly import assemble
from smartby.settings import Settings

ALLOWED = "https://map.city.example"
REFUSED = "https://evil.example"
ENTITIES = "/ngsi-ld/v1/entities"
LD = {"Content-Type": "application/ld+json"}
LIGHT = {
    "id": "urn:ngsi-ld:Streetlight:1",
    "type": "Streetlight",
    "powerState": {"type": "Property", "value": "on"},
    "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
}


def sample(text: str, name: str, *, missing: float | None = None, **labels: str) -> float:
    """The value of one sample of the Prometheus text `text`: `name` with exactly these labels
    (`missing` when there is none: a labelled counter appears once counted)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if found == labels:
            return float(match[3])
    if missing is not None:
        return missing
    raise AssertionError(f"no sample {name}{labels}")


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with its lifespan run (the MQTT transport started), as a server runs it."""
    app = create_app(assemble(settings))
    layer: Any = app.inner
    while not hasattr(layer, "fastapi"):  # the dispatcher, under the audit layer and access control
        layer = layer.inner
    fastapi: FastAPI = layer.fastapi
    async with (
        fastapi.router.lifespan_context(fastapi),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://smartby.test") as http,
    ):
        yield app, http


async def test_version_says_what_runs(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.get("/version")
    assert response.status_code == 200
    body = response.json()
    assert body["NGSI-LD version"] == "1.8.1"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["smartby version"])
    assert re.fullmatch(r"\d+ d, \d+ h, \d+ m, \d+ s", body["uptime"])
    assert body["backends"]["database"] == (
        "sqlite" if settings.database.startswith("sqlite") else "postgresql"
    )
    assert body["backends"]["mqtt"] is None


@given(st.floats(min_value=0, max_value=10**9))
def test_uptime_reads_back_as_the_whole_seconds(seconds: float) -> None:
    days, hours, minutes, secs = map(int, re.findall(r"\d+", uptime(seconds)))
    assert hours < 24 and minutes < 60 and secs < 60
    assert ((days * 24 + hours) * 60 + minutes) * 60 + secs == int(seconds)


async def test_liveness_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "mqtt": "not configured"}}


async def test_not_ready_while_the_database_cannot_answer(settings: Settings) -> None:
    parts = assemble(settings)
    await parts.broker.open()
    await parts.broker.close()  # closed: every query fails
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(parts)), base_url="http://smartby.test"
    ) as http:
        response = await http.get("/health/ready")
    assert response.status_code == 503
    problem = response.json()
    assert problem["status"] == 503 and problem["failing"] == ["database"]
    assert problem["type"] and problem["title"] and "database" in problem["detail"]


async def test_ready_with_mqtt_only_once_connected(settings: Settings) -> None:
    nothing = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    async with served(nothing) as (_, http):
        response = await http.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["failing"] == ["mqtt"]
        assert response.json()["checks"] == {"database": "ok", "mqtt": "not connected"}
        assert (await http.get("/health")).status_code == 200  # alive all the same
    mosquitto = settings.model_copy(update={"mqtt_url": "mqtt://127.0.0.1:1883"})
    async with served(mosquitto) as (app, http):
        await app.state.mqtt.subscribed.wait()
        response = await http.get("/health/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["mqtt"] == "ok"
        assert (await http.get("/version")).json()["backends"]["mqtt"] == "127.0.0.1:1883"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    route = "/ngsi-ld/v1/entities/{entityId}"
    before = await client.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain")
    start = sample(
        before.text, "smartby_http_requests_total", missing=0, method="GET", route=route, status="404"
    )
    for number in range(3):
        response = await client.get(f"{ENTITIES}/urn:ngsi-ld:Thing:{number}")
        assert response.status_code == 404
    await client.get("/no/such/path")
    text = (await client.get("/metrics")).text
    assert sample(text, "smartby_http_requests_total", method="GET", route=route, status="404") == start + 3
    assert sample(text, "smartby_http_request_duration_seconds_count", method="GET", route=route) >= 3
    assert sample(text, "smartby_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert "/no/such/path" not in text
    assert sample(text, "smartby_notification_outbox_depth") == 0
    assert sample(text, "smartby_ingest_readings_total") >= 0


async def test_metrics_in_the_format_the_scraper_asks_for(client: httpx.AsyncClient) -> None:
    plain = await client.get("/metrics")
    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    asked = {"Accept": "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"}
    open_metrics = await client.get("/metrics", headers=asked)
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert open_metrics.text.endswith("# EOF\n") and open_metrics.text.count("# EOF") == 1
    assert "smartby_notification_outbox_depth 0" in open_metrics.text


async def test_metrics_show_the_outbox_and_failed_deliveries(client: httpx.AsyncClient) -> None:
    port = free_port()  # nothing listens there
    subscription = {
        "id": "urn:ngsi-ld:Subscription:down",
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "notification": {"endpoint": {"uri": f"http://127.0.0.1:{port}/notify"}},
        "@context": LIGHT["@context"],
    }
    start = (await client.get("/metrics")).text
    failed = sample(start, "smartby_notification_failures_total", missing=0, scheme="http")
    assert (
        await client.post("/ngsi-ld/v1/subscriptions", content=orjson.dumps(subscription), headers=LD)
    ).is_success
    assert (await client.post(ENTITIES, content=orjson.dumps(LIGHT), headers=LD)).status_code == 201
    deadline = time.monotonic() + 10
    while True:
        text = (await client.get("/metrics")).text
        if sample(text, "smartby_notification_failures_total", missing=0, scheme="http") > failed:
            break
        assert time.monotonic() < deadline, text
        await asyncio.sleep(0.02)
    assert sample(text, "smartby_notification_outbox_depth") == 1  # kept for a retry


# -- CORS -------------------------------------------------------------------------------------------


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with served(settings.model_copy(update={"cors_origins": [ALLOWED]})) as (_, http):
        yield http


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, link, ngsild-tenant",
    }


async def test_cors_preflight_from_an_allowed_origin(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options(ENTITIES, headers=preflight(ALLOWED))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert all(name in allowed for name in ("content-type", "link", "ngsild-tenant"))


async def test_cors_preflight_from_a_refused_origin(cors_client: httpx.AsyncClient) -> None:
    response = await cors_client.options(ENTITIES, headers=preflight(REFUSED))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    problem = response.json()
    assert problem["status"] == 400 and "origin" in problem["detail"]


async def test_cors_simple_requests(cors_client: httpx.AsyncClient) -> None:
    await cors_client.post(ENTITIES, content=orjson.dumps(LIGHT), headers=LD)
    query = {"type": "Streetlight", "count": "true"}
    allowed = await cors_client.get(ENTITIES, params=query, headers={"Origin": ALLOWED})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    exposed = allowed.headers["access-control-expose-headers"].lower()
    for name in ("link", "location", "ngsild-results-count", "content-range", "ngsild-tenant"):
        assert name in exposed
    refused = await cors_client.get(ENTITIES, params=query, headers={"Origin": REFUSED})
    assert refused.status_code == 200  # answered: the browser, not smartby, keeps it from the page
    assert "access-control-allow-origin" not in refused.headers


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.options(ENTITIES, headers=preflight(ALLOWED))
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code == 405
    simple = await client.get(ENTITIES, params={"type": "Streetlight"}, headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in simple.headers


# -- several workers ----------------------------------------------------------------------------------


def test_a_scrape_of_any_worker_counts_every_worker(tmp_path: Path) -> None:
    """`smartby serve --workers 2`: requests spread over both workers, and each scrape (answered by
    either) counts them all."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SMARTBY_", "PROMETHEUS"))}
    database = f"sqlite:///{tmp_path / 'city.db'}"
    command = ["serve", "--database", database, "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        [sys.executable, "-m", "smartby", *command],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base) as http:
            while True:
                try:
                    if http.get("/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, "smartby did not start"
                time.sleep(0.1)
            route = "/ngsi-ld/v1/entities/{entityId}"
            for number in range(40):
                # A new connection each: uvicorn's workers share the socket, so both answer some.
                with httpx.Client(base_url=base) as once:
                    assert once.get(f"{ENTITIES}/urn:ngsi-ld:Thing:{number}").status_code == 404
            for _ in range(4):
                with httpx.Client(base_url=base) as once:
                    text = once.get("/metrics").text
                assert (
                    sample(text, "smartby_http_requests_total", method="GET", route=route, status="404") == 40
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
