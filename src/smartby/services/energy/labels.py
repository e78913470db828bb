"""The Danish energy label scales (energimærkeskala), in kWh of primary energy per m2 of heated area
a year, A the heated area: a building is the first label whose limit its figure does not exceed.

- Dwellings ("Skala for boliger", the issue's figures): A2020 <= 27.0; A2015 <= 30 + 1000/A;
  A2010 <= 52.5 + 1650/A; B <= 70 + 2200/A; C <= 110 + 3200/A; D <= 150 + 4200/A; E <= 190 + 5200/A;
  F <= 240 + 6500/A; else G.
- Other buildings ("Skala for erhverv m.v.": offices, shops, schools, institutions): A2020 <= 33.0;
  A2015 <= 41 + 1000/A; A2010 <= 71.3 + 1650/A; B <= 95 + 2200/A; C <= 135 + 3200/A;
  D <= 175 + 4200/A; E <= 215 + 5200/A; F <= 265 + 6500/A; else G. Source: Håndbog for
  energikonsulenter (HB2016, §9.2.3 "Skala for blandet anvendelse", which gives both scales;
  hbemo.dk), the scale of the energy labelling scheme whose classes follow BR10/BR15/BR18's energy
  frames (BR18 §250-§298).

The primary energy is the delivered heat times the primary-energy factor of district heating
(BR18: 0.85; a setting).
"""

from __future__ import annotations

LABELS = ("A2020", "A2015", "A2010", "B", "C", "D", "E", "F", "G")
DWELLINGS: tuple[tuple[str, float, float], ...] = (
    ("A2020", 27.0, 0.0),
    ("A2015", 30.0, 1000.0),
    ("A2010", 52.5, 1650.0),
    ("B", 70.0, 2200.0),
    ("C", 110.0, 3200.0),
    ("D", 150.0, 4200.0),
    ("E", 190.0, 5200.0),
    ("F", 240.0, 6500.0),
)
OTHER: tuple[tuple[str, float, float], ...] = (
    ("A2020", 33.0, 0.0),
    ("A2015", 41.0, 1000.0),
    ("A2010", 71.3, 1650.0),
    ("B", 95.0, 2200.0),
    ("C", 135.0, 3200.0),
    ("D", 175.0, 4200.0),
    ("E", 215.0, 5200.0),
    ("F", 265.0, 6500.0),
)
RESIDENTIAL = frozenset(
    {
        "residential",
        "apartments",
        "house",
        "detached",
        "terrace",
        "bungalow",
        "cabin",
        "dormitory",
        "farm",
        "houseboat",
        "static_caravan",
    }
)
"""Smart Data Models Building categories that are dwellings; any other is on the other scale."""


def is_dwelling(categories: list[str]) -> bool:
    return any(category in RESIDENTIAL for category in categories)


def scale(dwelling: bool) -> tuple[tuple[str, float, float], ...]:
    return DWELLINGS if dwelling else OTHER


def limit(label: str, area: float, dwelling: bool) -> float:
    """The most kWh/m2 of primary energy a year `label` allows a building of `area` m2 (G: none)."""
    for name, fixed, per_area in scale(dwelling):
        if name == label:
            return fixed + per_area / area
    return float("inf")


def label(primary_per_m2: float, area: float, dwelling: bool) -> str:
    for name, fixed, per_area in scale(dwelling):
        if primary_per_m2 <= fixed + per_area / area:
            return name
    return "G"
