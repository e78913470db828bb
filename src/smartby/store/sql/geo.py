"""Where each backend keeps the geometries of GeoProperty values, and how a geo-query reads them.

SQLite keeps bounding boxes in an R*Tree and leaves the exact test to shapely; PostgreSQL keeps the
geometries in PostGIS and decides most geo-queries there. The shared SQL asks a `GeoLayout` for the
rows of an entity and for the condition of a query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from smartby.ngsild.entity import Entity
from smartby.ngsild.geo import GeoQuery


class GeoLayout(Protocol):
    table: str
    columns: tuple[str, ...]
    """The columns of `rows`, in order."""

    def rows(
        self, tenant_id: int, key: int, entity: Entity, term_id: Callable[[str], int]
    ) -> list[tuple[Any, ...]]:
        """The rows that index the entity's geometries."""
        ...

    def remove(self, db: Any, removed: Sequence[tuple[int, Entity]]) -> None:
        """Delete the rows of these (key, entity as it was indexed) pairs."""
        ...

    def condition(self, db: Any, tenant_id: int, geo: GeoQuery, name_id: int) -> tuple[str, list[Any], bool]:
        """A condition on entity `e` (SQL with `?` marks, and its parameters) that every match meets,
        and whether it is exact (else shapely decides on each candidate)."""
        ...
