"""The lighting service: its jobs, its feed handler and how they are wired (docs/lighting.md).

- `programs` (every `lighting_period`): the default program is created where missing; each group
  whose program stepped has its lights dimmed (dispatch.py); the lights whose power readings stopped
  are judged as of the clock's now (communicationLoss, diagnosis.py).
- `energy` (every `lighting_energy_period`): today's energy used, the dusk-to-dawn baseline and the
  CO2 avoided, per group and for the city, as KeyPerformanceIndicators.
- The feed brings the lights' `powerConsumption` readings: the lights are judged as of them (every
  fault but communicationLoss is found so, a reporting interval after it began at most).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from smartby.broker import DEFAULT_TENANT
from smartby.ngsild.errors import AlreadyExists, ResourceNotFound
from smartby.ngsild.timestamps import parse_datetime
from smartby.services.lighting import energy
from smartby.services.lighting import vocabulary as v
from smartby.services.lighting.diagnosis import judge
from smartby.services.lighting.endpoints import context_document, schedule
from smartby.services.lighting.faults import MISSED_INTERVALS
from smartby.services.lighting.inventory import Lighting, lighting
from smartby.services.lighting.program import DEFAULT_PROGRAM_ID, DUSK_TO_DAWN, rules_json
from smartby.services.lighting.switching import run_programs
from smartby.services.lighting.traffic import segments, traffic
from smartby.services.runtime import ServiceContext
from smartby.services.service import Endpoint, Job, Service, ServiceChange
from smartby.settings import Settings

NAME = "lighting"


async def tenants(ctx: ServiceContext) -> list[str]:
    return list(dict.fromkeys([DEFAULT_TENANT, *await ctx.broker.tenants()]))


async def ensure_default_program(ctx: ServiceContext, tenant: str) -> None:
    """Create the shipped dusk-to-dawn program in a tenant that has none."""
    try:
        await ctx.broker.retrieve_entity(tenant, DEFAULT_PROGRAM_ID)
        return
    except ResourceNotFound:
        pass
    body = {
        "id": DEFAULT_PROGRAM_ID,
        "type": "LightingProgram",
        "name": {"type": "Property", "value": DUSK_TO_DAWN.name},
        "description": {
            "type": "Property",
            "value": "Full level from sunset, off at sunrise (smartby's default)",
        },
        "calendarRules": {"type": "Property", "value": rules_json(DUSK_TO_DAWN.rules)},
    }
    with contextlib.suppress(AlreadyExists):
        await ctx.broker.create_entity(tenant, await ctx.broker.context([v.LIGHTING_CONTEXT]), body)


async def run(ctx: ServiceContext, due: datetime) -> None:
    """Every period: dim the groups whose program stepped; judge the lights that went silent."""
    period = timedelta(seconds=ctx.settings.lighting_period)
    window = timedelta(seconds=ctx.settings.lighting_adaptive_window)
    for tenant in await tenants(ctx):
        city = await lighting(ctx.broker, tenant)
        if not city.lights and not city.groups:
            continue
        await ensure_default_program(ctx, tenant)
        flows = await traffic(ctx, tenant, segments(city), due - period - window, due + timedelta(seconds=1))
        await run_programs(ctx, tenant, city, due, period, flows)
        await judge(ctx, tenant, city, silent(ctx, city), silence=True)


def silent(ctx: ServiceContext, city: Lighting) -> dict[str, datetime]:
    """The lights whose latest power reading is three reporting intervals old, to be judged as of now
    (the others are judged as their readings come)."""
    now = ctx.clock.now()
    limit = timedelta(seconds=ctx.settings.lighting_reporting_interval * MISSED_INTERVALS)
    return {
        light.id: now
        for light in city.lights.values()
        if light.last_power is not None and now - light.last_power[0] >= limit
    }


async def on_changes(ctx: ServiceContext, changes: Sequence[ServiceChange]) -> None:
    """Judge the lights whose power readings came, each as of its latest observedAt."""
    latest: dict[str, dict[str, datetime]] = {}
    for change in changes:
        for instance in (change.after or {}).get(v.POWER_CONSUMPTION) or []:
            observed = instance.get("observedAt") if isinstance(instance, dict) else None
            if isinstance(observed, str):
                moment = parse_datetime(observed)
                mine = latest.setdefault(change.tenant, {})
                if change.entity_id not in mine or moment > mine[change.entity_id]:
                    mine[change.entity_id] = moment
    for tenant, as_of in sorted(latest.items()):
        await judge(ctx, tenant, await lighting(ctx.broker, tenant), as_of, silence=False)


def _slug(entity_id: str) -> str:
    return entity_id.removeprefix("urn:ngsi-ld:")


async def measure(ctx: ServiceContext, due: datetime) -> None:
    """Today's energy and CO2 so far, per group and for the city, as KeyPerformanceIndicators (the
    first run of a day writes yesterday's whole day first: each day's last value is its total)."""
    zone = ctx.settings.lighting_timezone
    now = ctx.clock.now()
    start = energy.day_start(now, zone)
    spans = [(start, now)]
    if now - start < timedelta(seconds=ctx.settings.lighting_energy_period):
        # the first run of a day: yesterday's last minutes too, its indicators' final value
        spans.insert(0, (energy.day_start(start - timedelta(hours=1), zone), start))
    reporting = timedelta(seconds=ctx.settings.lighting_reporting_interval * MISSED_INTERVALS)
    for tenant in await tenants(ctx):
        city = await lighting(ctx.broker, tenant)
        if not any(group.lights for group in city.groups.values()):
            continue
        for first, last in spans:
            per_group, intensity = await energy.day(
                ctx.broker, tenant, city, first, last, zone, ctx.settings.lighting_grid_signal, reporting
            )
            await _write(ctx, tenant, per_group, intensity, (first, last))


async def _write(
    ctx: ServiceContext,
    tenant: str,
    per_group: dict[str, energy.DayEnergy],
    intensity: list[float | None],
    period: tuple[datetime, datetime],
) -> None:
    frequency = f"every {ctx.settings.lighting_energy_period:g} s"
    at = period[1]
    totals = {"used": 0.0, "baseline": 0.0, "co2": 0.0}
    co2_known = False
    for group_id, day in sorted(per_group.items()):
        used, baseline = sum(day.used), sum(day.baseline)
        co2 = day.co2_avoided(intensity)
        totals["used"] += used
        totals["baseline"] += baseline
        if co2 is not None:
            totals["co2"] += co2
            co2_known = True
        about: dict[str, Any] = {
            "refStreetlightGroup": {"type": "Relationship", "object": group_id},
            "aggregatedData": {
                "type": "Property",
                "value": [
                    {"entityType": "StreetlightControlCabinet", "attrs": ["energyConsumed"]}
                    if day.source == "cabinet"
                    else {"entityType": "Streetlight", "attrs": ["powerConsumption", "powerRating"]}
                ],
            },
        }
        figures = [
            (
                "energy-used",
                "Energy used today",
                used,
                f"kWh used by the lights of {group_id} ({day.source})",
            ),
            (
                "energy-baseline",
                "Dusk-to-dawn baseline today",
                baseline,
                "kWh at full power sunset to sunrise",
            ),
        ]
        if co2 is not None:
            figures.append(("co2-avoided", "CO2 avoided today", co2, "kg CO2: hourly saving x grid g/kWh"))
        for key, name, value, formula in figures:
            await ctx.results.indicator(
                tenant,
                key=f"{_slug(group_id)}:{key}",
                name=f"{name}: {group_id}",
                value=round(value, 3),
                period=period,
                frequency=frequency,
                formula=formula,
                description=f"Street lighting of {group_id}, {key.replace('-', ' ')} since local midnight",
                at=at,
                extra=about,
                contexts=(v.STREETLIGHTING_CONTEXT,),
            )
    sources = [
        {"entityType": "StreetlightControlCabinet", "attrs": ["energyConsumed"]},
        {"entityType": "Streetlight", "attrs": ["powerConsumption", "powerRating"]},
        {"entityType": "GridSignal", "attrs": ["co2Intensity"]},
    ]
    city_figures = [
        (
            "energy-saved",
            "Street lighting energy saved today",
            totals["baseline"] - totals["used"],
            "sum over groups of (dusk-to-dawn baseline kWh - kWh used) since local midnight",
        ),
        ("energy-used", "Street lighting energy used today", totals["used"], "sum over groups of kWh used"),
    ]
    if co2_known:
        city_figures.append(
            (
                "co2-avoided",
                "Street lighting CO2 avoided today (kg)",
                totals["co2"],
                "sum over groups and hours of kWh saved x the grid's g/kWh that hour / 1000",
            )
        )
    for key, name, value, formula in city_figures:
        await ctx.results.indicator(
            tenant,
            key=f"city:{key}",
            name=name,
            value=round(value, 3),
            period=period,
            frequency=frequency,
            formula=formula,
            description=f"{name}, {len(per_group)} groups of street lights",
            at=at,
            extra={"aggregatedData": {"type": "Property", "value": sources}},
        )


def service(settings: Settings) -> Service:
    return Service(
        name=NAME,
        description="Street lighting: programs, dimming, faults from power, energy and CO2 saved",
        types=(v.STREETLIGHT,),
        attributes=(v.POWER_CONSUMPTION,),
        handle=on_changes,
        jobs=(
            Job("programs", settings.lighting_period, run),
            Job("energy", settings.lighting_energy_period, measure),
        ),
        endpoints=(
            Endpoint("GET", "/schedule", schedule, "A group's switching events on a date"),
            Endpoint("GET", "/context.jsonld", context_document, "smartby's lighting @context"),
        ),
    )
