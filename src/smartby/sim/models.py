"""What each device reports, and when: the synthetic city running in time.

`Simulation.advance(end, period)` yields the readings observed from the simulation's clock up to
`end` (not included), per device in time order, as the JSON objects the devices send (`t` is the
time, the other members are attributes). Periodic devices (counters, meters, cabinets, air
quality, chargers, the grid signal) report on a grid of `period` aligned to the hour; street lights
report when their state changes; rain gauges every 5 minutes while it rains, otherwise every
`period`; basins when their level moved by 2 % of their depth, or every `period`.

Values are functions of the seed, the device and the time, through the patterns and the climate;
what accumulates (meters, cabinets' energy, basin levels) is carried from one call to the next. So
a seed gives the same readings for the same start and the same sequence of calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smartby.sim import climate, patterns
from smartby.sim.city import City, Device
from smartby.sim.noise import spread, unit
from smartby.sim.scenarios import Scenario

STEP = timedelta(minutes=5)
"""The internal step of rain and basins."""
LIGHT_FAILURE_PER_DAY = 0.003
"""Chance that a street light fails on a given day (it is repaired one to three days later)."""
FAILURES = ("defectiveLamp", "columnIssue", "brokenLantern")
DIMMED = (0, 5)
"""Local hours between which lit street lights are dimmed ("low")."""
DIM_LEVEL = 0.4
DRIVER_FLOOR = 0.1
"""Share of its rated power a dimmable light's driver draws at any level above 0."""
LIGHT_HEARTBEAT = timedelta(minutes=15)
"""While streaming live, street lights also report their state this often (their controllers'
status report), beside every change."""
EV_OUT_OF_SERVICE_PER_DAY = 0.02

Payload = dict[str, Any]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _grid(start: datetime, end: datetime, period: timedelta) -> Iterator[datetime]:
    """Times that are whole multiples of `period` since the epoch, in [start, end)."""
    seconds = period.total_seconds()
    first = math.ceil((start - climate.EPOCH).total_seconds() / seconds)
    moment = climate.EPOCH + timedelta(seconds=first * seconds)
    while moment < end:
        yield moment
        moment += period


def _day(moment: datetime) -> int:
    return (moment - climate.EPOCH).days


@dataclass
class _Light:
    index: int
    device: Device
    last: tuple[str, str, float] | None = None
    next_change: datetime | None = None
    """The first moment after the last window at which its state may change."""
    commanded_at: datetime | None = None
    """When a command changed its level, until the next window reports it."""
    beating: bool = False
    """Whether it has reported since heartbeats began."""


class Simulation:
    """The city's devices from `start` on (see the module docstring)."""

    def __init__(self, city: City, start: datetime, scenario: Scenario | None = None) -> None:
        self.city = city
        self.seed = city.seed
        self.clock = start.astimezone(UTC)
        self.index = {id(device): number for number, device in enumerate(city.devices)}
        self.rain = climate.RainField(self.seed, tuple(d.shape.centroid.x for d in city.districts), scenario)
        self.lights = [_Light(self.index[id(d)], d) for d in city.of_kind("sim-streetlight")]
        self.gauges = city.of_kind("sim-rain")
        self.basin_devices = city.of_kind("sim-basin")
        self.jitter = {
            light.index: (
                timedelta(seconds=round(unit(self.seed, light.index, 1) * 240)),
                timedelta(seconds=round(unit(self.seed, light.index, 2) * 240)),
            )
            for light in self.lights
        }
        self._failures: dict[int, dict[int, tuple[datetime, datetime, str]]] = {}
        self.commanded: dict[int, tuple[datetime, float]] = {}
        """Street lights told their level by a command: from when, and the level."""
        self._by_device_id = {light.device.device_id: light for light in self.lights}
        self.energy: dict[int, float] = {}
        """Cumulative kWh of cabinets and heat meters, by device index."""
        self.energy_at: dict[int, datetime] = {}
        self.power: dict[int, float] = {}
        self.basins = {
            self.index[id(d)]: d.params["base"] * d.params["danger"] for d in city.of_kind("sim-basin")
        }
        self.reported: dict[int, tuple[datetime, Any]] = {}
        """Basins and rain gauges: when they last reported, and what."""
        self.heartbeat: timedelta | None = None
        """Set (live streaming sets LIGHT_HEARTBEAT): street lights report their state at once, then
        every `heartbeat` beside their changes; None: on change only (back-fill)."""
        self._spin_up_basins()

    # -- the run ---------------------------------------------------------------------------------

    def advance(self, end: datetime, period: timedelta) -> list[tuple[Device, list[Payload]]]:
        """Readings observed in [clock, end), per device; moves the clock to `end`."""
        end = end.astimezone(UTC)
        start = self.clock
        if end <= start:
            return []
        found: dict[int, list[Payload]] = {}
        for device in self.city.devices:
            kind = device.kind.name
            if kind in _PERIODIC:
                payloads = [_PERIODIC[kind](self, device, t) for t in _grid(start, end, period)]
                if payloads:
                    found[self.index[id(device)]] = payloads
        for light in self.lights:
            payloads = self._light_changes(light, start, end)
            if payloads:
                found[light.index] = payloads
        for index, payloads in self._water(start, end, period).items():
            found.setdefault(index, []).extend(payloads)
        self.clock = end
        return [(self.city.devices[index], payloads) for index, payloads in sorted(found.items())]

    # -- street lights ---------------------------------------------------------------------------

    def command(self, device_id: str, payload: dict[str, Any]) -> bool:
        """A command to a street light (`{"illuminanceLevel": 0-1}`, the testbed profile's `dim`):
        from the simulation's clock on, the light burns at that level, drawing
        powerRating x (0.1 + 0.9 x level) (its driver's floor), until the next command. Whether the
        device is a light that took it."""
        light = self._by_device_id.get(device_id)
        level = payload.get("illuminanceLevel")
        if light is None or isinstance(level, bool) or not isinstance(level, int | float):
            return False
        self.commanded[light.index] = (self.clock, min(1.0, max(0.0, float(level))))
        light.next_change = None
        light.commanded_at = self.clock
        return True

    def light_state(self, index: int, watts: float, moment: datetime) -> tuple[str, str, float, float]:
        """(powerState, status, illuminanceLevel, W) of the street light `index` at `moment`."""
        failure = self._failure(index, moment)
        if failure is not None:
            return ("off", failure, 0.0, 0.0)
        fault = self.city.devices[index].params.get("fault")
        commanded = self.commanded.get(index)
        if commanded is not None and moment >= commanded[0]:
            level = commanded[1]
            if level <= 0:
                # A day burner obeys on paper; its relay stays closed.
                return ("off", "ok", 0.0, float(watts) if fault == "dayBurner" else 0.0)
            state = "on" if level >= 1 else "low"
            if fault == "deadLamp":
                return (state, "ok", level, 0.0)
            if fault == "stuckDriver":
                return (state, "ok", level, float(watts))
            return (state, "ok", level, round(watts * (DRIVER_FLOOR + (1 - DRIVER_FLOOR) * level), 1))
        on_at, off_at = self._switch_times(index, moment)
        if off_at <= moment < on_at:
            if fault == "dayBurner":  # its photocell is stuck dark: lit all day, saying nothing
                return ("on", "ok", 1.0, float(watts))
            return ("off", "ok", 0.0, 0.0)
        hour = climate.local(moment).hour
        state, level = ("low", DIM_LEVEL) if DIMMED[0] <= hour < DIMMED[1] else ("on", 1.0)
        if fault == "deadLamp":  # reports that it is lit, draws nothing
            return (state, "ok", level, 0.0)
        if fault == "stuckDriver":  # dims on paper, its driver stays at full power
            return (state, "ok", level, float(watts))
        return (state, "ok", level, round(watts * level, 1))

    def _switch_times(self, index: int, moment: datetime) -> tuple[datetime, datetime]:
        """When the light switches on (after sunset) and off (before sunrise) on this local day: its
        photocell reacts within four minutes."""
        sunrise, sunset = climate.sun_times(climate.local(moment).date())
        late, early = self.jitter[index]
        after_sunset = sunset.replace(microsecond=0) + timedelta(seconds=1 if sunset.microsecond else 0)
        return after_sunset + late, sunrise.replace(microsecond=0) - early

    def _failures_on(self, day: int) -> dict[int, tuple[datetime, datetime, str]]:
        """The street lights that fail on this day: when, until when, and how."""
        found = self._failures.get(day)
        if found is None:
            found = self._failures[day] = {}
            for light in self.lights:
                index = light.index
                if unit(self.seed, index, day, 7) < LIGHT_FAILURE_PER_DAY:
                    start = climate.EPOCH + timedelta(
                        days=day, seconds=round(unit(self.seed, index, day, 8) * 86400)
                    )
                    repair = start + timedelta(hours=24 + round(unit(self.seed, index, day, 9) * 48))
                    kind = FAILURES[int(unit(self.seed, index, day, 10) * len(FAILURES))]
                    found[index] = (start, repair, kind)
        return found

    def _failure_window(self, index: int, day: int) -> tuple[datetime, datetime, str] | None:
        return self._failures_on(day).get(index)

    def _failure(self, index: int, moment: datetime) -> str | None:
        today = _day(moment)
        for day in range(today - 3, today + 1):
            window = self._failure_window(index, day)
            if window is not None and window[0] <= moment < window[1]:
                return window[2]
        return None

    def _light_changes(self, light: _Light, start: datetime, end: datetime) -> list[Payload]:
        waiting = self.heartbeat is None or light.beating
        if light.next_change is not None and end <= light.next_change and waiting:
            return []
        device, index = light.device, light.index
        watts = device.params["watts"]
        candidates = {start} if light.last is None else set()
        if light.commanded_at is not None:
            candidates.add(light.commanded_at)
            light.commanded_at = None
        beats: set[datetime] = set()
        if self.heartbeat is not None:
            beats = set(_grid(start, end + self.heartbeat, self.heartbeat))
            if not light.beating:
                beats.add(start)
                light.beating = True
            candidates.update(beats)
        zone_day = climate.local(start).replace(hour=0, minute=0, second=0, microsecond=0)
        while zone_day.astimezone(UTC) < end + timedelta(days=1):
            midday = (zone_day + timedelta(hours=12)).astimezone(UTC)
            on_at, off_at = self._switch_times(index, midday)
            candidates.update((on_at, off_at, zone_day.astimezone(UTC)))
            candidates.add(zone_day.replace(hour=DIMMED[1]).astimezone(UTC))
            zone_day = (zone_day + timedelta(hours=26)).replace(hour=0)
        for day in range(_day(start) - 3, _day(end) + 2):
            window = self._failure_window(index, day)
            if window is not None:
                candidates.update(window[:2])
        light.next_change = min((t for t in candidates if t >= end), default=None)
        payloads = []
        for moment in sorted(t for t in candidates if start <= t < end):
            state, status, level, power = self.light_state(index, watts, moment)
            if light.last == (state, status, level) and moment not in beats:
                continue
            light.last = (state, status, level)
            payloads.append(
                {
                    "t": stamp(moment),
                    "powerState": state,
                    "status": status,
                    "illuminanceLevel": level,
                    "powerConsumption": power,
                }
            )
        return payloads

    # -- periodic devices ------------------------------------------------------------------------

    def _cumulative(self, index: int, moment: datetime, power_kw: float, start: float) -> float:
        """kWh so far: the meter's start value plus power integrated (trapezoids) over reports."""
        if index not in self.energy:
            self.energy[index] = start
        else:
            hours = (moment - self.energy_at[index]).total_seconds() / 3600
            self.energy[index] += (self.power[index] + power_kw) / 2 * hours
        self.energy_at[index], self.power[index] = moment, power_kw
        return round(self.energy[index], 2)

    def _cabinet(self, device: Device, moment: datetime) -> Payload:
        lights = device.params.get("lights", [])
        watts = sum(
            self.light_state(self.index[id(light)], light.params["watts"], moment)[3] for light in lights
        )
        kw = round(watts * 1.04 / 1000, 3)  # drivers and cables lose a few per cent
        start = len(lights) * 2000.0
        energy = self._cumulative(self.index[id(device)], moment, kw, start)
        return {"t": stamp(moment), "energyConsumed": energy, "totalActivePower": kw}

    def _ratio(self, device: Device, moment: datetime, vehicle: str) -> float:
        at = climate.local(moment)
        index = self.index[id(device)]
        wobble = 1 + 0.06 * spread(self.seed, index, int(moment.timestamp() // 300))
        load: float = device.params["load"]
        return max(0.0, patterns.traffic_profile(at, vehicle) * load * wobble)

    def _traffic(self, device: Device, moment: datetime) -> Payload:
        ratio = self._ratio(device, moment, "car")
        speed = device.params["free_speed"] * max(0.2, 1 - 0.6 * ratio**3)
        return {
            "t": stamp(moment),
            "intensity": round(device.params["capacity"] * ratio),
            "averageVehicleSpeed": round(speed, 1),
            "occupancy": round(min(0.95, ratio * 0.45), 3),
            "congested": ratio >= 0.85,
        }

    def _bikes(self, device: Device, moment: datetime) -> Payload:
        ratio = self._ratio(device, moment, "bicycle")
        rain = self.rain.rate(device.district, moment)
        cold = climate.temperature(moment)
        ratio *= 1 - 0.5 * min(1.0, rain / 6) - (0.15 if cold < 0 else 0.0)
        return {"t": stamp(moment), "intensity": round(device.params["capacity"] * max(0.0, ratio))}

    def _air(self, device: Device, moment: datetime) -> Payload:
        at = climate.local(moment)
        index = self.index[id(device)]
        slot = int(moment.timestamp() // 900)
        exposure = device.params["exposure"]
        traffic = patterns.traffic_profile(at, "car")
        dilution = 1.6 / (1 + climate.wind(moment) / 15)
        temperature = climate.temperature(moment)
        smoke = max(0.0, (8 - temperature) / 10) * (1.0 if 17 <= at.hour <= 23 else 0.3)
        washout = 1 - 0.5 * min(1.0, self.rain.rate(device.district, moment) / 2)
        no2 = (8 + exposure * 48 * traffic * dilution) * (1 + 0.12 * spread(self.seed, index, slot, 1))
        pm25 = (
            (4 + 5 * smoke + 2.5 * traffic * exposure)
            * washout
            * (1 + 0.15 * spread(self.seed, index, slot, 2))
        )
        pm10 = pm25 * 1.5 + 3 * washout * (1 + 0.2 * spread(self.seed, index, slot, 3))
        no2, pm10, pm25 = round(no2, 1), round(pm10, 1), round(pm25, 1)
        return {
            "t": stamp(moment),
            "no2": no2,
            "pm10": pm10,
            "pm25": pm25,
            "airQualityIndex": patterns.air_quality_index(no2, pm10, pm25),
        }

    def _heat(self, device: Device, moment: datetime) -> Payload:
        index = self.index[id(device)]
        params = device.params
        middle = moment - timedelta(minutes=30)
        kw = patterns.heat_kwh_per_hour(
            params["area"],
            params["label"],
            climate.temperature(middle),
            climate.local(middle),
            params["office"],
        )
        return {"t": stamp(moment), "totalConsumption": self._cumulative(index, moment, kw, params["start"])}

    def _charger(self, device: Device, moment: datetime) -> Payload:
        index = self.index[id(device)]
        params = device.params
        capacity = params["capacity"]
        if unit(self.seed, index, _day(moment), 11) < EV_OUT_OF_SERVICE_PER_DAY:
            return {
                "t": stamp(moment),
                "availableCapacity": 0,
                "status": "outOfService",
                "powerConsumption": 0.0,
            }
        length = {"residential": 5.0, "work": 4.0, "destination": 1.5}[params["site"]] * 3600
        busy, kw = 0, 0.0
        for socket in range(capacity):
            phase = unit(self.seed, index, socket, 12) * length
            session = math.floor((moment.timestamp() + phase) / length)
            began = datetime.fromtimestamp(session * length - phase, UTC)
            if unit(self.seed, index, socket, session) < _charging_demand(
                params["site"], climate.local(began)
            ):
                busy += 1
                progress = (moment - began).total_seconds() / length
                kw += params["kw"] * max(0.1, 1 - 0.8 * progress**2)
        return {
            "t": stamp(moment),
            "availableCapacity": capacity - busy,
            "status": "working",
            "powerConsumption": round(kw, 1),
        }

    def _grid_signal(self, device: Device, moment: datetime) -> Payload:
        return {
            "t": stamp(moment),
            "price": climate.price(moment),
            "co2Intensity": climate.co2_intensity(moment),
        }

    # -- rain and basins -------------------------------------------------------------------------

    def _spin_up_basins(self) -> None:
        """Run the basins through the day before the start, so they begin where the weather left them."""
        moment = self.clock - timedelta(days=1)
        for moment in _grid(self.clock - timedelta(days=1), self.clock, STEP):
            self._step_basins(moment)

    def _step_basins(self, moment: datetime) -> None:
        """The basins' levels after the five minutes up to `moment`."""
        for device in self.basin_devices:
            index = self.index[id(device)]
            params = device.params
            danger = params["danger"]
            rain = self.rain.mm_in_5_minutes(device.district, moment)
            level = self.basins[index] + rain * params["inflow"] * danger / 32
            floor = params["base"] * danger
            drained = danger * 0.9 / (params["drain_hours"] * 12)
            self.basins[index] = min(danger * 1.08, max(floor, level - drained))

    def _water(self, start: datetime, end: datetime, period: timedelta) -> dict[int, list[Payload]]:
        found: dict[int, list[Payload]] = {}
        gauges, basins = self.gauges, self.basin_devices
        for moment in _grid(start, end, STEP):
            self._step_basins(moment)
            on_grid = (moment - climate.EPOCH) % period == timedelta(0)
            for device in gauges:
                index = self.index[id(device)]
                rain = self.rain.mm_in_5_minutes(device.district, moment)
                last = self.reported.get(index)
                if last is None or rain > 0 or last[1] > 0 or on_grid:
                    self.reported[index] = (moment, rain)
                    offset = 0.3 * unit(self.seed, index, 13)
                    temperature = round(climate.temperature(moment) + offset, 1)
                    found.setdefault(index, []).append(
                        {"t": stamp(moment), "precipitation": rain, "temperature": temperature}
                    )
            for device in basins:
                index = self.index[id(device)]
                level = self.basins[index]
                danger = device.params["danger"]
                last = self.reported.get(index)
                if last is None or abs(level - last[1]) >= 0.02 * danger or on_grid:
                    self.reported[index] = (moment, level)
                    found.setdefault(index, []).append(
                        {
                            "t": stamp(moment),
                            "currentLevel": round(level, 3),
                            "floodLevelStatus": patterns.flood_status(level / danger),
                        }
                    )
        return found


def _charging_demand(site: str, at: datetime) -> float:
    """The chance a socket is taken by a session starting at this local time."""
    hour, weekend = at.hour, patterns.is_weekend(at)
    if site == "work":
        return 0.75 if not weekend and 7 <= hour < 16 else 0.08
    if site == "destination":
        return (0.65 if weekend else 0.5) if 10 <= hour < 20 else 0.1
    return 0.65 if hour >= 17 or hour < 6 else 0.25


_PERIODIC = {
    "sim-grid": Simulation._grid_signal,
    "sim-cabinet": Simulation._cabinet,
    "sim-traffic": Simulation._traffic,
    "sim-bikes": Simulation._bikes,
    "sim-air": Simulation._air,
    "sim-heat": Simulation._heat,
    "sim-ev": Simulation._charger,
}
