"""The energy service's endpoints: a building's performance in a year, the ranked retrofit
candidates, and writing a year's indicators on request; all computed from history through the
broker, by observedAt."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import BadRequestData
from smartby.services.energy import retrofit
from smartby.services.energy.indicators import write_year
from smartby.services.energy.performance import NOTE, of_building, of_city
from smartby.services.runtime import ServiceContext
from smartby.services.service import ServiceRequest, ServiceResponse

FIRST_YEAR, LAST_YEAR = 1900, 9998


def _year(request: ServiceRequest, ctx: ServiceContext, *, required: bool) -> int:
    unknown = set(request.query) - {"year"}
    if unknown:
        raise BadRequestData(f"Unknown parameter {sorted(unknown)[0]!r} (year is known)")
    text = request.query.get("year")
    if text is None:
        if required:
            raise BadRequestData("year is required (YYYY)")
        return ctx.clock.now().astimezone(ZoneInfo(ctx.settings.energy_timezone)).year
    if not (len(text) == 4 and text.isascii() and text.isdigit()) or not FIRST_YEAR <= int(text) <= LAST_YEAR:
        raise BadRequestData(f"year must be a year YYYY from {FIRST_YEAR} to {LAST_YEAR}, not {text!r}")
    return int(text)


async def building_performance(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /energy/v1/buildings/{id}/performance?year=YYYY: the building's metered and
    climate-normalised heat use, the fit, kWh/m2, the label estimate and the year's degree days
    (the figures null, `enoughData` false and a `reason`, when they cannot be had)."""
    year = _year(request, ctx, required=True)
    building = request.path["id"]
    check_entity_id(building, "id")
    found = await of_building(ctx, request.tenant, building, year)
    return ServiceResponse(found.as_json())


async def retrofit_candidates(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /energy/v1/retrofit[?year=YYYY]: the buildings ranked by the heat a year they would save
    at the target label, the worst 16 % of the non-residential ones flagged; the buildings without
    a figure, with the reason."""
    year = _year(request, ctx, required=False)
    found = await of_city(ctx, request.tenant, year)
    candidates = [c for p in found if (c := p.candidate()) is not None]
    settings = ctx.settings
    return ServiceResponse(
        {
            "year": year,
            "targetLabel": settings.energy_target_label,
            "primaryEnergyFactor": settings.energy_primary_energy_factor,
            "co2FactorKgPerKWh": settings.energy_co2_factor,
            "labelIsEstimate": True,
            "note": NOTE,
            "candidates": [c.as_json(rank) for rank, c in enumerate(retrofit.ranked(candidates), start=1)],
            "notAssessed": [
                {"id": p.building.id, "reason": p.reason} for p in found if p.candidate() is None
            ],
        }
    )


async def write_indicators(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """POST /energy/v1/kpis?year=YYYY: compute and write the year's indicators, as the job does."""
    year = _year(request, ctx, required=True)
    found = await write_year(ctx, request.tenant, year)
    return ServiceResponse(
        {"year": year, "written": sorted(p.building.id for p in found if p.kwh_per_m2 is not None)}
    )
