"""The climate service's endpoints: a gauge's rolling sums and a basin's state, each as of its
latest reading (or `at`), from its history."""

from __future__ import annotations

from datetime import datetime

from smartby.ngsild.entity import Entity, check_entity_id
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.ngsild.timestamps import format_datetime, parse_datetime
from smartby.services.climate import basin, rain
from smartby.services.climate import vocabulary as v
from smartby.services.climate.gauges import history, interval, latest, limits, number
from smartby.services.runtime import ServiceContext
from smartby.services.service import ServiceRequest, ServiceResponse


def _at(request: ServiceRequest) -> datetime | None:
    unknown = set(request.query) - {"at"}
    if unknown:
        raise BadRequestData(f"Unknown parameter {sorted(unknown)[0]!r} (at is known)")
    text = request.query.get("at")
    if text is None:
        return None
    try:
        moment = parse_datetime(text)
    except (ValueError, TypeError):
        raise BadRequestData(f"at must be an ISO 8601 date-time with a zone, not {text!r}") from None
    if moment.tzinfo is None:
        raise BadRequestData(f"at must say its zone (e.g. Z), not {text!r}")
    return moment


async def _entity(ctx: ServiceContext, request: ServiceRequest, entity_type: str) -> Entity:
    entity_id = request.path["id"]
    check_entity_id(entity_id, "id")
    entity = await ctx.broker.retrieve_entity(request.tenant, entity_id)
    if entity_type not in (entity.get("type") or ()):
        raise ResourceNotFound(f"{entity_id} is not a {entity_type.rsplit('/', 1)[-1]}")
    return entity


async def gauge_sums(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /climate/v1/gauges/{id}/sums[?at=]: the gauge's rain over 10 min, 30 min, 1 h, 6 h and
    24 h up to its latest reading (or `at`), whether each window was complete, and the events."""
    at = _at(request)
    entity = await _entity(ctx, request, v.WEATHER_OBSERVED)
    every = interval(entity, ctx.settings.climate_reporting_interval)
    end = at or latest(entity, v.PRECIPITATION)
    body: dict[str, object] = {"id": entity["id"], "reportingInterval": every.total_seconds()}
    if end is None:
        return ServiceResponse({**body, "at": None, "sums": {}, "events": {}})
    widest = max(width for _, width in rain.WINDOWS)
    readings = await history(
        ctx.broker, request.tenant, str(entity["id"]), v.PRECIPITATION, end - widest, end
    )
    sums = rain.sums(readings, end, every)
    events = {}
    for definition in rain.DEFINITIONS:
        window = rain.window_sum(readings, end, definition.width, every)
        events[definition.sub_category] = {
            "happening": rain.is_event(window.mm, definition),
            "mm": window.mm,
            "threshold": definition.threshold,
            "complete": window.complete,
        }
    return ServiceResponse(
        {
            **body,
            "at": format_datetime(end),
            "sums": {name: window.as_json() for name, window in sums.items()},
            "events": events,
        }
    )


async def basin_state(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /climate/v1/basins/{id}[?at=]: the basin's level, fill, fill rate (m/h, a least-squares
    fit over the fill window) and minutes until full, as of its latest reading (or `at`)."""
    at = _at(request)
    entity = await _entity(ctx, request, v.FLOOD_MONITORING)
    danger = number(entity, v.DANGER_LEVEL)
    if danger is None or danger <= 0:
        raise BadRequestData(f"{entity['id']} has no positive dangerLevel: its fill is not known")
    end = at or latest(entity, v.CURRENT_LEVEL)
    body: dict[str, object] = {"id": entity["id"]}
    if end is None:
        return ServiceResponse({**body, "state": None})
    chosen = limits(ctx.settings)
    levels = await history(
        ctx.broker, request.tenant, str(entity["id"]), v.CURRENT_LEVEL, end - chosen.window, end
    )
    state = basin.state(levels, end, danger, chosen)
    if state is None:
        return ServiceResponse({**body, "state": None})
    return ServiceResponse(
        {
            **body,
            **state.as_json(),
            "floodRisk": basin.at_risk(state, chosen),
            "flood": basin.flooding(state, chosen),
        }
    )
