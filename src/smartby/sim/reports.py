"""Citizens' reports in the testbed: a few Open311 GeoReport v2 requests across the synthetic city,
sent as a citizen's app sends them (form-encoded, docs/open311.md), so `smartby demo` shows reports
on the map, a street light fault a citizen reported, and a flood alert."""

from __future__ import annotations

import random

from smartby.sim.city import City, Device

METRE_LAT = 1 / 111_320
"""Degrees of latitude in a metre."""
PROBLEMS = (
    ("streetlight-out", "sim-streetlight", "The lamp by the cycle track has been dark for two nights"),
    ("streetlight-out", "sim-streetlight", "Gadelyset blinker og går ud"),
    ("flooding", "sim-basin", "Water over the pavement after the rain"),
    ("blocked-drain", "sim-rain", "Afløbet er stoppet med blade"),
    ("pothole", "sim-traffic", "Deep pothole in the right lane"),
    ("damaged-sign", "sim-traffic", "Vejskiltet er væltet"),
    ("litter", "sim-bikes", "Overflowing bin next to the bike station"),
)


def citizen_reports(city: City, seed: int) -> list[dict[str, str]]:
    """The reports' form fields: each a few metres from a device of the kind its problem is near
    (a street light out by a light, flooding by a basin), chosen by `seed`."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Device]] = {}
    for device in city.devices:
        by_kind.setdefault(device.kind.name, []).append(device)
    reports = []
    for code, kind, description in PROBLEMS:
        near = by_kind.get(kind) or city.devices
        lon, lat = rng.choice(near).location
        reports.append(
            {
                "service_code": code,
                "lat": f"{lat + rng.uniform(-8, 8) * METRE_LAT:.6f}",
                "long": f"{lon:.6f}",
                "description": description,
            }
        )
    return reports
