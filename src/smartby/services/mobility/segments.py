"""A traffic segment's readings as the mobility service judges them: its `intensity`,
`averageVehicleSpeed` and `averageTravelTime` joined by observedAt, read from history through the
broker, and the travel time each reading stands for.

A segment with `averageTravelTime` readings is judged by them. One without is judged by speed: its
free-flow speed is the 85th percentile of its night speeds, and a reading's travel time is its
`laneLength` (m) over its speed, or, without a length, the seconds a kilometre takes (3600 / speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from smartby.broker import Broker
from smartby.ngsild.errors import NgsiLdError
from smartby.services.mobility import vocabulary as v
from smartby.services.mobility.congestion import (
    FREE_FLOW_PERCENTILE,
    FREE_FLOW_SPEED_PERCENTILE,
    DayFigures,
    day_figures,
    is_day,
    is_night,
    percentile,
)
from smartby.services.readings import series
from smartby.services.results import first_value

FREE_FLOW_DAYS = 28


@dataclass(frozen=True)
class Reading:
    at: datetime
    intensity: float | None
    speed: float | None
    travel_time: float | None


@dataclass(frozen=True)
class Basis:
    """How a segment's travel times are had: measured, or from speed over a length (None: per km)."""

    measured: bool
    length: float | None = None

    @property
    def attribute(self) -> str:
        """The attribute its travel times come from."""
        return v.TRAVEL_TIME if self.measured else v.SPEED

    def travel_time(self, reading: Reading) -> float | None:
        if self.measured:
            return reading.travel_time
        if reading.speed is None or reading.speed <= 0:
            return None
        return (self.length if self.length else 1000.0) / (reading.speed / 3.6)


def local_day(day: date, zone: str) -> tuple[datetime, datetime]:
    """The UTC-aware start and end of a local day (23 or 25 hours on the days the clocks change)."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


async def readings(
    broker: Broker,
    tenant: str,
    start: datetime,
    end: datetime,
    ids: list[str] | None = None,
    attributes: tuple[str, ...] = v.WATCHED,
) -> dict[str, list[Reading]]:
    """Per segment, its readings observed in [start, end), oldest first (of each segment of the type
    with readings then when `ids` is None), of `attributes` (the others None)."""
    chosen = {"ids": ids} if ids is not None else {"entity_type": v.TRAFFIC_FLOW}
    found: dict[str, dict[datetime, dict[str, float]]] = {}
    for attribute in attributes:
        for entity_id, points in (await series(broker, tenant, attribute, start, end, **chosen)).items():
            moments = found.setdefault(entity_id, {})
            for at, value in points:
                moments.setdefault(at, {})[attribute] = value
    return {
        entity_id: [
            Reading(at, values.get(v.INTENSITY), values.get(v.SPEED), values.get(v.TRAVEL_TIME))
            for at, values in sorted(moments.items())
        ]
        for entity_id, moments in found.items()
    }


def counted(reading: Reading) -> bool:
    return reading.intensity is not None and reading.intensity > 0


def free_flow(history: list[Reading], zone: str, length: float | None = None) -> tuple[Basis, float] | None:
    """A segment's basis and free-flow travel time from its night readings with traffic (None when
    it has none with a travel time or speed)."""
    tz = ZoneInfo(zone)
    night = [r for r in history if counted(r) and is_night(r.at.astimezone(tz).hour)]
    times = [r.travel_time for r in night if r.travel_time is not None]
    if times:
        return Basis(measured=True), percentile(times, FREE_FLOW_PERCENTILE)
    speeds = [r.speed for r in night if r.speed is not None and r.speed > 0]
    if not speeds:
        return None
    basis = Basis(measured=False, length=length)
    free_speed = percentile(speeds, FREE_FLOW_SPEED_PERCENTILE)
    return basis, (length if length else 1000.0) / (free_speed / 3.6)


def figures(
    history: list[Reading], day: date, zone: str, length: float | None = None
) -> tuple[DayFigures | None, int]:
    """A day's figures from the readings of the 28 days before it and of the day, and how many
    readings of the day there were (of any kind)."""
    start, end = local_day(day, zone)
    before = [r for r in history if start - timedelta(days=FREE_FLOW_DAYS) <= r.at < start]
    today = [r for r in history if start <= r.at < end]
    found = free_flow(before, zone, length)
    if found is None:
        return None, len(today)
    basis, free = found
    tz = ZoneInfo(zone)
    chosen = []
    for reading in today:
        hour = reading.at.astimezone(tz).hour
        travel = basis.travel_time(reading)
        if counted(reading) and is_day(hour) and travel is not None:
            chosen.append((hour, travel))
    return day_figures(free, chosen), len(today)


async def lane_length(broker: Broker, tenant: str, entity_id: str) -> float | None:
    """The segment's `laneLength` (m) where its current state has one (an imported segment has no
    current state: None)."""
    try:
        entity = await broker.retrieve_entity(tenant, entity_id)
    except NgsiLdError:
        return None
    found = first_value(entity, v.LANE_LENGTH)
    if isinstance(found, int | float) and not isinstance(found, bool) and found > 0:
        return float(found)
    return None


async def day_of(
    broker: Broker, tenant: str, entity_id: str, day: date, zone: str
) -> tuple[DayFigures | None, int] | None:
    """One segment's figures of a day, as `figures`; None when it has no readings in the 28 days
    before nor on the day."""
    start, end = local_day(day, zone)
    found = await readings(broker, tenant, start - timedelta(days=FREE_FLOW_DAYS), end, [entity_id])
    history = found.get(entity_id)
    if not history:
        return None
    return figures(history, day, zone, await lane_length(broker, tenant, entity_id))
