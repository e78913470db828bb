"""The climate adaptation service: its feed handler, its job and how they are wired (docs/climate.md).

- The feed brings rain gauges' `precipitation` and basins' `currentLevel` readings: each source is
  judged from its history as of its latest reading (its observedAt, never the clock), from a while
  before its earliest one in the batch (the widest window, or the start of its open Alert), so a
  back-fill or a replay opens and closes the same Alerts as live readings.
- `judge` (every `climate_period`): the gauges and basins with an open Alert are judged as of the
  clock's now, so a gauge that stopped reporting after the rain has its Alert closed when the
  window's rain fell below the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from smartby.broker import DEFAULT_TENANT
from smartby.ngsild.errors import ResourceNotFound
from smartby.ngsild.timestamps import parse_datetime
from smartby.services.climate import basin, rain
from smartby.services.climate import vocabulary as v
from smartby.services.climate.alerts import Problem, reconcile, valid_from
from smartby.services.climate.endpoints import basin_state, gauge_sums
from smartby.services.climate.episodes import Episode
from smartby.services.climate.gauges import history, interval, latest, limits, number
from smartby.services.results import ALERT_SOURCE, SUB_CATEGORY, first_value
from smartby.services.runtime import ServiceContext
from smartby.services.service import Endpoint, Job, Service, ServiceChange
from smartby.settings import Settings

NAME = "climate"
WIDEST = max(definition.width for definition in rain.DEFINITIONS)


def _rain_problem(definition: rain.Definition) -> Problem:
    def describe(episode: Episode) -> str:
        minutes = definition.width.total_seconds() / 60
        window = f"{minutes:g} minutes" if minutes < 60 else f"{minutes / 60:g} hours"
        text = (
            f"{definition.name} ({definition.danish}, DMI: more than {definition.threshold:g} mm within "
            f"{window}): {episode.peak:g} mm in the {window} up to {episode.peak_at.isoformat()}"
        )
        return text + (" (incomplete window: readings missing)" if episode.incomplete else "")

    return Problem(definition.sub_category, lambda e: rain.severity(e.peak, definition), describe)


RAIN_PROBLEMS = {definition.sub_category: _rain_problem(definition) for definition in rain.DEFINITIONS}
BASIN_PROBLEMS = (
    (
        basin.at_risk,
        Problem(
            "floodRisk",
            lambda e: "high",
            lambda e: f"Flood risk: full within the horizon or over the share; fullest {e.peak:.0%}",
        ),
    ),
    (
        basin.flooding,
        Problem(
            "flood",
            lambda e: "critical",
            lambda e: f"Flooding: at or above its danger level (up to {e.peak:.0%})",
        ),
    ),
)


async def tenants(ctx: ServiceContext) -> list[str]:
    return list(dict.fromkeys([DEFAULT_TENANT, *await ctx.broker.tenants()]))


async def _open_since(ctx: ServiceContext, tenant: str, source: str, since: datetime) -> datetime:
    """`since`, or the validFrom of the source's earliest open Alert if earlier."""
    for alert in await ctx.results.open_alerts(tenant, source=source):
        began = valid_from(alert)
        if began is not None and began < since:
            since = began
    return since


def _as_of(latest: datetime | None, now: datetime | None) -> datetime | None:
    """Judged as of the latest reading, or of now when later (a reading is never judged as of a
    moment before it was observed)."""
    if latest is None or now is None:
        return latest or now
    return max(latest, now)


async def judge_gauge(
    ctx: ServiceContext, tenant: str, gauge_id: str, earliest: datetime | None, as_of: datetime | None
) -> None:
    """Judge a gauge's rain from `earliest` (or a widest window before `as_of`) up to `as_of` (its
    latest reading when None)."""
    try:
        entity = await ctx.broker.retrieve_entity(tenant, gauge_id)
    except ResourceNotFound:
        return
    every = interval(entity, ctx.settings.climate_reporting_interval)
    end = _as_of(latest(entity, v.PRECIPITATION), as_of)
    if end is None:
        return
    since = await _open_since(ctx, tenant, gauge_id, (earliest or end) - WIDEST)
    readings = await history(ctx.broker, tenant, gauge_id, v.PRECIPITATION, since - WIDEST, end)
    for definition in rain.DEFINITIONS:
        found = rain.episodes(readings, definition, every, since, end)
        await reconcile(ctx, tenant, gauge_id, RAIN_PROBLEMS[definition.sub_category], found, end)


async def judge_basin(
    ctx: ServiceContext, tenant: str, basin_id: str, earliest: datetime | None, as_of: datetime | None
) -> None:
    """Judge a basin's levels from `earliest` (or a fit window before `as_of`) up to `as_of`."""
    try:
        entity = await ctx.broker.retrieve_entity(tenant, basin_id)
    except ResourceNotFound:
        return
    danger = number(entity, v.DANGER_LEVEL)
    end = _as_of(latest(entity, v.CURRENT_LEVEL), as_of)
    if danger is None or danger <= 0 or end is None:
        return
    chosen = limits(ctx.settings)
    since = await _open_since(ctx, tenant, basin_id, (earliest or end) - chosen.window)
    levels = await history(ctx.broker, tenant, basin_id, v.CURRENT_LEVEL, since - chosen.window, end)
    for condition, problem in BASIN_PROBLEMS:
        found = basin.episodes(levels, danger, condition, chosen, since, end)
        await reconcile(ctx, tenant, basin_id, problem, found, end)


def _observed(change: ServiceChange, attribute: str) -> list[datetime]:
    found = []
    for instance in (change.after or {}).get(attribute) or []:
        observed = instance.get("observedAt") if isinstance(instance, dict) else None
        if isinstance(observed, str):
            found.append(parse_datetime(observed))
    return found


async def on_changes(ctx: ServiceContext, changes: Sequence[ServiceChange]) -> None:
    """Judge each gauge and basin whose readings came, from before its earliest one in the batch."""
    earliest: dict[tuple[str, str, str], datetime] = {}
    for change in changes:
        for kind, attribute in (("gauge", v.PRECIPITATION), ("basin", v.CURRENT_LEVEL)):
            for moment in _observed(change, attribute):
                key = (change.tenant, kind, change.entity_id)
                if key not in earliest or moment < earliest[key]:
                    earliest[key] = moment
    for (tenant, kind, entity_id), moment in sorted(earliest.items()):
        if kind == "gauge":
            await judge_gauge(ctx, tenant, entity_id, moment, None)
        else:
            await judge_basin(ctx, tenant, entity_id, moment, None)


async def judge(ctx: ServiceContext, due: datetime) -> None:
    """Every period: the sources with an open Alert, as of the clock's now (silent gauges' Alerts
    close once their windows' rain fell below the thresholds)."""
    now = ctx.clock.now()
    for tenant in await tenants(ctx):
        sources: dict[str, set[str]] = {}
        for alert in await ctx.results.open_alerts(tenant):
            source = first_value(alert, ALERT_SOURCE)
            sub = first_value(alert, SUB_CATEGORY)
            if isinstance(source, str) and isinstance(sub, str):
                sources.setdefault(source, set()).add(sub)
        for source, subs in sorted(sources.items()):
            if subs & set(RAIN_PROBLEMS):
                await judge_gauge(ctx, tenant, source, None, now)
            else:
                await judge_basin(ctx, tenant, source, None, now)


def service(settings: Settings) -> Service:
    return Service(
        name=NAME,
        description="Climate adaptation: rain sums, cloudburst and heavy rain, basins' fill and flood risk",
        types=(v.WEATHER_OBSERVED, v.FLOOD_MONITORING),
        attributes=(v.PRECIPITATION, v.CURRENT_LEVEL),
        brief=True,
        handle=on_changes,
        jobs=(Job("judge", settings.climate_period, judge),),
        endpoints=(
            Endpoint("GET", "/gauges/{id}/sums", gauge_sums, "A rain gauge's rolling sums"),
            Endpoint("GET", "/basins/{id}", basin_state, "A basin's level, fill rate and time until full"),
        ),
    )
