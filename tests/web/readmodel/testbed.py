"""Entities of the testbed contract (docs/dashboard.md), built by tests themselves: NGSI-LD bodies
with the Smart Data Models @context each type is expanded with, and ways to write them through the
broker's Python API or the HTTP API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from smartby.broker import DEFAULT_TENANT, Broker
from smartby.ngsild.timestamps import format_datetime

SDM = "https://smart-data-models.github.io/dataModel.{}/context.jsonld"
CONTEXTS = {
    "Streetlight": SDM.format("Streetlighting"),
    "StreetlightControlCabinet": SDM.format("Streetlighting"),
    "TrafficFlowObserved": SDM.format("Transportation"),
    "EVChargingStation": SDM.format("Transportation"),
    "AirQualityObserved": SDM.format("Environment"),
    "FloodMonitoring": SDM.format("Environment"),
    "WeatherObserved": SDM.format("Weather"),
    "Building": SDM.format("Building"),
    "SmartMeteringObservation": SDM.format("Device"),
    "District": None,
    "GridSignal": None,
    "IssueReporting": "https://smartby.org/contexts/reports.jsonld",
}
"""The @context each type is written with (None: the core context's default vocabulary)."""


def stamp(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC))


@dataclass(frozen=True)
class Body:
    """One entity to write: its type, and its NGSI-LD normalized body."""

    type: str
    body: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.body["id"])


def prop(value: Any, unit: str | None = None, observed: datetime | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        out["unitCode"] = unit
    if observed is not None:
        out["observedAt"] = stamp(observed)
    return out


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def entity(
    type_name: str, slug: str, lon: float | None, lat: float | None, **attributes: dict[str, Any]
) -> Body:
    body: dict[str, Any] = {"id": f"urn:ngsi-ld:{type_name}:{slug}", "type": type_name}
    if lon is not None and lat is not None:
        body["location"] = point(lon, lat)
        body["refDistrict"] = {"type": "Relationship", "object": "urn:ngsi-ld:District:vesterbro"}
    body.update(attributes)
    return Body(type_name, body)


def district(slug: str, name: str, ring: Sequence[tuple[float, float]]) -> Body:
    return Body(
        "District",
        {
            "id": f"urn:ngsi-ld:District:{slug}",
            "type": "District",
            "name": prop(name),
            "population": prop(40_000),
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
            },
        },
    )


def streetlight(
    slug: str, lon: float, lat: float, power: str, status: str, at: datetime, watts: float = 35.0
) -> Body:
    return entity(
        "Streetlight",
        slug,
        lon,
        lat,
        powerState=prop(power, observed=at),
        status=prop(status, observed=at),
        illuminanceLevel=prop(1.0 if power == "on" else 0.5 if power == "low" else 0.0, "C62", at),
        powerConsumption=prop(watts, "WTT", at),
    )


def cabinet(slug: str, lon: float, lat: float, kwh: float, kw: float, at: datetime) -> Body:
    return entity(
        "StreetlightControlCabinet",
        slug,
        lon,
        lat,
        energyConsumed=prop(kwh, "KWH", at),
        totalActivePower=prop(kw, "KWT", at),
    )


def counter(
    slug: str, lon: float, lat: float, vehicle: str, flow: float, capacity: float, at: datetime
) -> Body:
    return entity(
        "TrafficFlowObserved",
        slug,
        lon,
        lat,
        vehicleType=prop(vehicle),
        intensity=prop(flow, observed=at),
        capacity=prop(capacity),
    )


def gauge(slug: str, lon: float, lat: float, mm: float, celsius: float, at: datetime) -> Body:
    return entity(
        "WeatherObserved",
        slug,
        lon,
        lat,
        precipitation=prop(mm, "MMT", at),
        temperature=prop(celsius, "CEL", at),
    )


def basin(slug: str, lon: float, lat: float, level: float, danger: float, at: datetime) -> Body:
    return entity(
        "FloodMonitoring",
        slug,
        lon,
        lat,
        currentLevel=prop(level, "MTR", at),
        dangerLevel=prop(danger, "MTR"),
        floodLevelStatus=prop("warning" if level / danger >= 0.8 else "normal", observed=at),
    )


def air_station(slug: str, lon: float, lat: float, index: float, at: datetime) -> Body:
    return entity(
        "AirQualityObserved",
        slug,
        lon,
        lat,
        no2=prop(21.0, "GQ", at),
        pm10=prop(14.0, "GQ", at),
        pm25=prop(8.0, "GQ", at),
        airQualityIndex=prop(index, observed=at),
    )


def charger(slug: str, lon: float, lat: float, free: int, sockets: int, status: str, at: datetime) -> Body:
    return entity(
        "EVChargingStation",
        slug,
        lon,
        lat,
        capacity=prop(sockets),
        availableCapacity=prop(free, observed=at),
        status=prop(status, observed=at),
        powerConsumption=prop(11.0 * (sockets - free), "KWT", at),
    )


def building(slug: str, lon: float, lat: float) -> Body:
    return entity(
        "Building",
        slug,
        lon,
        lat,
        category=prop(["residential"]),
        name=prop(f"Building {slug}"),
        heatedArea=prop(1200.0, "MTK"),
    )


def heat_meter(slug: str, lon: float, lat: float, kwh: float, at: datetime) -> Body:
    return entity(
        "SmartMeteringObservation",
        slug,
        lon,
        lat,
        meterType=prop("heat"),
        refBuilding={"type": "Relationship", "object": f"urn:ngsi-ld:Building:{slug}"},
        totalConsumption=prop(kwh, "KWH", at),
    )


def grid_signal(price: float, co2: float, at: datetime) -> Body:
    return Body(
        "GridSignal",
        {
            "id": "urn:ngsi-ld:GridSignal:DK2",
            "type": "GridSignal",
            "area": prop("DK2"),
            "price": {**prop(price, observed=at), "unitText": prop("DKK/MWh")},
            "co2Intensity": {**prop(co2, observed=at), "unitText": prop("g/kWh")},
        },
    )


def _by_context(bodies: Sequence[Body]) -> dict[str | None, list[dict[str, Any]]]:
    grouped: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for item in bodies:
        grouped[CONTEXTS[item.type]].append(item.body)
    return grouped


async def upsert(broker: Broker, bodies: Sequence[Body], tenant: str = DEFAULT_TENANT) -> None:
    """Create or update (replacing the attributes given) through the broker."""
    for url, group in _by_context(bodies).items():
        ctx = await broker.context(url)
        result = await broker.batch_upsert(tenant, ctx, group, mode="update")
        assert not result.errors, result.errors


async def history(
    broker: Broker,
    type_name: str,
    entity_id: str,
    attribute: str,
    readings: Sequence[tuple[datetime, float]],
    unit: str | None = None,
) -> None:
    """Add readings of one attribute to an entity's history through the broker's temporal API."""
    ctx = await broker.context(CONTEXTS[type_name])
    body = {
        "id": entity_id,
        "type": type_name,
        attribute: [prop(value, unit, moment) for moment, value in readings],
    }
    await broker.history.create(DEFAULT_TENANT, ctx, body)


def _upsert_requests(bodies: Sequence[Body]) -> list[tuple[list[dict[str, Any]], dict[str, str]]]:
    """Batch upserts (of at most 500 entities), each group with its @context in a Link header."""
    requests = []
    for url, group in _by_context(bodies).items():
        headers = {"Content-Type": "application/json"}
        if url is not None:
            headers["Link"] = (
                f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
            )
        requests.extend((group[first : first + 500], headers) for first in range(0, len(group), 500))
    return requests


UPSERT = "/ngsi-ld/v1/entityOperations/upsert?options=update"


async def upsert_http(http: httpx.AsyncClient, bodies: Sequence[Body]) -> None:
    """Create or update through the NGSI-LD HTTP API."""
    for group, headers in _upsert_requests(bodies):
        response = await http.post(UPSERT, json=group, headers=headers)
        assert response.status_code in (201, 204), response.text


def upsert_http_sync(http: httpx.Client, bodies: Sequence[Body]) -> None:
    """Create or update through the NGSI-LD HTTP API (a blocking client)."""
    for group, headers in _upsert_requests(bodies):
        response = http.post(UPSERT, json=group, headers=headers)
        assert response.status_code in (201, 204), response.text


def http_history(
    http: httpx.Client,
    type_name: str,
    entity_id: str,
    attribute: str,
    readings: Sequence[tuple[datetime, float]],
    unit: str | None = None,
) -> None:
    """Add readings of one attribute to an entity's history through the HTTP temporal API."""
    url = CONTEXTS[type_name]
    headers = {"Content-Type": "application/json"}
    if url is not None:
        headers["Link"] = f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    body = {"id": entity_id, "type": type_name, attribute: [prop(v, unit, t) for t, v in readings]}
    response = http.post("/ngsi-ld/v1/temporal/entities", json=body, headers=headers)
    assert response.status_code in (201, 204), response.text
