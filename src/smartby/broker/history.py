"""The temporal API's semantics: reading entities' history and writing instances to it.

Reads turn a TemporalQuery into the store's HistoryQuery (times in microseconds) and Buckets;
writes run in one store transaction each, like every other change.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from smartby.broker import changes
from smartby.broker.transaction import Transaction
from smartby.ngsild.context import Context
from smartby.ngsild.entity import check_entity_id, check_name
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.ngsild.reads import (
    AggregatedEntity,
    Buckets,
    EntityQuery,
    EntitySelector,
    HistoryQuery,
    TemporalEntity,
)
from smartby.ngsild.temporal import (
    AggregatedAttribute,
    InstancePage,
    TemporalQuery,
    paginate,
    paginate_periods,
    parse_instance_fragment,
    parse_temporal_attributes,
    parse_temporal_entity,
    selects,
)
from smartby.ngsild.timestamps import format_datetime, micros_of, now
from smartby.settings import Settings

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALL = 2**62
"""A limit that reads every entity that matches."""


def _filtered(query: HistoryQuery) -> bool:
    """Whether entities are selected by q, a geo-query or a scope query (checked on instances)."""
    return query.q is not None or query.geo is not None or query.scope is not None


@dataclass(frozen=True)
class HistoryPage:
    """One page of entities with their history, the total when it was asked for, and when some
    instances were left for another response, what this one holds (206, clause 6.3.10)."""

    entities: list[TemporalEntity]
    count: int | None
    instances: InstancePage | None = None


@dataclass(frozen=True)
class AggregatePage:
    """One page of entities with their aggregates, the total when asked for, and when some periods
    were left for another response, what this one holds (206, clause 6.3.10)."""

    entities: list[tuple[AggregatedEntity, dict[str, list[AggregatedAttribute]]]]
    count: int | None
    periods: InstancePage | None = None


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else micros_of(moment)


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def history_query(
    temporal: TemporalQuery,
    *,
    selectors: Sequence[EntitySelector] = (),
    attrs: Sequence[str] = (),
    base: EntityQuery | None = None,
    limit: int = 20,
    offset: int = 0,
    count: bool = False,
    dataset_ids: tuple[str | None, ...] | None = None,
) -> HistoryQuery:
    """The store's query for a TemporalQuery, with q/geo/scope from `base` if given."""
    start, end = temporal.range()
    return HistoryQuery(
        selectors=tuple(selectors),
        attrs=tuple(attrs),
        q=base.q if base else None,
        geo=base.geo if base else None,
        scope=base.scope if base else None,
        dataset_ids=dataset_ids,
        timeproperty=temporal.timeproperty,
        start=_micros(start),
        end=_micros(end),
        last_n=temporal.last_n,
        limit=limit,
        offset=offset,
        count=count,
        order_by=base.order_by if base else (),
    )


def buckets_for(temporal: TemporalQuery) -> Buckets:
    """Aggregation periods for a TemporalQuery: fixed ones run in SQL from the query's origin (or each
    entity's first instance); calendar periods (months, years) get their bounds computed here."""
    period = temporal.aggr_period
    origin = None
    end = None
    if temporal.timerel in ("after", "between"):
        origin = _micros(temporal.time_at)
    if temporal.timerel == "between":
        end = _micros(temporal.end_time_at)
    elif temporal.timerel == "before":
        end = _micros(temporal.time_at)
    if period is None or period.whole_range:
        return Buckets(origin=origin, end=end)
    seconds = period.fixed_seconds()
    if seconds is not None:
        return Buckets(width=int(seconds * 1_000_000), origin=origin, end=end)

    def calendar(start: int, finish: int) -> list[tuple[int, int]]:
        return [(micros_of(a), micros_of(b)) for a, b in period.buckets(_moment(start), _moment(finish))]

    return Buckets(origin=origin, end=end, calendar=calendar)


class HistoryStore(Protocol):
    """What reading history needs of a store."""

    async def history(self, tenant: str, query: HistoryQuery) -> tuple[list[TemporalEntity], int | None]:
        """One page of entities with their history, and the number of matching entities if asked."""
        ...

    async def aggregate(
        self, tenant: str, query: HistoryQuery, methods: tuple[str, ...], buckets: Buckets
    ) -> tuple[list[AggregatedEntity], int | None]: ...


class Transact(Protocol):
    """Runs a change in one transaction on a tenant: `Broker.change`, which queues the
    notifications the change causes in the same transaction."""

    def __call__(
        self, tenant: str, change: Callable[[Transaction], T], ids: Sequence[str] = ()
    ) -> Awaitable[T]: ...


class History:
    """Reached as `broker.history`: the temporal representation of entities. Reads go to the
    store; writes run through `change`; `existing_tenant` raises for a tenant that does not exist."""

    def __init__(
        self,
        store: HistoryStore,
        change: Transact,
        existing_tenant: Callable[[str], Awaitable[None]],
        settings: Settings,
    ) -> None:
        self._store = store
        self._change = change
        self._existing_tenant = existing_tenant
        self._settings = settings

    async def query(self, tenant: str, query: HistoryQuery, temporal: TemporalQuery) -> HistoryPage:
        """Query the temporal evolution of entities (5.7.4): those with instances in the window."""
        await self._existing_tenant(tenant)
        selected = dataclasses.replace(query, instances_required=True)
        return await self._paged(selected, temporal, lambda read: self._select(tenant, read))

    async def retrieve(
        self, tenant: str, entity_id: str, query: HistoryQuery, temporal: TemporalQuery
    ) -> HistoryPage:
        """Retrieve the temporal evolution of one entity (5.7.3): a page of one entity."""
        check_entity_id(entity_id)
        await self._existing_tenant(tenant)
        selected = dataclasses.replace(
            query, selectors=(EntitySelector(ids=(entity_id,)),), limit=1, offset=0
        )

        async def read(query: HistoryQuery) -> tuple[list[TemporalEntity], int | None]:
            entities, _ = await self._store.history(tenant, query)
            if not entities:
                raise ResourceNotFound(f"Entity {entity_id} has no temporal evolution")
            return entities, None

        return await self._paged(selected, temporal, read)

    async def aggregate(self, tenant: str, query: HistoryQuery, temporal: TemporalQuery) -> AggregatePage:
        await self._existing_tenant(tenant)
        selected = dataclasses.replace(query, instances_required=True)
        page = await self._aggregate(tenant, selected, temporal)
        # Periods from each entity's first instance differ between entities: no cut fits them all.
        if temporal.timerel in ("after", "between"):
            return self._periods(page, temporal)
        return page

    async def retrieve_aggregated_page(
        self, tenant: str, entity_id: str, query: HistoryQuery, temporal: TemporalQuery
    ) -> AggregatePage:
        """The aggregated temporal representation of one entity (5.7.3), at most
        `temporal_page_size` periods of an attribute (6.3.10)."""
        entity = await self.retrieve_aggregated(tenant, entity_id, query, temporal)
        return self._periods(AggregatePage([entity], None), temporal)

    def _periods(self, page: AggregatePage, temporal: TemporalQuery) -> AggregatePage:
        limit = self._settings.temporal_page_size
        kept, periods = paginate_periods([attributes for _, attributes in page.entities], limit, temporal)
        if periods is None:
            return page
        entities = [(entity, attributes) for (entity, _), attributes in zip(page.entities, kept, strict=True)]
        return AggregatePage(entities, page.count, periods)

    async def retrieve_aggregated(
        self, tenant: str, entity_id: str, query: HistoryQuery, temporal: TemporalQuery
    ) -> tuple[AggregatedEntity, dict[str, list[AggregatedAttribute]]]:
        """The aggregated temporal representation of one entity, every period."""
        check_entity_id(entity_id)
        await self._existing_tenant(tenant)
        selected = dataclasses.replace(
            query, selectors=(EntitySelector(ids=(entity_id,)),), limit=1, offset=0
        )
        page = await self._aggregate(tenant, selected, temporal)
        if not page.entities:
            raise ResourceNotFound(f"Entity {entity_id} has no temporal evolution")
        return page.entities[0]

    async def _aggregate(self, tenant: str, query: HistoryQuery, temporal: TemporalQuery) -> AggregatePage:
        count: int | None = None
        if _filtered(query):
            matching, count = await self._select(tenant, query)
            if not matching:
                return AggregatePage([], count)
            ids = tuple(entity.id for entity in matching)
            query = dataclasses.replace(
                query,
                selectors=(EntitySelector(ids=ids),),
                q=None,
                geo=None,
                scope=None,
                limit=len(ids),
                offset=0,
                count=False,
            )
        entities, counted = await self._store.aggregate(
            tenant, query, temporal.aggr_methods, buckets_for(temporal)
        )
        return AggregatePage(
            [(entity, _attributes(entity)) for entity in entities], count if count is not None else counted
        )

    async def _select(self, tenant: str, query: HistoryQuery) -> tuple[list[TemporalEntity], int | None]:
        """A page of entities with their history. q, geo-queries and scope queries select entities
        by their instances in the window (5.7.4.4 S2-S4): all candidates are read, then checked."""
        store = self._store
        if not _filtered(query):
            return await store.history(tenant, query)
        wanted = set(query.attrs)
        attrs = query.attrs
        if attrs:
            named = query.q.attributes() if query.q is not None else set()
            if query.geo is not None:
                named.add(query.geo.geoproperty)
            attrs = (*attrs, *sorted(named - wanted))
        candidates, _ = await store.history(
            tenant,
            dataclasses.replace(
                query, attrs=attrs, q=None, geo=None, scope=None, limit=_ALL, offset=0, count=False
            ),
        )
        # Checking q against every instance is Python work that grows with the instances' values
        # (a 100-term q against an array of 100,000 elements takes seconds): off the event loop.
        matching = await asyncio.to_thread(_matching, candidates, query, wanted)
        count = len(matching) if query.count else None
        return matching[query.offset : query.offset + query.limit], count

    async def _paged(
        self,
        query: HistoryQuery,
        temporal: TemporalQuery,
        read: Callable[[HistoryQuery], Awaitable[tuple[list[TemporalEntity], int | None]]],
    ) -> HistoryPage:
        """At most `temporal_page_size` instances of an attribute in one response (6.3.10). The
        store reads one instance more per series than a page holds (`_bounded`); only a page that
        one moment overfills needs the whole window."""
        limit = self._settings.temporal_page_size
        bounded = _bounded(query, temporal, limit)
        entities, count = await read(bounded)
        kept, instances = paginate([entity.attributes for entity in entities], limit, temporal)
        if instances is not None and instances.overfull and bounded != query:
            entities, count = await read(query)
            kept, instances = paginate([entity.attributes for entity in entities], limit, temporal)
        if instances is None:
            return HistoryPage(entities, count)
        paged = [
            dataclasses.replace(entity, attributes=attributes)
            for entity, attributes in zip(entities, kept, strict=True)
        ]
        return HistoryPage(paged, count, instances)

    # -- writes ----------------------------------------------------------------------------------

    async def create(self, tenant: str, ctx: Context, body: Any) -> bool:
        """POST /temporal/entities: add the instances; True when the temporal entity is new."""
        entity = parse_temporal_entity(body, ctx)
        header: dict[str, Any] = {"id": entity.id, "type": entity.types}
        if entity.scope:
            header["scope"] = entity.scope
        stamp = format_datetime(now())

        def run(tx: Transaction) -> bool:
            existed = tx.temporal_entity(entity.id) is not None
            tx.add_history(header, entity.attributes, stamp, replace_observed=True)
            return not existed

        return await self._change(tenant, run, (entity.id,))

    async def append(self, tenant: str, entity_id: str, ctx: Context, body: Any) -> None:
        """POST /temporal/entities/{id}/attrs: add instances to an existing temporal entity."""
        check_entity_id(entity_id)
        attributes = parse_temporal_attributes(body, ctx)
        stamp = format_datetime(now())
        await self._existing_tenant(tenant)

        def run(tx: Transaction) -> None:
            found = tx.temporal_entity(entity_id)
            if found is None:
                raise ResourceNotFound(f"Entity {entity_id} has no temporal evolution")
            tx.add_history(found[1], attributes, stamp, replace_observed=True)

        await self._change(tenant, run, (entity_id,))

    async def delete(self, tenant: str, entity_id: str) -> None:
        check_entity_id(entity_id)
        await self._existing_tenant(tenant)

        def run(tx: Transaction) -> None:
            if not tx.delete_history(entity_id):
                raise ResourceNotFound(f"Entity {entity_id} has no temporal evolution")

        await self._change(tenant, run, (entity_id,))

    async def delete_attribute(
        self,
        tenant: str,
        entity_id: str,
        ctx: Context,
        attr: str,
        *,
        dataset_id: str | None = None,
        delete_all: bool = False,
    ) -> None:
        check_entity_id(entity_id)
        if dataset_id is not None:
            check_entity_id(dataset_id, "datasetId")
        iri = ctx.expand(check_name(attr))
        await self._existing_tenant(tenant)

        def run(tx: Transaction) -> None:
            if tx.temporal_entity(entity_id) is None:
                raise ResourceNotFound(f"Entity {entity_id} has no temporal evolution")
            if not tx.delete_attribute_history(entity_id, iri, dataset_id, delete_all):
                raise ResourceNotFound(f"Entity {entity_id} has no history of {attr}")

        await self._change(tenant, run, (entity_id,))

    async def update_instance(
        self, tenant: str, entity_id: str, ctx: Context, attr: str, instance_id: str, body: Any
    ) -> None:
        """PATCH .../attrs/{attr}/{instanceId}: merge the fragment into the recorded instance."""
        check_entity_id(entity_id)
        iri = ctx.expand(check_name(attr))
        check_entity_id(instance_id, "instanceId")
        fragment = parse_instance_fragment(attr, body, ctx)
        stamp = format_datetime(now())
        await self._existing_tenant(tenant)

        def run(tx: Transaction) -> None:
            current = tx.instance(entity_id, iri, instance_id)
            if current is None:
                raise ResourceNotFound(f"No instance {instance_id} of {attr} in entity {entity_id}")
            if fragment.get("type") not in (None, current["type"]):
                raise BadRequestData(f"An instance of {attr} keeps its attribute type {current['type']}")
            merged = changes.merge_instance(current, fragment, stamp)
            for member in ("instanceId", "createdAt", "modifiedAt"):
                merged.pop(member, None)
            tx.replace_instance(entity_id, iri, instance_id, merged, stamp)

        await self._change(tenant, run, (entity_id,))

    async def delete_instance(
        self, tenant: str, entity_id: str, ctx: Context, attr: str, instance_id: str
    ) -> None:
        check_entity_id(entity_id)
        iri = ctx.expand(check_name(attr))
        check_entity_id(instance_id, "instanceId")
        await self._existing_tenant(tenant)

        def run(tx: Transaction) -> None:
            if not tx.delete_instance(entity_id, iri, instance_id):
                raise ResourceNotFound(f"No instance {instance_id} of {attr} in entity {entity_id}")

        await self._change(tenant, run, (entity_id,))


def _bounded(query: HistoryQuery, temporal: TemporalQuery, limit: int) -> HistoryQuery:
    """The read a page of `limit` instances per series needs: the first `limit` + 1 instances of
    each series (the last ones with lastN), enough to tell where the page ends. Queries that check
    q, a geo-query or scopeQ against the instances read the whole window, as do timeproperties
    whose order is not the store's (`at`: observedAt, and deletedAt, which the deletions hold there)."""
    if _filtered(query) or temporal.timeproperty not in ("observedAt", "deletedAt"):
        return query
    if query.last_n is None:
        return dataclasses.replace(query, first_n=limit + 1)
    if query.last_n > limit + 1:
        return dataclasses.replace(query, last_n=limit + 1)
    return query


def _attributes(entity: AggregatedEntity) -> dict[str, list[AggregatedAttribute]]:
    """The store's aggregates in the shape ngsild.temporal renders."""
    out: dict[str, list[AggregatedAttribute]] = {}
    for iri, series in entity.attributes.items():
        out[iri] = [
            AggregatedAttribute(
                aggregate.kind,
                aggregate.periods,
                aggregate.dataset_id,
            )
            for aggregate in series
        ]
    return out


def _matching(
    candidates: list[TemporalEntity], query: HistoryQuery, wanted: set[str]
) -> list[TemporalEntity]:
    """The candidates a history query's q, geo-query and scope query select, with only the
    attributes asked for."""
    matching: list[TemporalEntity] = []
    for entity in candidates:
        if not selects(entity.attributes, entity.scope, q=query.q, geo=query.geo, scope=query.scope):
            continue
        if wanted:
            kept = {iri: instances for iri, instances in entity.attributes.items() if iri in wanted}
            entity = dataclasses.replace(entity, attributes=kept)
        if query.instances_required and not any(entity.attributes.values()):
            continue
        matching.append(entity)
    return matching
