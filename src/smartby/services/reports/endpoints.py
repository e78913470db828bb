"""Open311 GeoReport v2 under /open311/v2: the service list and definitions, a citizen's report
(POST, form-encoded as the specification says, or JSON), and the reports as service requests. Every
GET answers `.json` or `.xml`; every error Open311's error format (georeport.error)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import Any

from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.ngsild.timestamps import format_datetime
from smartby.records.contacts import CONTACT_FIELDS, Contact
from smartby.services.reports import parameters as p
from smartby.services.reports.catalogue import BY_CODE, SERVICES
from smartby.services.reports.georeport import answer
from smartby.services.reports.reports import Report, find
from smartby.services.reports.routing import route
from smartby.services.reports.vocabulary import CONTEXT_FILE, REPORTS_CONTEXT
from smartby.services.runtime import ServiceContext
from smartby.services.service import ServiceRequest, ServiceResponse

LONGEST = {"description": 4000, "media_url": 2048, "address_string": 400}
LONGEST_CONTACT = 254
URL = re.compile(r"^https?://[^\s]+$")


async def context_document(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /open311/v2/context.jsonld: the @context reports are written with (REPORTS_CONTEXT)."""
    text = (resources.files("smartby.data") / "contexts" / CONTEXT_FILE).read_text(encoding="utf-8")
    return ServiceResponse(json.loads(text), media_type="application/ld+json")


def _format(request: ServiceRequest) -> str:
    return p.format_of(request.path.get("format", ""))


async def services(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /open311/v2/services.{json|xml}: the city's service types."""
    return answer(_format(request), "services", [service.listed() for service in SERVICES])


async def definition(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /open311/v2/services/{code}.{json|xml}: a service type's definition (no attributes)."""
    fmt = _format(request)
    code = request.path.get("code", "")
    if code not in BY_CODE:
        raise ResourceNotFound(f"No service {code[:40]!r}")
    return answer(fmt, "service_definition", {"service_code": code, "attributes": []})


READ = frozenset(
    {"service_code", "lat", "long", "description", "media_url", "address_string", *CONTACT_FIELDS}
)
"""The fields a report is made of; others (jurisdiction_id, attribute[...]) are left alone."""


def _fields(body: Any) -> dict[str, str]:
    if not isinstance(body, Mapping):
        raise BadRequestData("The request is a form (application/x-www-form-urlencoded) or a JSON object")
    fields: dict[str, str] = {}
    for name, value in body.items():
        if name not in READ or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadRequestData(f"{name} must be text or a number")
        fields[name] = str(value).strip()
    return fields


def _text(fields: Mapping[str, str], name: str, longest: int) -> str | None:
    value = fields.get(name) or None
    if value is not None and len(value) > longest:
        raise BadRequestData(f"{name} must be text of at most {longest} characters")
    return value


def _contact(fields: Mapping[str, str]) -> Contact:
    values = {name: _text(fields, name, LONGEST_CONTACT) for name in CONTACT_FIELDS}
    email = values["email"]
    if email is not None and not re.match(r"^[^@\s]+@[^@\s]+$", email):
        raise BadRequestData("email is not an e-mail address")
    return Contact(**values)


def report_of(fields: Mapping[str, str], ctx: ServiceContext, at: datetime) -> Report:
    """The report a request's fields describe (refused, 400, when it cannot be placed or served)."""
    code = fields.get("service_code")
    if not code:
        raise BadRequestData("service_code is required")
    if code not in BY_CODE:
        raise BadRequestData(f"Unknown service_code {code[:40]!r} (one of {', '.join(BY_CODE)})")
    address = _text(fields, "address_string", LONGEST["address_string"])
    if not (fields.get("lat") and fields.get("long")):
        reason = " (an address_string alone cannot be placed: smartby has no geocoder)" if address else ""
        raise BadRequestData(f"A location is required (lat/long){reason}")
    lon, lat = p.place(fields.get("lat"), fields.get("long"), p.Bounds.parse(ctx.settings.open311_bounds))
    media_url = _text(fields, "media_url", LONGEST["media_url"])
    if media_url is not None and not URL.match(media_url):
        raise BadRequestData("media_url must be an http or https URL")
    return Report(
        request_id=secrets.token_hex(6),
        service=BY_CODE[code],
        description=_text(fields, "description", LONGEST["description"]),
        media_url=media_url,
        lon=lon,
        lat=lat,
        address=address,
        at=at,
    )


async def create(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """POST /open311/v2/requests.{json|xml}: a citizen's report, routed; the contact kept apart."""
    fmt = _format(request)
    fields = _fields(request.body)
    contact = _contact(fields)
    report = report_of(fields, ctx, ctx.clock.now())
    tenant = ctx.settings.open311_tenant
    routing = await route(ctx, tenant, report)
    context = await ctx.broker.context([REPORTS_CONTEXT])
    await ctx.broker.create_entity(
        tenant, context, report.entity(routing.notice, routing.links, ctx.service.name)
    )
    if not contact.empty:
        await ctx.contacts.keep_contact(tenant, report.id, contact, format_datetime(report.at))
    created = [
        {"service_request_id": report.request_id, "service_notice": routing.notice, "account_id": None}
    ]
    return answer(fmt, "service_requests", created)


async def requests(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /open311/v2/requests.{json|xml}: the reports, by id, service, status and date."""
    fmt = _format(request)
    query = request.query
    ids = p.request_ids(query["service_request_id"]) if "service_request_id" in query else []
    codes = p.listed(query["service_code"], "service_code", BY_CODE) if "service_code" in query else []
    statuses = p.listed(query["status"], "status", p.STATUSES) if "status" in query else []
    start = p.w3c_datetime(query["start_date"], "start_date") if "start_date" in query else None
    end = p.w3c_datetime(query["end_date"], "end_date") if "end_date" in query else None
    found = await find(
        ctx.broker, ctx.settings.open311_tenant, ids=ids, codes=codes, statuses=statuses, start=start, end=end
    )
    return answer(fmt, "service_requests", found)


async def one_request(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /open311/v2/requests/{id}.{json|xml}: one report (as a list of one, as GeoReport v2 does)."""
    fmt = _format(request)
    wanted = request.path.get("id", "")
    if not p.REQUEST_ID.match(wanted):
        raise ResourceNotFound(f"No service request {wanted[:40]!r}")
    found = await find(ctx.broker, ctx.settings.open311_tenant, ids=[wanted])
    if not found:
        raise ResourceNotFound(f"No service request {wanted!r}")
    return answer(fmt, "service_requests", found)
