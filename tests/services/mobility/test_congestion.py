"""The congestion measures as pure functions, against their definitions written out again."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from smartby.services.mobility.congestion import day_figures, level_of_service, percentile, robust_z

times = st.floats(min_value=1.0, max_value=10_000.0, allow_nan=False)
hours = st.integers(min_value=6, max_value=19)


def linear(values: list[float], q: float) -> float:
    """Hyndman and Fan's type 7: the rank q/100 x (n - 1) of the sorted values, interpolated."""
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@given(st.lists(times, min_size=1, max_size=60), st.sampled_from([15.0, 85.0, 95.0, 50.0]))
def test_percentile_is_the_linear_method(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(linear(values, q), rel=1e-12)


@pytest.mark.parametrize(
    ("share", "letter"),
    [(1.2, "A"), (0.86, "A"), (0.85, "B"), (0.68, "B"), (0.67, "C"), (0.51, "C"), (0.50, "D"), (0.41, "D"),
     (0.40, "E"), (0.31, "E"), (0.30, "F"), (0.0, "F")],
)  # fmt: skip
def test_levels_of_service_are_hcm_urban_streets(share: float, letter: str) -> None:
    assert level_of_service(share) == letter


@given(st.floats(min_value=0, max_value=2), st.floats(min_value=0, max_value=2))
def test_a_faster_share_is_never_a_worse_level(one: float, other: float) -> None:
    slow, fast = sorted((one, other))
    assert level_of_service(fast) <= level_of_service(slow)


@given(st.lists(st.tuples(hours, times), min_size=1, max_size=80), times)
def test_day_figures_are_the_fhwa_definitions(readings: list[tuple[int, float]], free: float) -> None:
    figures = day_figures(free, readings)
    assert figures is not None
    values = [time for _, time in readings]
    mean = sum(values) / len(values)
    p95 = linear(values, 95)
    assert figures.tti == pytest.approx(mean / free, rel=1e-9)
    assert figures.pti == pytest.approx(p95 / free, rel=1e-9)
    assert figures.buffer_index == pytest.approx((p95 - mean) / mean, rel=1e-9, abs=1e-12)
    assert figures.readings == len(readings)
    by_hour = {hour: [t for h, t in readings if h == hour] for hour, _ in readings}
    best = max(sum(ts) / len(ts) for ts in by_hour.values())
    peak = by_hour[figures.peak_hour]
    assert sum(peak) / len(peak) == pytest.approx(best, rel=1e-9)
    assert all(
        sum(by_hour[h]) / len(by_hour[h]) < best * (1 - 1e-9) for h in by_hour if h < figures.peak_hour
    )


@given(
    st.lists(st.tuples(hours, times), min_size=1, max_size=40), times, st.floats(min_value=0.1, max_value=10)
)
def test_the_indices_do_not_depend_on_the_unit(
    readings: list[tuple[int, float]], free: float, scale: float
) -> None:
    one = day_figures(free, readings)
    other = day_figures(free * scale, [(hour, time * scale) for hour, time in readings])
    assert one is not None and other is not None
    assert other.tti == pytest.approx(one.tti, rel=1e-9)
    assert other.pti == pytest.approx(one.pti, rel=1e-9)


def test_a_free_flowing_day_is_one_and_nothing_is_no_figures() -> None:
    figures = day_figures(60.0, [(8, 60.0), (9, 60.0)])
    assert figures is not None and (figures.tti, figures.pti, figures.buffer_index) == (1.0, 1.0, 0.0)
    assert day_figures(60.0, []) is None and day_figures(0.0, [(8, 60.0)]) is None


def test_robust_z_is_median_and_scaled_mad() -> None:
    assert robust_z(100.0, [1.0, 2.0, 3.0, 4.0, 100.0]) == pytest.approx(97 / 1.4826)
    assert robust_z(5.0, [5.0, 5.0, 5.0]) is None and robust_z(1.0, []) is None


@given(
    st.floats(min_value=-1e3, max_value=1e3),
    st.lists(st.floats(min_value=-1e3, max_value=1e3), min_size=2, max_size=30),
    st.floats(min_value=-100, max_value=100),
    st.floats(min_value=0.5, max_value=5),
)
def test_robust_z_is_unchanged_by_shift_and_scale(
    value: float, usual: list[float], shift: float, scale: float
) -> None:
    # Well-conditioned cases only: a spread below a millionth of the values' size is lost to
    # rounding once they are shifted (MAD 5e-13 beside a shift of 1 is float noise, not a spread).
    spread = float(np.median(np.abs(np.asarray(usual) - np.median(usual))))
    assume(spread == 0 or spread > 1e-6 * (max(map(abs, usual)) + abs(shift) + 1))
    one = robust_z(value, usual)
    other = robust_z(value * scale + shift, [x * scale + shift for x in usual])
    if one is None or other is None:
        return
    assert other == pytest.approx(one, rel=1e-6, abs=1e-6)
