"""A citizen's report as a Smart Data Models `IssueReporting` entity, and the entity as GeoReport v2
shows a service request. The reporter's contact details are never part of the entity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartby.broker import Broker
from smartby.broker.queries import entity_query, selector
from smartby.ngsild.context import Context
from smartby.ngsild.entity import Entity
from smartby.ngsild.timestamps import format_datetime, parse_datetime
from smartby.services.reports.catalogue import ServiceType
from smartby.services.reports.vocabulary import CLOSED_STATES, OPEN, REPORTS_CONTEXT
from smartby.services.results import first_value

PAGE = 1000
MOST = 1000
"""The most requests one GET of requests answers (the newest first)."""
ID_PREFIX = "urn:ngsi-ld:IssueReporting:"


def entity_id(request_id: str) -> str:
    return ID_PREFIX + request_id


def request_id(report: str) -> str:
    return report.removeprefix(ID_PREFIX)


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _moment(at: datetime) -> dict[str, Any]:
    return _property({"@type": "DateTime", "@value": format_datetime(at)})


@dataclass(frozen=True)
class Report:
    """What a citizen reported, and where."""

    request_id: str
    service: ServiceType
    description: str | None
    media_url: str | None
    lon: float
    lat: float
    address: str | None
    at: datetime

    @property
    def id(self) -> str:
        return entity_id(self.request_id)

    @property
    def point(self) -> dict[str, Any]:
        return {"type": "Point", "coordinates": [self.lon, self.lat]}

    def entity(self, notice: str, links: dict[str, str], provider: str) -> dict[str, Any]:
        """The IssueReporting entity (normalized), with its links (`refStreetlight`, `refAlert`)."""
        body: dict[str, Any] = {
            "id": self.id,
            "type": "IssueReporting",
            "reportId": _property(self.request_id),
            "service_code": _property(self.service.code),
            "service_name": _property(self.service.name),
            "category": _property(self.service.group),
            "title": _property(self.service.name),
            "agency_responsible": _property(self.service.agency),
            "location": {"type": "GeoProperty", "value": self.point},
            "resolutionStatus": _property(OPEN),
            "service_notice": _property(notice),
            "dataProvider": _property(provider),
            "dateCreated": _moment(self.at),
            "dateModified": _moment(self.at),
        }
        if self.description:
            body["description"] = _property(self.description)
        if self.media_url:
            body["mediaURL"] = _property(self.media_url)
        if self.address:
            body["address_string"] = _property(self.address)
        for name, target in links.items():
            body[name] = {"type": "Relationship", "object": target}
        return body


def moment(value: object) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("@value")
    return parse_datetime(value) if isinstance(value, str) else None


def service_request(entity: Entity, ctx: Context) -> dict[str, Any]:
    """The entity as GeoReport v2's service request."""

    def value(name: str) -> Any:
        return first_value(entity, ctx.expand(name))

    location = value("location")
    lon, lat = (
        (location.get("coordinates") or [None, None])[:2] if isinstance(location, dict) else (None, None)
    )
    created = moment(value("dateCreated"))
    updated = moment(value("dateModified")) or created
    return {
        "service_request_id": request_id(str(entity["id"])),
        "status": "closed" if value("resolutionStatus") in CLOSED_STATES else "open",
        "status_notes": value("status_notes"),
        "service_name": value("service_name"),
        "service_code": value("service_code"),
        "description": value("description"),
        "agency_responsible": value("agency_responsible"),
        "service_notice": value("service_notice"),
        "requested_datetime": format_datetime(created) if created else None,
        "updated_datetime": format_datetime(updated) if updated else None,
        "expected_datetime": None,
        "address": value("address_string"),
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": value("mediaURL"),
    }


def _quoted(items: Sequence[str]) -> str:
    return ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)


async def find(
    broker: Broker,
    tenant: str,
    *,
    ids: Sequence[str] = (),
    codes: Sequence[str] = (),
    statuses: Sequence[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """The service requests these parameters select, newest first, at most `MOST`."""
    ctx = await broker.context([REPORTS_CONTEXT])
    terms = []
    if codes:
        terms.append(f"service_code=={_quoted(codes)}")
    if statuses and set(statuses) != {"open", "closed"}:
        closed = _quoted(sorted(CLOSED_STATES))
        terms.append(
            f"resolutionStatus=={closed}" if statuses == ["closed"] else f"resolutionStatus!={closed}"
        )
    found: list[Entity] = []
    while True:
        query = entity_query(
            ctx,
            selectors=[selector(ctx, ids=[entity_id(i) for i in ids], types="IssueReporting")],
            q=";".join(terms) or None,
            limit=PAGE,
            offset=len(found),
        )
        page = (await broker.query_entities(tenant, query)).entities
        found.extend(page)
        if len(page) < PAGE:
            break
    requests = [service_request(entity, ctx) for entity in found]
    chosen = [
        request
        for request in requests
        if (start is None or parse_datetime(request["requested_datetime"]) >= start)
        and (end is None or parse_datetime(request["requested_datetime"]) <= end)
    ]
    chosen.sort(
        key=lambda request: (request["requested_datetime"] or "", request["service_request_id"]), reverse=True
    )
    return chosen[:MOST]
