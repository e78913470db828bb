"""Faults of street lights as Alerts: each light's power readings judged (faults.py) as of a moment,
an Alert opened for each fault that lasts, closed (validTo) when the readings are normal again.

The periodic check judges every light as of the clock's now (and so finds communicationLoss); the
feed judges the lights whose readings it brings as of their latest observedAt, so a back-fill is
judged as of its time, and a reading after a fault closes its alert at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial

from smartby.ngsild.entity import Entity
from smartby.ngsild.timestamps import format_datetime, parse_datetime
from smartby.services.lighting import faults
from smartby.services.lighting.adaptive import step_down_factor
from smartby.services.lighting.faults import Episode, Limits
from smartby.services.lighting.inventory import Light, Lighting
from smartby.services.lighting.schedule import level_at, switches_between
from smartby.services.lighting.vocabulary import POWER_CONSUMPTION, STREETLIGHTING_CONTEXT
from smartby.services.readings import series
from smartby.services.results import ALERT_SOURCE, SUB_CATEGORY, VALID_FROM, first_value
from smartby.services.runtime import ServiceContext

DESCRIPTIONS = {
    faults.LAMP_FAILURE: "draws under 10 % of the power expected at its scheduled level",
    faults.DAY_BURNER: "draws over 5 % of its rated power while scheduled off",
    faults.DIMMING_FAILURE: "draws full power while its program dims it",
    faults.POWER_TOO_HIGH: "draws more than the tolerance above the power expected at its level",
    faults.POWER_TOO_LOW: "draws less than the tolerance below the power expected at its level",
    faults.COMMUNICATION_LOSS: "has reported no power for three of its reporting intervals",
}


def limits_of(ctx: ServiceContext) -> Limits:
    settings = ctx.settings
    return Limits(
        settings.lighting_driver_floor,
        settings.lighting_tolerance,
        timedelta(seconds=settings.lighting_reporting_interval),
    )


def window(limits: Limits) -> timedelta:
    """How far back a light's readings are read: long enough for a fault to last and to see a
    reporting light's readings held over it."""
    return limits.persist + limits.interval * (faults.MISSED_INTERVALS + 2)


def _moment(value: object) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("@value")
    return parse_datetime(value) if isinstance(value, str) else None


def light_episodes(
    lighting: Lighting,
    light: Light,
    readings: list[tuple[datetime, float]],
    until: datetime,
    ctx: ServiceContext,
) -> list[Episode]:
    group = lighting.group_of(light.id)
    if group is None or light.power_rating is None or light.power_rating <= 0:
        return []
    program, place, zone = lighting.program_of(group), group.place, ctx.settings.lighting_timezone
    limits = limits_of(ctx)
    start = readings[0][0] if readings else until
    switches = [s.at for s in switches_between(program, place, zone, start, until)]
    scheduled = partial(level_at, program, place, zone)
    factor = step_down_factor(light.lighting_class or group.lighting_class)
    if factor >= 1.0:
        return faults.episodes(readings, light.power_rating, scheduled, switches, until, limits)
    # Under adaptive lighting a light may be at its class's level or one class down: judged against
    # the program's level, and against the lower one where that finds nothing wrong.
    full = faults.episodes(readings, light.power_rating, scheduled, switches, until, limits)
    lower = faults.episodes(
        readings, light.power_rating, lambda at: scheduled(at) * factor, switches, until, limits
    )
    return lower if lower and lower[-1].fault is None else full


async def judge(
    ctx: ServiceContext,
    tenant: str,
    lighting: Lighting,
    as_of: Mapping[str, datetime],
    *,
    silence: bool,
) -> None:
    """Judge the lights `as_of` names, each as of its moment; open and close their alerts.
    `silence`: also open communicationLoss (as of the clock's now, not a reading's time)."""
    light_ids = [light_id for light_id in as_of if light_id in lighting.lights]
    if not light_ids:
        return
    limits = limits_of(ctx)
    back = window(limits)
    readings = await series(
        ctx.broker,
        tenant,
        POWER_CONSUMPTION,
        min(as_of[i] for i in light_ids) - back,
        max(as_of[i] for i in light_ids) + timedelta(microseconds=1),
        ids=light_ids,
    )
    open_alerts: dict[tuple[str, str], Entity] = {}
    for found in await ctx.results.open_alerts(tenant):
        open_alerts[(first_value(found, ALERT_SOURCE), first_value(found, SUB_CATEGORY))] = found
    now = ctx.clock.now()
    for light_id in light_ids:
        light, until = lighting.lights[light_id], as_of[light_id]
        mine = [point for point in readings.get(light_id, []) if until - back <= point[0] <= until]
        if not mine and light.last_power is not None and light.last_power[0] <= until:
            mine = [light.last_power]
        verdicts = faults.verdicts(light_episodes(lighting, light, mine, until, ctx), until, limits)
        for fault, verdict in verdicts.items():
            if fault == faults.COMMUNICATION_LOSS and not silence and verdict.since is not None:
                continue
            alert = open_alerts.get((light_id, fault))
            if verdict.since is not None and alert is None:
                await _open(ctx, tenant, light_id, fault, verdict.since, now)
            elif verdict.ended is not None and alert is not None:
                began = _moment(first_value(alert, VALID_FROM))
                if began is not None and until > began:
                    await ctx.results.close_alert(tenant, alert["id"], max(verdict.ended, began))
        reported = open_alerts.get((light_id, faults.CITIZEN_REPORTED))
        if reported is not None:
            await _close_if_working(ctx, tenant, lighting, light, mine, reported)


async def _close_if_working(
    ctx: ServiceContext,
    tenant: str,
    lighting: Lighting,
    light: Light,
    readings: list[tuple[datetime, float]],
    alert: Entity,
) -> None:
    """Close a citizen-reported fault (validTo: the reading's observedAt) once a reading observed
    after the report shows the light working while lit."""
    group, reported = lighting.group_of(light.id), _moment(first_value(alert, VALID_FROM))
    if group is None or reported is None or light.power_rating is None or light.power_rating <= 0:
        return
    program, place, zone = lighting.program_of(group), group.place, ctx.settings.lighting_timezone
    working = faults.seen_working(
        readings,
        light.power_rating,
        partial(level_at, program, place, zone),
        reported,
        limits_of(ctx),
        step_down_factor(light.lighting_class or group.lighting_class),
    )
    if working is not None:
        await ctx.results.close_alert(tenant, alert["id"], working)


async def _open(
    ctx: ServiceContext, tenant: str, light_id: str, fault: str, since: datetime, now: datetime
) -> None:
    opened = await ctx.results.open_alert(
        tenant,
        source=light_id,
        sub_category=fault,
        category="technical",
        severity=faults.SEVERITY[fault],
        description=f"Street light {light_id} {DESCRIPTIONS[fault]}",
        valid_from=since,
        issued=now,
    )
    if opened is not None and fault == faults.LAMP_FAILURE:
        fragment = {
            "status": {"type": "Property", "value": "defectiveLamp", "observedAt": format_datetime(since)}
        }
        context = await ctx.broker.context([STREETLIGHTING_CONTEXT])
        await ctx.broker.merge_entity(tenant, light_id, context, fragment)
