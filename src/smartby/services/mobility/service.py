"""The mobility service: its job, its feed handler and endpoints (docs/mobility.md).

- `kpis` (every `mobility_period`): once a local day has ended, its congestion indicators per
  segment and for the city (daily.py).
- The feed brings the segments' readings: trafficJam and anomaly alerts (watch.py).
"""

from __future__ import annotations

from datetime import date, datetime

from smartby.broker import DEFAULT_TENANT
from smartby.services.mobility import daily
from smartby.services.mobility import vocabulary as v
from smartby.services.mobility.endpoints import segment_kpis, write_kpis
from smartby.services.mobility.watch import Watch
from smartby.services.runtime import ServiceContext
from smartby.services.service import Endpoint, Job, Service
from smartby.settings import Settings

NAME = "mobility"


class Daily:
    """The job that writes the day before today's (local) indicators in every tenant where they
    are not yet; a day this process found nothing to write for is not tried again."""

    def __init__(self) -> None:
        self.tried: dict[str, date] = {}

    async def __call__(self, ctx: ServiceContext, due: datetime) -> None:
        day = daily.yesterday(ctx.clock.now(), ctx.settings.mobility_timezone)
        for tenant in list(dict.fromkeys([DEFAULT_TENANT, *await ctx.broker.tenants()])):
            if self.tried.get(tenant) == day or await daily.written(ctx, tenant, day):
                continue
            await daily.write_day(ctx, tenant, day)
            self.tried[tenant] = day


def service(settings: Settings) -> Service:
    watch = Watch()
    return Service(
        name=NAME,
        description="Mobility: congestion indicators (TTI, PTI, buffer index), traffic jams and anomalies",
        types=(v.TRAFFIC_FLOW,),
        attributes=v.WATCHED,
        handle=watch.handle,
        jobs=(Job("kpis", settings.mobility_period, Daily()),),
        endpoints=(
            Endpoint(
                "GET", "/segments/{id}/kpis", segment_kpis, "A traffic segment's congestion figures of a day"
            ),
            Endpoint("POST", "/kpis", write_kpis, "Write a day's congestion indicators"),
        ),
    )
