"""One device up close: its current attributes with units, and the history of its numeric readings
over the last 24 hours (every reading) or 7 days (hourly means, from the hourly rollups)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartby.broker import Broker
from smartby.broker.history import history_query
from smartby.ngsild.entity import Entity, Instance, instance_value
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.ngsild.temporal import AggregationPeriod, TemporalQuery
from smartby.ngsild.timestamps import from_micros
from smartby.web.readmodel.citymap import LOCATION, default_instance, point_of, unit_of
from smartby.web.readmodel.domains import TYPE_NAMES, domain_of, number, short_name, state_of, unit_label

SPANS: dict[str, tuple[timedelta, str | None]] = {
    "24h": (timedelta(hours=24), None),
    "7d": (timedelta(days=7), "PT1H"),
}
"""History spans: how far back, and the aggregation period (None: every reading)."""


@dataclass(frozen=True)
class Reading:
    name: str
    value: Any
    unit: str
    observed_at: str | None
    attribute_type: str


@dataclass(frozen=True)
class DeviceReadings:
    id: str
    type: str
    domain: str | None
    state: str | None
    lon: float | None
    lat: float | None
    readings: list[Reading]
    observed_at: str | None
    """The newest observedAt among its attributes."""


@dataclass(frozen=True)
class Series:
    """One numeric attribute over time; with `aggregated`, hourly means at each hour's start."""

    name: str
    unit: str
    times: list[str]
    values: list[float]
    aggregated: bool


def _shown(instance: Instance) -> Any:
    value = instance_value(instance)
    if instance.get("type") == "GeoProperty":
        lon, lat = point_of(value)
        if lon is not None and lat is not None:
            return f"{lat:.5f} N, {lon:.5f} E"
    return value


def _device_kind(entity: Entity) -> tuple[str, dict[str, Any]]:
    types = entity.get("type") or []
    type_iri = next((t for t in types if t in TYPE_NAMES), types[0] if types else "")
    values = {
        short_name(iri): instance_value(default_instance(instances))
        for iri, instances in entity.items()
        if isinstance(instances, list) and instances and ":" in iri
    }
    return TYPE_NAMES.get(type_iri, short_name(type_iri)), values


async def device_readings(broker: Broker, tenant: str, device_id: str) -> DeviceReadings:
    """The device's current attributes (default instances), by name; 404 if it does not exist."""
    entity = await broker.retrieve_entity(tenant, device_id)
    type_name, values = _device_kind(entity)
    domain = domain_of(type_name, values) if type_name in TYPE_NAMES.values() else None
    readings: list[Reading] = []
    newest: str | None = None
    lon = lat = None
    for iri, instances in sorted(entity.items(), key=lambda item: short_name(item[0])):
        if not isinstance(instances, list) or not instances or ":" not in iri:
            continue
        instance = default_instance(instances)
        name = short_name(iri)
        if iri == LOCATION:
            lon, lat = point_of(instance_value(instance))
        observed = instance.get("observedAt")
        if isinstance(observed, str) and (newest is None or observed > newest):
            newest = observed
        readings.append(
            Reading(
                name,
                _shown(instance),
                unit_label(name, unit_of(instance), domain or ""),
                observed if isinstance(observed, str) else None,
                str(instance.get("type", "Property")),
            )
        )
    state = state_of(type_name, domain, values) if domain is not None else None
    return DeviceReadings(device_id, type_name, domain, state, lon, lat, readings, newest)


async def device_history(
    broker: Broker, tenant: str, device_id: str, span: str, now: datetime
) -> list[Series]:
    """The numeric attributes' history over `span` ("24h" or "7d") up to `now`, one series each."""
    if span not in SPANS:
        raise BadRequestData(f"span must be one of {', '.join(SPANS)}, not {span!r}")
    current = await device_readings(broker, tenant, device_id)
    units = {reading.name: reading.unit for reading in current.readings}
    back, period = SPANS[span]
    end = now + timedelta(seconds=1)
    start = now - back
    if period is not None:
        start = start.replace(minute=0, second=0, microsecond=0)
    temporal = TemporalQuery(
        timerel="between",
        time_at=start,
        end_time_at=end,
        aggr_methods=("avg",) if period else (),
        aggr_period=AggregationPeriod.parse(period) if period else None,
    )
    query = history_query(temporal)
    series: list[Series] = []
    try:
        if period is None:
            page = await broker.history.retrieve(tenant, device_id, query, temporal)
            attributes = page.entities[0].attributes if page.entities else {}
            for iri, instances in attributes.items():
                points = [
                    (i["observedAt"], value)
                    for i in instances
                    if "datasetId" not in i
                    and isinstance(i.get("observedAt"), str)
                    and (value := number(i.get("value"))) is not None
                ]
                if points:
                    name = short_name(iri)
                    unit = units.get(name) or unit_label(name, unit_of(instances[-1]), current.domain or "")
                    series.append(Series(name, unit, [t for t, _ in points], [v for _, v in points], False))
        else:
            _, aggregated = await broker.history.retrieve_aggregated(tenant, device_id, query, temporal)
            for iri, series_of in aggregated.items():
                for attribute in series_of:
                    if attribute.dataset_id is not None:
                        continue
                    points = [
                        (from_micros(bucket.start), value)
                        for bucket in attribute.buckets
                        if (value := number(bucket.values.get("avg"))) is not None
                    ]
                    if points:
                        name = short_name(iri)
                        series.append(
                            Series(
                                name,
                                units.get(name, ""),
                                [t for t, _ in points],
                                [v for _, v in points],
                                True,
                            )
                        )
    except ResourceNotFound:
        return []
    return sorted(series, key=lambda s: s.name)
