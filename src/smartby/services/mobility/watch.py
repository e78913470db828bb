"""The mobility service's judgement of live readings (docs/mobility.md), as they come in the feed:

- `trafficJam`: an Alert while a segment's level of service stays E or F for `mobility_jam_duration`
  seconds of observedAt (validFrom: the first reading of the run), closed by the first reading
  better than E (validTo: its observedAt). One alert per segment and jam.
- `anomaly`: an Alert when a reading's `intensity` is far from the usual of its weekday-hour: the
  robust z against the counts of the same local weekday and hour in the `mobility_anomaly_weeks`
  weeks before is beyond `mobility_anomaly_z`. Judged only where at least `MIN_WEEKS` of those weeks
  have counts at that hour (and they vary: a MAD of 0 judges nothing); closed by the first reading
  within the bound.

Each reading's level of service is written on the segment as `levelOfService` (a letter, observed
at the reading) when it changed, for the dashboard.

The free-flow travel time of a segment's day and the usual counts of a weekday-hour are read once per
process and kept (bounded): a reading's level of service is judged against the free flow of its own
local day, as the daily indicators are.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from smartby.ngsild.errors import ResourceNotFound
from smartby.ngsild.timestamps import format_datetime, parse_datetime
from smartby.services.mobility import segments as s
from smartby.services.mobility import vocabulary as v
from smartby.services.mobility.congestion import JAMMED, level_of_service, robust_z
from smartby.services.runtime import ServiceContext
from smartby.services.service import ServiceChange

MIN_WEEKS = 3
KEPT = 20_000
JAM = "trafficJam"
ANOMALY = "anomaly"


def latest(change: ServiceChange) -> s.Reading | None:
    """The change's newest reading: the latest observedAt among its watched attributes, and their
    values observed then."""
    values: dict[datetime, dict[str, float]] = {}
    for attribute in v.WATCHED:
        for instance in (change.after or {}).get(attribute) or []:
            observed = instance.get("observedAt") if isinstance(instance, dict) else None
            if not isinstance(observed, str) or "datasetId" in instance:
                continue
            value = instance.get("value")
            moment = values.setdefault(parse_datetime(observed), {})
            if isinstance(value, int | float) and not isinstance(value, bool):
                moment[attribute] = float(value)
    if not values:
        return None
    newest = max(values)
    found = values[newest]
    return s.Reading(newest, found.get(v.INTENSITY), found.get(v.SPEED), found.get(v.TRAVEL_TIME))


@dataclass
class Watch:
    """What one process keeps between batches: free flows per segment and day, usual counts per
    segment and weekday-hour."""

    free_flows: dict[tuple[str, str, date], tuple[s.Basis, float] | None] = field(default_factory=dict)
    usual: dict[tuple[str, str, datetime], tuple[list[float], int]] = field(default_factory=dict)
    shown: dict[tuple[str, str], str] = field(default_factory=dict)
    """The level of service last written on each segment."""

    async def show(self, ctx: ServiceContext, tenant: str, segment: str, letter: str, at: datetime) -> None:
        """Write the segment's `levelOfService` (observed at its reading) when it changed: the
        dashboard draws the counter by it."""
        if self.shown.get((tenant, segment)) == letter:
            return
        fragment = {
            "levelOfService": {"type": "Property", "value": letter, "observedAt": format_datetime(at)}
        }
        try:
            await ctx.broker.merge_entity(
                tenant, segment, await ctx.broker.context([v.TRANSPORTATION_CONTEXT]), fragment
            )
        except ResourceNotFound:
            return
        if len(self.shown) > KEPT:
            self.shown.clear()
        self.shown[(tenant, segment)] = letter

    async def free_flow(
        self, ctx: ServiceContext, tenant: str, segment: str, at: datetime
    ) -> tuple[s.Basis, float] | None:
        zone = ctx.settings.mobility_timezone
        day = at.astimezone(ZoneInfo(zone)).date()
        key = (tenant, segment, day)
        if key not in self.free_flows:
            if len(self.free_flows) > KEPT:
                self.free_flows.clear()
            start, _ = s.local_day(day, zone)
            found = await s.readings(
                ctx.broker, tenant, start - timedelta(days=s.FREE_FLOW_DAYS), start, [segment]
            )
            length = await s.lane_length(ctx.broker, tenant, segment)
            self.free_flows[key] = s.free_flow(found.get(segment, []), zone, length)
        return self.free_flows[key]

    async def counts(
        self, ctx: ServiceContext, tenant: str, segment: str, at: datetime
    ) -> tuple[list[float], int]:
        """The counts of the same local weekday and hour in the weeks before, and how many of those
        weeks had any."""
        local = at.astimezone(ZoneInfo(ctx.settings.mobility_timezone))
        hour = local.replace(minute=0, second=0, microsecond=0)
        key = (tenant, segment, hour)
        if key not in self.usual:
            if len(self.usual) > KEPT:
                self.usual.clear()
            values: list[float] = []
            weeks = 0
            for week in range(1, ctx.settings.mobility_anomaly_weeks + 1):
                start = hour - timedelta(weeks=week)
                found = await s.readings(
                    ctx.broker, tenant, start, start + timedelta(hours=1), [segment], (v.INTENSITY,)
                )
                counted = [r.intensity for r in found.get(segment, []) if r.intensity is not None]
                if counted:
                    weeks += 1
                    values.extend(counted)
            self.usual[key] = (values, weeks)
        return self.usual[key]

    async def handle(self, ctx: ServiceContext, changes: Sequence[ServiceChange]) -> None:
        newest: dict[tuple[str, str], s.Reading] = {}
        for change in changes:
            found = latest(change)
            key = (change.tenant, change.entity_id)
            if found is not None and (key not in newest or found.at >= newest[key].at):
                newest[key] = found
        for (tenant, segment), reading in sorted(newest.items(), key=lambda item: item[0]):
            await self.jam(ctx, tenant, segment, reading)
            if reading.intensity is not None:
                await self.anomaly(ctx, tenant, segment, reading.at, reading.intensity)

    async def jam(self, ctx: ServiceContext, tenant: str, segment: str, reading: s.Reading) -> None:
        """Judge the segment's level of service as of its newest reading: its own letter when it is
        better than E, the run of E and F readings before it (from history) when it is not."""
        at = reading.at
        free = await self.free_flow(ctx, tenant, segment, at)
        if free is None:
            return
        basis, free_time = free
        travel = basis.travel_time(reading)
        if travel is None or travel <= 0:
            return
        letter = level_of_service(free_time / travel)
        await self.show(ctx, tenant, segment, letter, at)
        if letter not in JAMMED:
            for alert in await ctx.results.open_alerts(tenant, source=segment, sub_category=JAM):
                await ctx.results.close_alert(tenant, alert["id"], at)
            return
        duration = timedelta(seconds=ctx.settings.mobility_jam_duration)
        since = at - duration - timedelta(hours=1)
        recent = await s.readings(ctx.broker, tenant, since, at, [segment], (basis.attribute,))
        levels = [
            (earlier.at, level_of_service(free_time / time))
            for earlier, time in _timed(basis, recent.get(segment, []))
        ]
        begun = at
        worst = letter
        for moment, earlier in reversed(levels):
            if earlier not in JAMMED:
                break
            begun = moment
            worst = max(worst, earlier)
        if at - begun >= duration:
            await ctx.results.open_alert(
                tenant,
                source=segment,
                sub_category=JAM,
                category="traffic",
                severity="high" if worst == "F" else "medium",
                description=f"Level of service {letter}, E or F since {begun.isoformat()}: "
                f"{100 * free_time / travel:.0f} % of the free-flow speed",
                valid_from=begun,
                issued=ctx.clock.now(),
            )

    async def anomaly(
        self, ctx: ServiceContext, tenant: str, segment: str, at: datetime, count: float
    ) -> None:
        usual, weeks = await self.counts(ctx, tenant, segment, at)
        if weeks < MIN_WEEKS:
            return
        z = robust_z(count, usual)
        if z is None:
            return
        if abs(z) <= ctx.settings.mobility_anomaly_z:
            for alert in await ctx.results.open_alerts(tenant, source=segment, sub_category=ANOMALY):
                await ctx.results.close_alert(tenant, alert["id"], at)
            return
        median = statistics.median(usual)
        await ctx.results.open_alert(
            tenant,
            source=segment,
            sub_category=ANOMALY,
            category="traffic",
            severity="medium",
            description=f"intensity {count:g} where about {median:g} is usual at this weekday and hour "
            f"({len(usual)} counts in {weeks} weeks): robust z {z:+.1f}",
            valid_from=at,
            issued=ctx.clock.now(),
        )


def _timed(basis: s.Basis, readings: list[s.Reading]) -> list[tuple[s.Reading, float]]:
    found = []
    for reading in readings:
        travel = basis.travel_time(reading)
        if travel is not None and travel > 0:
            found.append((reading, travel))
    return found
