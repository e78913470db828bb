"""A synthetic Copenhagen: the ten districts (bydele) as approximate polygons, and streets in them.

The polygons are our own rough drawing, not surveyed boundaries: an outline of the municipality
(without Frederiksberg, the municipality it surrounds) cut into the ten districts by the Voronoi
cells of a point in each. Good enough to colour a map and to say which district a device is in.
Streets are synthetic too: a rotated grid of lines per district, clipped to its polygon, with a few
longer main roads.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

LATITUDE = 55.6761
LONGITUDE = 12.5683
"""Copenhagen City Hall Square: where the sun rises and sets for the whole city."""

_OUTLINE = [
    (12.453, 55.700),
    (12.460, 55.718),
    (12.490, 55.727),
    (12.530, 55.728),
    (12.560, 55.727),
    (12.580, 55.726),
    (12.600, 55.722),
    (12.605, 55.710),
    (12.615, 55.700),
    (12.600, 55.688),
    (12.610, 55.680),
    (12.640, 55.673),
    (12.650, 55.655),
    (12.640, 55.645),
    (12.610, 55.640),
    (12.590, 55.630),
    (12.580, 55.612),
    (12.540, 55.615),
    (12.535, 55.640),
    (12.520, 55.648),
    (12.490, 55.648),
    (12.470, 55.660),
    (12.465, 55.680),
    (12.453, 55.690),
]
"""The municipality of Copenhagen, roughly (lon, lat)."""

_FREDERIKSBERG = [
    (12.505, 55.690),
    (12.520, 55.694),
    (12.545, 55.686),
    (12.553, 55.676),
    (12.540, 55.668),
    (12.515, 55.668),
    (12.500, 55.675),
]
"""Frederiksberg, a municipality of its own inside Copenhagen: no district of ours covers it."""

_DISTRICTS = [
    # slug, name, population (rounded, about 2023), a point inside it (lon, lat)
    ("indre-by", "Indre By", 57_000, (12.586, 55.679)),
    ("osterbro", "Østerbro", 84_000, (12.580, 55.706)),
    ("norrebro", "Nørrebro", 80_000, (12.546, 55.696)),
    ("vesterbro", "Vesterbro/Kongens Enghave", 76_000, (12.543, 55.660)),
    ("valby", "Valby", 63_000, (12.500, 55.663)),
    ("vanlose", "Vanløse", 41_000, (12.482, 55.686)),
    ("bronshoj-husum", "Brønshøj-Husum", 45_000, (12.487, 55.710)),
    ("bispebjerg", "Bispebjerg", 55_000, (12.533, 55.714)),
    ("amager-ost", "Amager Øst", 62_000, (12.618, 55.660)),
    ("amager-vest", "Amager Vest", 85_000, (12.576, 55.638)),
]


@dataclass(frozen=True)
class District:
    slug: str
    name: str
    population: int
    shape: Any
    """A shapely Polygon or MultiPolygon (lon, lat)."""

    @property
    def entity_id(self) -> str:
        return f"urn:ngsi-ld:District:{self.slug}"

    def geojson(self) -> dict[str, Any]:
        mapping: dict[str, Any] = shapely.geometry.mapping(self.shape)
        return _rounded(mapping)


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    def walk(item: Any) -> Any:
        if isinstance(item, float):
            return round(item, 5)
        if isinstance(item, list | tuple):
            return [walk(x) for x in item]
        return item

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


@cache
def districts() -> tuple[District, ...]:
    """Copenhagen's ten districts, as our approximate polygons."""
    city = Polygon(_OUTLINE).difference(Polygon(_FREDERIKSBERG))
    seeds = MultiPoint([point for _, _, _, point in _DISTRICTS])
    cells = shapely.voronoi_polygons(seeds, extend_to=city).geoms
    found = []
    for slug, name, population, point in _DISTRICTS:
        cell = next(c for c in cells if c.contains(Point(point)))
        shape = shapely.set_precision(cell.intersection(city), 1e-5)
        found.append(District(slug, name, population, shape))
    return tuple(found)


@dataclass(frozen=True)
class Street:
    name: str
    district: int
    """Index into `districts()`."""
    line: LineString
    main: bool

    def point_at(self, fraction: float) -> tuple[float, float]:
        point = self.line.interpolate(fraction, normalized=True)
        return (round(point.x, 6), round(point.y, 6))


_SUFFIXES = "Gade Vej Allé Boulevard Stræde Plads Gade Vej"
_PREFIXES = (
    "Nørre Søndre Vester Øster Store Lille Gammel Ny Rosen Linde Bøge Ege Birke Kastanie Hav Sø Skov Mølle "
    "Kirke Skole Slots Strand Bryg Toldbod Kongens Dronning Prins Amager Valby Enghave Sundby Bispe Tagens "
    "Jagt Frederiks Christians Vibe Humle Æble Kirsebær Hyld Pile Poppel Vinter Sommer Forår Lærke Svane "
    "Ørne Falke Måge Sol Måne Stjerne"
)


def street_network(seed: int, streets_per_district: int = 14) -> tuple[Street, ...]:
    """Synthetic streets: per district a grid of parallel lines at an angle of its own, clipped to the
    district; the first few in each district are main roads."""
    rng = random.Random(f"streets-{seed}")
    found: list[Street] = []
    names: set[str] = set()
    for index, district in enumerate(districts()):
        minx, miny, maxx, maxy = district.shape.bounds
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        reach = max(maxx - minx, (maxy - miny) * 1.8)
        angle = rng.uniform(0, math.pi / 2)
        lines: list[LineString] = []
        half = streets_per_district // 2
        for family, theta in enumerate((angle, angle + math.pi / 2)):
            dx, dy = math.cos(theta), math.sin(theta) / 1.8  # a degree of latitude is ~1.8 of longitude
            nx, ny = -dy, dx
            for k in range(half):
                offset = (k + 0.5 - half / 2) / half * reach * 0.9 + rng.uniform(-0.1, 0.1) * reach / half
                ox, oy = cx + nx * offset, cy + ny * offset
                line = LineString([(ox - dx * reach, oy - dy * reach), (ox + dx * reach, oy + dy * reach)])
                clipped = line.intersection(district.shape)
                parts = getattr(clipped, "geoms", [clipped])
                longest = max(parts, key=lambda p: p.length, default=None)
                if isinstance(longest, LineString) and longest.length > 0.002:
                    lines.append(longest)
            del family
        lines.sort(key=lambda line: -line.length)
        for number, line in enumerate(lines):
            name = _street_name(rng, names)
            found.append(Street(name, index, line, main=number < 3))
    return tuple(found)


def _street_name(rng: random.Random, taken: set[str]) -> str:
    """A Danish-sounding street name not given yet (numbered once the combinations run out)."""
    name = base = rng.choice(_PREFIXES.split()) + rng.choice(_SUFFIXES.split()).lower()
    number = 1
    while name in taken:
        number += 1
        name = f"{base} {number}"
    taken.add(name)
    return name


def random_point(district: District, rng: random.Random) -> tuple[float, float]:
    """A point inside the district, uniformly."""
    minx, miny, maxx, maxy = district.shape.bounds
    while True:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(district.shape, x, y):
            return (round(x, 6), round(y, 6))
