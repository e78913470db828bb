"""GeoJSON geometries and NGSI-LD geo-queries (ETSI GS CIM 009, clause 4.10).

The value of a GeoProperty is a GeoJSON geometry (RFC 7946) in WGS84 longitude/latitude. This module
checks such values, turns them into shapely geometries, parses a geo-query (the ``georel``,
``geometry``, ``coordinates`` and ``geoproperty`` request parameters, or the ``geoQ`` member of a
query or subscription) and decides whether an entity's geometry satisfies it.

The topological relations (within, contains, intersects, equals, disjoint, overlaps) are shapely's
DE-9IM predicates on the planar longitude/latitude coordinates, as PostGIS evaluates them on a
``geometry`` column: a point on a polygon's boundary is not ``within`` it. Distances (``near``) are
metres on a sphere of the mean Earth radius; see `GeoQuery.distance`. Altitudes are validated but
play no part in a query. Geometries that cross the antimeridian are not supported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import orjson
import shapely

from smartby.ngsild.errors import BadRequestData

EARTH_RADIUS_M = 6371008.8
"""Mean Earth radius (IUGG), the sphere on which distances are measured."""

GEOMETRY_TYPES = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
)
QUERY_GEOMETRY_TYPES = GEOMETRY_TYPES[:-1]
"""The geometries a geo-query may name (a GeometryCollection has no ``coordinates`` to send)."""

GEORELS = ("near", "within", "contains", "intersects", "equals", "disjoint", "overlaps")

Geometry = dict[str, Any]
Bounds = tuple[float, float, float, float]
Shape = Any
"""A shapely geometry (shapely ships no type information)."""

_Position = tuple[float, ...]
_Parsed = tuple[str, Any]

_METRES = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SEGMENT_DEGREES = 0.01
"""Longest lon/lat segment projected as a straight line when measuring distances."""
_BBOX_MARGIN = 1.01
"""Relative slack on a `near` bounding box, covering the projection error of `GeoQuery.distance`."""


class _Malformed(ValueError):
    """What is wrong with a geometry, before it is phrased as an NGSI-LD error."""


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _quote(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _number(value: object, where: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Malformed(f"{where}[{index}] must be a number, got {_kind(value)}")
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        raise _Malformed(f"{where}[{index}] is too large")
    number = float(value)
    if not math.isfinite(number):
        raise _Malformed(f"{where}[{index}] must be a finite number")
    return number


def _position(value: object, where: str) -> _Position:
    if not isinstance(value, list | tuple) or not 2 <= len(value) <= 3:
        raise _Malformed(
            f"{where} must be a position [longitude, latitude] or [longitude, latitude, altitude], "
            f"got {_kind(value)}"
        )
    position = tuple([_number(item, where, i) for i, item in enumerate(value)])
    lon, lat = position[0], position[1]
    if not -180.0 <= lon <= 180.0:
        raise _Malformed(f"{where}: longitude {lon:g} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise _Malformed(
            f"{where}: latitude {lat:g} is outside [-90, 90] (a position is [longitude, latitude])"
        )
    return position


def _array(value: object, where: str, minimum: int, items: str) -> Sequence[object]:
    if not isinstance(value, list | tuple):
        raise _Malformed(f"{where} must be an array of {items}, got {_kind(value)}")
    if len(value) < minimum:
        need = "must not be empty" if minimum == 1 else f"needs at least {minimum} {items}, got {len(value)}"
        raise _Malformed(f"{where} {need}")
    return value


def _positions(value: object, where: str, minimum: int) -> list[_Position]:
    items = _array(value, where, minimum, "positions")
    return [_position(item, f"{where}[{i}]") for i, item in enumerate(items)]


def _line(value: object, where: str) -> list[_Position]:
    return _positions(value, where, 2)


def _ring(value: object, where: str) -> list[_Position]:
    ring = _positions(value, where, 4)
    if ring[0] != ring[-1]:
        raise _Malformed(f"{where} is not a closed linear ring: its first and last positions differ")
    return ring


def _polygon(value: object, where: str) -> list[list[_Position]]:
    rings = _array(value, where, 1, "linear rings")
    return [_ring(ring, f"{where}[{i}]") for i, ring in enumerate(rings)]


def _many(part: Callable[[object, str], Any], items: str) -> Callable[[object, str], list[Any]]:
    def parse(value: object, where: str) -> list[Any]:
        return [part(item, f"{where}[{i}]") for i, item in enumerate(_array(value, where, 1, items))]

    return parse


_NESTING = {
    "Point": (1, "[lon, lat]"),
    "MultiPoint": (2, "[[lon, lat], ...]"),
    "LineString": (2, "[[lon, lat], [lon, lat], ...]"),
    "MultiLineString": (3, "[[[lon, lat], [lon, lat], ...], ...]"),
    "Polygon": (3, "[[[lon, lat], ..., [lon, lat]], ...]"),
    "MultiPolygon": (4, "[[[[lon, lat], ..., [lon, lat]], ...], ...]"),
}


def _check_nesting(kind: str, coordinates: object, where: str) -> None:
    depth, innermost = 0, coordinates
    while isinstance(innermost, list | tuple) and innermost:
        depth, innermost = depth + 1, innermost[0]
    expected, example = _NESTING[kind]
    if depth and not isinstance(innermost, list | tuple) and depth != expected:
        raise _Malformed(f"{where} nest {depth} arrays deep but a {kind} needs {expected}: {example}")


_COORDINATES: dict[str, Callable[[object, str], Any]] = {
    "Point": _position,
    "MultiPoint": _many(_position, "positions"),
    "LineString": _line,
    "MultiLineString": _many(_line, "line strings"),
    "Polygon": _polygon,
    "MultiPolygon": _many(_polygon, "polygons"),
}


def _parse(value: object, prefix: str = "", nested: bool = False) -> _Parsed:
    if not isinstance(value, dict):
        raise _Malformed(f"{prefix or 'a geometry'} must be a GeoJSON geometry object, got {_kind(value)}")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in GEOMETRY_TYPES:
        shown = _quote(kind) if isinstance(kind, str) else _kind(kind)
        raise _Malformed(f"{prefix}type must be one of {', '.join(GEOMETRY_TYPES)}, got {shown}")
    if kind == "GeometryCollection":
        if nested:
            raise _Malformed(f"{prefix.rstrip('.')} is a GeometryCollection nested in another")
        members = _array(value.get("geometries"), "geometries", 1, "geometries")
        return kind, [_parse(member, f"geometries[{i}].", True) for i, member in enumerate(members)]
    if "coordinates" not in value:
        raise _Malformed(f"{prefix}coordinates are missing for a {kind}")
    _check_nesting(kind, value["coordinates"], f"{prefix}coordinates")
    return kind, _COORDINATES[kind](value["coordinates"], f"{prefix}coordinates")


def _checked(value: object) -> _Parsed:
    try:
        return _parse(value)
    except _Malformed as error:
        raise BadRequestData(f"Invalid GeoJSON geometry: {error}") from None


def validate_geometry(value: object) -> Geometry:
    """Return `value` unchanged if it is a GeoJSON geometry a GeoProperty may hold.

    Accepted: Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon and a
    (not nested, non-empty) GeometryCollection of those. Positions hold 2 or 3 finite numbers with
    the longitude in [-180, 180] and the latitude in [-90, 90]; a LineString has at least 2 of them,
    a linear ring at least 4 with the last equal to the first. Members other than ``type``,
    ``coordinates`` and ``geometries`` (``bbox``, foreign members) are left alone. Anything else
    raises `BadRequestData` saying what and where.
    """
    _checked(value)
    return cast(Geometry, value)


_Line = Callable[[list[_Position]], object]


def _xy(positions: list[_Position]) -> list[_Position]:
    return [position[:2] for position in positions]


def _dense_xy(positions: list[_Position]) -> npt.NDArray[np.float64]:
    """`_xy` with points added along segments longer than `_SEGMENT_DEGREES`."""
    xy = np.array(_xy(positions), dtype=np.float64)
    deltas = np.diff(xy, axis=0)
    steps = np.maximum(np.ceil(np.abs(deltas).max(axis=1) / _SEGMENT_DEGREES), 1).astype(np.int64)
    if steps.max() == 1:
        return xy
    starts = np.cumsum(steps) - steps
    fractions = (np.arange(steps.sum()) - np.repeat(starts, steps)) / np.repeat(steps, steps)
    dense = np.repeat(xy[:-1], steps, axis=0) + np.repeat(deltas, steps, axis=0) * fractions[:, None]
    return np.vstack((dense, xy[-1:]))


def _polygon_shape(rings: list[list[_Position]], line: _Line) -> Shape:
    return shapely.Polygon(line(rings[0]), [line(ring) for ring in rings[1:]])


def _build(parsed: _Parsed, line: _Line = _xy) -> Shape:
    kind, coordinates = parsed
    if kind == "Point":
        return shapely.Point(coordinates[:2])
    if kind == "MultiPoint":
        return shapely.MultiPoint(_xy(coordinates))
    if kind == "LineString":
        return shapely.LineString(line(coordinates))
    if kind == "MultiLineString":
        return shapely.MultiLineString([line(part) for part in coordinates])
    if kind == "Polygon":
        return _polygon_shape(coordinates, line)
    if kind == "MultiPolygon":
        return shapely.MultiPolygon([_polygon_shape(polygon, line) for polygon in coordinates])
    return shapely.GeometryCollection([_build(member, line) for member in coordinates])


def to_shape(geometry: object) -> Shape:
    """The two-dimensional shapely geometry of a GeoJSON geometry (altitudes are dropped).

    Raises `BadRequestData` when `geometry` does not pass `validate_geometry`.
    """
    return _build(_checked(geometry))


def bounds(geometry: object) -> Bounds:
    """The lon/lat bounding box (min lon, min lat, max lon, max lat) of a GeoJSON geometry."""
    minx, miny, maxx, maxy = to_shape(geometry).bounds
    return float(minx), float(miny), float(maxx), float(maxy)


def haversine(a: Sequence[float], b: Sequence[float]) -> float:
    """Great-circle distance in metres between two [longitude, latitude] positions."""
    lon1, lat1, lon2, lat2 = (math.radians(v) for v in (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def _azimuthal_equidistant(parsed: _Parsed, centre: tuple[float, float]) -> Shape:
    """A geometry in metres on the spherical azimuthal equidistant projection centred on `centre`.

    Long segments are first split so that they stay straight lines in lon/lat (RFC 7946) once
    projected.
    """
    lon0, lat0 = math.radians(centre[0]), math.radians(centre[1])
    sin0, cos0 = math.sin(lat0), math.cos(lat0)

    def forward(lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        dlon = np.radians(lonlat[:, 0]) - lon0
        lat = np.radians(lonlat[:, 1])
        sin_lat, cos_lat, cos_dlon = np.sin(lat), np.cos(lat), np.cos(dlon)
        h = np.sin((lat - lat0) / 2) ** 2 + cos0 * cos_lat * np.sin(dlon / 2) ** 2
        c = 2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
        sin_c = np.sin(c)
        k = EARTH_RADIUS_M * np.divide(c, sin_c, out=np.ones_like(c), where=sin_c > 1e-12)
        x = k * cos_lat * np.sin(dlon)
        y = k * (cos0 * sin_lat - sin0 * cos_lat * cos_dlon)
        return np.column_stack((x, y))

    return shapely.transform(_build(parsed, _dense_xy), forward)


def _metres(text: str, name: str) -> float:
    if not _METRES.fullmatch(text):
        raise BadRequestData(f"Invalid georel: {name} must be a number of metres, got {_quote(text)}")
    value = float(text)
    if value < 0:
        raise BadRequestData(f"Invalid georel: {name} must not be negative, got {_quote(text)}")
    if not math.isfinite(value):
        raise BadRequestData(f"Invalid georel: {name} is too large")
    return value


def _parse_georel(text: str) -> tuple[str, float | None, float | None]:
    relation, *modifiers = (part.strip() for part in text.split(";"))
    if relation not in GEORELS:
        raise BadRequestData(f"Invalid georel: {_quote(relation)} is not one of {', '.join(GEORELS)}")
    if relation != "near":
        if modifiers:
            raise BadRequestData(f"Invalid georel: {relation} takes no modifiers, got {_quote(text)}")
        return relation, None, None
    distances: dict[str, float] = {}
    for modifier in modifiers:
        name, equals, number = modifier.partition("==")
        if not equals or name not in ("maxDistance", "minDistance"):
            raise BadRequestData(
                "Invalid georel: near takes maxDistance==<metres> and/or minDistance==<metres>, "
                f"got {_quote(modifier)}"
            )
        if distances:
            raise BadRequestData("Invalid georel: near takes exactly one distance (clause 4.10)")
        distances[name] = _metres(number, name)
        if distances[name] == 0:
            raise BadRequestData(f"Invalid georel: {name} must be a positive number, not 0")
    if not distances:
        raise BadRequestData("Invalid georel: near needs maxDistance==<metres> or minDistance==<metres>")
    return relation, distances.get("maxDistance"), distances.get("minDistance")


def _format_metres(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


# Each relation of (entity, query) as a predicate on (query, entity), so that GEOS uses the prepared
# query geometry: within and contains are each other's transpose, the others are symmetric.
_QUERY_FIRST_PREDICATES: dict[str, Callable[[Shape, Shape], Any]] = {
    "within": shapely.contains,
    "contains": shapely.within,
    "intersects": shapely.intersects,
    "equals": shapely.equals,
    "disjoint": shapely.disjoint,
    "overlaps": shapely.overlaps,
}


@dataclass(frozen=True, kw_only=True)
class GeoQuery:
    """An NGSI-LD geo-query: does the entity's `geoproperty` stand in `georel` to `geometry`?

    `georel` is one of `GEORELS`; `near` carries `max_distance` and/or `min_distance` in metres
    (no other relation carries either). `geometry` is a GeoJSON geometry of one of
    `QUERY_GEOMETRY_TYPES`. `geoproperty` is the attribute to test, as given until the caller
    expands it against the @context. Construction validates all of it (`BadRequestData`).
    """

    georel: str
    max_distance: float | None = None
    min_distance: float | None = None
    geometry: Geometry = field(hash=False)
    geoproperty: str = "location"

    def __post_init__(self) -> None:
        if self.georel not in GEORELS:
            raise BadRequestData(
                f"Invalid georel: {_quote(str(self.georel))} is not one of {', '.join(GEORELS)}"
            )
        distances = {"maxDistance": self.max_distance, "minDistance": self.min_distance}
        has_distance = any(distance is not None for distance in distances.values())
        if self.georel != "near" and has_distance:
            raise BadRequestData(f"Invalid georel: only near takes a distance, not {self.georel}")
        if self.georel == "near" and not has_distance:
            raise BadRequestData("Invalid georel: near needs maxDistance or minDistance")
        for name, distance in distances.items():
            if distance is None:
                continue
            if isinstance(distance, bool) or not isinstance(distance, int | float):
                raise BadRequestData(f"Invalid georel: {name} must be a number of metres")
            if not (math.isfinite(distance) and distance >= 0):
                raise BadRequestData(f"Invalid georel: {name} must be a non-negative number of metres")
            object.__setattr__(
                self, "max_distance" if name == "maxDistance" else "min_distance", float(distance)
            )
        if (
            self.min_distance is not None
            and self.max_distance is not None
            and self.min_distance > self.max_distance
        ):
            raise BadRequestData("Invalid georel: minDistance is greater than maxDistance")
        kind = self.geometry.get("type") if isinstance(self.geometry, dict) else None
        if kind not in QUERY_GEOMETRY_TYPES:
            shown = _quote(kind) if isinstance(kind, str) else _kind(kind)
            raise BadRequestData(
                f"Invalid geo-query: geometry must be one of {', '.join(QUERY_GEOMETRY_TYPES)}, got {shown}"
            )
        try:
            _parse(self.geometry)
        except _Malformed as error:
            raise BadRequestData(f"Invalid geo-query: {error}") from None
        if not isinstance(self.geoproperty, str) or not self.geoproperty:
            raise BadRequestData("Invalid geo-query: geoproperty must be a non-empty attribute name")

    @property
    def georel_text(self) -> str:
        """The georel as it is written in a request, e.g. ``near;maxDistance==2000``."""
        text = self.georel
        if self.max_distance is not None:
            text += f";maxDistance=={_format_metres(self.max_distance)}"
        if self.min_distance is not None:
            text += f";minDistance=={_format_metres(self.min_distance)}"
        return text

    def to_params(self) -> dict[str, str]:
        """The request parameters of this query; `parse_geo_query` reads them back to an equal one."""
        return {
            "georel": self.georel_text,
            "geometry": self.geometry["type"],
            "coordinates": orjson.dumps(self.geometry["coordinates"]).decode(),
            "geoproperty": self.geoproperty,
        }

    def to_json(self) -> dict[str, Any]:
        """The ``geoQ`` JSON form of this query; `geo_query_from_json` reads it back to an equal one."""
        return {
            "geometry": self.geometry["type"],
            "coordinates": self.geometry["coordinates"],
            "georel": self.georel_text,
            "geoproperty": self.geoproperty,
        }

    @cached_property
    def _parsed(self) -> _Parsed:
        return _checked(self.geometry)

    @cached_property
    def shape(self) -> Shape:
        """The query geometry as a (two-dimensional, prepared) shapely geometry."""
        shape = _build(self._parsed)
        shapely.prepare(shape)
        return shape

    @cached_property
    def _centre(self) -> tuple[float, float]:
        minx, miny, maxx, maxy = self.shape.bounds
        return (minx + maxx) / 2, (miny + maxy) / 2

    @cached_property
    def _projected(self) -> Shape:
        return _azimuthal_equidistant(self._parsed, self._centre)

    def distance(self, value: object) -> float:
        """Distance in metres between an entity's GeoJSON geometry and the query geometry.

        Two points: the haversine great-circle distance on the sphere of radius `EARTH_RADIUS_M`.
        Anything else: both geometries (their segments straight in lon/lat, as RFC 7946 has them)
        are projected to the azimuthal equidistant plane centred on the centre of the query
        geometry's bounding box and shapely measures the planar distance. Distances from that
        centre are exact; others are off by well under 0.5% at city scale (tens of kilometres)
        and by about 1% at 1,000 km. The sphere itself differs from the WGS84 ellipsoid by up to
        0.5%. Raises `BadRequestData` when `value` is not a valid geometry.
        """
        return self._distance_to(_checked(value))

    def _distance_to(self, parsed: _Parsed) -> float:
        kind, coordinates = parsed
        query_kind, query_coordinates = self._parsed
        if kind == "Point" and query_kind == "Point":
            return haversine(query_coordinates, coordinates)
        return float(shapely.distance(_azimuthal_equidistant(parsed, self._centre), self._projected))

    def matches(self, value: object) -> bool:
        """Whether an entity's GeoJSON geometry satisfies this query (clause 4.10).

        near: `min_distance` <= `distance` <= `max_distance` (whichever are given). within: the
        entity geometry lies within the query geometry; contains: it contains the query geometry;
        intersects, equals (topological equality), disjoint, overlaps: shapely's predicates with
        the entity geometry first. A value that is not a valid geometry matches nothing.
        """
        try:
            parsed = _checked(value)
        except BadRequestData:
            return False
        if self.georel != "near":
            return bool(_QUERY_FIRST_PREDICATES[self.georel](self.shape, _build(parsed)))
        distance = self._distance_to(parsed)
        if self.max_distance is not None and distance > self.max_distance:
            return False
        return self.min_distance is None or distance >= self.min_distance

    def bbox(self) -> Bounds | None:
        """A lon/lat box (min lon, min lat, max lon, max lat) that lets a store pre-filter candidates.

        The bounding box of every geometry that can match intersects this box (for ``within`` it
        lies inside it), so an R*Tree or GiST intersection test never drops a match; the exact
        test is `matches`. None when no box helps: ``disjoint``, ``near`` with only a
        minDistance, and a ``near`` circle that reaches a pole or crosses the antimeridian. A
        ``near`` box grows the query geometry's bounds by maxDistance (plus 1% and one metre of
        slack): exactly d/R radians of latitude, asin(sin(d/R) / cos(lat)) of longitude at the
        query's extreme latitude.
        """
        if self.georel == "disjoint":
            return None
        minx, miny, maxx, maxy = bounds(self.geometry)
        if self.georel != "near":
            return minx, miny, maxx, maxy
        if self.max_distance is None:
            return None
        reach = (self.max_distance * _BBOX_MARGIN + 1.0) / EARTH_RADIUS_M
        dlat = math.degrees(reach)
        if miny - dlat <= -90.0 or maxy + dlat >= 90.0:
            return None
        ratio = math.sin(reach) / math.cos(math.radians(max(abs(miny), abs(maxy))))
        if ratio >= 1.0:
            return None
        dlon = math.degrees(math.asin(ratio))
        if minx - dlon < -180.0 or maxx + dlon > 180.0:
            return None
        return minx - dlon, miny - dlat, maxx + dlon, maxy + dlat


def _query_coordinates(value: object) -> object:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise BadRequestData(
                f"Invalid geo-query: coordinates must be a JSON array such as [12.5683,55.6761], "
                f"got {_quote(value)}"
            ) from None
    if isinstance(value, list | tuple):
        return value
    raise BadRequestData(f"Invalid geo-query: coordinates must be an array, got {_kind(value)}")


def _query_geometry(value: object) -> str:
    if isinstance(value, str):
        for kind in QUERY_GEOMETRY_TYPES:
            if value.lower() == kind.lower():
                return kind
        shown = _quote(value)
    else:
        shown = _kind(value)
    raise BadRequestData(
        f"Invalid geo-query: geometry must be one of {', '.join(QUERY_GEOMETRY_TYPES)}, got {shown}"
    )


def _geo_query(georel: object, geometry: object, coordinates: object, geoproperty: object) -> GeoQuery:
    if not isinstance(georel, str):
        raise BadRequestData(f"Invalid georel: must be a string, got {_kind(georel)}")
    relation, max_distance, min_distance = _parse_georel(georel)
    if geoproperty is not None and not isinstance(geoproperty, str):
        raise BadRequestData(f"Invalid geo-query: geoproperty must be a string, got {_kind(geoproperty)}")
    return GeoQuery(
        georel=relation,
        max_distance=max_distance,
        min_distance=min_distance,
        geometry={"type": _query_geometry(geometry), "coordinates": _query_coordinates(coordinates)},
        geoproperty="location" if geoproperty is None else geoproperty,
    )


def parse_geo_query(
    georel: str | None,
    geometry: str | None,
    coordinates: str | list[Any] | None,
    geoproperty: str | None = None,
) -> GeoQuery | None:
    """The geo-query of a request's ``georel``, ``geometry``, ``coordinates``, ``geoproperty``.

    `coordinates` is the JSON text of the GeoJSON coordinates (``[12.5683,55.6761]``) or the
    already decoded array. `geometry` is matched case-insensitively (``point`` is ``Point``).
    None when none of georel, geometry and coordinates is given (a lone geoproperty is ignored);
    `BadRequestData` when only some are, or when any of them is invalid.
    """
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    if all(value is None for value in given.values()):
        return None
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise BadRequestData(
            f"Invalid geo-query: georel, geometry and coordinates go together; missing {', '.join(missing)}"
        )
    return _geo_query(georel, geometry, coordinates, geoproperty)


def geo_query_from_json(obj: object) -> GeoQuery:
    """The geo-query of a ``geoQ`` member (POST /entityOperations/query, subscriptions).

    ``{"geometry": "Point", "coordinates": [12.5683, 55.6761], "georel": "near;maxDistance==10",
    "geoproperty": "location"}``; coordinates may also be their JSON text, geoproperty may be
    left out. Validated like `parse_geo_query`; other members are ignored.
    """
    if not isinstance(obj, dict):
        raise BadRequestData(f"Invalid geo-query: geoQ must be a JSON object, got {_kind(obj)}")
    missing = [name for name in ("geometry", "coordinates", "georel") if obj.get(name) is None]
    if missing:
        raise BadRequestData(f"Invalid geo-query: geoQ is missing {', '.join(missing)}")
    return _geo_query(obj["georel"], obj["geometry"], obj["coordinates"], obj.get("geoproperty"))
