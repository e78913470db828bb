"""Climate-normalised annual use (docs/renovation.md): daily use = base + slope x HDD fitted by least
squares over the year's days with known use and degree days; normalised = 365 x base + slope x
2,906 (the Danish normal year's degree days, DMI). R2 says how well the line fits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from smartby.services.energy.degree_days import NORMAL_YEAR

DAYS = 365


@dataclass(frozen=True)
class Fit:
    base: float
    """kWh a day whatever the weather (hot water, losses)."""
    slope: float
    """kWh per degree day."""
    r2: float | None
    """None when the days' use does not vary (nothing to explain)."""
    days: int

    @property
    def normalised(self) -> float:
        return DAYS * self.base + self.slope * NORMAL_YEAR


def fit(days: Sequence[tuple[float, float]]) -> Fit | None:
    """The least-squares line through (HDD, kWh) days; None with fewer than two days or degree
    days that do not vary (no slope can be had)."""
    if len(days) < 2:
        return None
    hdd = np.asarray([x for x, _ in days], dtype=float)
    use = np.asarray([y for _, y in days], dtype=float)
    if float(np.ptp(hdd)) == 0.0:
        return None
    design = np.column_stack([np.ones_like(hdd), hdd])
    (base, slope), *_ = np.linalg.lstsq(design, use, rcond=None)
    residual = use - (base + slope * hdd)
    total = float(np.sum((use - use.mean()) ** 2))
    r2 = None if total == 0.0 else 1.0 - float(np.sum(residual**2)) / total
    return Fit(float(base), float(slope), r2, len(days))
