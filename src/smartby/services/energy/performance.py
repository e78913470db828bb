"""A building's heat performance in a year, from its heat meters' registers and the nearest
weather station's temperatures, read through the broker by observedAt (docs/renovation.md).

The year is the local calendar year (`energy_timezone`), up to the clock's today. The weather
station is the `WeatherObserved` nearest the building whose degree days cover at least 80 % of the
days the building's use is known (else the one that covers most). A building has a figure when it
has a heated area and at least `energy_min_days` days with both its use and degree days known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartby.ngsild.timestamps import format_datetime
from smartby.services.energy import buildings as b
from smartby.services.energy import labels, retrofit
from smartby.services.energy import vocabulary as v
from smartby.services.energy.degree_days import daily_hdd
from smartby.services.energy.meters import UNIT_FACTORS, DayUse, combined, daily, hourly
from smartby.services.energy.normalisation import Fit, fit
from smartby.services.readings import periods, series
from smartby.services.runtime import ServiceContext

COVERAGE = 0.8
BUILDINGS_PER_READ = 20
NOTE = (
    "An estimate from metered heat, climate-normalised: not an energy label (energimærke), which "
    "an energy consultant calculates for standard use."
)


@dataclass(frozen=True)
class Year:
    year: int
    first: date
    last: date
    """The last day looked at: the year's, or the clock's today if earlier."""
    start: datetime
    end: datetime

    @classmethod
    def of(cls, year: int, zone: str, now: datetime) -> Year:
        tz = ZoneInfo(zone)
        first, last = date(year, 1, 1), min(date(year, 12, 31), now.astimezone(tz).date())
        after = last + timedelta(days=1)
        return cls(
            year,
            first,
            last,
            datetime(year, 1, 1, tzinfo=tz).astimezone(UTC),
            datetime(after.year, after.month, after.day, tzinfo=tz).astimezone(UTC),
        )


@dataclass
class Performance:
    building: b.Building
    year: Year
    meters: list[str]
    days: list[DayUse] = field(default_factory=list)
    use_kwh: float = 0.0
    hdd: dict[date, float] = field(default_factory=dict)
    station: str | None = None
    fit: Fit | None = None
    reason: str | None = None
    resets: int = 0
    rollovers: int = 0
    unspread_gaps: int = 0
    factor: float = 0.85
    target: str = "C"
    co2_factor: float = 0.065

    @property
    def normalised(self) -> float | None:
        return None if self.reason or self.fit is None else self.fit.normalised

    @property
    def kwh_per_m2(self) -> float | None:
        area, normalised = self.building.area, self.normalised
        return None if area is None or normalised is None else normalised / area

    @property
    def primary_per_m2(self) -> float | None:
        per_m2 = self.kwh_per_m2
        return None if per_m2 is None else per_m2 * self.factor

    @property
    def label(self) -> str | None:
        primary, area = self.primary_per_m2, self.building.area
        return (
            None if primary is None or area is None else labels.label(primary, area, self.building.dwelling)
        )

    def candidate(self) -> retrofit.Candidate | None:
        normalised, per_m2, label, area = self.normalised, self.kwh_per_m2, self.label, self.building.area
        if normalised is None or per_m2 is None or label is None or area is None:
            return None
        kwh = retrofit.saving(normalised, area, self.building.dwelling, self.target, self.factor)
        return retrofit.Candidate(
            self.building.id,
            self.building.dwelling,
            area,
            normalised,
            per_m2,
            label,
            kwh,
            kwh * self.co2_factor,
        )

    def as_json(self) -> dict[str, Any]:
        found = self.fit if self.reason is None else None
        candidate = self.candidate()
        return {
            "id": self.building.id,
            "year": self.year.year,
            "from": format_datetime(self.year.start),
            "to": format_datetime(self.year.end),
            "useKWh": self.use_kwh,
            "normalisedKWh": self.normalised,
            "base": found.base if found else None,
            "slope": found.slope if found else None,
            "r2": found.r2 if found else None,
            "kWhPerM2": self.kwh_per_m2,
            "label": self.label,
            "hdd": sum(self.hdd.values()) if self.hdd else None,
            "labelIsEstimate": True,
            "note": NOTE,
            "enoughData": self.reason is None,
            "reason": self.reason,
            "scale": "dwellings" if self.building.dwelling else "other",
            "heatedArea": self.building.area,
            "primaryEnergyKWhPerM2": self.primary_per_m2,
            "primaryEnergyFactor": self.factor,
            "targetLabel": self.target,
            "savingKWh": candidate.saving_kwh if candidate else None,
            "savingCO2kg": candidate.saving_co2_kg if candidate else None,
            "days": found.days if found else 0,
            "daysWithUse": sum(1 for day in self.days if day.known),
            "daysSpread": sum(1 for day in self.days if day.spread),
            "hddDays": len(self.hdd),
            "weatherStation": self.station,
            "meters": self.meters,
            "resets": self.resets,
            "rollovers": self.rollovers,
            "gapsNotSpread": self.unspread_gaps,
        }


class Assessor:
    """Assesses buildings of one tenant in one year, the weather stations' degree days read once."""

    def __init__(self, ctx: ServiceContext, tenant: str, year: int) -> None:
        self.ctx = ctx
        self.tenant = tenant
        settings = ctx.settings
        self.zone = settings.energy_timezone
        self.year = Year.of(year, self.zone, ctx.clock.now())
        self.max_gap = timedelta(hours=settings.energy_max_gap_hours)
        self._stations: list[tuple[str, b.Place | None]] | None = None
        self._hdd: dict[str, dict[date, float]] = {}

    async def degree_days(self, station: str) -> dict[date, float]:
        if station not in self._hdd:
            found = await periods(
                self.ctx.broker,
                self.tenant,
                v.TEMPERATURE,
                ("avg",),
                self.year.start,
                self.year.end,
                "PT1H",
                ids=[station],
            )
            means = [(at, values["avg"]) for at, values in found.get(station, []) if "avg" in values]
            self._hdd[station] = {
                day: hdd
                for day, hdd in daily_hdd(means, self.zone).items()
                if self.year.first <= day <= self.year.last
            }
        return self._hdd[station]

    async def station(self, building: b.Building, known: set[date]) -> tuple[str | None, dict[date, float]]:
        if self._stations is None:
            self._stations = await b.stations(self.ctx.broker, self.tenant)
        best: tuple[str | None, dict[date, float]] = (None, {})
        best_cover = -1
        for station in b.nearest_first(building.place, self._stations):
            hdd = await self.degree_days(station)
            if not hdd:
                continue
            cover = len(known & set(hdd))
            if not known or cover >= COVERAGE * len(known):
                return station, hdd
            if cover > best_cover:
                best, best_cover = (station, hdd), cover
        return best

    async def registers(self, meters: Sequence[str]) -> dict[str, list[tuple[datetime, float]]]:
        return await series(
            self.ctx.broker,
            self.tenant,
            v.TOTAL_CONSUMPTION,
            self.year.start - self.max_gap,
            self.year.end + self.max_gap,
            ids=list(meters),
            units=UNIT_FACTORS,
        )

    async def assess(
        self, building: b.Building, meters: list[str], registers: dict[str, list[tuple[datetime, float]]]
    ) -> Performance:
        settings = self.ctx.settings
        found = Performance(
            building,
            self.year,
            meters,
            factor=settings.energy_primary_energy_factor,
            target=settings.energy_target_label,
            co2_factor=settings.energy_co2_factor,
        )
        per_meter = []
        for meter in meters:
            use = hourly(registers.get(meter, []), self.max_gap)
            found.resets += use.resets
            found.rollovers += use.rollovers
            found.unspread_gaps += use.missing_gaps
            found.use_kwh += sum(
                slot.kwh for hour, slot in use.hours.items() if self.year.start <= hour < self.year.end
            )
            per_meter.append(daily(use, self.year.first, self.year.last, self.zone))
        found.days = combined(per_meter)
        known = {day.day for day in found.days if day.known}
        found.station, found.hdd = await self.station(building, known)
        points = [(found.hdd[day.day], day.kwh) for day in found.days if day.known and day.day in found.hdd]
        found.fit = fit(points)
        found.reason = self._reason(found, len(points))
        return found

    def _reason(self, found: Performance, days: int) -> str | None:
        needed = self.ctx.settings.energy_min_days
        if not found.meters:
            return "no heat meter (SmartMeteringObservation, meterType heat) refers to it (refBuilding)"
        if found.building.area is None:
            return "it has no positive heatedArea"
        if found.station is None:
            return "no WeatherObserved has temperature readings in the year"
        if days < needed:
            return f"{days} days with both known use and degree days; {needed} needed (energy_min_days)"
        if found.fit is None:
            return "the degree days do not vary over its days: no slope can be had"
        return None


async def of_building(ctx: ServiceContext, tenant: str, building_id: str, year: int) -> Performance:
    building = await b.building(ctx.broker, tenant, building_id)
    meters = (await b.heat_meters(ctx.broker, tenant)).get(building_id, [])
    assessor = Assessor(ctx, tenant, year)
    return await assessor.assess(building, meters, await assessor.registers(meters))


async def of_city(ctx: ServiceContext, tenant: str, year: int) -> list[Performance]:
    """Every building's performance in `year` (buildings read a few at a time)."""
    assessor = Assessor(ctx, tenant, year)
    meters = await b.heat_meters(ctx.broker, tenant)
    everyone = await b.buildings(ctx.broker, tenant)
    found: list[Performance] = []
    for first in range(0, len(everyone), BUILDINGS_PER_READ):
        group = everyone[first : first + BUILDINGS_PER_READ]
        registers = await assessor.registers([m for building in group for m in meters.get(building.id, [])])
        for building in group:
            found.append(await assessor.assess(building, meters.get(building.id, []), registers))
    return found
