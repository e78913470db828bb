"""What the people who run smartby ask of it: `/version`, `/health` (liveness), `/health/ready`
(readiness: the database answers, MQTT is connected when configured) and `/metrics` (Prometheus).
docs/operations.md describes them."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import APIRouter
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from smartby import __version__
from smartby.api.request import broker_of
from smartby.ingest.mqtt import MqttTransport, broker_address
from smartby.settings import Settings

router = APIRouter(tags=["Operations"])
NGSI_LD_VERSION = "1.8.1"
STARTED = time.monotonic()
CHECK_TIMEOUT = 5.0
"""Seconds a readiness check may take before it counts as failed."""
NOT_READY = "urn:smartby:problem:NotReady"
JSON = "application/json"
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}
OBJECT = {"content": {JSON: {"schema": {"type": "object"}}}}


def uptime(seconds: float) -> str:
    """Seconds as Orion's `/version` writes its uptime: `1 d, 2 h, 3 m, 4 s`."""
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days} d, {hours} h, {minutes} m, {secs} s"


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def _backends(settings: Settings) -> dict[str, Any]:
    """The database backend and the MQTT broker in use, without credentials."""
    mqtt = None
    if settings.mqtt_url:
        address = broker_address(settings.mqtt_url)
        mqtt = f"{address.host}:{address.port}"
    scheme = settings.database.split(":", 1)[0].lower()
    return {
        "database": "postgresql" if scheme.startswith("postgres") else scheme,
        "mqtt": mqtt,
        "notifications": settings.notifications,
    }


@router.get("/version", summary="smartby's version", responses={200: OBJECT})
async def version(request: Request) -> Response:
    """Shaped like Orion-LD's `/version`: flat names with spaces."""
    settings = broker_of(request).settings
    return _json(
        {
            "smartby version": __version__,
            "NGSI-LD version": NGSI_LD_VERSION,
            "uptime": uptime(time.monotonic() - STARTED),
            "uptime seconds": int(time.monotonic() - STARTED),
            "python version": platform.python_version(),
            "backends": _backends(settings),
        }
    )


@router.get("/health", summary="Liveness: the server answers", responses={200: OBJECT})
async def health(request: Request) -> Response:
    return _json({"status": "ok"})


async def _checks(request: Request) -> dict[str, str]:
    """Each readiness check and its result: `ok`, `not configured`, or what failed."""
    broker = broker_of(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await broker.ping()
        checks["database"] = "ok"
    except TimeoutError:
        checks["database"] = f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as error:
        checks["database"] = f"failed: {type(error).__name__}"
    mqtt: MqttTransport | None = getattr(request.app.state, "mqtt", None)
    if not broker.settings.mqtt_url:
        checks["mqtt"] = "not configured"
    elif mqtt is None or not mqtt.subscribed.is_set():
        checks["mqtt"] = "not connected"
    else:
        checks["mqtt"] = "ok"
    return checks


@router.get(
    "/health/ready",
    summary="Readiness: the database answers and MQTT is connected (when configured)",
    responses={200: OBJECT, 503: OBJECT},
)
async def ready(request: Request) -> Response:
    checks = await _checks(request)
    failing = sorted(name for name, result in checks.items() if result not in ("ok", "not configured"))
    if not failing:
        return _json({"status": "ready", "checks": checks})
    problem = {
        "type": NOT_READY,
        "title": "Not ready",
        "status": 503,
        "detail": f"Failing: {', '.join(failing)}",
        "failing": failing,
        "checks": checks,
    }
    return _json(problem, 503)


class _Scrape(Collector):
    """One scrape: what the processes counted (`counted`), and what the database knows now, the
    same whichever process is scraped."""

    def __init__(self, counted: Collector, outbox_depth: int) -> None:
        self.counted = counted
        self.outbox_depth = outbox_depth

    def collect(self) -> Iterable[Metric]:
        yield from self.counted.collect()
        yield GaugeMetricFamily(
            "smartby_notification_outbox_depth",
            "Notifications waiting in the outbox (due or backing off), of every process.",
            value=self.outbox_depth,
        )


@router.get("/metrics", summary="Operations metrics in the Prometheus text format", responses={200: TEXT})
async def metrics(request: Request) -> Response:
    """The text format a Prometheus server asks for (OpenMetrics too), 0.0.4 by default."""
    counted: Collector = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)  # type: ignore[no-untyped-call]  # prometheus-client leaves it untyped
    scrape = CollectorRegistry()
    scrape.register(_Scrape(counted, await broker_of(request).outbox_depth()))
    encode, media_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(scrape), headers={"Content-Type": media_type})
