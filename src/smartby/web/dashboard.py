"""The dashboard: the page at `/`, its static files, and the small JSON endpoints it reads under
`/dashboard/api/`. Each handler parses, calls one service, and renders."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, FastAPI
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import Response

from smartby import __version__
from smartby.broker import DEFAULT_TENANT, Broker
from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.ngsild.timestamps import format_datetime
from smartby.web.assets import PLOTLY, STATIC_PREFIX, Assets, compressed
from smartby.web.readmodel.alerts import device_alerts, indicators, open_alerts
from smartby.web.readmodel.citymap import CityMap, CitySnapshot, Device, District, MarkerChanges
from smartby.web.readmodel.domains import DOMAIN_KEYS, DOMAINS
from smartby.web.readmodel.overview import CityOverview, Overview
from smartby.web.readmodel.readings import SPANS, device_history, device_readings

POLL_SECONDS = 3.0
"""How often an open dashboard asks for changes."""
STATE_KEYS = tuple(dict.fromkeys(state.key for domain in DOMAINS for state in domain.states))

router = APIRouter()
IMPORT_MAP = re.compile(rb'<script type="importmap">(.*?)</script>', re.DOTALL)


def _string(description: str, enum: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = enum
    return {"description": description, "schema": schema}


VERSION = re.compile(r"[0-9a-f]{1,32}\.[0-9]{1,18}")
"""A version of the map the dashboard hands out: its epoch and serial (`CityMap.changes`)."""
DEVICE_ID = {
    "name": "deviceId",
    "in": "path",
    "required": True,
    "description": "The device's entity id (a URI, e.g. urn:ngsi-ld:Streetlight:1).",
    "schema": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9._~:@!$&'()*+;=/\-]+$"},
}
SINCE = {
    "name": "since",
    "in": "query",
    "required": False,
    "description": "The version the client has (empty: none yet).",
    "schema": {"type": "string", "pattern": f"^({VERSION.pattern})?$"},
}
SPAN = {"name": "span", "in": "query", "required": False, **_string("24h (default) or 7d.", list(SPANS))}


@dataclass
class Dashboard:
    """What the dashboard's handlers share: the services, the static files, the page."""

    broker: Broker
    city: CityMap
    overview: Overview
    assets: Assets
    tenant: str = DEFAULT_TENANT
    page: bytes | None = None
    policy: str = ""
    """The page's Content-Security-Policy (its inline import map allowed by its hash)."""
    warming: asyncio.Task[CitySnapshot] | None = None
    sign_in: str = ""
    """The identity provider the page offers a sign-in through (its host; empty: API keys only)."""


def mount(app: FastAPI, broker: Broker) -> None:
    """Add the dashboard to the ASGI app: `/`, `/dashboard/static/...`, `/dashboard/api/...`."""
    city = CityMap(broker)
    settings = broker.settings
    offered = settings.auth == "required" and settings.oidc_client_id
    sign_in = (urlsplit(settings.oidc_issuer).hostname or "") if offered else ""
    app.state.dashboard = Dashboard(broker, city, Overview(broker, city), Assets(), sign_in=sign_in)
    app.include_router(router)


def dashboard_of(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def _json(request: Request, data: Any) -> Response:
    return compressed(request, orjson.dumps(data), "application/json")


# -- rendering ---------------------------------------------------------------------------------


def marker_table(devices: list[Device]) -> dict[str, list[Any]]:
    """Markers as columns (the compact form for 10,000 of them): id, domain and state codes (indexes
    into DOMAIN_KEYS and STATE_KEYS), lon, lat. Devices without a location are left out."""
    domains = {key: code for code, key in enumerate(DOMAIN_KEYS)}
    states = {key: code for code, key in enumerate(STATE_KEYS)}
    table: dict[str, list[Any]] = {"id": [], "domain": [], "state": [], "lon": [], "lat": []}
    for device in devices:
        if device.lon is None or device.lat is None:
            continue
        table["id"].append(device.id)
        table["domain"].append(domains[device.domain])
        table["state"].append(states.get(device.state, states["unknown"]))
        table["lon"].append(round(device.lon, 6))
        table["lat"].append(round(device.lat, 6))
    return table


def overview_view(overview: CityOverview) -> dict[str, Any]:
    return {
        "version": overview.version,
        "now": format_datetime(overview.now),
        "tiles": [asdict(tile) for tile in overview.tiles],
    }


def districts_view(districts: list[District]) -> dict[str, Any]:
    return {
        "districts": [
            {
                "id": d.id,
                "name": d.name,
                "population": d.population,
                "rings": [[[round(lon, 6), round(lat, 6)] for lon, lat in ring] for ring in d.rings],
            }
            for d in districts
        ]
    }


def devices_view(snapshot: CitySnapshot, changes: MarkerChanges | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "version": snapshot.version,
        "now": format_datetime(snapshot.now),
        "domains": list(DOMAIN_KEYS),
        "states": list(STATE_KEYS),
    }
    if changes is None:
        view["reset"] = True
        view["devices"] = marker_table(list(snapshot.devices.values()))
        view["removed"] = []
    else:
        view["reset"] = changes.reset
        view["devices"] = marker_table(changes.markers)
        view["removed"] = changes.removed
    return view


_environment = Environment(
    loader=PackageLoader("smartby.web", "templates"), autoescape=select_autoescape(["html"])
)


def render_page(dashboard: Dashboard) -> bytes:
    assets = dashboard.assets
    config = {
        "api": "/dashboard/api",
        "plotly": assets.url(PLOTLY),
        "pollSeconds": POLL_SECONDS,
        "domains": [
            {
                "key": d.key,
                "label": d.label,
                "states": [{"key": s.key, "label": s.label, "colour": s.colour} for s in d.states],
            }
            for d in DOMAINS
        ],
    }
    html = _environment.get_template("index.html").render(
        version=__version__,
        asset=assets.url,
        domains=[d for d in DOMAINS if d.states],
        tiles=DOMAINS,
        config=config,
        sign_in=dashboard.sign_in,
        imports={
            "imports": {f"{STATIC_PREFIX}{name}": assets.url(name) for name in ("citymap.js", "charts.js")}
        },
    )
    return html.encode()


# -- routes ------------------------------------------------------------------------------------


def content_security_policy(page: bytes) -> str:
    """Scripts, styles, data and images from smartby itself only (no CDN, nothing inline but the
    import map, by its hash; inline style attributes allowed for the legend's swatches and the
    charts), no plugins, frames or foreign form targets."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(found).digest()).decode()}'"
        for found in IMPORT_MAP.findall(page)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


@router.get("/", include_in_schema=False)
async def page(request: Request) -> Response:
    dashboard = dashboard_of(request)
    if dashboard.page is None:
        dashboard.page = render_page(dashboard)
        dashboard.policy = content_security_policy(dashboard.page)
    if dashboard.warming is None or dashboard.warming.done():
        # The page asks for the devices next: read them while it loads its scripts.
        dashboard.warming = asyncio.create_task(dashboard.city.snapshot())
        # A failure shows when the page asks for the devices; here it is only looked at.
        dashboard.warming.add_done_callback(lambda task: task.cancelled() or task.exception())
    response = compressed(request, dashboard.page, "text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = dashboard.policy
    return response


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def static(request: Request) -> Response:
    dashboard = dashboard_of(request)
    asset = dashboard.assets.get(request.path_params["name"])
    if asset is None:
        raise ResourceNotFound(f"No dashboard file {request.path_params['name']}")
    return await dashboard.assets.response(request, asset)


@router.get(
    "/dashboard/api/devices", summary="Dashboard: every device marker", openapi_extra={"parameters": []}
)
async def devices(request: Request) -> Response:
    snapshot = await dashboard_of(request).city.snapshot()
    return _json(request, devices_view(snapshot))


@router.get(
    "/dashboard/api/changes",
    summary="Dashboard: markers changed since a version, and the overview",
    openapi_extra={"parameters": [SINCE]},
)
async def changes(request: Request) -> Response:
    dashboard = dashboard_of(request)
    since = request.query_params.get("since")
    if since is not None and since and not VERSION.fullmatch(since):
        raise BadRequestData("since must be a version the dashboard was given")
    found = await dashboard.city.changes(since)
    view = devices_view(found.snapshot, found)
    view["overview"] = overview_view(await dashboard.overview.overview())
    return _json(request, view)


@router.get(
    "/dashboard/api/overview", summary="Dashboard: one tile per domain", openapi_extra={"parameters": []}
)
async def overview(request: Request) -> Response:
    return _json(request, overview_view(await dashboard_of(request).overview.overview()))


@router.get(
    "/dashboard/api/districts", summary="Dashboard: district outlines", openapi_extra={"parameters": []}
)
async def districts(request: Request) -> Response:
    return _json(request, districts_view(await dashboard_of(request).city.districts()))


@router.get(
    "/dashboard/api/devices/{deviceId}",
    summary="Dashboard: a device's current attributes",
    openapi_extra={"parameters": [DEVICE_ID]},
)
async def device(request: Request) -> Response:
    dashboard = dashboard_of(request)
    device_id = check_entity_id(request.path_params["deviceId"])
    found = await device_readings(dashboard.broker, dashboard.tenant, device_id)
    return _json(
        request,
        {
            "id": found.id,
            "type": found.type,
            "domain": found.domain,
            "state": found.state,
            "lon": found.lon,
            "lat": found.lat,
            "observedAt": found.observed_at,
            "attributes": [
                {
                    "name": r.name,
                    "value": r.value,
                    "unit": r.unit,
                    "observedAt": r.observed_at,
                    "type": r.attribute_type,
                }
                for r in found.readings
            ],
        },
    )


@router.get(
    "/dashboard/api/devices/{deviceId}/history",
    summary="Dashboard: a device's numeric readings over 24 hours or 7 days",
    openapi_extra={"parameters": [DEVICE_ID, SPAN]},
)
async def history(request: Request) -> Response:
    dashboard = dashboard_of(request)
    device_id = check_entity_id(request.path_params["deviceId"])
    span = request.query_params.get("span", "24h")
    if span not in SPANS:
        raise BadRequestData(f"span must be one of {', '.join(SPANS)}")
    now = (await dashboard.city.snapshot()).now
    series = await device_history(dashboard.broker, dashboard.tenant, device_id, span, now)
    return _json(
        request,
        {
            "id": device_id,
            "span": span,
            "now": format_datetime(now),
            "series": [asdict(s) for s in series],
        },
    )


@router.get(
    "/dashboard/api/alerts",
    summary="Dashboard: open alerts (newest first) and the services' indicators",
    openapi_extra={"parameters": []},
)
async def alerts(request: Request) -> Response:
    dashboard = dashboard_of(request)
    found = await open_alerts(dashboard.broker, dashboard.tenant)
    measures = await indicators(dashboard.broker, dashboard.tenant)
    return _json(
        request,
        {"alerts": [alert.view() for alert in found], "indicators": [kpi.view() for kpi in measures]},
    )


@router.get(
    "/dashboard/api/devices/{deviceId}/alerts",
    summary="Dashboard: a device's alerts, open and closed, newest first",
    openapi_extra={"parameters": [DEVICE_ID]},
)
async def alerts_of_device(request: Request) -> Response:
    dashboard = dashboard_of(request)
    device_id = check_entity_id(request.path_params["deviceId"])
    found = await device_alerts(dashboard.broker, dashboard.tenant, device_id)
    return _json(request, {"id": device_id, "alerts": [alert.view() for alert in found]})
