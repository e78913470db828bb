"""The Store protocol: what every storage backend offers the broker.

A backend is picked by URL (`sqlite:///path.db`, `postgresql://...`); see `smartby.store.open_store`.
Reads are coroutines. Every change runs as a function inside one transaction (`Store.transact`), so
a read-modify-write (PATCH, merge, batch upsert) is atomic even with several smartby processes on
one database, and a failed change writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from smartby.ngsild.entity import Entity
from smartby.ngsild.geo import GeoQuery
from smartby.ngsild.query import Expr
from smartby.ngsild.scope import ScopeExpr
from smartby.ngsild.typequery import TypeExpr

T = TypeVar("T")


@dataclass(frozen=True)
class EntitySelector:
    """One entity selector: all given parts must hold (ids: any of them)."""

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: TypeExpr | None = None


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
    """A JSON-LD context kept by the broker: hosted (POSTed to /jsonldContexts) or cached (fetched)."""

    id: str
    url: str
    kind: str
    document: Any
    created_at: str
    last_used: str | None = None
    hits: int = 0


class Transaction(Protocol):
    """The view of one tenant's entities inside a write transaction."""

    def get(self, entity_id: str) -> Entity | None: ...

    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]: ...

    def insert(self, entity: Entity) -> None:
        """Add a new entity (the caller checked it does not exist)."""

    def replace(self, entity: Entity) -> None:
        """Store the new state of an existing entity."""

    def delete(self, entity_id: str) -> bool:
        """Remove an entity; False when there was none."""


class Store(Protocol):
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def transact(self, tenant: str, change: Callable[[Transaction], T]) -> T:
        """Run `change` in one transaction on `tenant` (created on first write) and commit it.

        If `change` raises, nothing it did is kept and the exception reaches the caller.
        """
        ...

    async def tenant_exists(self, tenant: str) -> bool: ...

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None: ...

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult: ...

    async def entity_types(self, tenant: str) -> list[TypeInfo]: ...

    async def attributes(self, tenant: str) -> list[AttributeInfo]: ...

    async def put_context(self, context: StoredContext) -> None: ...

    async def get_context(self, key: str) -> StoredContext | None:
        """A stored context by its local id or its URL."""
        ...

    async def list_contexts(self) -> list[StoredContext]: ...

    async def delete_context(self, key: str) -> bool: ...

    async def touch_context(self, url: str, used_at: str) -> None:
        """Count one use of a stored context."""
        ...
