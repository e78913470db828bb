"""Ranked retrofit candidates (docs/renovation.md): per building the heat and CO2 a year saved by
reaching the target label, largest saving first, and the worst 16 % of the non-residential buildings
by climate-normalised kWh/m2 flagged: the first renovation tranche of the recast Energy Performance of
Buildings Directive (EU) 2024/1275, Art. 9 (the 16 % worst-performing non-residential buildings).

A building reaches the target label when its primary energy per m2 is at the label's limit: the heat
it may use is limit x area / primary-energy factor; the saving is what it uses beyond that (none
for a building already there). CO2 = saved kWh x the district heating's CO2 factor (kg/kWh).
A building is among the worst 16 % when at least 84 % of the non-residential buildings do better:
the floor(0.16 x n) with the highest kWh/m2 (ties by id).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smartby.services.energy import labels

WORST_SHARE = 0.16


@dataclass(frozen=True)
class Candidate:
    building: str
    dwelling: bool
    area: float
    normalised_kwh: float
    kwh_per_m2: float
    label: str
    saving_kwh: float
    saving_co2_kg: float
    worst: bool = False

    def as_json(self, rank: int) -> dict[str, Any]:
        return {
            "rank": rank,
            "id": self.building,
            "scale": "dwellings" if self.dwelling else "other",
            "heatedArea": self.area,
            "normalisedKWh": self.normalised_kwh,
            "kWhPerM2": self.kwh_per_m2,
            "label": self.label,
            "savingKWh": self.saving_kwh,
            "savingCO2kg": self.saving_co2_kg,
            "worstNonResidential": self.worst,
        }


def saving(normalised_kwh: float, area: float, dwelling: bool, target: str, factor: float) -> float:
    """kWh of heat a year beyond what the target label allows (0 for a building already there)."""
    allowed = labels.limit(target, area, dwelling) * area / factor
    return max(0.0, normalised_kwh - allowed)


def worst_share(kwh_per_m2: dict[str, float]) -> set[str]:
    """The ids of the worst 16 % (floor(0.16 x n), highest kWh/m2 first, ties by id)."""
    count = math.floor(WORST_SHARE * len(kwh_per_m2) + 1e-9)
    ordered = sorted(kwh_per_m2, key=lambda building: (-kwh_per_m2[building], building))
    return set(ordered[:count])


def ranked(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Flag the worst non-residential 16 % and rank by saving (largest first, then kWh/m2, id)."""
    worst = worst_share({c.building: c.kwh_per_m2 for c in candidates if not c.dwelling})
    flagged = [dataclasses.replace(c, worst=c.building in worst) for c in candidates]
    return sorted(flagged, key=lambda c: (-c.saving_kwh, -c.kwh_per_m2, c.building))
