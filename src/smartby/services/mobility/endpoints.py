"""The mobility service's endpoints: a segment's figures of a day, and writing a past day's
indicators on request."""

from __future__ import annotations

from datetime import date, datetime

from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.services.mobility import daily
from smartby.services.mobility import segments as s
from smartby.services.runtime import ServiceContext
from smartby.services.service import ServiceRequest, ServiceResponse


def _day(request: ServiceRequest) -> date:
    unknown = set(request.query) - {"date"}
    if unknown:
        raise BadRequestData(f"Unknown parameter {sorted(unknown)[0]!r} (date is known)")
    text = request.query.get("date")
    if text is None:
        raise BadRequestData("date is required (YYYY-MM-DD)")
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise BadRequestData(f"date must be a date YYYY-MM-DD, not {text!r}") from None


async def segment_kpis(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /mobility/v1/segments/{id}/kpis?date=YYYY-MM-DD: the segment's figures of that local
    day (null where they cannot be had: no free flow, or no daytime readings with traffic)."""
    day = _day(request)
    segment = request.path["id"]
    check_entity_id(segment, "id")
    found = await s.day_of(ctx.broker, request.tenant, segment, day, ctx.settings.mobility_timezone)
    if found is None:
        raise ResourceNotFound(f"No readings of {segment} on {day.isoformat()} nor in the 28 days before")
    figures, _ = found
    if figures is None:
        empty: dict[str, float | int | None] = dict.fromkeys(
            ("freeFlowTravelTime", "tti", "pti", "bufferIndex", "peakHour")
        )
        return ServiceResponse({**empty, "readings": 0, "date": day.isoformat(), "segment": segment})
    return ServiceResponse({**figures.as_json(), "date": day.isoformat(), "segment": segment})


async def write_kpis(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """POST /mobility/v1/kpis?date=YYYY-MM-DD: compute and write that day's indicators (per segment
    and for the city), as the daily job does at the end of each day; the segments' figures."""
    day = _day(request)
    found = await daily.write_day(ctx, request.tenant, day)
    return ServiceResponse(
        {
            "date": day.isoformat(),
            "segments": {segment: figures.as_json() for segment, figures in sorted(found.items())},
        }
    )
