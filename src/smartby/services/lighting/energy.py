"""Energy and CO2 of street lighting, per group and local day, and for the city.

- Used (kWh): from the group's control cabinet's `energyConsumed` when all its lights hang on one
  cabinet that feeds no other light (the hourly increase of the meter), else from its lights' power
  readings (each reading's W held until the next, integrated per hour).
- Baseline (kWh): what the group's lights would draw at full `powerRating` from sunset to sunrise
  (the dusk-to-dawn program at the group's place), the way lights burned before dimming.
- CO2 avoided (kg): the hourly saving (baseline - used) times the grid's CO2 intensity (g/kWh) of
  that hour: the hourly mean of the grid signal's `co2Intensity` (`lighting_grid_signal`; or its
  `co2Emission`, as Energinet's imported CO2Emis data has it); an hour without one takes the day's
  mean. None without any intensity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from smartby.broker import Broker
from smartby.services.lighting import vocabulary as v
from smartby.services.lighting.inventory import Group, Lighting
from smartby.services.lighting.program import DUSK_TO_DAWN
from smartby.services.lighting.schedule import Place, level_at, switches_between
from smartby.services.readings import Series, periods, series

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class DayEnergy:
    used: list[float]
    """kWh per hour from the day's start."""
    baseline: list[float]
    source: str
    """"cabinet" or "readings"."""

    def saved(self) -> float:
        return sum(self.baseline) - sum(self.used)

    def co2_avoided(self, intensity: Sequence[float | None]) -> float | None:
        """kg of CO2 the saving avoided, with the grid's g/kWh of each hour."""
        known = [value for value in intensity if value is not None]
        if not known:
            return None
        mean = sum(known) / len(known)
        grams = 0.0
        for hour, (base, used) in enumerate(zip(self.baseline, self.used, strict=True)):
            value = intensity[hour] if hour < len(intensity) else None
            grams += (base - used) * (value if value is not None else mean)
        return grams / 1000


def day_start(moment: datetime, zone: str) -> datetime:
    local = moment.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(moment.tzinfo)


def hours(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    found = []
    moment = start
    while moment < end:
        found.append((moment, min(moment + HOUR, end)))
        moment += HOUR
    return found


def dark_hours(place: Place, zone: str, start: datetime, end: datetime) -> float:
    """Hours in [start, end) the dusk-to-dawn program has the lights on."""
    lit = 0.0
    moment, level = start, level_at(DUSK_TO_DAWN, place, zone, start)
    for switch in switches_between(DUSK_TO_DAWN, place, zone, start, end):
        if switch.at >= end:
            break
        lit += (switch.at - moment).total_seconds() / 3600 * (1 if level > 0 else 0)
        moment, level = switch.at, switch.level
    lit += (end - moment).total_seconds() / 3600 * (1 if level > 0 else 0)
    return lit


def integrate(points: Series, slots: Sequence[tuple[datetime, datetime]], end: datetime) -> list[float]:
    """kWh per slot of W readings, each held until the next (the last until `end`)."""
    found = [0.0] * len(slots)
    for number, (at, watts) in enumerate(points):
        until = points[number + 1][0] if number + 1 < len(points) else end
        for slot, (first, last) in enumerate(slots):
            overlap = (min(until, last) - max(at, first)).total_seconds()
            if overlap > 0:
                found[slot] += watts * overlap / 3600 / 1000
    return found


def sole_cabinets(lighting: Lighting) -> dict[str, str]:
    """Per group, the cabinet all its lights hang on when it feeds no other light."""
    fed = Counter(light.cabinet for light in lighting.lights.values() if light.cabinet)
    found = {}
    for group in lighting.groups.values():
        cabinets = {light.cabinet for light in group.lights}
        if len(cabinets) == 1:
            cabinet = next(iter(cabinets))
            if cabinet is not None and fed[cabinet] == len(group.lights):
                found[group.id] = cabinet
    return found


def meter_hours(
    buckets: Sequence[tuple[datetime, Mapping[str, float]]], slots: Sequence[tuple[datetime, datetime]]
) -> list[float]:
    """kWh per slot from a cumulative meter's hourly min and max."""
    by_start = {start: values for start, values in buckets}
    found, previous = [], None
    for first, _ in slots:
        values = by_start.get(first)
        if values is None or "max" not in values:
            found.append(0.0)
            continue
        base = previous if previous is not None else values.get("min", values["max"])
        found.append(max(0.0, values["max"] - base))
        previous = values["max"]
    return found


def group_energy(
    lighting: Lighting,
    groups: Sequence[Group],
    start: datetime,
    end: datetime,
    zone: str,
    readings: Mapping[str, Series],
    meters: Mapping[str, list[tuple[datetime, dict[str, float]]]],
) -> dict[str, DayEnergy]:
    slots = hours(start, end)
    cabinets = sole_cabinets(lighting)
    found = {}
    for group in groups:
        place = group.place
        rating = sum(light.power_rating or 0.0 for light in group.lights)
        baseline = [rating * dark_hours(place, zone, a, b) / 1000 for a, b in slots]
        cabinet = cabinets.get(group.id)
        if cabinet is not None and cabinet in meters:
            used, source = meter_hours(meters[cabinet], slots), "cabinet"
        else:
            used = [0.0] * len(slots)
            for light in group.lights:
                for slot, kwh in enumerate(integrate(readings.get(light.id, []), slots, end)):
                    used[slot] += kwh
            source = "readings"
        found[group.id] = DayEnergy(used, baseline, source)
    return found


async def day(
    broker: Broker,
    tenant: str,
    lighting: Lighting,
    start: datetime,
    end: datetime,
    zone: str,
    grid_signal: str,
    reporting: timedelta,
) -> tuple[dict[str, DayEnergy], list[float | None]]:
    """Energy of every group with lights over [start, end), and the grid's hourly CO2 intensity."""
    groups = [group for group in lighting.groups.values() if group.lights]
    cabinets = sole_cabinets(lighting)
    metered = sorted({cabinets[g.id] for g in groups if g.id in cabinets})
    meters = await periods(broker, tenant, v.ENERGY_CONSUMED, ("min", "max"), start, end, "PT1H", ids=metered)
    read = [
        light.id for g in groups if g.id not in cabinets or cabinets[g.id] not in meters for light in g.lights
    ]
    power = await series(broker, tenant, v.POWER_CONSUMPTION, start - reporting, end, ids=read)
    power = {light: _from(points, start) for light, points in power.items()}
    energy = group_energy(lighting, groups, start, end, zone, power, meters)
    by_start: dict[datetime, float | None] = {}
    for attribute in v.CO2_INTENSITY:
        grid = await periods(broker, tenant, attribute, ("avg",), start, end, "PT1H", ids=[grid_signal])
        by_start = {moment: values.get("avg") for moment, values in grid.get(grid_signal, [])}
        if by_start:
            break
    return energy, [by_start.get(first) for first, _ in hours(start, end)]


def _from(points: Series, start: datetime) -> Series:
    """The readings from `start` on, the one before it held from `start`."""
    before = [point for point in points if point[0] < start]
    after = [point for point in points if point[0] >= start]
    return ([(start, before[-1][1])] if before else []) + after
