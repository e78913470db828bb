"""Rain gauges and basins as the climate service reads them through the broker: an entity's
reporting interval and danger level, and its readings' history (by observedAt)."""

from __future__ import annotations

from datetime import datetime, timedelta

from smartby.broker import Broker
from smartby.ngsild.entity import Entity, instance_value
from smartby.ngsild.timestamps import parse_datetime
from smartby.services.climate import vocabulary as v
from smartby.services.climate.basin import Limits
from smartby.services.readings import Series, series
from smartby.settings import Settings

TICK = timedelta(microseconds=1)


def number(entity: Entity, name: str) -> float | None:
    for instance in entity.get(name) or []:
        value = instance_value(instance)
        if isinstance(value, int | float) and not isinstance(value, bool) and "datasetId" not in instance:
            return float(value)
    return None


def interval(entity: Entity, default: float) -> timedelta:
    """How often the gauge reports: its entity's `reportingInterval` (seconds), or the default."""
    seconds = number(entity, v.REPORTING_INTERVAL)
    return timedelta(seconds=seconds if seconds is not None and seconds > 0 else default)


def latest(entity: Entity, name: str) -> datetime | None:
    """The observedAt of the entity's current `name`."""
    for instance in entity.get(name) or []:
        observed = instance.get("observedAt")
        if isinstance(observed, str) and "datasetId" not in instance:
            return parse_datetime(observed)
    return None


async def history(
    broker: Broker, tenant: str, entity_id: str, attribute: str, start: datetime, end: datetime
) -> Series:
    """The entity's readings of `attribute` observed in [start, end], oldest first."""
    found = await series(broker, tenant, attribute, start, end + TICK, ids=[entity_id])
    return found.get(entity_id, [])


def limits(settings: Settings) -> Limits:
    """The basins' fill window, flood horizon and share, from the settings."""
    return Limits(
        window=timedelta(seconds=settings.climate_fill_window),
        horizon=timedelta(seconds=settings.climate_flood_horizon),
        share=settings.climate_flood_share,
    )
