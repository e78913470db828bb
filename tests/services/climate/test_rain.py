"""Tests for services/climate/rain.py: rolling sums equal a brute-force sum, DMI's thresholds are
strict (15.0 mm in 30 minutes is no cloudburst, 15.01 is), a window missing readings is incomplete,
and episodes begin and end where the window crosses the threshold."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from smartby.services.climate import rain

START = datetime(2011, 7, 2, 18, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)


def regular(values: list[float]) -> list[rain.Reading]:
    return [(START + FIVE * (number + 1), value) for number, value in enumerate(values)]


amounts = st.lists(
    st.floats(min_value=0, max_value=20, allow_nan=False).map(lambda x: round(x, 1)), max_size=80
)


@given(amounts, st.integers(min_value=0, max_value=90), st.sampled_from([width for _, width in rain.WINDOWS]))
def test_a_window_sum_is_the_sum_of_the_readings_in_it(
    values: list[float], at: int, width: timedelta
) -> None:
    readings = regular(values)
    end = START + FIVE * at
    brute = math.fsum(value for moment, value in readings if end - width < moment <= end)
    assert rain.window_sum(readings, end, width, FIVE).mm == round(brute, rain.DIGITS)


@given(st.integers(min_value=1, max_value=6))
def test_exactly_the_threshold_is_never_an_event(parts: int) -> None:
    readings = regular([15.0 / parts] * parts)
    window = rain.window_sum(readings, START + FIVE * parts, timedelta(minutes=30), FIVE)
    assert window.mm == 15.0
    assert not rain.is_event(window.mm, rain.CLOUDBURST)
    assert rain.episodes(readings, rain.CLOUDBURST, FIVE, START, START + timedelta(hours=2)) == []


@given(st.integers(min_value=1, max_value=6), st.floats(min_value=0.01, max_value=100))
def test_anything_over_the_threshold_is_an_event(parts: int, more: float) -> None:
    total = round(15.0 + more, 2)
    readings = regular([total / parts] * parts)
    window = rain.window_sum(readings, START + FIVE * parts, timedelta(minutes=30), FIVE)
    assert rain.is_event(window.mm, rain.CLOUDBURST)
    [episode] = rain.episodes(readings, rain.CLOUDBURST, FIVE, START, START + timedelta(hours=2))
    assert episode.peak == window.mm
    assert episode.end is not None
    assert rain.window_sum(readings, episode.end, timedelta(minutes=30), FIVE).mm <= 15.0
    assert (
        rain.window_sum(readings, episode.end - timedelta(seconds=1), timedelta(minutes=30), FIVE).mm > 15.0
    )


def test_15_01_mm_is_a_cloudburst_and_the_severity_follows_dmi_multiples() -> None:
    assert rain.is_event(15.01, rain.CLOUDBURST)
    assert not rain.is_event(24.0, rain.HEAVY_RAIN)
    assert rain.is_event(24.01, rain.HEAVY_RAIN)
    assert rain.severity(15.01, rain.CLOUDBURST) == "medium"
    assert rain.severity(30.0, rain.CLOUDBURST) == "medium"
    assert rain.severity(30.1, rain.CLOUDBURST) == "high"
    assert rain.severity(45.1, rain.CLOUDBURST) == "critical"
    assert rain.severity(50.0, rain.HEAVY_RAIN) == "high"


@given(st.integers(min_value=2, max_value=5), st.data())
def test_a_window_missing_a_reading_is_incomplete(count: int, data: st.DataObject) -> None:
    readings = regular([1.0] * 6)
    end = START + FIVE * 6
    assert rain.window_sum(readings, end, timedelta(minutes=30), FIVE).complete
    dropped = data.draw(st.integers(min_value=0, max_value=4))
    missing = readings[:dropped] + readings[dropped + 1 :]
    window = rain.window_sum(missing, end, timedelta(minutes=30), FIVE)
    assert not window.complete
    assert window.mm == 5.0


def test_an_episode_runs_from_its_first_window_to_when_the_rain_left_it() -> None:
    # 10 minutes of 8 mm each 5 minutes, then dry readings every 5 minutes
    readings = regular([*[0.0] * 7, 8.0, 8.0, *[0.0] * 12])
    [episode] = rain.episodes(readings, rain.CLOUDBURST, FIVE, START, readings[-1][0])
    assert episode.peak == 16.0
    assert episode.start == START + FIVE * 9 - timedelta(minutes=30)  # the first window over it
    assert episode.end == START + FIVE * 8 + timedelta(minutes=30)  # the first 8 mm left the window
    assert not episode.incomplete and not episode.truncated


def test_an_episode_of_readings_with_gaps_is_judged_on_what_is_there_and_flagged() -> None:
    readings = [(START + FIVE, 9.0), (START + FIVE * 5, 9.0)]  # three readings missing between
    [episode] = rain.episodes(readings, rain.CLOUDBURST, FIVE, START, START + timedelta(hours=1))
    assert episode.peak == 18.0 and episode.incomplete


def test_an_episode_already_over_the_threshold_at_the_start_is_truncated() -> None:
    readings = regular([10.0, 10.0])
    [episode] = rain.episodes(readings, rain.CLOUDBURST, FIVE, START + FIVE * 2, START + timedelta(hours=1))
    assert episode.truncated
