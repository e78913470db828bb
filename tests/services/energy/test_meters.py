"""A register's readings to hourly and daily use: resets, meter swaps, rollovers, gaps within and
beyond the limit, answers known by hand; and properties of the conversion (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.services.energy.meters import combined, daily, hourly, rollover

T0 = datetime(2026, 1, 5, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
LIMIT = timedelta(hours=24)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def uses(readings: list[tuple[float, float]], limit: timedelta = LIMIT) -> dict[float, float | None]:
    """Use per hour (hours after T0), None for an hour not known."""
    found = hourly([(at(h), value) for h, value in readings], limit)
    return {
        (hour - T0) / HOUR: (slot.kwh if slot.known else None) for hour, slot in sorted(found.hours.items())
    }


def test_steady_hourly_readings_are_the_differences() -> None:
    assert uses([(0, 100.0), (1, 110.0), (2, 125.5)]) == {0: 10.0, 1: 15.5}


def test_a_reset_is_not_negative_use_and_the_register_is_followed_on() -> None:
    found = hourly([(at(0), 100.0), (at(1), 110.0), (at(2), 5.0), (at(3), 15.0)], LIMIT)
    assert (found.resets, found.rollovers) == (1, 0)
    assert {(h - T0) / HOUR: s.kwh for h, s in found.hours.items()} == {0: 10.0, 2: 10.0}
    assert all(slot.kwh >= 0 for slot in found.hours.values())


def test_a_meter_swap_to_another_register_is_a_reset() -> None:
    found = hourly([(at(0), 5000.0), (at(1), 5010.0), (at(2), 200.0), (at(3), 212.0)], LIMIT)
    assert (found.resets, found.rollovers) == (1, 0)
    assert sorted(slot.kwh for slot in found.hours.values()) == [10.0, 12.0]


def test_a_rollover_counts_up_to_the_power_of_ten_and_on_from_zero() -> None:
    assert rollover(99_995.0, 3.0) == pytest.approx(8.0)
    assert rollover(999.5, 0.25) == pytest.approx(0.75)
    assert rollover(5010.0, 200.0) is None  # a drop far from the register's end
    assert rollover(99_995.0, 50_000.0) is None  # not near zero after
    found = hourly([(at(0), 99_990.0), (at(1), 99_995.0), (at(2), 3.0), (at(3), 8.0)], LIMIT)
    assert (found.resets, found.rollovers) == (0, 1)
    assert [round(s.kwh, 9) for _, s in sorted(found.hours.items())] == [5.0, 8.0, 5.0]


def test_a_gap_within_the_limit_is_spread_evenly_and_flagged() -> None:
    found = hourly([(at(0), 0.0), (at(1), 10.0), (at(4), 40.0)], LIMIT)
    assert found.spread_gaps == 1
    slots = [found.hours[at(h)] for h in range(4)]
    assert [s.kwh for s in slots] == [10.0, 10.0, 10.0, 10.0]
    assert [s.spread for s in slots] == [False, True, True, True]
    assert all(s.known for s in slots)


def test_a_gap_beyond_the_limit_is_left_unknown() -> None:
    found = uses([(0, 0.0), (1, 10.0), (5, 50.0), (6, 55.0)], limit=timedelta(hours=3))
    assert found == {0: 10.0, 5: 5.0}
    assert hourly([(at(0), 0.0), (at(1), 10.0), (at(5), 50.0)], timedelta(hours=3)).missing_gaps == 1


def test_readings_between_the_hours_are_shared_by_time() -> None:
    found = uses([(0.5, 0.0), (1.5, 10.0), (2.5, 20.0)])
    assert found == {0: None, 1: 10.0, 2: None}  # hours 0 and 2 half covered
    half = hourly([(at(0.5), 0.0), (at(1.5), 10.0)], LIMIT)
    assert half.hours[at(0)].kwh == pytest.approx(5.0) and not half.hours[at(0)].known


def test_local_days_of_23_and_25_hours() -> None:
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # 29 March 2026 00:00 in Copenhagen, 23 hours long
    readings = [(start + k * HOUR, float(k)) for k in range(23 + 24 + 1)]
    [spring, after] = daily(
        hourly(readings, LIMIT), date(2026, 3, 29), date(2026, 3, 30), "Europe/Copenhagen"
    )
    assert (spring.kwh, spring.known, after.kwh, after.known) == (23.0, True, 24.0, True)
    autumn = datetime(2026, 10, 24, 22, tzinfo=UTC)  # 25 October: 25 hours
    readings = [(autumn + k * HOUR, 2.0 * k) for k in range(26)]
    [day] = daily(hourly(readings, LIMIT), date(2026, 10, 25), date(2026, 10, 25), "Europe/Copenhagen")
    assert (day.kwh, day.known) == (50.0, True)


def test_a_day_missing_an_hour_is_not_known_and_meters_add_up() -> None:
    start = datetime(2026, 1, 4, 23, tzinfo=UTC)
    full = [(start + k * HOUR, float(k)) for k in range(25)]
    holed = [reading for k, reading in enumerate(full) if k not in (5, 6)]
    zone = "Europe/Copenhagen"
    [one] = daily(hourly(full, LIMIT), date(2026, 1, 5), date(2026, 1, 5), zone)
    [two] = daily(hourly(holed, timedelta(hours=3)), date(2026, 1, 5), date(2026, 1, 5), zone)
    [three] = daily(hourly(holed, timedelta(hours=2)), date(2026, 1, 5), date(2026, 1, 5), zone)
    assert (one.known, two.known, two.spread, three.known) == (True, True, True, False)
    [both] = combined([[one], [two]])
    assert (both.kwh, both.known, both.spread) == (48.0, True, True)
    assert not combined([[one], [three]])[0].known


steps = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=180),  # minutes to the next reading
        st.floats(min_value=0, max_value=500, allow_nan=False),  # what the register counted
    ),
    min_size=1,
    max_size=60,
)


@given(steps, st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_use_is_never_negative_and_sums_to_the_registers_increase(
    increments: list[tuple[int, float]], first: float
) -> None:
    readings = [(T0, first)]
    for minutes, kwh in increments:
        readings.append((readings[-1][0] + timedelta(minutes=minutes), readings[-1][1] + kwh))
    found = hourly(readings, LIMIT)
    assert all(slot.kwh >= 0 for slot in found.hours.values())
    assert sum(slot.kwh for slot in found.hours.values()) == pytest.approx(
        readings[-1][1] - first, rel=1e-9, abs=1e-6
    )


@given(steps, st.lists(st.integers(min_value=0, max_value=59), max_size=5))
def test_drops_never_make_negative_use(increments: list[tuple[int, float]], drops: list[int]) -> None:
    readings = [(T0, 1000.0)]
    for index, (minutes, kwh) in enumerate(increments):
        value = 0.0 if index in drops else readings[-1][1] + kwh
        readings.append((readings[-1][0] + timedelta(minutes=minutes), value))
    found = hourly(readings, LIMIT)
    assert all(slot.kwh >= 0 for slot in found.hours.values())
    assert sum(slot.kwh for slot in found.hours.values()) <= sum(kwh for _, kwh in increments) + 1e-6
