"""The reports service: Open311 GeoReport v2 citizen reports as IssueReporting entities, routed to
street lighting and flood alerts (docs/open311.md).

- Endpoints under /open311/v2 (endpoints.py), errors in Open311's format (georeport.py).
- The feed brings Alerts getting their `validTo` and reports' `resolutionStatus`: a report whose
  Alert closed is closed; a report closed (by this service or by anyone through NGSI-LD) or deleted
  has its reporter's contact deleted.
- `contacts` (hourly): contacts of reports that never closed are deleted after
  `open311_contact_retention` days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from smartby.broker.queries import entity_query, selector
from smartby.ngsild.errors import ResourceNotFound
from smartby.ngsild.timestamps import format_datetime
from smartby.services.reports import endpoints
from smartby.services.reports import vocabulary as v
from smartby.services.reports.catalogue import BY_CODE
from smartby.services.reports.georeport import (
    CODE,
    ERROR_SCHEMA,
    FORMAT,
    REQUEST_ID,
    REQUESTS_QUERY,
    XML,
    error,
    request_schema,
)
from smartby.services.reports.parameters import Bounds
from smartby.services.reports.reports import PAGE
from smartby.services.results import first_value
from smartby.services.runtime import ServiceContext
from smartby.services.service import FORM, JSON, Endpoint, Job, Service, ServiceChange
from smartby.settings import Settings

NAME = "reports"
PREFIX = "/open311/v2"
RETENTION_PERIOD = 3600.0


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def close_reports(ctx: ServiceContext, tenant: str, alert_id: str, at: datetime) -> None:
    """Close the open reports linked to an Alert that closed."""
    context = await ctx.broker.context([v.REPORTS_CONTEXT])
    query = entity_query(
        context,
        selectors=[selector(context, types="IssueReporting")],
        q=f"refAlert=={_quoted(alert_id)}",
        limit=PAGE,
    )
    for report in (await ctx.broker.query_entities(tenant, query)).entities:
        if first_value(report, v.RESOLUTION_STATUS) in v.CLOSED_STATES:
            continue
        fragment = {
            "resolutionStatus": {"type": "Property", "value": v.CLOSED},
            "status_notes": {"type": "Property", "value": f"Resolved: {alert_id} closed"},
            "dateModified": {
                "type": "Property",
                "value": {"@type": "DateTime", "@value": format_datetime(at)},
            },
        }
        try:
            await ctx.broker.merge_entity(tenant, str(report["id"]), context, fragment)
        except ResourceNotFound:
            continue


def _types(entity: dict[str, object] | None) -> Sequence[object]:
    found = (entity or {}).get("type") or ()
    return found if isinstance(found, list | tuple) else (found,)


async def on_changes(ctx: ServiceContext, changes: Sequence[ServiceChange]) -> None:
    now = ctx.clock.now()
    for change in changes:
        before, after = change.before, change.after
        if v.ALERT in _types(after) or v.ALERT in _types(before):
            if after is not None and after.get(v.VALID_TO) and not (before or {}).get(v.VALID_TO):
                await close_reports(ctx, change.tenant, change.entity_id, now)
        elif after is None or first_value(after, v.RESOLUTION_STATUS) in v.CLOSED_STATES:
            await ctx.contacts.forget_contact(change.tenant, change.entity_id)


async def forget_old_contacts(ctx: ServiceContext, due: datetime) -> None:
    days = timedelta(days=ctx.settings.open311_contact_retention)
    await ctx.contacts.forget_contacts_before(format_datetime(ctx.clock.now() - days))


def service(settings: Settings) -> Service:
    bounds = Bounds.parse(settings.open311_bounds)
    body = request_schema(list(BY_CODE), bounds.west, bounds.south, bounds.east, bounds.north)
    both = (JSON, XML)
    return Service(
        name=NAME,
        description="Citizen reports (Open311 GeoReport v2), routed to street lighting and flood alerts",
        types=(v.ISSUE_REPORTING, v.ALERT),
        attributes=(v.RESOLUTION_STATUS, v.VALID_TO),
        handle=on_changes,
        jobs=(Job("contacts", RETENTION_PERIOD, forget_old_contacts),),
        endpoints=(
            Endpoint(
                "GET",
                "/services.{format}",
                endpoints.services,
                "Open311: the service list",
                parameters=(FORMAT,),
                answers=both,
            ),
            Endpoint(
                "GET",
                "/services/{code}.{format}",
                endpoints.definition,
                "Open311: a service definition",
                parameters=(CODE, FORMAT),
                answers=both,
            ),
            Endpoint(
                "POST",
                "/requests.{format}",
                endpoints.create,
                "Open311: report a problem",
                accepts=(FORM, JSON),
                key_field="api_key",
                parameters=(FORMAT,),
                body_schema=body,
                answers=both,
            ),
            Endpoint(
                "GET",
                "/requests.{format}",
                endpoints.requests,
                "Open311: service requests",
                parameters=(FORMAT, *REQUESTS_QUERY),
                answers=both,
            ),
            Endpoint(
                "GET",
                "/requests/{id}.{format}",
                endpoints.one_request,
                "Open311: one service request",
                parameters=(REQUEST_ID, FORMAT),
                answers=both,
            ),
            Endpoint(
                "GET",
                "/context.jsonld",
                endpoints.context_document,
                "The @context of the reports",
                answers=("application/ld+json",),
            ),
        ),
        prefix=PREFIX,
        errors=error,
        error_schema=ERROR_SCHEMA,
    )
