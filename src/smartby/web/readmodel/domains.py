"""The city's domains as the testbed contract names them: which entity types belong to each, the
state a device is drawn in, and the units its readings are shown with. Pure code, no I/O.

Entities are matched by their expanded type IRIs (the FIWARE Smart Data Models @contexts smartby
ships, or the core context's default vocabulary for District and GridSignal); attributes by their
short name, the last segment of the attribute IRI, so a reading counts whichever shipped @context a
device was registered with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SDM = "https://smartdatamodels.org/"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"

TYPE_IRIS: dict[str, str] = {
    "Streetlight": SDM + "dataModel.Streetlighting/Streetlight",
    "StreetlightControlCabinet": SDM + "dataModel.Streetlighting/StreetlightControlCabinet",
    "TrafficFlowObserved": SDM + "dataModel.Transportation/TrafficFlowObserved",
    "AirQualityObserved": SDM + "dataModel.Environment/AirQualityObserved",
    "WeatherObserved": SDM + "dataModel.Weather/WeatherObserved",
    "FloodMonitoring": SDM + "dataModel.Environment/FloodMonitoring",
    "Building": SDM + "dataModel.Building/Building",
    "SmartMeteringObservation": SDM + "dataModel.Device/SmartMeteringObservation",
    "EVChargingStation": SDM + "dataModel.Transportation/EVChargingStation",
    "GridSignal": DEFAULT_VOCAB + "GridSignal",
    "IssueReporting": SDM + "dataModel.IssueTracking/IssueReporting",
}
"""Short type name -> expanded type IRI, for every type the dashboard reads as a device (a citizen's
report, IssueReporting, is drawn as one: its place and whether it is open)."""
DISTRICT_IRI = DEFAULT_VOCAB + "District"
TYPE_NAMES = {iri: name for name, iri in TYPE_IRIS.items()}

HEATING_BASE = 17.0
"""°C: the base temperature of heating degree days (the Danish convention)."""
CLOUDBURST_MM = 15.0
"""Rain in 30 minutes above which a station warns of a cloudburst."""
BASIN_WARNING = 0.8
"""Fill (currentLevel / dangerLevel) at and above which a basin is in warning."""
AIR_BANDS = ((20, "good"), (40, "fair"), (60, "moderate"), (80, "poor"), (100, "very-poor"))
"""Upper bounds of the European Air Quality Index's bands (above the last: extremely poor)."""
AIR_WARNING = 60
"""The index from which air is poor and the air tile warns."""


@dataclass(frozen=True)
class State:
    key: str
    label: str
    colour: str


@dataclass(frozen=True)
class Domain:
    key: str
    label: str
    states: tuple[State, ...]
    """The states its devices are drawn in, in legend order; empty for a domain without markers."""


NEUTRAL = State("neutral", "no state (shown for reference)", "#8a94a6")
UNKNOWN = State("unknown", "no reading yet", "#c9ced6")

HIGH_LOAD = 0.75
"""A counter's intensity / capacity from which its load is high."""
LEVELS_OF_SERVICE = (
    State("los-a", "level of service A (> 85 % of free-flow speed)", "#1a7f37"),
    State("los-b", "B (67-85 %)", "#2a9d8f"),
    State("los-c", "C (50-67 %)", "#e9c46a"),
    State("los-d", "D (40-50 %)", "#f4a261"),
    State("los-e", "E (30-40 %)", "#d62839"),
    State("los-f", "F (<= 30 %)", "#7b2cbf"),
)
"""Traffic counters the mobility service judges (their `levelOfService`, HCM urban streets)."""

DOMAINS: tuple[Domain, ...] = (
    Domain(
        "lighting",
        "Street lighting",
        (
            State("on", "on", "#f5b700"),
            State("dimmed", "dimmed", "#9c7a00"),
            State("off", "off", "#3d4450"),
            State("failed", "failed", "#d62839"),
            NEUTRAL,
            UNKNOWN,
        ),
    ),
    Domain(
        "traffic",
        "Traffic",
        (
            State("low", "low (< 40 % of capacity)", "#2a9d8f"),
            State("medium", "medium (40-75 %)", "#f4a261"),
            State("high", "high (>= 75 %)", "#d62839"),
            *LEVELS_OF_SERVICE,
            UNKNOWN,
        ),
    ),
    Domain(
        "bikes",
        "Bikes",
        (
            State("low", "low (< 40 % of capacity)", "#52b788"),
            State("medium", "medium (40-75 %)", "#ee9b00"),
            State("high", "high (>= 75 %)", "#ae2012"),
            UNKNOWN,
        ),
    ),
    Domain(
        "air",
        "Air quality",
        (
            State("good", "good (EAQI < 20)", "#2a9d8f"),
            State("fair", "fair (20-40)", "#8ab17d"),
            State("moderate", "moderate (40-60)", "#e9c46a"),
            State("poor", "poor (60-80)", "#f4a261"),
            State("very-poor", "very poor (80-100)", "#d62839"),
            State("extremely-poor", "extremely poor (>= 100)", "#7b2cbf"),
            UNKNOWN,
        ),
    ),
    Domain(
        "rain",
        "Rain",
        (
            State("dry", "dry", "#b7c4d4"),
            State("light", "light (< 2.5 mm/h)", "#8ecae6"),
            State("moderate", "moderate (2.5-10 mm/h)", "#219ebc"),
            State("heavy", "heavy (10-30 mm/h)", "#1d4e89"),
            State("cloudburst", "cloudburst (>= 30 mm/h)", "#7b2cbf"),
            UNKNOWN,
        ),
    ),
    Domain(
        "water",
        "Sewer basins",
        (
            State("low", "fill < 50 %", "#90be6d"),
            State("rising", "fill 50-80 %", "#f9c74f"),
            State("warning", "fill >= 80 % (warning)", "#d62839"),
            UNKNOWN,
        ),
    ),
    Domain("heat", "Heat", (NEUTRAL, UNKNOWN)),
    Domain(
        "ev",
        "EV charging",
        (
            State("free", "all sockets free", "#2a9d8f"),
            State("busy", "some sockets in use", "#f4a261"),
            State("full", "no socket free", "#d62839"),
            State("out-of-service", "out of service", "#3d4450"),
            UNKNOWN,
        ),
    ),
    Domain("grid", "Grid", ()),
    Domain(
        "reports",
        "Citizen reports",
        (State("open", "open", "#e76f51"), State("closed", "closed", "#8a94a6")),
    ),
)
DOMAIN_KEYS = tuple(domain.key for domain in DOMAINS)


def short_name(iri: str) -> str:
    """An expanded attribute or type IRI's last segment: `.../dataModel.Transportation/intensity` is
    `intensity`."""
    cut = max(iri.rfind("/"), iri.rfind("#"))
    return iri[cut + 1 :] if cut >= 0 else iri


def domain_of(type_name: str, values: Mapping[str, Any]) -> str | None:
    """The domain of a device of type `type_name` (a key of TYPE_IRIS); None for others."""
    match type_name:
        case "Streetlight" | "StreetlightControlCabinet":
            return "lighting"
        case "TrafficFlowObserved":
            return "bikes" if values.get("vehicleType") == "bicycle" else "traffic"
        case "AirQualityObserved":
            return "air"
        case "WeatherObserved":
            return "rain"
        case "FloodMonitoring":
            return "water"
        case "Building" | "SmartMeteringObservation":
            return "heat"
        case "EVChargingStation":
            return "ev"
        case "GridSignal":
            return "grid"
        case "IssueReporting":
            return "reports"
    return None


def number(value: Any) -> float | None:
    """A finite number, or None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def level(intensity: float | None, capacity: float | None) -> str:
    """Traffic and bike counters: intensity / capacity, low < 0.4 <= medium < 0.75 <= high."""
    if intensity is None or capacity is None or capacity <= 0:
        return "unknown"
    load = intensity / capacity
    return "low" if load < 0.4 else "medium" if load < HIGH_LOAD else "high"


def rain_state(precipitation: float | None) -> str:
    """Rain gauges: the 5-minute precipitation as an hourly rate (times 12), 0 dry, light < 2.5 mm/h <=
    moderate < 10 <= heavy < 30 <= cloudburst."""
    if precipitation is None:
        return "unknown"
    rate = precipitation * 12
    if rate <= 0:
        return "dry"
    return "light" if rate < 2.5 else "moderate" if rate < 10 else "heavy" if rate < 30 else "cloudburst"


def basin_state(current: float | None, danger: float | None) -> str:
    """Sewer basins: fill = currentLevel / dangerLevel, < 0.5 low, < 0.8 rising, else warning."""
    if current is None or danger is None or danger <= 0:
        return "unknown"
    fill = current / danger
    return "low" if fill < 0.5 else "rising" if fill < BASIN_WARNING else "warning"


def air_state(index: float | None) -> str:
    """Air quality stations by airQualityIndex, the European Air Quality Index's bands: good < 20 <=
    fair < 40 <= moderate < 60 <= poor < 80 <= very poor < 100 <= extremely poor."""
    if index is None:
        return "unknown"
    for bound, band in AIR_BANDS:
        if index < bound:
            return band
    return "extremely-poor"


def light_state(power_state: Any, status: Any) -> str:
    """Street lights: failed when status is not "ok", else on, dimmed (powerState "low") or off."""
    if isinstance(status, str) and status != "ok":
        return "failed"
    return (
        {"on": "on", "low": "dimmed", "off": "off"}.get(power_state, "unknown")
        if isinstance(power_state, str)
        else "unknown"
    )


def charger_state(status: Any, available: float | None, capacity: float | None) -> str:
    """EV charging stations: out of service, else free (every socket), busy (some) or full (none)."""
    if status == "outOfService":
        return "out-of-service"
    if available is None:
        return "unknown"
    if available <= 0:
        return "full"
    return "free" if capacity is not None and available >= capacity else "busy"


def state_of(type_name: str, domain: str, values: Mapping[str, Any]) -> str:
    """The state a device is drawn in, from its current values (by short attribute name)."""
    match domain:
        case "lighting":
            if type_name != "Streetlight":
                return "neutral"
            return light_state(values.get("powerState"), values.get("status"))
        case "traffic" if values.get("levelOfService") in ("A", "B", "C", "D", "E", "F"):
            return f"los-{str(values['levelOfService']).lower()}"
        case "traffic" | "bikes":
            return level(number(values.get("intensity")), number(values.get("capacity")))
        case "air":
            return air_state(number(values.get("airQualityIndex")))
        case "rain":
            return rain_state(number(values.get("precipitation")))
        case "water":
            return basin_state(number(values.get("currentLevel")), number(values.get("dangerLevel")))
        case "reports":
            return "closed" if values.get("resolutionStatus") in ("Closed", "Closed.") else "open"
        case "ev":
            return charger_state(
                values.get("status"), number(values.get("availableCapacity")), number(values.get("capacity"))
            )
    return "neutral"


UNIT_LABELS: dict[str, str] = {
    "WTT": "W",
    "KWT": "kW",
    "KWH": "kWh",
    "MWH": "MWh",
    "C62": "(0-1)",
    "MTR": "m",
    "MMT": "mm",
    "CEL": "°C",
    "KMH": "km/h",
    "GQ": "µg/m³",
    "MTK": "m²",
    "P1": "%",
    "LUX": "lx",
    "A97": "hPa",
    "MTS": "m/s",
    "SEC": "s",
}
"""UN/CEFACT common codes the testbed uses, as people read them."""


def unit_label(name: str, unit: str | None, domain: str) -> str:
    """How to show the unit of attribute `name`: its unitCode or unitText as people read it; the
    counters' intensity has none and is vehicles or bicycles per hour."""
    if unit:
        return UNIT_LABELS.get(unit, unit)
    if name == "intensity":
        return "bicycles/h" if domain == "bikes" else "vehicles/h"
    return ""
