"""The traffic of the segments lights are on: the `intensity` of the TrafficFlowObserved entities that
name the segment in `refRoadSegment`, and its usual peak (the highest of the seven days before)."""

from __future__ import annotations

from datetime import datetime, timedelta

from smartby.services.lighting import vocabulary as v
from smartby.services.lighting.adaptive import PEAK_DAYS
from smartby.services.lighting.inventory import Lighting, entities_of, references
from smartby.services.readings import Series, periods, series
from smartby.services.runtime import ServiceContext


def segments(lighting: Lighting) -> set[str]:
    """Segments of lights (or their groups) that have a lighting class."""
    found = set()
    for group in lighting.groups.values():
        for light in group.lights:
            segment = light.segment or group.segment
            if segment and (light.lighting_class or group.lighting_class):
                found.add(segment)
    return found


async def traffic(
    ctx: ServiceContext, tenant: str, wanted: set[str], start: datetime, end: datetime
) -> dict[str, tuple[float, Series]]:
    """Per segment: its usual peak and its counters' readings in [start, end), in time order."""
    if not wanted:
        return {}
    counters: dict[str, str] = {}
    for entity in await entities_of(ctx.broker, tenant, v.TRAFFIC_FLOW):
        segment = next(iter(references(entity, v.REF_ROAD_SEGMENT)), None)
        if segment in wanted:
            counters[entity["id"]] = segment
    if not counters:
        return {}
    ids = sorted(counters)
    recent = await series(ctx.broker, tenant, v.INTENSITY, start, end, ids=ids)
    peaks = await periods(
        ctx.broker, tenant, v.INTENSITY, ("max",), end - timedelta(days=PEAK_DAYS), end, "PT0S", ids=ids
    )
    found: dict[str, tuple[float, Series]] = {}
    for counter, segment in counters.items():
        peak = max((values.get("max", 0.0) for _, values in peaks.get(counter, [])), default=0.0)
        old_peak, readings = found.get(segment, (0.0, []))
        found[segment] = (max(peak, old_peak), sorted(readings + recent.get(counter, [])))
    return found
