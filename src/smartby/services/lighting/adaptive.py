"""Adaptive lighting (CEN/TR 13201-1:2014, clause 6: adaptive lighting classes): a light or group of
EN 13201 class M1-M6, C0-C5 or P1-P6 whose traffic stays low may be lit one class lower.

The level of each class is its design value in EN 13201-2:2015: the average road surface luminance
of the M classes (Table 1, cd/m²), the average horizontal illuminance of the C classes (Table 2,
lx) and of the P classes (Table 3, lx). One class down lights at the ratio of the two values (M3 at
1.0 cd/m² to M4 at 0.75 cd/m²: 0.75 of the program's level). The lowest class of each series has
none below it.

A segment's traffic is low at a moment when every reading of its counters' `intensity` in the window
before it (`lighting_adaptive_window`) is below `lighting_adaptive_share` of its usual peak (the
highest reading of the seven days before); one reading at or above it is traffic back, and the class
steps up again at once (a safety margin: the light is never dimmer than its class while traffic is
there).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

CLASS_LEVELS: dict[str, float] = {
    # EN 13201-2:2015 Table 1, M classes: average luminance L̄ (cd/m², minimum maintained)
    "M1": 2.0, "M2": 1.5, "M3": 1.0, "M4": 0.75, "M5": 0.5, "M6": 0.3,
    # Table 2, C classes: average illuminance Ē (lx)
    "C0": 50.0, "C1": 30.0, "C2": 20.0, "C3": 15.0, "C4": 10.0, "C5": 7.5,
    # Table 3, P classes: average illuminance Ē (lx)
    "P1": 15.0, "P2": 10.0, "P3": 7.5, "P4": 5.0, "P5": 3.0, "P6": 2.0,
}  # fmt: skip
PEAK_DAYS = 7


def lower_class(lighting_class: str) -> str | None:
    """The class one step down (M3 -> M4), None for the lowest of its series or an unknown class."""
    if lighting_class not in CLASS_LEVELS:
        return None
    series, number = lighting_class[0], int(lighting_class[1:])
    lower = f"{series}{number + 1}"
    return lower if lower in CLASS_LEVELS else None


def step_down_factor(lighting_class: str | None) -> float:
    """The share of its level a light of this class is lit at one class down (1.0: no lower class)."""
    lower = lower_class(lighting_class) if lighting_class else None
    if lighting_class is None or lower is None:
        return 1.0
    return CLASS_LEVELS[lower] / CLASS_LEVELS[lighting_class]


def traffic_is_low(
    readings: Sequence[tuple[datetime, float]], at: datetime, peak: float, share: float, window: timedelta
) -> bool:
    """Whether the segment's traffic stayed below `share` of `peak` over the window up to `at`
    (readings by observedAt; none in the window: not known to be low)."""
    if peak <= 0:
        return False
    recent = [value for moment, value in readings if at - window < moment <= at]
    return bool(recent) and all(value < share * peak for value in recent)
