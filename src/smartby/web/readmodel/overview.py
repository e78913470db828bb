"""The city now, one tile per domain: what the dashboard's overview shows.

Current values come from the city map's snapshot; what needs history (energy today, bikes today,
rain in the last hour, heat against degree days) from aggregations through `broker.history`, which
run in SQL on the hourly rollups. "Today" is the local day (Europe/Copenhagen) of the snapshot's
`now`, which follows a simulator running ahead of the wall clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from smartby.broker import DEFAULT_TENANT, Broker
from smartby.broker.history import history_query
from smartby.ngsild.errors import NgsiLdError
from smartby.ngsild.reads import EntitySelector
from smartby.ngsild.temporal import AggregationPeriod, Bucket, TemporalQuery
from smartby.ngsild.timestamps import micros_of
from smartby.web.readmodel.citymap import CityMap, CitySnapshot, Device
from smartby.web.readmodel.domains import (
    AIR_WARNING,
    BASIN_WARNING,
    CLOUDBURST_MM,
    HEATING_BASE,
    HIGH_LOAD,
    number,
    unit_label,
)

ZONE = ZoneInfo("Europe/Copenhagen")
HOUR = timedelta(hours=1)
BASELINE_DAYS = 7
"""Days before today whose heat use per degree day is the normal."""
IDS_PER_QUERY = 1000

LIGHTING_SAVING = "urn:ngsi-ld:KeyPerformanceIndicator:lighting:city:energy-saved"
"""The lighting service's indicator of the kWh its programs saved today (docs/lighting.md)."""
KPI_VALUE = "https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/kpiValue"

Figure = float | int | None


@dataclass(frozen=True)
class Tile:
    """One domain's tile: a headline value with its unit, a line of detail, whether it warns, the
    figures behind it (for machines), and the devices it points at (warnings)."""

    domain: str
    title: str
    value: float | None
    unit: str
    detail: str
    alert: bool = False
    figures: dict[str, Figure] = field(default_factory=dict)
    devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CityOverview:
    version: str
    now: datetime
    tiles: list[Tile]


def local_midnight(moment: datetime, zone: ZoneInfo = ZONE) -> datetime:
    """The start of `moment`'s local day, in UTC."""
    local = moment.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def covered_hours(bucket: Bucket, now: datetime) -> float:
    """Hours of a period that lie before `now`."""
    end = min(bucket.end, micros_of(now))
    return max(0.0, (end - bucket.start) / 3_600_000_000)


def degree_days(hourly: Sequence[tuple[Bucket, float]], now: datetime, base: float = HEATING_BASE) -> float:
    """Heating degree days of hourly mean temperatures: the sum of (base - T)+ over the hours, each
    hour counting the part of it before `now`, divided by 24."""
    return (
        sum(max(0.0, base - temperature) * covered_hours(bucket, now) for bucket, temperature in hourly) / 24
    )


def mean_per_period(series: Sequence[Sequence[Bucket]], method: str = "avg") -> list[tuple[Bucket, float]]:
    """Several entities' aggregates per period combined: the mean of their `method` values."""
    found: dict[tuple[int, int], list[float]] = defaultdict(list)
    for buckets in series:
        for bucket in buckets:
            value = number(bucket.values.get(method))
            if value is not None:
                found[(bucket.start, bucket.end)].append(value)
    return [
        (Bucket(start, end, {}), sum(values) / len(values)) for (start, end), values in sorted(found.items())
    ]


def increase(buckets: Sequence[Bucket]) -> float | None:
    """How much a cumulative counter grew in the periods: the sum of max - min per period."""
    total: float | None = None
    for bucket in buckets:
        low, high = number(bucket.values.get("min")), number(bucket.values.get("max"))
        if low is not None and high is not None:
            total = (total or 0.0) + max(0.0, high - low)
    return total


def total(buckets: Sequence[Bucket], method: str = "sum") -> float | None:
    values = [v for v in (number(b.values.get(method)) for b in buckets) if v is not None]
    return sum(values) if values else None


class Overview:
    """The overview tiles, computed at most every `max_age` seconds and shared by every reader."""

    def __init__(
        self,
        broker: Broker,
        city: CityMap,
        *,
        tenant: str = DEFAULT_TENANT,
        max_age: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._city = city
        self._tenant = tenant
        self._max_age = max_age
        self._clock = clock
        self._lock = asyncio.Lock()
        self._cached: tuple[float, CityOverview] | None = None

    async def overview(self) -> CityOverview:
        if self._cached is not None and self._clock() - self._cached[0] < self._max_age:
            return self._cached[1]
        async with self._lock:
            if self._cached is not None and self._clock() - self._cached[0] < self._max_age:
                return self._cached[1]
            started = self._clock()
            snapshot = await self._city.snapshot()
            tiles = [
                await self.lighting(snapshot),
                self.traffic(snapshot),
                await self.bikes(snapshot),
                await self.rain(snapshot),
                self.water(snapshot),
                await self.heat(snapshot),
                self.air(snapshot),
                self.charging(snapshot),
                self.grid(snapshot),
                self.reports(snapshot),
            ]
            result = CityOverview(snapshot.version, snapshot.now, tiles)
            self._cached = (started, result)
            return result

    # -- history -------------------------------------------------------------------------------

    async def _aggregate(
        self,
        devices: Sequence[Device],
        iris: Sequence[str],
        methods: tuple[str, ...],
        start: datetime,
        end: datetime,
        period: str = "PT0S",
    ) -> dict[str, list[Bucket]]:
        """Per device, the aggregates of its attribute (named by `iris`) in [start, end)."""
        found: dict[str, list[Bucket]] = {}
        if not devices or not iris or end <= start:
            return found
        temporal = TemporalQuery(
            timerel="between",
            time_at=start,
            end_time_at=end,
            aggr_methods=methods,
            aggr_period=AggregationPeriod.parse(period),
        )
        ids = [device.id for device in devices]
        for first in range(0, len(ids), IDS_PER_QUERY):
            chunk = tuple(ids[first : first + IDS_PER_QUERY])
            query = history_query(
                temporal, selectors=(EntitySelector(ids=chunk),), attrs=tuple(iris), limit=len(chunk)
            )
            page = await self._broker.history.aggregate(self._tenant, query, temporal)
            for entity, attributes in page.entities:
                buckets = found.setdefault(entity.id, [])
                for iri in iris:
                    for attribute in attributes.get(iri, []):
                        if attribute.dataset_id is None:
                            buckets.extend(attribute.buckets)
        return found

    # -- tiles ---------------------------------------------------------------------------------

    async def lighting(self, snapshot: CitySnapshot) -> Tile:
        lights = snapshot.of_domain("lighting", "Streetlight")
        cabinets = snapshot.of_domain("lighting", "StreetlightControlCabinet")
        states = Counter(light.state for light in lights)
        midnight = local_midnight(snapshot.now)
        counters = await self._aggregate(
            cabinets,
            snapshot.iris("StreetlightControlCabinet", "energyConsumed"),
            ("min", "max"),
            midnight,
            snapshot.now + timedelta(seconds=1),
        )
        grown = [g for g in (increase(buckets) for buckets in counters.values()) if g is not None]
        energy = sum(grown) if grown else None
        powers = [number(c.values.get("totalActivePower")) for c in cabinets]
        known = [p for p in powers if p is not None]
        power = sum(known) if known else None
        detail = (
            f"{states['on']} on, {states['dimmed']} dimmed, {states['off']} off, {states['failed']} failed"
        )
        if power is not None:
            detail += f"; {power:,.1f} kW now"
        saved = await self._lighting_saving()
        if saved is not None:
            detail += f"; {saved:,.0f} kWh saved today"
        return Tile(
            "lighting",
            "Lighting energy today",
            energy,
            "kWh",
            detail,
            alert=states["failed"] > 0,
            figures={
                "lights": len(lights),
                "cabinets": len(cabinets),
                "on": states["on"],
                "dimmed": states["dimmed"],
                "off": states["off"],
                "failed": states["failed"],
                "power_kw": power,
                "saved_kwh": saved,
            },
        )

    async def _lighting_saving(self) -> float | None:
        """Today's kWh saved by the lighting service's programs (docs/lighting.md), if it runs."""
        try:
            entity = await self._broker.retrieve_entity(self._tenant, LIGHTING_SAVING)
        except NgsiLdError:
            return None
        for instance in entity.get(KPI_VALUE) or []:
            value = instance.get("value")
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return None

    def traffic(self, snapshot: CitySnapshot) -> Tile:
        counters = snapshot.of_domain("traffic")
        loads = [
            intensity / capacity
            for intensity, capacity in (
                (number(c.values.get("intensity")), number(c.values.get("capacity"))) for c in counters
            )
            if intensity is not None and capacity is not None and capacity > 0
        ]
        index = 100 * sum(loads) / len(loads) if loads else None
        high = sum(1 for load in loads if load >= HIGH_LOAD)
        judged = [c for c in counters if c.state.startswith("los-")]
        jammed = sum(1 for c in judged if c.state in ("los-e", "los-f"))
        detail = f"{high} of {len(counters)} counters at high load"
        if judged:
            detail += f"; {jammed} of {len(judged)} at level of service E or F"
        return Tile(
            "traffic",
            "Traffic index",
            index,
            "% of capacity",
            detail,
            alert=bool(counters)
            and (high * 4 >= len(counters) or (jammed > 0 and jammed * 4 >= len(judged))),
            figures={"counters": len(counters), "reporting": len(loads), "high": high, "levelEF": jammed},
        )

    async def bikes(self, snapshot: CitySnapshot) -> Tile:
        counters = snapshot.of_domain("bikes")
        midnight = local_midnight(snapshot.now)
        hourly = await self._aggregate(
            counters,
            snapshot.iris("TrafficFlowObserved", "intensity"),
            ("avg",),
            midnight,
            snapshot.now + timedelta(seconds=1),
            "PT1H",
        )
        counted = [
            sum((number(b.values.get("avg")) or 0.0) * covered_hours(b, snapshot.now) for b in buckets)
            for buckets in hourly.values()
        ]
        today = sum(counted) if counted else None
        flows = [v for v in (number(c.values.get("intensity")) for c in counters) if v is not None]
        flow = sum(flows) if flows else None
        detail = f"{len(counters)} counters"
        if flow is not None:
            detail += f"; {flow:,.0f} bicycles/h now"
        return Tile(
            "bikes",
            "Bikes today",
            None if today is None else round(today),
            "bicycles",
            detail,
            figures={"counters": len(counters), "flow_per_hour": flow},
        )

    async def rain(self, snapshot: CitySnapshot) -> Tile:
        stations = snapshot.of_domain("rain")
        iris = snapshot.iris("WeatherObserved", "precipitation")
        # A reading is the rain of the 5 minutes up to its observedAt: the windows are (now - w, now].
        end = snapshot.now + timedelta(microseconds=1)
        hour = await self._aggregate(stations, iris, ("sum",), end - HOUR, end)
        half = await self._aggregate(stations, iris, ("sum",), end - HOUR / 2, end)
        hourly = {i: s for i, s in ((i, total(b)) for i, b in hour.items()) if s is not None}
        warned = sorted(i for i, b in half.items() if (total(b) or 0.0) > CLOUDBURST_MM)
        mean = sum(hourly.values()) / len(hourly) if hourly else None
        heaviest = max(hourly.values()) if hourly else None
        if not warned:
            warning = "no cloudburst warning"
        elif len(warned) == 1:
            warning = "1 cloudburst warning"
        else:
            warning = f"{len(warned)} cloudburst warnings"
        detail = warning if heaviest is None else f"heaviest {heaviest:.1f} mm; {warning}"
        return Tile(
            "rain",
            "Rain in the last hour",
            mean,
            "mm (mean of gauges)",
            detail,
            alert=bool(warned),
            figures={
                "stations": len(stations),
                "reporting": len(hourly),
                "max_mm": heaviest,
                "warnings": len(warned),
            },
            devices=tuple(warned),
        )

    def water(self, snapshot: CitySnapshot) -> Tile:
        basins = snapshot.of_domain("water")
        fills: dict[str, float] = {}
        for basin in basins:
            current, danger = (
                number(basin.values.get("currentLevel")),
                number(basin.values.get("dangerLevel")),
            )
            if current is not None and danger is not None and danger > 0:
                fills[basin.id] = current / danger
        above = sorted(i for i, fill in fills.items() if fill >= BASIN_WARNING)
        fullest = max(fills.values()) if fills else None
        detail = f"of {len(basins)} basins" + ("" if fullest is None else f"; fullest {fullest:.0%}")
        return Tile(
            "water",
            "Basins above 80 %",
            len(above),
            "basins",
            detail,
            alert=bool(above),
            figures={
                "basins": len(basins),
                "reporting": len(fills),
                "above": len(above),
                "max_fill": fullest,
            },
            devices=tuple(above),
        )

    async def heat(self, snapshot: CitySnapshot) -> Tile:
        meters = [
            m
            for m in snapshot.of_domain("heat", "SmartMeteringObservation")
            if m.values.get("meterType") == "heat"
        ]
        buildings = snapshot.of_domain("heat", "Building")
        stations = snapshot.of_domain("rain")
        midnight = local_midnight(snapshot.now)
        start = midnight - timedelta(days=BASELINE_DAYS)
        end = snapshot.now + timedelta(seconds=1)
        energy = snapshot.iris("SmartMeteringObservation", "totalConsumption")
        today_use = await self._aggregate(meters, energy, ("min", "max"), midnight, end)
        before_use = await self._aggregate(meters, energy, ("min", "max"), start, midnight)
        temperatures = await self._aggregate(
            stations, snapshot.iris("WeatherObserved", "temperature"), ("avg",), start, end, "PT1H"
        )
        hourly = mean_per_period(list(temperatures.values()))
        cut = micros_of(midnight)
        today_hdd = degree_days([(b, t) for b, t in hourly if b.start >= cut], snapshot.now)
        before_hdd = degree_days([(b, t) for b, t in hourly if b.start < cut], snapshot.now)
        used_today = _sum_known(increase(b) for b in today_use.values())
        used_before = _sum_known(increase(b) for b in before_use.values())
        normal_rate = used_before / before_hdd if used_before is not None and before_hdd >= 0.5 else None
        expected = normal_rate * today_hdd if normal_rate is not None else None
        ratio = 100 * used_today / expected if used_today is not None and expected else None
        parts = []
        if used_today is not None:
            parts.append(f"{used_today:,.0f} kWh today")
        if hourly:
            parts.append(f"{today_hdd:.1f} degree days (base {HEATING_BASE:g} °C)")
        if normal_rate is not None:
            parts.append(f"normal {normal_rate:,.0f} kWh per degree day")
        return Tile(
            "heat",
            "Heat use vs normal",
            ratio,
            "% of normal",
            "; ".join(parts) or f"{len(meters)} heat meters",
            alert=ratio is not None and ratio > 120,
            figures={
                "meters": len(meters),
                "buildings": len(buildings),
                "today_kwh": used_today,
                "degree_days_today": round(today_hdd, 3) if hourly else None,
                "normal_kwh_per_degree_day": normal_rate,
            },
        )

    def air(self, snapshot: CitySnapshot) -> Tile:
        stations = snapshot.of_domain("air")
        indexes = [v for v in (number(s.values.get("airQualityIndex")) for s in stations) if v is not None]
        worst = max(indexes) if indexes else None
        detail = f"{len(stations)} stations"
        if indexes:
            detail += f"; mean {sum(indexes) / len(indexes):.0f}"
        return Tile(
            "air",
            "Air quality (worst)",
            worst,
            "EAQI",
            detail,
            alert=worst is not None and worst >= AIR_WARNING,
            figures={"stations": len(stations), "reporting": len(indexes)},
        )

    def charging(self, snapshot: CitySnapshot) -> Tile:
        stations = snapshot.of_domain("ev")
        working = [s for s in stations if s.state != "out-of-service"]
        sockets = _sum_known(number(s.values.get("capacity")) for s in working)
        free = _sum_known(number(s.values.get("availableCapacity")) for s in working)
        out = len(stations) - len(working)
        detail = f"of {sockets:,.0f} sockets" if sockets is not None else f"{len(stations)} stations"
        detail += f"; {out} stations out of service"
        return Tile(
            "ev",
            "EV sockets free",
            free,
            "sockets",
            detail,
            figures={"stations": len(stations), "sockets": sockets, "out_of_service": out},
        )

    def reports(self, snapshot: CitySnapshot) -> Tile:
        reports = snapshot.of_domain("reports")
        open_ones = [report.id for report in reports if report.state == "open"]
        return Tile(
            "reports",
            "Citizen reports open",
            len(open_ones),
            "reports",
            f"of {len(reports)} reported (Open311)",
            figures={"open": len(open_ones), "reports": len(reports)},
        )

    def grid(self, snapshot: CitySnapshot) -> Tile:
        signals = snapshot.of_domain("grid")
        signal = next((s for s in signals if s.id.endswith(":DK2")), signals[0] if signals else None)
        if signal is None:
            return Tile("grid", "Grid price and CO2 now", None, "DKK/MWh", "no grid signal")
        price = number(signal.values.get("price"))
        co2 = number(signal.values.get("co2Intensity"))
        price_unit = unit_label("price", signal.units.get("price"), "grid")
        co2_unit = unit_label("co2Intensity", signal.units.get("co2Intensity"), "grid")
        detail = "CO2 unknown" if co2 is None else f"CO2 {co2:,.0f} {co2_unit}".rstrip()
        return Tile(
            "grid", "Grid price and CO2 now", price, price_unit, detail, figures={"price": price, "co2": co2}
        )


def _sum_known(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
