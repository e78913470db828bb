"""Where a report goes: a street light out links to the nearest street light within 50 m and opens a
citizen-reported fault on it (an Alert of the lighting service, which closes it when it sees the
light working); flooding opens a `flood` Alert at the place. Other reports are kept for the agency
responsible; the service notice says what became of each."""

from __future__ import annotations

from dataclasses import dataclass, field

from smartby.broker.queries import entity_query, selector
from smartby.ngsild.geo import haversine, parse_geo_query
from smartby.services.lighting.faults import CITIZEN_REPORTED
from smartby.services.lighting.vocabulary import LOCATION, STREETLIGHTING_CONTEXT
from smartby.services.reports.catalogue import FLOODING, STREETLIGHT_OUT
from smartby.services.reports.reports import Report
from smartby.services.results import Results, first_value
from smartby.services.runtime import ServiceContext

NEAREST_LIGHT = 50.0
"""Metres: how far from the place a street light may stand to be the one reported."""
LIGHTING = "lighting"
FLOOD = "flood"


@dataclass(frozen=True)
class Routing:
    notice: str
    links: dict[str, str] = field(default_factory=dict)


async def nearest_light(ctx: ServiceContext, tenant: str, report: Report) -> str | None:
    """The street light nearest the place, within `NEAREST_LIGHT` metres (the broker's geo-query)."""
    context = await ctx.broker.context([STREETLIGHTING_CONTEXT])
    geo = parse_geo_query(f"near;maxDistance=={NEAREST_LIGHT:g}", "Point", [report.lon, report.lat])
    query = entity_query(context, selectors=[selector(context, types="Streetlight")], geo=geo, limit=1000)
    found = (await ctx.broker.query_entities(tenant, query)).entities
    distances = []
    for light in found:
        where = first_value(light, LOCATION)
        if isinstance(where, dict) and where.get("type") == "Point":
            distances.append((haversine(where["coordinates"], [report.lon, report.lat]), str(light["id"])))
    return min(distances)[1] if distances else None


async def route(ctx: ServiceContext, tenant: str, report: Report) -> Routing:
    if report.service.code == STREETLIGHT_OUT:
        return await _street_light(ctx, tenant, report)
    if report.service.code == FLOODING:
        return await _flood(ctx, tenant, report)
    return Routing(f"Received; passed to {report.service.agency}.")


async def _street_light(ctx: ServiceContext, tenant: str, report: Report) -> Routing:
    light = await nearest_light(ctx, tenant, report)
    if light is None:
        return Routing(
            f"Received, not routed: no street light within {NEAREST_LIGHT:g} m of the place. "
            f"{report.service.agency} will look at it."
        )
    lighting = Results(ctx.broker, LIGHTING)
    alert = await lighting.open_alert(
        tenant,
        source=light,
        sub_category=CITIZEN_REPORTED,
        category="technical",
        severity="medium",
        description=f"Street light {light} reported out by a citizen (service request {report.request_id})",
        valid_from=report.at,
        issued=report.at,
    )
    if alert is None:  # already reported and open: this report joins that fault
        already = await lighting.open_alerts(tenant, source=light, sub_category=CITIZEN_REPORTED)
        if not already:
            return Routing(f"Received; linked to street light {light}.", {"refStreetlight": light})
        alert = str(already[0]["id"])
    return Routing(
        f"Received; a fault is open on street light {light}: it closes when the light is seen working.",
        {"refStreetlight": light, "refAlert": alert},
    )


async def _flood(ctx: ServiceContext, tenant: str, report: Report) -> Routing:
    alert = await ctx.results.open_alert(
        tenant,
        source=report.id,
        sub_category=FLOOD,
        category="weather",
        severity="high",
        description=f"Flooding reported by a citizen (service request {report.request_id})",
        valid_from=report.at,
        issued=report.at,
        location=report.point,
    )
    if alert is None:
        return Routing("Received; a flood alert is already open for this report.")
    return Routing("Received; a flood alert is open at the place.", {"refAlert": alert})
