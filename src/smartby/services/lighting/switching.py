"""Running the programs: every period, each group whose program stepped since the last run has its
lights set to the level the program sets now (one class down where adaptive lighting allows it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from smartby.services.lighting import adaptive
from smartby.services.lighting.dispatch import dim
from smartby.services.lighting.inventory import Lighting
from smartby.services.lighting.schedule import level_at, switches_between
from smartby.services.readings import Series
from smartby.services.runtime import ServiceContext


def light_level(
    ctx: ServiceContext,
    program_level: float,
    lighting_class: str | None,
    segment: str | None,
    traffic: Mapping[str, tuple[float, Series]],
    at: datetime,
) -> float:
    """The program's level, one class down when the segment's traffic is low."""
    if program_level <= 0 or lighting_class is None or segment is None or segment not in traffic:
        return program_level
    peak, readings = traffic[segment]
    settings = ctx.settings
    window = timedelta(seconds=settings.lighting_adaptive_window)
    if adaptive.traffic_is_low(readings, at, peak, settings.lighting_adaptive_share, window):
        return round(program_level * adaptive.step_down_factor(lighting_class), 4)
    return program_level


async def run_programs(
    ctx: ServiceContext,
    tenant: str,
    lighting: Lighting,
    due: datetime,
    period: timedelta,
    traffic: Mapping[str, tuple[float, Series]],
) -> int:
    """Set the lights of every group whose program stepped in (due - period, due], or whose
    adaptive level changed; how many lights were set."""
    zone = ctx.settings.lighting_timezone
    changed = 0
    for group in lighting.groups.values():
        if not group.lights:
            continue
        program, place = lighting.program_of(group), group.place
        stepped = switches_between(program, place, zone, due - period, due)
        level = level_at(program, place, zone, due)
        orders = []
        for light in group.lights:
            lighting_class = light.lighting_class or group.lighting_class
            segment = light.segment or group.segment
            now = light_level(ctx, level, lighting_class, segment, traffic, due)
            before = light_level(ctx, level, lighting_class, segment, traffic, due - period)
            if stepped or now != before:
                orders.append((light.id, light.device, now))
        if orders:
            following = switches_between(program, place, zone, due, due + timedelta(days=2))
            expires = following[0].at if following else due + period
            await dim(ctx, tenant, orders, due, expires)
            changed += len(orders)
    return changed
