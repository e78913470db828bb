"""The testbed's readings follow the patterns it promises: rush hours, weekends, lights by the sun
(checked against astral directly), failures, a cloudburst that fills basins which then drain, heat
by outdoor temperature; and a seed decides them all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import sunrise, sunset

from smartby.sim import climate, patterns
from smartby.sim.city import City, build_city
from smartby.sim.models import LIGHT_HEARTBEAT, Payload, Simulation

CPH = ZoneInfo("Europe/Copenhagen")
MONDAY = datetime(2026, 11, 16, tzinfo=CPH).astimezone(UTC)
"""A Monday in November, local midnight."""


@cache
def city() -> City:
    return build_city(400, seed=7)


@cache
def week(start: datetime = MONDAY, period_minutes: int = 60) -> dict[str, list[Payload]]:
    """A week of readings of the city, by entity id."""
    simulation = Simulation(city(), start)
    found: dict[str, list[Payload]] = {}
    moment = start
    while moment < start + timedelta(days=7):
        moment += timedelta(hours=12)
        for device, payloads in simulation.advance(moment, timedelta(minutes=period_minutes)):
            found.setdefault(device.entity_id, []).extend(payloads)
    return found


def at(payload: Payload) -> datetime:
    return datetime.fromisoformat(payload["t"].replace("Z", "+00:00"))


def of_kind(kind: str) -> Iterator[list[Payload]]:
    for device in city().of_kind(kind):
        yield week()[device.entity_id]


def local_hour_values(payloads: list[Payload], name: str, day: int, hours: range) -> list[float]:
    return [
        p[name] for p in payloads if (local := at(p).astimezone(CPH)).weekday() == day and local.hour in hours
    ]


def test_rush_hour_traffic_peaks_above_the_night_trough() -> None:
    for kind in ("sim-traffic", "sim-bikes"):
        for payloads in of_kind(kind):
            for day in range(5):
                rush = max(local_hour_values(payloads, "intensity", day, range(7, 10)))
                night = max(local_hour_values(payloads, "intensity", day, range(2, 5)))
                assert rush > 4 * night, (kind, day, rush, night)
                evening = max(local_hour_values(payloads, "intensity", day, range(15, 18)))
                midday = min(local_hour_values(payloads, "intensity", day, range(11, 14)))
                assert evening > midday


def test_weekdays_have_rush_hours_weekends_do_not() -> None:
    for kind in ("sim-traffic", "sim-bikes"):
        for payloads in of_kind(kind):
            weekday_morning = sum(local_hour_values(payloads, "intensity", 2, range(7, 10)))
            saturday_morning = sum(local_hour_values(payloads, "intensity", 5, range(7, 10)))
            assert weekday_morning > 1.8 * saturday_morning
            saturday = local_hour_values(payloads, "intensity", 5, range(24))
            assert max(saturday) == max(local_hour_values(payloads, "intensity", 5, range(10, 17)))


def test_congestion_follows_the_rush_hour() -> None:
    levels = [
        p["intensity"] / device.params["capacity"]
        for device in city().of_kind("sim-traffic")
        for p in week()[device.entity_id]
    ]
    assert max(levels) >= 0.75 and min(levels) < 0.1
    congested = [p for payloads in of_kind("sim-traffic") for p in payloads if p["congested"]]
    assert congested and all(at(p).astimezone(CPH).hour in range(6, 19) for p in congested)


_OBSERVER = Observer(latitude=55.6761, longitude=12.5683)


def _dark(moment: datetime) -> bool:
    day = moment.astimezone(CPH).date()
    return moment < sunrise(_OBSERVER, date=day, tzinfo=CPH) or moment >= sunset(
        _OBSERVER, date=day, tzinfo=CPH
    )


def _state_at(payloads: list[Payload], moment: datetime) -> Payload:
    return [p for p in payloads if at(p) <= moment][-1]


def sound_lights() -> list[list[Payload]]:
    """The street lights without a silent fault."""
    return [week()[d.entity_id] for d in city().of_kind("sim-streetlight") if "fault" not in d.params]


def test_street_lights_are_lit_only_between_sunset_and_sunrise_and_dimmed_after_midnight() -> None:
    lights = sound_lights()
    assert len(lights) > 200
    for payloads in lights:
        assert at(payloads[0]) == MONDAY
        for payload in payloads:
            if payload["powerState"] in ("on", "low"):
                assert _dark(at(payload)), payload
            if payload["powerState"] == "low":
                assert 0 <= at(payload).astimezone(CPH).hour < 5
                assert 0 < payload["illuminanceLevel"] < 1 and payload["status"] == "ok"
    moment = datetime(2026, 11, 18, 20, tzinfo=CPH)
    states = [_state_at(payloads, moment) for payloads in lights]
    assert sum(s["powerState"] == "on" for s in states) > 0.9 * len(states)
    assert all(s["powerState"] == "off" for s in (_state_at(p, moment.replace(hour=13)) for p in lights))
    night = [_state_at(payloads, moment + timedelta(hours=6)) for payloads in lights]
    assert sum(s["powerState"] == "low" for s in night) > 0.9 * len(night)


def test_three_street_lights_fail_silently() -> None:
    faulty = {
        d.params["fault"]: week()[d.entity_id]
        for d in city().of_kind("sim-streetlight")
        if "fault" in d.params
    }
    assert set(faulty) == {"deadLamp", "dayBurner", "stuckDriver"}
    lit = [p for p in faulty["deadLamp"] if p["powerState"] in ("on", "low") and p["status"] == "ok"]
    assert lit and all(p["powerConsumption"] == 0 for p in lit)  # says it is lit, draws nothing
    noon = datetime(2026, 11, 18, 13, tzinfo=CPH)
    assert _state_at(faulty["dayBurner"], noon)["powerConsumption"] > 0  # burns by day
    dimmed = [p for p in faulty["stuckDriver"] if p["powerState"] == "low"]
    assert dimmed and all(p["illuminanceLevel"] < 1 for p in dimmed)
    assert (
        len({p["powerConsumption"] for p in faulty["stuckDriver"] if p["powerState"] != "off"}) == 1
    )  # full


def test_a_few_street_lights_fail_and_are_repaired() -> None:
    lights = list(of_kind("sim-streetlight"))
    failed = [payloads for payloads in lights if any(p["status"] != "ok" for p in payloads)]
    assert 0 < len(failed) < 0.1 * len(lights)
    for payloads in failed:
        broken = next(p for p in payloads if p["status"] != "ok")
        assert broken["status"] in ("defectiveLamp", "columnIssue", "brokenLantern")
        assert broken["powerState"] == "off" and broken["powerConsumption"] == 0
    assert any(payloads[-1]["status"] == "ok" for payloads in failed)


def test_a_cloudburst_passes_over_every_district_and_fills_the_basins_which_then_drain() -> None:
    for payloads in of_kind("sim-rain"):
        rain = {at(p): p["precipitation"] for p in payloads}
        worst = max(
            sum(rain.get(t + timedelta(minutes=5 * k), 0.0) for k in range(6)) for t in rain
        )  # mm in 30 minutes
        assert worst > 15
    for device in city().of_kind("sim-basin"):
        payloads = week()[device.entity_id]
        fills = [(at(p), p["currentLevel"] / device.params["danger"]) for p in payloads]
        peak_time, peak = max(fills, key=lambda item: item[1])
        assert peak > 0.8
        assert next(p for p in payloads if at(p) == peak_time)["floodLevelStatus"] in ("warning", "flood")
        later = [fill for moment, fill in fills if peak_time + timedelta(hours=12) <= moment]
        assert later and min(later) < 0.5
        assert fills[0][1] < 0.5


def test_cloudbursts_come_once_a_week_at_a_time_the_seed_chooses() -> None:
    first = climate.cloudbursts_between(7, MONDAY, MONDAY + timedelta(days=7))
    assert len(climate.cloudbursts_between(7, MONDAY, MONDAY + timedelta(days=28))) == 4
    assert climate.cloudbursts_between(8, MONDAY, MONDAY + timedelta(days=7)) != first


def _daily_heat(start: datetime) -> dict[str, float]:
    payloads = week(start)
    used = {}
    for device in city().of_kind("sim-heat"):
        readings = payloads[device.entity_id]
        used[device.entity_id] = (readings[-1]["totalConsumption"] - readings[0]["totalConsumption"]) / 7
    return used


def test_heat_use_follows_heating_degree_days() -> None:
    january = datetime(2027, 1, 11, tzinfo=CPH).astimezone(UTC)  # the shipped January week: ~ -1.6 °C
    september = datetime(2026, 9, 7, tzinfo=CPH).astimezone(UTC)  # ~ 12 °C
    cold, mild = _daily_heat(january), _daily_heat(september)
    assert all(cold[entity] > 1.5 * mild[entity] for entity in cold)
    noon = datetime(2026, 11, 18, 12, tzinfo=CPH)
    assert patterns.heat_kwh_per_hour(1000, "D", -5, noon, False) > patterns.heat_kwh_per_hour(
        1000, "D", 5, noon, False
    )
    assert patterns.heat_kwh_per_hour(1000, "D", 20, noon, False) == patterns.heat_kwh_per_hour(
        1000, "D", 17, noon, False
    )
    assert patterns.heat_kwh_per_hour(1000, "G", 0, noon, False) > patterns.heat_kwh_per_hour(
        1000, "A", 0, noon, False
    )


def test_meters_and_cabinets_only_count_up() -> None:
    for kind, name in (("sim-heat", "totalConsumption"), ("sim-cabinet", "energyConsumed")):
        for payloads in of_kind(kind):
            values = [p[name] for p in payloads]
            assert values == sorted(values) and values[-1] > values[0]


def test_the_grid_signal_has_a_price_and_a_co2_intensity_every_hour() -> None:
    payloads = week()["urn:ngsi-ld:GridSignal:DK2"]
    assert len(payloads) == 7 * 24
    assert len({p["price"] for p in payloads}) > 100
    assert all(20 <= p["co2Intensity"] <= 400 for p in payloads)


def test_air_quality_index_is_the_worst_sub_index() -> None:
    assert patterns.air_quality_index(10, 10, 5) == 10
    assert patterns.air_quality_index(10, 10, 30) == 64
    assert patterns.air_quality_index(400, 10, 5) == 102
    for payloads in of_kind("sim-air"):
        for p in payloads:
            assert p["airQualityIndex"] == patterns.air_quality_index(p["no2"], p["pm10"], p["pm25"])


def test_chargers_are_busier_than_never_and_freer_than_always() -> None:
    for device in city().of_kind("sim-ev"):
        payloads = week()[device.entity_id]
        free = {p["availableCapacity"] for p in payloads if p["status"] == "working"}
        assert min(free) >= 0 and max(free) <= device.params["capacity"]
        assert len(free) > 1


def _readings(seed: int) -> list[tuple[str, list[Payload]]]:
    simulation = Simulation(build_city(150, seed), MONDAY)
    found = []
    for hours in (6, 30, 31):
        found += [
            (device.entity_id, payloads)
            for device, payloads in simulation.advance(MONDAY + timedelta(hours=hours), timedelta(minutes=30))
        ]
    return found


def test_a_seed_gives_the_same_readings_another_seed_others() -> None:
    first, again, other = _readings(3), _readings(3), _readings(4)
    assert first == again
    assert len(first) > 150
    assert first != other
    ids = {entity for entity, _ in first}
    assert any(a != b for (e1, a), (e2, b) in zip(first, other, strict=False) if e1 == e2 and e1 in ids)


def test_the_shipped_week_of_each_month_is_complete() -> None:
    for month in range(1, 13):
        for day in range(7):
            moment = datetime(2026, month, 10 + day, 13, tzinfo=CPH)
            hour = climate.hour_of(moment)
            assert -25 < hour.temperature < 40 and hour.rain >= 0
    assert climate.sun_times(date(2026, 6, 21))[1] - climate.sun_times(date(2026, 6, 21))[0] > timedelta(
        hours=17
    )


def test_streaming_street_lights_report_their_state_at_once_and_every_heartbeat() -> None:
    small = build_city(60, seed=3)
    simulation = Simulation(small, MONDAY)
    simulation.advance(MONDAY + timedelta(hours=2, minutes=7), timedelta(hours=1))  # back-fill: changes only
    simulation.heartbeat = LIGHT_HEARTBEAT
    start = simulation.clock
    found = {d.entity_id: p for d, p in simulation.advance(start + timedelta(hours=1), timedelta(minutes=5))}
    for light in small.of_kind("sim-streetlight"):
        moments = [at(p) for p in found[light.entity_id]]
        assert moments[0] == start
        assert set(moments[1:]) >= {MONDAY + timedelta(hours=2, minutes=m) for m in (15, 30, 45)}
