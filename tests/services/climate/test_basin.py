"""Tests for services/climate/basin.py: the fill rate is numpy's least-squares slope (exact for a
straight line, whatever the noise's sign), the time until full, and the flood risk and flooding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from smartby.services.climate import basin

START = datetime(2011, 7, 2, 18, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)
LIMITS = basin.Limits()


@given(
    st.floats(min_value=-2, max_value=2, allow_nan=False),
    st.floats(min_value=0, max_value=3, allow_nan=False),
    st.integers(min_value=2, max_value=12),
)
def test_the_fill_rate_of_a_straight_line_is_its_slope(slope: float, base: float, count: int) -> None:
    levels = [(START + FIVE * k, base + slope * (5 * k) / 60) for k in range(count)]
    rate = basin.fill_rate(levels)
    assert rate is not None and abs(rate - slope) < 1e-6


def test_the_fill_rate_is_the_least_squares_fit_and_needs_two_moments() -> None:
    levels = [(START, 1.0), (START + FIVE, 1.3), (START + FIVE * 2, 1.2), (START + FIVE * 3, 1.6)]
    hours = np.array([0, 5, 10, 15]) / 60
    expected = np.polyfit(hours, [1.0, 1.3, 1.2, 1.6], 1)[0]
    assert abs((basin.fill_rate(levels) or 0) - expected) < 1e-9
    assert basin.fill_rate(levels[:1]) is None


def test_time_until_full_and_the_flood_conditions() -> None:
    # 1 m/h towards a 4 m danger level from 2.5 m: full in 90 minutes
    levels = [(START + FIVE * k, 2.0 + k * 5 / 60) for k in range(7)]
    state = basin.state(levels, levels[-1][0], 4.0, LIMITS)
    assert state is not None
    assert state.until_full is not None and abs(state.until_full.total_seconds() - 5400) < 1
    assert not basin.at_risk(state, LIMITS)
    later = [(START + FIVE * k, 2.0 + k * 10 / 60) for k in range(7)]  # 2 m/h from 3 m: 30 minutes
    risky = basin.state(later, later[-1][0], 4.0, LIMITS)
    assert risky is not None and basin.at_risk(risky, LIMITS) and not basin.flooding(risky, LIMITS)
    full = basin.state([(START, 3.3)], START, 4.0, LIMITS)  # 82 % full, not filling
    assert full is not None and full.until_full is None and basin.at_risk(full, LIMITS)
    flooded = basin.state([(START, 4.0)], START, 4.0, LIMITS)
    assert flooded is not None and basin.flooding(flooded, LIMITS)


def test_flooding_episodes_from_reading_to_reading() -> None:
    values = [3.0, 3.9, 4.1, 4.2, 3.8, 3.0]
    levels = [(START + FIVE * k, value) for k, value in enumerate(values)]
    [episode] = basin.episodes(levels, 4.0, basin.flooding, LIMITS, START, levels[-1][0])
    assert (episode.start, episode.end) == (START + FIVE * 2, START + FIVE * 4)
    assert episode.peak == 4.2 / 4.0


@given(
    st.floats(min_value=0.1, max_value=3.9, allow_nan=False),
    st.lists(st.floats(min_value=-1e-12, max_value=1e-12, allow_nan=False), min_size=2, max_size=8),
)
def test_a_level_flat_but_for_float_noise_is_not_filling(level: float, noise: list[float]) -> None:
    levels = [(START + FIVE * k, level + wobble) for k, wobble in enumerate(noise)]
    state = basin.state(levels, levels[-1][0], 4.0, LIMITS)
    assert state is not None
    assert state.until_full is None or state.until_full <= timedelta(days=365)
    assert basin.at_risk(state, LIMITS) == (state.fill > LIMITS.share)
