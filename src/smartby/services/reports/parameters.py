"""Open311 GeoReport v2 parameters, parsed (pure): the format suffix, a place within the city, W3C
date-times, comma lists of service codes, statuses and request ids. Each refuses what it cannot
read with `BadRequestData` (a 400 in Open311's error format)."""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from smartby.ngsild.errors import BadRequestData

FORMATS = ("json", "xml")
STATUSES = ("open", "closed")
REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2})?(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)


def format_of(suffix: str) -> str:
    if suffix not in FORMATS:
        raise BadRequestData(f"Unknown format {suffix[:40]!r}: json or xml")
    return suffix


@dataclass(frozen=True)
class Bounds:
    """The city's bounding box in WGS 84 degrees."""

    west: float
    south: float
    east: float
    north: float

    @classmethod
    def parse(cls, text: str) -> Bounds:
        west, south, east, north = (float(part) for part in text.split(","))
        return cls(west, south, east, north)

    def holds(self, lon: float, lat: float) -> bool:
        return self.west <= lon <= self.east and self.south <= lat <= self.north


def coordinate(text: str, name: str) -> float:
    try:
        value = float(text.strip()) if text.strip().isascii() else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise BadRequestData(f"{name} must be a number of degrees (WGS 84), not {text[:40]!r}")
    return value


def place(lat: str | None, lon: str | None, bounds: Bounds) -> tuple[float, float]:
    """The (longitude, latitude) a request's `lat` and `long` give, inside the city's `bounds`."""
    if not lat or not lon:
        raise BadRequestData("A location is required (lat and long)")
    latitude, longitude = coordinate(lat, "lat"), coordinate(lon, "long")
    if not bounds.holds(longitude, latitude):
        raise BadRequestData(
            f"lat {latitude:g}, long {longitude:g} is outside the city "
            f"({bounds.west:g},{bounds.south:g} to {bounds.east:g},{bounds.north:g})"
        )
    return longitude, latitude


def w3c_datetime(text: str, name: str) -> datetime:
    """A W3C date-time with its zone (`2026-12-07T10:00:00Z`, `...+01:00`), or a date (midnight
    UTC)."""
    if _DATE.match(text):
        try:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            pass
    elif (parts := _DATE_TIME.match(text)) is not None and text.isascii():
        minutes, seconds, fraction, zone = parts.groups()
        fraction = f".{fraction[:6]:0<6}" if fraction else ""
        written = f"{minutes.upper()}{seconds or ':00'}{fraction}{'+00:00' if zone in 'Zz' else zone}"
        try:
            return datetime.fromisoformat(written)
        except ValueError:
            pass
    raise BadRequestData(
        f"{name} must be a W3C date-time with its zone (e.g. 2026-12-07T10:00:00Z), not {text[:40]!r}"
    )


def listed(text: str, name: str, known: Collection[str] | None = None) -> list[str]:
    """A comma list's items (each one of `known`, when given)."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise BadRequestData(f"{name} is a comma-separated list without empty items")
    if known is not None:
        unknown = [item for item in items if item not in known]
        if unknown:
            raise BadRequestData(f"Unknown {name} {unknown[0][:40]!r} (one of {', '.join(sorted(known))})")
    return list(dict.fromkeys(items))


def request_ids(text: str) -> list[str]:
    ids = listed(text, "service_request_id")
    for item in ids:
        if not REQUEST_ID.match(item):
            raise BadRequestData(f"Not a service_request_id: {item[:40]!r}")
    return ids
