"""The yearly indicators: per building and year a `KeyPerformanceIndicator`
(`urn:ngsi-ld:KeyPerformanceIndicator:energy:{building}:{year}`) whose `kpiValue` is the
climate-normalised heat use in kWh/m2, observed at the computation's moment (so its history shows the
year to date as it grew), with the rest of the figures beside it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smartby.services.energy import retrofit
from smartby.services.energy.performance import Performance, Year, of_city
from smartby.services.runtime import ServiceContext

SOURCES = [
    {"entityType": "SmartMeteringObservation", "attrs": ["totalConsumption"]},
    {"entityType": "WeatherObserved", "attrs": ["temperature"]},
    {"entityType": "Building", "attrs": ["heatedArea", "category"]},
]
FORMULA = (
    "(365 x base + slope x 2906) / heatedArea; daily heat use = base + slope x HDD (least squares), "
    "HDD = max(0, 17 - local day's mean outdoor temperature)"
)
FIGURES = (
    "useKWh",
    "normalisedKWh",
    "base",
    "slope",
    "r2",
    "label",
    "hdd",
    "labelIsEstimate",
    "note",
    "targetLabel",
    "savingKWh",
    "savingCO2kg",
    "days",
)


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


async def write_year(ctx: ServiceContext, tenant: str, year: int) -> list[Performance]:
    """Assess every building in `year` and write the indicators of those with a figure."""
    found = await of_city(ctx, tenant, year)
    worst = retrofit.worst_share(
        {p.building.id: p.kwh_per_m2 for p in found if p.kwh_per_m2 is not None and not p.building.dwelling}
    )
    at = min(ctx.clock.now(), found[0].year.end) if found else ctx.clock.now()
    for performance in found:
        figures = performance.as_json()
        if performance.kwh_per_m2 is None:
            continue
        await _write(ctx, tenant, performance, figures, performance.building.id in worst, at)
    candidates = retrofit.ranked([c for p in found if (c := p.candidate()) is not None])
    if candidates:
        await _city(ctx, tenant, found[0].year, candidates, at)
    return found


async def _city(
    ctx: ServiceContext, tenant: str, year: Year, candidates: list[retrofit.Candidate], at: datetime
) -> None:
    """The city's tile: the heat a year the candidates would save at the target label (MWh)."""
    target = ctx.settings.energy_target_label
    saving = sum(c.saving_kwh for c in candidates)
    first = [c.building for c in candidates[:3] if c.saving_kwh > 0]
    worst = sum(1 for c in candidates if c.worst)
    await ctx.results.indicator(
        tenant,
        key=f"city:{year.year}:retrofit-saving",
        name=f"Heat saved renovating to label {target} (MWh a year), {year.year}",
        value=round(saving / 1000, 1),
        period=(year.start, year.end),
        frequency="yearly",
        formula=f"sum over buildings of max(0, normalised heat - what label {target} allows)",
        description=(
            f"{len(candidates)} buildings assessed; first candidates: {', '.join(first) or 'none'}; "
            f"{worst} flagged among the worst 16 % of non-residential buildings (EPBD 2024/1275). "
            "Labels are estimates from metered heat (GET /energy/v1/retrofit, docs/renovation.md)"
        ),
        at=at,
        extra={
            "aggregatedData": _property(SOURCES),
            "savingCO2kg": _property(round(sum(c.saving_co2_kg for c in candidates), 1)),
        },
    )


async def _write(
    ctx: ServiceContext,
    tenant: str,
    performance: Performance,
    figures: dict[str, Any],
    worst: bool,
    at: datetime,
) -> None:
    building = performance.building.id
    year = performance.year
    extra: dict[str, Any] = {name: _property(figures[name]) for name in FIGURES if figures[name] is not None}
    extra["worstNonResidential"] = _property(worst)
    extra["refBuilding"] = {"type": "Relationship", "object": building}
    extra["aggregatedData"] = _property(SOURCES)
    assert performance.kwh_per_m2 is not None
    await ctx.results.indicator(
        tenant,
        key=f"{building.removeprefix('urn:ngsi-ld:')}:{year.year}",
        name=f"Climate-normalised heat use (kWh/m2): {building} {year.year}",
        value=round(performance.kwh_per_m2, 3),
        period=(year.start, year.end),
        frequency="yearly",
        formula=FORMULA,
        description=(
            f"Heat use of {building} in {year.year} (to {year.last.isoformat()}), climate-normalised to "
            f"the Danish normal year; label {figures['label']} is an estimate from metered heat, "
            "not an energy label (docs/renovation.md)"
        ),
        at=at,
        extra=extra,
    )
