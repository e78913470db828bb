"""SQLite's geometries: the bounding boxes of GeoProperty values in an R*Tree; shapely decides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity
from smartby.ngsild.geo import GeoQuery, bounds

GEO_SLOTS = 256
"""Geometries per entity the R*Tree indexes (its row id is key * GEO_SLOTS + ordinal)."""


def _geometries(entity: Entity) -> list[Any]:
    return [
        instance["value"]
        for name, instances in entity.items()
        if name not in ENTITY_MEMBERS
        for instance in instances
        if instance["type"] == "GeoProperty"
    ]


class RTreeLayout:
    table = "geo"
    columns: tuple[str, ...] = ("id", "minx", "maxx", "miny", "maxy", "name_id")

    def rows(
        self, tenant_id: int, key: int, entity: Entity, term_id: Callable[[str], int]
    ) -> list[tuple[Any, ...]]:
        boxes: list[tuple[Any, ...]] = []
        for name, instances in entity.items():
            if name in ENTITY_MEMBERS:
                continue
            for instance in instances:
                if instance["type"] == "GeoProperty" and len(boxes) < GEO_SLOTS:
                    minx, miny, maxx, maxy = bounds(instance["value"])
                    boxes.append((key * GEO_SLOTS + len(boxes), minx, maxx, miny, maxy, term_id(name)))
        return boxes

    def remove(self, db: Any, removed: Sequence[tuple[int, Entity]]) -> None:
        ids = [
            (key * GEO_SLOTS + slot,)
            for key, entity in removed
            for slot in range(min(len(_geometries(entity)), GEO_SLOTS))
        ]
        if ids:
            db.executemany("DELETE FROM geo WHERE id = ?", ids)

    def condition(self, db: Any, tenant_id: int, geo: GeoQuery, name_id: int) -> tuple[str, list[Any], bool]:
        """The entities with a box of the geoproperty that meets the query's box; never exact."""
        box = geo.bbox()
        if box is None:
            return "1 = 1", [], False
        minx, miny, maxx, maxy = box
        return (
            f"e.key IN (SELECT id / {GEO_SLOTS} FROM geo WHERE minx <= ? AND maxx >= ? "
            "AND miny <= ? AND maxy >= ? AND name_id = ?)",
            [maxx, minx, maxy, miny, name_id],
            False,
        )


RTREE = RTreeLayout()
