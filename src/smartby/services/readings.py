"""Reading history for city services through the broker's temporal API: one attribute's numeric
instances per entity (by observedAt), or their aggregates per period. Shared by the lighting,
climate and mobility services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from smartby.broker import Broker
from smartby.broker.history import history_query
from smartby.ngsild.reads import EntitySelector
from smartby.ngsild.temporal import AggregatedAttribute, AggregationPeriod, TemporalQuery, next_window
from smartby.ngsild.timestamps import parse_datetime
from smartby.ngsild.typequery import TypeName

IDS_PER_QUERY = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Series = list[tuple[datetime, float]]


def _selectors(ids: Sequence[str] | None, entity_type: str | None) -> list[tuple[EntitySelector, int]]:
    if ids is None:
        return [(EntitySelector(types=TypeName(entity_type) if entity_type else None), 10_000)]
    chunks = [tuple(ids[first : first + IDS_PER_QUERY]) for first in range(0, len(ids), IDS_PER_QUERY)]
    return [(EntitySelector(ids=chunk), len(chunk)) for chunk in chunks]


async def series(
    broker: Broker,
    tenant: str,
    attribute: str,
    start: datetime,
    end: datetime,
    *,
    ids: Sequence[str] | None = None,
    entity_type: str | None = None,
    units: Mapping[str, float] | None = None,
) -> dict[str, Series]:
    """Per entity, the numeric values of `attribute` observed in [start, end), oldest first, read
    page after page when a series holds more instances than one temporal response. With `units`,
    each value times the factor of its instance's unitCode (none: the factor of ""); an instance
    whose unitCode `units` does not name is left out."""
    found: dict[str, Series] = {}
    if end <= start or (ids is not None and not ids):
        return found
    for chosen, limit in _selectors(ids, entity_type):
        window: TemporalQuery | None = TemporalQuery(timerel="between", time_at=start, end_time_at=end)
        while window is not None:
            temporal = window
            query = history_query(temporal, selectors=(chosen,), attrs=(attribute,), limit=limit)
            page = await broker.history.query(tenant, query, temporal)
            for entity in page.entities:
                points = found.setdefault(entity.id, [])
                for instance in entity.attributes.get(attribute, []):
                    point = _point(instance, units)
                    if point is not None:
                        points.append(point)
            window = None if page.instances is None else next_window(temporal, page.instances)
    for points in found.values():
        points.sort(key=lambda point: point[0])
    return found


def _point(instance: Mapping[str, Any], units: Mapping[str, float] | None) -> tuple[datetime, float] | None:
    value, observed = instance.get("value"), instance.get("observedAt")
    if "datasetId" in instance or not isinstance(observed, str):
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    factor = 1.0
    if units is not None:
        code = instance.get("unitCode", "")
        if code not in units:
            return None
        factor = units[code]
    return parse_datetime(observed), float(value) * factor


async def periods(
    broker: Broker,
    tenant: str,
    attribute: str,
    methods: tuple[str, ...],
    start: datetime,
    end: datetime,
    width: str,
    *,
    ids: Sequence[str] | None = None,
    entity_type: str | None = None,
) -> dict[str, list[tuple[datetime, dict[str, float]]]]:
    """Per entity, per period of `width` (ISO 8601 duration, PT0S: the whole range) from `start`, the
    aggregates of `attribute` (numbers only), read page after page when there are more periods than
    one temporal response holds."""
    found: dict[str, list[tuple[datetime, dict[str, float]]]] = {}
    if end <= start or (ids is not None and not ids):
        return found
    first = TemporalQuery(
        timerel="between",
        time_at=start,
        end_time_at=end,
        aggr_methods=methods,
        aggr_period=AggregationPeriod.parse(width),
    )
    for chosen, limit in _selectors(ids, entity_type):
        window: TemporalQuery | None = first
        while window is not None:
            temporal = window
            query = history_query(temporal, selectors=(chosen,), attrs=(attribute,), limit=limit)
            page = await broker.history.aggregate(tenant, query, temporal)
            for entity, attributes in page.entities:
                buckets = found.setdefault(entity.id, [])
                for aggregated in attributes.get(attribute, []):
                    if aggregated.dataset_id is None:
                        buckets.extend(_buckets(aggregated))
            window = None if page.periods is None else next_window(temporal, page.periods)
    return found


def _buckets(aggregated: AggregatedAttribute) -> list[tuple[datetime, dict[str, float]]]:
    return [
        (
            _EPOCH + timedelta(microseconds=bucket.start),
            {
                method: float(value)
                for method, value in bucket.values.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
        )
        for bucket in aggregated.buckets
    ]
