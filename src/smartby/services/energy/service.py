"""The energy renovation service: its job and endpoints (docs/renovation.md).

- `kpis` (every `energy_period`): the year to date's indicators of every building with a figure,
  in every tenant; in the first week of a year also the year before's (its last readings may come
  late).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from smartby.broker import DEFAULT_TENANT
from smartby.services.energy.endpoints import building_performance, retrofit_candidates, write_indicators
from smartby.services.energy.indicators import write_year
from smartby.services.runtime import ServiceContext
from smartby.services.service import Endpoint, Job, Service
from smartby.settings import Settings

NAME = "energy"
LATE_DAYS = 7


async def recompute(ctx: ServiceContext, due: datetime) -> None:
    today = ctx.clock.now().astimezone(ZoneInfo(ctx.settings.energy_timezone)).date()
    years = [today.year - 1, today.year] if today.timetuple().tm_yday <= LATE_DAYS else [today.year]
    for tenant in list(dict.fromkeys([DEFAULT_TENANT, *await ctx.broker.tenants()])):
        for year in years:
            await write_year(ctx, tenant, year)


def service(settings: Settings) -> Service:
    return Service(
        name=NAME,
        description="Energy renovation: normalised heat use, label estimates, ranked retrofit candidates",
        jobs=(Job("kpis", settings.energy_period, recompute),),
        endpoints=(
            Endpoint(
                "GET",
                "/buildings/{id}/performance",
                building_performance,
                "A building's climate-normalised heat use and label estimate in a year",
            ),
            Endpoint(
                "GET",
                "/retrofit",
                retrofit_candidates,
                "Buildings ranked by the heat saved at the target label",
            ),
            Endpoint("POST", "/kpis", write_indicators, "Write a year's energy indicators"),
        ),
    )
