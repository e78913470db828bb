"""The daily congestion indicators: per segment and for the city, as KeyPerformanceIndicators whose
`kpiValue` is observed at the local day's end (its history is the daily series).

Per segment: `tti`, `pti`, `buffer-index` and `free-flow-travel-time` (with the day's `peakHour` and
`readings` on the TTI); for the city: `city:tti` and `city:pti`, the segments' figures weighted by
the readings they were made of.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartby.ngsild.errors import ResourceNotFound
from smartby.ngsild.timestamps import parse_datetime
from smartby.services.mobility import segments as s
from smartby.services.mobility.congestion import DayFigures
from smartby.services.runtime import ServiceContext

SOURCES = [
    {"entityType": "TrafficFlowObserved", "attrs": ["averageTravelTime", "averageVehicleSpeed", "intensity"]}
]
CITY = "urn:ngsi-ld:KeyPerformanceIndicator:mobility:city:tti"
KPI_VALUE = "https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/kpiValue"


async def city_figures(ctx: ServiceContext, tenant: str, day: date) -> dict[str, DayFigures]:
    """Every segment's figures of `day` (the segments with readings that day)."""
    zone = ctx.settings.mobility_timezone
    start, end = s.local_day(day, zone)
    today = await s.readings(ctx.broker, tenant, start, end)
    found: dict[str, DayFigures] = {}
    for segment in sorted(today):
        figures = await s.day_of(ctx.broker, tenant, segment, day, zone)
        if figures is not None and figures[0] is not None:
            found[segment] = figures[0]
    return found


async def write_day(ctx: ServiceContext, tenant: str, day: date) -> dict[str, DayFigures]:
    """Compute and write the indicators of `day`; the segments' figures."""
    found = await city_figures(ctx, tenant, day)
    period = s.local_day(day, ctx.settings.mobility_timezone)
    for segment, figures in found.items():
        await _segment(ctx, tenant, segment, figures, period)
    weight = sum(figures.readings for figures in found.values())
    if weight:
        for key, name, value in (
            ("tti", "Travel time index", sum(f.tti * f.readings for f in found.values()) / weight),
            ("pti", "Planning time index", sum(f.pti * f.readings for f in found.values()) / weight),
        ):
            await _write(
                ctx,
                tenant,
                f"city:{key}",
                f"{name} of the city",
                value,
                period,
                f"the segments' daily {key.upper()} weighted by their readings, {len(found)} segments",
                {},
            )
    return found


async def _segment(
    ctx: ServiceContext, tenant: str, segment: str, f: DayFigures, period: tuple[datetime, datetime]
) -> None:
    slug = segment.removeprefix("urn:ngsi-ld:")
    day_extra = {
        "peakHour": {"type": "Property", "value": f.peak_hour},
        "readings": {"type": "Property", "value": f.readings},
    }
    for key, name, value, formula, extra in (
        ("tti", "Travel time index", f.tti, "mean travel time 06-20 / free-flow travel time", day_extra),
        (
            "pti",
            "Planning time index",
            f.pti,
            "95th percentile travel time 06-20 / free-flow travel time",
            {},
        ),
        (
            "buffer-index",
            "Buffer index",
            f.buffer_index,
            "(95th percentile - mean) / mean travel time 06-20",
            {},
        ),
        (
            "free-flow-travel-time",
            "Free-flow travel time (s)",
            f.free_flow,
            "15th percentile of travel times 22-06 with traffic, the 28 days before",
            {},
        ),
    ):
        await _write(ctx, tenant, f"{slug}:{key}", f"{name}: {segment}", value, period, formula, extra)


async def _write(
    ctx: ServiceContext,
    tenant: str,
    key: str,
    name: str,
    value: float,
    period: tuple[datetime, datetime],
    formula: str,
    extra: dict[str, Any],
) -> None:
    await ctx.results.indicator(
        tenant,
        key=key,
        name=name,
        value=round(value, 4),
        period=period,
        frequency="daily",
        formula=formula,
        description=f"{name}, local day {period[0].date().isoformat()} (docs/mobility.md)",
        at=period[1],
        extra={"aggregatedData": {"type": "Property", "value": SOURCES}, **extra},
    )


async def written(ctx: ServiceContext, tenant: str, day: date) -> bool:
    """Whether the city's indicators already cover `day` (or a later one): their kpiValue is
    observed at the end of the day they cover."""
    try:
        entity = await ctx.broker.retrieve_entity(tenant, CITY)
    except ResourceNotFound:
        return False
    _, end = s.local_day(day, ctx.settings.mobility_timezone)
    for instance in entity.get(KPI_VALUE) or []:
        observed = instance.get("observedAt")
        if isinstance(observed, str) and parse_datetime(observed) >= end:
            return True
    return False


def yesterday(now: datetime, zone: str) -> date:
    return (now.astimezone(ZoneInfo(zone)) - timedelta(days=1)).date()
