"""PostgreSQL's geometries: GeoProperty values in PostGIS, where most geo-queries are decided.

The topological relations are GEOS's DE-9IM predicates, as shapely's are; `near` between points is
the haversine distance on the same sphere and with the same arithmetic as `GeoQuery.distance`.
Geometries where the two could differ (a `near` involving a line or polygon, a GeometryCollection,
an invalid geometry) are only narrowed by their bounding box in SQL and decided by shapely.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

import shapely

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity
from smartby.ngsild.geo import EARTH_RADIUS_M, GeoQuery, to_shape

POINT, SHAPE, UNDECIDED = 0, 1, 2
"""Geometry classes: a point; another geometry PostGIS decides as shapely does; one it may not."""

_POINT = struct.Struct("<BIIdd")
_POINT_WITH_SRID = 0x20000001
"""EWKB: a point (type 1) with the SRID flag set; little-endian."""
_PREDICATES = {
    "within": "ST_Within",
    "contains": "ST_Contains",
    "intersects": "ST_Intersects",
    "equals": "ST_Equals",
    "disjoint": "ST_Disjoint",
    "overlaps": "ST_Overlaps",
}
_HAVERSINE = (
    f"{2 * EARTH_RADIUS_M!r}::float8 * asin(sqrt(least(1.0, "
    "sin((radians(ST_Y(g.geom)) - ?) / 2) ^ 2 "
    "+ ? * cos(radians(ST_Y(g.geom))) * sin((radians(ST_X(g.geom)) - ?) / 2) ^ 2)))"
)


def _geometry(value: Any) -> tuple[int, str]:
    """The shape class and the EWKB (hex, SRID 4326) of a GeoJSON geometry, in two dimensions."""
    if value.get("type") == "Point":
        x, y = value["coordinates"][:2]
        return POINT, _POINT.pack(1, _POINT_WITH_SRID, 4326, float(x), float(y)).hex()
    shape = to_shape(value)
    undecided = value.get("type") == "GeometryCollection" or not shapely.is_valid(shape)
    kind = UNDECIDED if undecided else SHAPE
    wkb = shapely.to_wkb(shapely.set_srid(shape, 4326), hex=True, include_srid=True, output_dimension=2)
    return kind, str(wkb)


class PostGISLayout:
    table = "geo"
    columns: tuple[str, ...] = ("key", "tenant_id", "name_id", "shape", "geom")

    def rows(
        self, tenant_id: int, key: int, entity: Entity, term_id: Callable[[str], int]
    ) -> list[tuple[Any, ...]]:
        return [
            (key, tenant_id, term_id(name), *_geometry(instance["value"]))
            for name, instances in entity.items()
            if name not in ENTITY_MEMBERS
            for instance in instances
            if instance["type"] == "GeoProperty"
        ]

    def remove(self, db: Any, removed: Sequence[tuple[int, Entity]]) -> None:
        db.execute("DELETE FROM geo WHERE key = ANY(%s)", ([key for key, _ in removed],))

    def condition(self, db: Any, tenant_id: int, geo: GeoQuery, name_id: int) -> tuple[str, list[Any], bool]:
        exact = _exact(geo, self._worst_shape(db, tenant_id, name_id) if name_id >= 0 else None)
        sql, params = exact if exact is not None else self._box(geo)
        return (
            f"EXISTS (SELECT 1 FROM geo g WHERE g.key = e.key AND g.name_id = ? AND {sql})",
            [name_id, *params],
            exact is not None,
        )

    def _box(self, geo: GeoQuery) -> tuple[str, list[Any]]:
        box = geo.bbox()
        return ("g.geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)", list(box)) if box else ("1 = 1", [])

    def _worst_shape(self, db: Any, tenant_id: int, name_id: int) -> int | None:
        """The highest geometry class of the GeoProperty in the tenant."""
        row = db.execute(
            "SELECT max(shape) FROM geo WHERE tenant_id = %s AND name_id = %s", (tenant_id, name_id)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])


def _exact(geo: GeoQuery, worst: int | None) -> tuple[str, list[Any]] | None:
    """The exact PostGIS condition on a geo row `g`, or None where shapely must decide."""
    if not shapely.is_valid(geo.shape):
        return None
    if geo.georel != "near":
        if worst is not None and worst > SHAPE:
            return None
        query = shapely.to_wkb(shapely.set_srid(geo.shape, 4326), include_srid=True, output_dimension=2)
        return f"{_PREDICATES[geo.georel]}(g.geom, ST_GeomFromEWKB(?))", [query]
    if geo.geometry["type"] != "Point" or (worst is not None and worst > POINT):
        return None
    lon, lat = (float(c) for c in geo.geometry["coordinates"][:2])
    lon1, lat1 = math.radians(lon), math.radians(lat)
    parts: list[str] = []
    params: list[Any] = []
    box = geo.bbox()
    if box is not None:
        parts.append("g.geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)")
        params.extend(box)
    distance = [lat1, math.cos(lat1), lon1]
    if geo.max_distance is not None:
        parts.append(f"{_HAVERSINE} <= ?")
        params.extend([*distance, geo.max_distance])
    if geo.min_distance is not None:
        parts.append(f"{_HAVERSINE} >= ?")
        params.extend([*distance, geo.min_distance])
    return " AND ".join(parts) or "1 = 1", params


POSTGIS = PostGISLayout()
