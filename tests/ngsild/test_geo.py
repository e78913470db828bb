"""Tests for smartby.ngsild.geo: GeoJSON validation and NGSI-LD geo-queries (clause 4.10)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smartby.ngsild.errors import BadRequestData, NgsiLdError
from smartby.ngsild.geo import (
    EARTH_RADIUS_M,
    GEORELS,
    GeoQuery,
    bounds,
    geo_query_from_json,
    haversine,
    parse_geo_query,
    to_shape,
    validate_geometry,
)

CITY_HALL = (12.5683, 55.6761)
AARHUS = (10.2039, 56.1629)
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


def offset(origin: Sequence[float], north: float = 0.0, east: float = 0.0) -> list[float]:
    """The position `north` and `east` metres from `origin` (small offsets, spherical Earth)."""
    lon, lat = origin
    return [
        lon + east / (METRES_PER_DEGREE * math.cos(math.radians(lat))),
        lat + north / METRES_PER_DEGREE,
    ]


def point(position: Sequence[float]) -> dict[str, Any]:
    return {"type": "Point", "coordinates": list(position)}


def square(centre: Sequence[float], half_side: float) -> dict[str, Any]:
    """A lon/lat square polygon around `centre` with sides 2 * `half_side` metres long."""
    sw = offset(centre, -half_side, -half_side)
    ne = offset(centre, half_side, half_side)
    ring = [[sw[0], sw[1]], [ne[0], sw[1]], [ne[0], ne[1]], [sw[0], ne[1]], [sw[0], sw[1]]]
    return {"type": "Polygon", "coordinates": [ring]}


def query(
    georel: str,
    geometry: dict[str, Any],
    max_distance: float | None = None,
    min_distance: float | None = None,
) -> GeoQuery:
    return GeoQuery(georel=georel, geometry=geometry, max_distance=max_distance, min_distance=min_distance)


# --- distances ---------------------------------------------------------------------------------------


def test_haversine_known_distances() -> None:
    assert haversine(CITY_HALL, (CITY_HALL[0], CITY_HALL[1] + 0.01)) == pytest.approx(1111.95, abs=0.01)
    assert haversine((0.0, 0.0), (1.0, 0.0)) == pytest.approx(111195.08, abs=0.01)
    assert haversine((0.0, 90.0), (0.0, -90.0)) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine(CITY_HALL, CITY_HALL) == 0.0
    assert haversine(CITY_HALL, AARHUS) == pytest.approx(haversine(AARHUS, CITY_HALL))
    assert 156_000 < haversine(CITY_HALL, AARHUS) < 158_000


def test_point_distance_is_haversine() -> None:
    q = query("near", point(CITY_HALL), max_distance=1.0)
    assert q.distance(point(AARHUS)) == haversine(CITY_HALL, AARHUS)


@given(
    north=st.floats(-20_000, 20_000),
    east=st.floats(-20_000, 20_000),
)
def test_projected_distance_from_a_point_agrees_with_haversine(north: float, east: float) -> None:
    target = offset(CITY_HALL, north, east)
    q = query("near", point(CITY_HALL), max_distance=1.0)
    projected = q.distance({"type": "MultiPoint", "coordinates": [target]})
    assert projected == pytest.approx(haversine(CITY_HALL, target), rel=1e-6, abs=1e-6)


def test_distance_to_a_line_at_city_scale() -> None:
    west = offset(CITY_HALL, east=-3000)
    east = offset(CITY_HALL, east=3000)
    road = {"type": "LineString", "coordinates": [west, east]}
    q = query("near", road, max_distance=1.0)
    for north in (-2000.0, 50.0, 800.0, 5000.0):
        expected = north if north > 0 else -north
        assert q.distance(point(offset(CITY_HALL, north, 1200))) == pytest.approx(expected, rel=0.005)


def test_distance_between_polygons() -> None:
    q = query("near", square(CITY_HALL, 500), max_distance=1.0)
    other = square(offset(CITY_HALL, east=2000), 500)
    assert q.distance(other) == pytest.approx(1000, rel=0.005)
    assert q.distance(square(CITY_HALL, 100)) == 0.0


# --- near ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bearing", [(1, 0), (-1, 0), (0, 1), (0, -1), (0.6, 0.8)])
def test_near_max_distance(bearing: tuple[float, float]) -> None:
    q = parse_geo_query("near;maxDistance==1000", "Point", "[12.5683,55.6761]", None)
    assert q is not None
    north, east = bearing
    assert q.matches(point(offset(CITY_HALL, 900 * north, 900 * east)))
    assert not q.matches(point(offset(CITY_HALL, 1100 * north, 1100 * east)))
    assert q.matches(point(CITY_HALL))


def test_near_hundredth_of_a_degree_is_1112_metres() -> None:
    away = point([CITY_HALL[0], CITY_HALL[1] + 0.01])
    assert not query("near", point(CITY_HALL), max_distance=1111).matches(away)
    assert query("near", point(CITY_HALL), max_distance=1113).matches(away)
    assert query("near", point(CITY_HALL), min_distance=1111).matches(away)
    assert not query("near", point(CITY_HALL), min_distance=1113).matches(away)


def test_near_min_distance() -> None:
    q = parse_geo_query("near;minDistance==1000", "Point", "[12.5683,55.6761]", None)
    assert q is not None
    assert not q.matches(point(offset(CITY_HALL, 900)))
    assert q.matches(point(offset(CITY_HALL, 1100)))
    assert q.matches(point(AARHUS))
    assert not q.matches(point(CITY_HALL))


def test_near_with_both_distances_is_a_ring() -> None:
    # The georel grammar admits one distance (clause 4.10); a ring is built in Python only.
    q = query("near", point(CITY_HALL), max_distance=1000, min_distance=500)
    assert (q.min_distance, q.max_distance) == (500, 1000)
    assert [q.matches(point(offset(CITY_HALL, m))) for m in (400, 600, 900, 1100)] == [
        False,
        True,
        True,
        False,
    ]


def test_near_a_polygon_and_a_line() -> None:
    park = square(CITY_HALL, 300)
    q = query("near", park, max_distance=200)
    assert q.matches(point(CITY_HALL))
    assert q.matches(point(offset(CITY_HALL, 450)))
    assert not q.matches(point(offset(CITY_HALL, 550)))
    far_road = {
        "type": "LineString",
        "coordinates": [offset(CITY_HALL, 600, -900), offset(CITY_HALL, 600, 900)],
    }
    near_road = {
        "type": "LineString",
        "coordinates": [offset(CITY_HALL, 400, -900), offset(CITY_HALL, 400, 900)],
    }
    assert not q.matches(far_road)
    assert q.matches(near_road)


def test_near_ignores_altitude() -> None:
    q = query("near", point(CITY_HALL), max_distance=10)
    assert q.matches({"type": "Point", "coordinates": [*CITY_HALL, 5000.0]})


# --- topological relations ---------------------------------------------------------------------------

INNER_CITY = square(CITY_HALL, 1000)
INSIDE = square(CITY_HALL, 200)
OUTSIDE = square(AARHUS, 200)
HALF_OVER = square(offset(CITY_HALL, east=1000), 500)
CROSSING = {"type": "LineString", "coordinates": [offset(CITY_HALL, east=500), offset(CITY_HALL, east=1500)]}


def rotated(polygon: dict[str, Any]) -> dict[str, Any]:
    ring = polygon["coordinates"][0][:-1]
    ring = ring[2:] + ring[:2]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@pytest.mark.parametrize(
    ("georel", "query_geometry", "entity", "expected"),
    [
        ("within", INNER_CITY, point(CITY_HALL), True),
        ("within", INNER_CITY, INSIDE, True),
        ("within", INNER_CITY, point(AARHUS), False),
        ("within", INNER_CITY, HALF_OVER, False),
        ("within", INNER_CITY, CROSSING, False),
        ("contains", point(CITY_HALL), INNER_CITY, True),
        ("contains", INSIDE, INNER_CITY, True),
        ("contains", INNER_CITY, INSIDE, False),
        ("contains", point(AARHUS), INNER_CITY, False),
        ("intersects", INNER_CITY, CROSSING, True),
        ("intersects", INNER_CITY, point(CITY_HALL), True),
        ("intersects", INNER_CITY, OUTSIDE, False),
        ("equals", INNER_CITY, rotated(INNER_CITY), True),
        ("equals", point(CITY_HALL), {"type": "Point", "coordinates": [*CITY_HALL, 12.0]}, True),
        ("equals", INNER_CITY, INSIDE, False),
        ("equals", point(CITY_HALL), point(AARHUS), False),
        ("disjoint", INNER_CITY, OUTSIDE, True),
        ("disjoint", INNER_CITY, point(AARHUS), True),
        ("disjoint", INNER_CITY, INSIDE, False),
        ("disjoint", INNER_CITY, CROSSING, False),
        ("overlaps", INNER_CITY, HALF_OVER, True),
        ("overlaps", INNER_CITY, INSIDE, False),
        ("overlaps", INNER_CITY, OUTSIDE, False),
        ("overlaps", INNER_CITY, point(CITY_HALL), False),
    ],
)
def test_topological_relations(
    georel: str, query_geometry: dict[str, Any], entity: dict[str, Any], expected: bool
) -> None:
    assert query(georel, query_geometry).matches(entity) is expected


def test_boundary_point_is_not_within() -> None:
    corner = INNER_CITY["coordinates"][0][0]
    assert not query("within", INNER_CITY).matches(point(corner))
    assert query("intersects", INNER_CITY).matches(point(corner))


def test_polygon_hole_is_outside() -> None:
    with_hole = {"type": "Polygon", "coordinates": [INNER_CITY["coordinates"][0], INSIDE["coordinates"][0]]}
    assert not query("within", with_hole).matches(point(CITY_HALL))
    assert query("within", with_hole).matches(point(offset(CITY_HALL, 600)))


def test_multipolygon_and_collection_entities() -> None:
    both = {"type": "MultiPolygon", "coordinates": [INSIDE["coordinates"], OUTSIDE["coordinates"]]}
    assert query("intersects", INNER_CITY).matches(both)
    assert not query("within", INNER_CITY).matches(both)
    collection = {"type": "GeometryCollection", "geometries": [point(CITY_HALL), CROSSING]}
    assert query("intersects", point(CITY_HALL)).matches(collection)
    assert not query("within", INSIDE).matches(collection)


@pytest.mark.parametrize(
    "value", [None, "POINT (12 55)", {"type": "Point"}, {"type": "Point", "coordinates": [200, 0]}, []]
)
@pytest.mark.parametrize("georel", GEORELS)
def test_invalid_entity_geometry_matches_nothing(georel: str, value: object) -> None:
    max_distance = 1e9 if georel == "near" else None
    assert not query(georel, INNER_CITY, max_distance).matches(value)


def test_distance_rejects_an_invalid_geometry() -> None:
    with pytest.raises(BadRequestData):
        query("near", point(CITY_HALL), max_distance=1).distance({"type": "Point"})


ring_positions = st.lists(
    st.tuples(st.floats(12.5, 12.6), st.floats(55.6, 55.7)), min_size=3, max_size=8
).map(lambda ps: [list(p) for p in [*ps, ps[0]]])


@given(entity_ring=ring_positions, query_ring=ring_positions, georel=st.sampled_from(GEORELS))
def test_matches_never_raises_on_self_intersecting_polygons(
    entity_ring: list[list[float]], query_ring: list[list[float]], georel: str
) -> None:
    max_distance = 500.0 if georel == "near" else None
    q = query(georel, {"type": "Polygon", "coordinates": [query_ring]}, max_distance)
    assert q.matches({"type": "Polygon", "coordinates": [entity_ring]}) in (True, False)


# --- bounding boxes ----------------------------------------------------------------------------------


def inside(position: list[float], box: tuple[float, float, float, float]) -> bool:
    return box[0] <= position[0] <= box[2] and box[1] <= position[1] <= box[3]


def test_bbox_of_topological_relations_is_the_query_bounds() -> None:
    for georel in ("within", "contains", "intersects", "equals", "overlaps"):
        assert query(georel, INNER_CITY).bbox() == bounds(INNER_CITY)


def test_no_bbox_for_disjoint_or_min_distance() -> None:
    assert query("disjoint", INNER_CITY).bbox() is None
    assert query("near", point(CITY_HALL), min_distance=100).bbox() is None


def test_near_bbox_uses_max_distance_with_both() -> None:
    box = query("near", point(CITY_HALL), min_distance=100, max_distance=1000).bbox()
    assert box is not None
    assert inside(offset(CITY_HALL, 999), box)
    assert not inside(offset(CITY_HALL, 1100), box)
    assert not inside(offset(CITY_HALL, east=1100), box)


def test_no_bbox_near_a_pole_or_across_the_antimeridian() -> None:
    assert query("near", point((0.0, 89.99)), max_distance=5000).bbox() is None
    assert query("near", point((0.0, -89.99)), max_distance=5000).bbox() is None
    assert query("near", point((179.999, 0.0)), max_distance=5000).bbox() is None
    assert query("near", point((-179.999, 0.0)), max_distance=5000).bbox() is None
    assert query("near", point((0.0, 0.0)), max_distance=30_000_000).bbox() is None


@settings(max_examples=300)
@given(
    centre=st.tuples(st.floats(-179.0, 179.0), st.floats(-85.0, 85.0))
    | st.sampled_from([CITY_HALL, AARHUS, (179.99, 10.0), (0.0, 89.9), (20.0, -89.95)]),
    max_distance=st.floats(0.0, 200_000.0),
    bearing=st.floats(0.0, 2 * math.pi),
    fraction=st.floats(0.0, 1.5),
    shape=st.sampled_from(["Point", "Polygon"]),
)
def test_near_bbox_holds_every_match(
    centre: tuple[float, float], max_distance: float, bearing: float, fraction: float, shape: str
) -> None:
    geometry = point(centre) if shape == "Point" else square(centre, 100)
    assume(all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in _positions(geometry)))
    q = query("near", geometry, max_distance=max_distance)
    box = q.bbox()
    lon0, lat0 = map(math.radians, centre)
    angle = fraction * (max_distance + 200) / EARTH_RADIUS_M
    lat = math.asin(math.sin(lat0) * math.cos(angle) + math.cos(lat0) * math.sin(angle) * math.cos(bearing))
    lon = lon0 + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(lat0),
        math.cos(angle) - math.sin(lat0) * math.sin(lat),
    )
    candidate = [(math.degrees(lon) + 540) % 360 - 180, math.degrees(lat)]
    if q.matches(point(candidate)):
        assert box is None or inside(candidate, box)


def _positions(geometry: dict[str, Any]) -> list[list[float]]:
    if geometry["type"] == "Point":
        return [geometry["coordinates"]]
    return list(geometry["coordinates"][0])


# --- validation --------------------------------------------------------------------------------------

VALID = [
    point(CITY_HALL),
    {"type": "Point", "coordinates": [12.5683, 55.6761, 14.2]},
    {"type": "Point", "coordinates": [-180, -90]},
    {"type": "Point", "coordinates": [180, 90], "bbox": [180, 90, 180, 90]},
    {"type": "MultiPoint", "coordinates": [list(CITY_HALL), list(AARHUS)]},
    {"type": "LineString", "coordinates": [list(CITY_HALL), list(AARHUS)]},
    {"type": "MultiLineString", "coordinates": [[list(CITY_HALL), list(AARHUS)], [[0, 0], [1, 1], [2, 0]]]},
    INNER_CITY,
    {"type": "Polygon", "coordinates": [INNER_CITY["coordinates"][0], INSIDE["coordinates"][0]]},
    {"type": "MultiPolygon", "coordinates": [INSIDE["coordinates"], OUTSIDE["coordinates"]]},
    {"type": "GeometryCollection", "geometries": [point(CITY_HALL), CROSSING, INSIDE]},
]


@pytest.mark.parametrize("value", VALID)
def test_valid_geometries_are_returned_unchanged(value: dict[str, Any]) -> None:
    assert validate_geometry(value) is value


MALFORMED: list[tuple[object, str]] = [
    (None, "GeoJSON geometry object"),
    ("Point", "GeoJSON geometry object"),
    ([12.5683, 55.6761], "GeoJSON geometry object"),
    ({}, "type must be one of"),
    ({"type": "point", "coordinates": [0, 0]}, "'point'"),
    ({"type": "Feature", "geometry": point(CITY_HALL)}, "'Feature'"),
    ({"type": 7, "coordinates": [0, 0]}, "got a number"),
    ({"type": "Point"}, "coordinates are missing"),
    ({"type": "Point", "coordinates": None}, "must be a position"),
    ({"type": "Point", "coordinates": []}, "must be a position"),
    ({"type": "Point", "coordinates": [12.5]}, "must be a position"),
    ({"type": "Point", "coordinates": [1, 2, 3, 4]}, "must be a position"),
    ({"type": "Point", "coordinates": [[12.5, 55.6]]}, "coordinates nest 2 arrays deep but a Point needs 1"),
    ({"type": "Point", "coordinates": ["12.5", 55.6]}, "got a string"),
    ({"type": "Point", "coordinates": [True, 55.6]}, "got a boolean"),
    ({"type": "Point", "coordinates": [12.5, None]}, "got null"),
    ({"type": "Point", "coordinates": [12.5, math.nan]}, "finite"),
    ({"type": "Point", "coordinates": [math.inf, 55.6]}, "finite"),
    ({"type": "Point", "coordinates": [12.5, 55.6, 10**400]}, "too large"),
    ({"type": "Point", "coordinates": [180.0001, 0]}, "longitude"),
    ({"type": "Point", "coordinates": [-181, 0]}, "longitude"),
    ({"type": "Point", "coordinates": [55.6761, 91]}, "latitude 91 is outside"),
    ({"type": "Point", "coordinates": [0, -90.5]}, "latitude"),
    ({"type": "MultiPoint", "coordinates": []}, "must not be empty"),
    ({"type": "MultiPoint", "coordinates": [12.5, 55.6]}, "nest 1 arrays deep but a MultiPoint needs 2"),
    ({"type": "MultiPoint", "coordinates": [[12.5, 55.6], [12.5, 95]]}, "coordinates[1]: latitude"),
    ({"type": "LineString", "coordinates": [[12.5, 55.6]]}, "at least 2 positions"),
    ({"type": "LineString", "coordinates": [12.5, 55.6]}, "nest 1 arrays deep but a LineString needs 2"),
    ({"type": "LineString", "coordinates": "[[0,0],[1,1]]"}, "must be an array of positions"),
    ({"type": "MultiLineString", "coordinates": [[0, 0], [1, 1]]}, "a MultiLineString needs 3"),
    ({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], 5]}, "coordinates[1] must be an array"),
    ({"type": "MultiLineString", "coordinates": [[[0, 0]]]}, "coordinates[0] needs at least 2"),
    ({"type": "Polygon", "coordinates": []}, "must not be empty"),
    (
        {"type": "Polygon", "coordinates": [[0, 0], [1, 0], [1, 1], [0, 0]]},
        "nest 2 arrays deep but a Polygon",
    ),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4 positions"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not a closed linear ring"),
    ({"type": "Polygon", "coordinates": [[[0, 0, 1], [1, 0], [1, 1], [0, 0, 2]]]}, "not a closed"),
    (
        {"type": "Polygon", "coordinates": [INNER_CITY["coordinates"][0], [[0, 0], [1, 0], [1, 1], [0, 1]]]},
        "coordinates[1] is not a closed",
    ),
    ({"type": "MultiPolygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}, "MultiPolygon needs 4"),
    ({"type": "MultiPolygon", "coordinates": INNER_CITY["coordinates"]}, "nest 3 arrays deep"),
    (
        {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [0, 0]]]]},
        "coordinates[0][0] needs at least 4",
    ),
    ({"type": "GeometryCollection"}, "geometries must be an array"),
    ({"type": "GeometryCollection", "geometries": []}, "must not be empty"),
    ({"type": "GeometryCollection", "geometries": [{"type": "Point"}]}, "geometries[0].coordinates"),
    (
        {
            "type": "GeometryCollection",
            "geometries": [{"type": "GeometryCollection", "geometries": [VALID[0]]}],
        },
        "nested",
    ),
]


@pytest.mark.parametrize(("value", "message"), MALFORMED)
def test_malformed_geometries_are_rejected(value: object, message: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        validate_geometry(value)
    assert raised.value.detail.startswith("Invalid GeoJSON geometry: ")
    assert message in raised.value.detail


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["Point", "Polygon", "GeometryCollection", "coordinates", "geometries", "type"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["type", "coordinates", "geometries", "bbox"]) | st.text(max_size=4),
            children,
            max_size=4,
        )
    ),
    max_leaves=40,
)
geometry_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon"])},
    optional={"coordinates": json_values, "geometries": st.lists(json_values, max_size=3)},
) | st.fixed_dictionaries(
    {"type": st.just("GeometryCollection"), "geometries": st.lists(json_values, max_size=3)}
)


@settings(max_examples=500)
@given(value=json_values | geometry_like)
def test_validation_raises_only_ngsi_ld_errors(value: object) -> None:
    try:
        assert validate_geometry(value) is value
    except NgsiLdError as error:
        assert isinstance(error, BadRequestData)
        return
    to_shape(value)
    assert len(bounds(value)) == 4


positions = st.tuples(st.floats(-180, 180), st.floats(-90, 90)).map(list) | st.tuples(
    st.floats(-180, 180), st.floats(-90, 90), st.floats(-1e4, 1e4)
).map(list)
closed_rings = st.lists(positions, min_size=3, max_size=6).map(lambda ps: [*ps, ps[0]])
valid_geometries = st.one_of(
    positions.map(lambda p: {"type": "Point", "coordinates": p}),
    st.lists(positions, min_size=1, max_size=5).map(lambda c: {"type": "MultiPoint", "coordinates": c}),
    st.lists(positions, min_size=2, max_size=5).map(lambda c: {"type": "LineString", "coordinates": c}),
    st.lists(closed_rings, min_size=1, max_size=3).map(lambda c: {"type": "Polygon", "coordinates": c}),
    st.lists(st.lists(closed_rings, min_size=1, max_size=2), min_size=1, max_size=2).map(
        lambda c: {"type": "MultiPolygon", "coordinates": c}
    ),
)


@given(geometry=valid_geometries)
def test_valid_geometries_build_shapes_within_range(geometry: dict[str, Any]) -> None:
    assert validate_geometry(geometry) is geometry
    shape = to_shape(geometry)
    assert shape.geom_type == geometry["type"]
    assert not shape.has_z
    minx, miny, maxx, maxy = bounds(geometry)
    assert -180 <= minx <= maxx <= 180
    assert -90 <= miny <= maxy <= 90


def test_to_shape_and_bounds() -> None:
    shape = to_shape({"type": "Point", "coordinates": [12.5683, 55.6761, 14.0]})
    assert (shape.x, shape.y, shape.has_z) == (12.5683, 55.6761, False)
    assert bounds({"type": "LineString", "coordinates": [list(CITY_HALL), list(AARHUS)]}) == (
        AARHUS[0],
        CITY_HALL[1],
        CITY_HALL[0],
        AARHUS[1],
    )
    with pytest.raises(BadRequestData):
        to_shape({"type": "Point", "coordinates": [0, 100]})


# --- parsing queries ---------------------------------------------------------------------------------


def test_no_geo_query() -> None:
    assert parse_geo_query(None, None, None, None) is None
    assert parse_geo_query(None, None, None, "location") is None


def test_parse_geo_query_forms() -> None:
    q = parse_geo_query("within", "Polygon", "[[[12.5,55.6],[12.6,55.6],[12.6,55.7],[12.5,55.6]]]", None)
    assert q == GeoQuery(
        georel="within",
        geometry={
            "type": "Polygon",
            "coordinates": [[[12.5, 55.6], [12.6, 55.6], [12.6, 55.7], [12.5, 55.6]]],
        },
    )
    assert q.geoproperty == "location"
    near = parse_geo_query("near;maxDistance==2000", "point", [8.684, 49.406], "observationSpace")
    assert near == GeoQuery(
        georel="near",
        max_distance=2000,
        geometry={"type": "Point", "coordinates": [8.684, 49.406]},
        geoproperty="observationSpace",
    )
    scientific = parse_geo_query("near;maxDistance==1.5e3", "Point", "[8, 49]", None)
    assert scientific is not None
    assert scientific.max_distance == 1500


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "geoproperty", "message"),
    [
        ("near;maxDistance==10", None, None, None, "missing geometry, coordinates"),
        (None, "Point", "[0,0]", None, "missing georel"),
        ("within", "Polygon", None, None, "missing coordinates"),
        ("nearby", "Point", "[0,0]", None, "'nearby' is not one of"),
        ("", "Point", "[0,0]", None, "'' is not one of"),
        ("near", "Point", "[0,0]", None, "near needs maxDistance"),
        ("near;", "Point", "[0,0]", None, "near takes maxDistance"),
        ("near;maxDistance=10", "Point", "[0,0]", None, "near takes maxDistance"),
        ("near;maxDistance:10", "Point", "[0,0]", None, "near takes maxDistance"),
        ("near;distance==10", "Point", "[0,0]", None, "near takes maxDistance"),
        ("near;maxDistance==-1", "Point", "[0,0]", None, "must not be negative"),
        ("near;minDistance==-0.5", "Point", "[0,0]", None, "must not be negative"),
        ("near;maxDistance==ten", "Point", "[0,0]", None, "number of metres"),
        ("near;maxDistance==", "Point", "[0,0]", None, "number of metres"),
        ("near;maxDistance==nan", "Point", "[0,0]", None, "number of metres"),
        ("near;maxDistance==inf", "Point", "[0,0]", None, "number of metres"),
        ("near;maxDistance==1_000", "Point", "[0,0]", None, "number of metres"),
        ("near;maxDistance==1e999", "Point", "[0,0]", None, "too large"),
        ("near;maxDistance==1;maxDistance==2", "Point", "[0,0]", None, "exactly one distance"),
        ("near;minDistance==200;maxDistance==100", "Point", "[0,0]", None, "exactly one distance"),
        ("near;maxDistance==0", "Point", "[0,0]", None, "positive number"),
        ("within;maxDistance==100", "Polygon", "[0,0]", None, "within takes no modifiers"),
        ("near;maxDistance==10", "Circle", "[0,0]", None, "geometry must be one of"),
        ("within", "GeometryCollection", "[]", None, "geometry must be one of"),
        ("near;maxDistance==10", "Point", "0,0", None, "must be a JSON array"),
        ("near;maxDistance==10", "Point", "[0,0", None, "must be a JSON array"),
        ("near;maxDistance==10", "Point", "[[0,0]]", None, "a Point needs 1"),
        ("near;maxDistance==10", "LineString", "[0,0]", None, "a LineString needs 2"),
        ("within", "MultiPolygon", "[[[0,0],[1,0],[1,1],[0,0]]]", None, "a MultiPolygon needs 4"),
        ("near;maxDistance==10", "Point", "[55.6761,12.5683,1,2]", None, "must be a position"),
        ("near;maxDistance==10", "Point", "[12.5683,95]", None, "latitude 95 is outside"),
        ("within", "Polygon", "[12.5,55.6]", None, "nest 1 arrays deep but a Polygon needs 3"),
        ("within", "Polygon", "{}", None, "coordinates must be an array"),
        ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", None, "not a closed linear ring"),
        ("intersects", "LineString", "[[0,0]]", None, "at least 2 positions"),
        ("equals", "MultiPoint", "[]", None, "must not be empty"),
        ("near;maxDistance==10", "Point", "[0,0]", "", "geoproperty must be a non-empty"),
    ],
)
def test_parse_geo_query_errors(
    georel: str | None, geometry: str | None, coordinates: str | None, geoproperty: str | None, message: str
) -> None:
    with pytest.raises(BadRequestData) as raised:
        parse_geo_query(georel, geometry, coordinates, geoproperty)
    assert message in raised.value.detail
    assert raised.value.status == 400


def test_geo_query_from_json() -> None:
    obj = {"geometry": "Point", "coordinates": [12.5683, 55.6761], "georel": "near;maxDistance==10"}
    expected = GeoQuery(georel="near", max_distance=10, geometry=point(CITY_HALL))
    assert geo_query_from_json(obj) == expected
    assert geo_query_from_json({**obj, "coordinates": "[12.5683, 55.6761]"}) == expected
    assert geo_query_from_json({**obj, "geoproperty": "location"}) == expected
    assert geo_query_from_json({**obj, "geoproperty": "https://example.org/area"}).geoproperty == (
        "https://example.org/area"
    )


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (None, "geoQ must be a JSON object"),
        ([], "geoQ must be a JSON object"),
        ({}, "missing geometry, coordinates, georel"),
        ({"geometry": "Point", "coordinates": [0, 0]}, "missing georel"),
        ({"geometry": "Point", "georel": "within"}, "missing coordinates"),
        ({"geometry": "Point", "coordinates": [0, 0], "georel": 5}, "georel: must be a string"),
        ({"geometry": ["Point"], "coordinates": [0, 0], "georel": "within"}, "geometry must be one of"),
        (
            {"geometry": "Point", "coordinates": {"lon": 0}, "georel": "within"},
            "coordinates must be an array",
        ),
        ({"geometry": "Point", "coordinates": [0, 0], "georel": "within", "geoproperty": 1}, "geoproperty"),
        ({"geometry": "Point", "coordinates": [0, 0], "georel": "near"}, "near needs"),
    ],
)
def test_geo_query_from_json_errors(obj: object, message: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        geo_query_from_json(obj)
    assert message in raised.value.detail


@pytest.mark.parametrize(
    "kwargs",
    [
        {"georel": "close", "geometry": point(CITY_HALL)},
        {"georel": "near", "geometry": point(CITY_HALL)},
        {"georel": "within", "max_distance": 5.0, "geometry": INNER_CITY},
        {"georel": "near", "max_distance": math.nan, "geometry": point(CITY_HALL)},
        {"georel": "near", "min_distance": -1.0, "geometry": point(CITY_HALL)},
        {"georel": "within", "geometry": {"type": "GeometryCollection", "geometries": [point(CITY_HALL)]}},
        {"georel": "within", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
        {"georel": "within", "geometry": "Point"},
    ],
)
def test_geo_query_validates_on_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData):
        GeoQuery(**kwargs)


def test_geo_query_is_hashable() -> None:
    a = GeoQuery(georel="near", max_distance=10, geometry=point(CITY_HALL))
    b = GeoQuery(georel="near", max_distance=10, geometry=point(CITY_HALL))
    assert a == b
    assert hash(a) == hash(b)


# --- round trips -------------------------------------------------------------------------------------

ROUND_TRIPS = [
    GeoQuery(georel="near", max_distance=2000, geometry=point(CITY_HALL)),
    GeoQuery(georel="near", min_distance=0.25, geometry=point(AARHUS), geoproperty="https://example.org/at"),
    GeoQuery(georel="near", max_distance=1e20, geometry=CROSSING),
    GeoQuery(georel="within", geometry=INNER_CITY),
    GeoQuery(georel="contains", geometry={"type": "Point", "coordinates": [12.5683, 55.6761, 3.0]}),
    GeoQuery(georel="overlaps", geometry={"type": "MultiPolygon", "coordinates": [INSIDE["coordinates"]]}),
    GeoQuery(
        georel="disjoint", geometry={"type": "MultiLineString", "coordinates": [CROSSING["coordinates"]]}
    ),
    GeoQuery(georel="equals", geometry={"type": "MultiPoint", "coordinates": [[0, 0], [-180, -90]]}),
]


@pytest.mark.parametrize("original", ROUND_TRIPS)
def test_params_and_json_round_trip(original: GeoQuery) -> None:
    params = original.to_params()
    assert all(isinstance(value, str) for value in params.values())
    assert parse_geo_query(
        params["georel"], params["geometry"], params["coordinates"], params["geoproperty"]
    ) == (original)
    assert geo_query_from_json(original.to_json()) == original


def test_params_text() -> None:
    assert ROUND_TRIPS[0].to_params() == {
        "georel": "near;maxDistance==2000",
        "geometry": "Point",
        "coordinates": "[12.5683,55.6761]",
        "geoproperty": "location",
    }
    assert ROUND_TRIPS[2].georel_text == "near;maxDistance==1e+20"


@given(
    position=st.tuples(st.floats(-180, 180), st.floats(-90, 90)),
    max_distance=st.none() | st.floats(0, 1e7, exclude_min=True),
    min_distance=st.none() | st.floats(0, 1e7, exclude_min=True),
)
def test_near_round_trip(
    position: tuple[float, float], max_distance: float | None, min_distance: float | None
) -> None:
    assume((max_distance is None) != (min_distance is None))
    assume(max_distance is None or min_distance is None or min_distance <= max_distance)
    original = GeoQuery(
        georel="near", max_distance=max_distance, min_distance=min_distance, geometry=point(position)
    )
    params = original.to_params()
    assert parse_geo_query(params["georel"], params["geometry"], params["coordinates"], None) == original
