"""What a read of context or history asks for and what it answers.

The queries are the standard's (clauses 4.9-4.11, 4.17, 4.19, 5.7): an NGSI-LD request parsed into
expanded names, and times in microseconds since the epoch. The broker builds them, the store answers
them, and the HTTP API renders the answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smartby.ngsild.entity import Entity, Instance
from smartby.ngsild.geo import GeoQuery
from smartby.ngsild.ordering import OrderKey
from smartby.ngsild.query import Expr
from smartby.ngsild.regex import compiled
from smartby.ngsild.scope import ScopeExpr
from smartby.ngsild.temporal import Bucket
from smartby.ngsild.typequery import TypeExpr


@dataclass(frozen=True)
class EntitySelector:
    """One entity selector: all given parts must hold (ids: any of them)."""

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: TypeExpr | None = None

    def matches(self, entity: Entity) -> bool:
        """Whether an entity (its id and types) meets the selector."""
        if self.ids and entity["id"] not in self.ids:
            return False
        if self.id_pattern is not None:
            pattern = compiled(self.id_pattern)
            if pattern is None or pattern.search(entity["id"]) is None:
                return False
        return self.types is None or self.types.matches(entity["type"])


@dataclass(frozen=True)
class EntityQuery:
    """A query over current entities; names are expanded IRIs. An entity matches when it matches
    any selector (or there are none) and every other filter."""

    selectors: tuple[EntitySelector, ...] = ()
    q: Expr | None = None
    geo: GeoQuery | None = None
    scope: ScopeExpr | None = None
    attrs: Sequence[str] = ()
    """Only entities holding at least one of these attributes (the `attrs` parameter)."""
    limit: int = 20
    offset: int = 0
    count: bool = False
    order_by: tuple[OrderKey, ...] = ()
    """The order of the matches (`orderBy`, names expanded); () for the order of creation."""

    def matches(self, entity: Entity) -> bool:
        """Whether the query selects an entity, decided in Python (a store decides it in SQL where
        it can; a change that must not act on an entity changed meanwhile asks again here)."""
        if self.selectors and not any(selector.matches(entity) for selector in self.selectors):
            return False
        if self.q is not None and not self.q.matches(entity):
            return False
        if self.scope is not None and not self.scope.matches(entity.get("scope", [])):
            return False
        if self.attrs and not any(name in entity for name in self.attrs):
            return False
        geo = self.geo
        if geo is None:
            return True
        return any(
            instance.get("type") == "GeoProperty" and geo.matches(instance["value"])
            for instance in entity.get(geo.geoproperty, ())
        )


@dataclass(frozen=True)
class HistoryQuery:
    """Which entities' history to read, and which part of it. Names are expanded IRIs; times are
    microseconds since the epoch, `start` inclusive and `end` exclusive."""

    selectors: tuple[EntitySelector, ...] = ()
    attrs: tuple[str, ...] = ()
    """Only these attributes (and only entities with history of one of them); () for all."""
    q: Expr | None = None
    geo: GeoQuery | None = None
    scope: ScopeExpr | None = None
    """q, geo and scope filters select entities by their current state (then their history is read)."""
    dataset_ids: tuple[str | None, ...] | None = None
    timeproperty: str = "observedAt"
    start: int | None = None
    end: int | None = None
    last_n: int | None = None
    first_n: int | None = None
    """Only the first N instances of each series in time (what a page of instances needs, 6.3.10);
    ignored with last_n."""
    limit: int = 20
    offset: int = 0
    count: bool = False
    instances_required: bool = False
    """Only entities with at least one instance in the window (of the wanted attributes and
    datasets): a query leaves out the others, a retrieval of one entity does not."""
    order_by: tuple[OrderKey, ...] = ()
    """The order of the temporal entities (`orderBy`, names expanded, on their current state);
    () for the order of their keys."""


@dataclass(frozen=True)
class Buckets:
    """Aggregation periods, in microseconds. Fixed periods of `width` from `origin`; or the periods
    `calendar(origin, end)` gives; or, with neither, one period [origin, end). An origin of None is
    each entity's earliest selected instance; an end of None is just after its latest one."""

    width: int | None = None
    origin: int | None = None
    end: int | None = None
    calendar: Callable[[int, int], Sequence[tuple[int, int]]] | None = None


@dataclass
class TemporalEntity:
    """An entity's history: its id, types and scope, and per attribute its instances (oldest first)."""

    id: str
    types: list[str]
    scope: list[str] | None
    attributes: dict[str, list[Instance]] = field(default_factory=dict)
    system: dict[str, str] = field(default_factory=dict)
    """The entity's createdAt, modifiedAt and (once deleted) deletedAt."""


@dataclass
class Aggregate:
    """One attribute instance series aggregated: per period [start, end) its {method: value}."""

    kind: str
    dataset_id: str | None
    periods: list[Bucket]


@dataclass
class AggregatedEntity:
    id: str
    types: list[str]
    scope: list[str] | None
    attributes: dict[str, list[Aggregate]] = field(default_factory=dict)
    system: dict[str, str] = field(default_factory=dict)


@dataclass
class QueryResult:
    entities: list[Entity]
    count: int | None = None


@dataclass(frozen=True)
class TypeInfo:
    """What /types?details=true and /types/{type} report about one entity type."""

    type: str
    count: int
    attributes: dict[str, set[str]] = field(default_factory=dict)
    """Attribute name -> the attribute types (Property, Relationship, ...) it has on this type."""


@dataclass(frozen=True)
class AttributeInfo:
    """What /attributes?details=true and /attributes/{attr} report about one attribute."""

    name: str
    count: int
    types: set[str] = field(default_factory=set)
    attribute_types: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class StoredContext:
    """A JSON-LD context kept by the broker (clause 5.13): `Hosted` (POSTed to /jsonldContexts),
    `Cached` (fetched from its URL) or `ImplicitlyCreated` (an inline @context the broker had to keep).
    `extra` is what /jsonldContexts?details=true reports as extraInfo."""

    id: str
    url: str
    kind: str
    document: Any
    created_at: str
    last_used: str | None = None
    hits: int = 0
    extra: dict[str, Any] | None = None
