"""The plan by which an aggregation reads hourly rollups: which hours come whole from the rollup and
which from the instances, and when only the instances give the same answer."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.reads import Buckets, HistoryQuery
from smartby.ngsild.timestamps import to_micros
from smartby.store.rollup_plan import HOUR, MAX_CUT, ROLLUP_METHODS, HourlyPlan, hour_of, hourly_plan

MINUTE = 60_000_000
DAY = 24 * HOUR
BASE = to_micros("2024-03-10T00:00:00Z")
BEFORE_1970 = to_micros("1969-11-03T00:00:00Z")
PLANS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def window(start: int | None, end: int | None, timeproperty: str = "observedAt") -> HistoryQuery:
    return HistoryQuery(start=start, end=end, timeproperty=timeproperty)


def whole_hours(plan: HourlyPlan) -> list[int]:
    """The hours of a closed window the plan reads from the rollup."""
    assert plan.first is not None and plan.last is not None
    return [hour for hour in range(plan.first, plan.last, HOUR) if hour not in plan.cut]


def assert_covers_exactly(plan: HourlyPlan, start: int, end: int) -> None:
    """Whole hours and partial ranges together are [start, end), each moment once."""
    pieces = sorted([(hour, hour + HOUR) for hour in whole_hours(plan)] + list(plan.partial))
    assert pieces, "a window is read from somewhere"
    assert pieces[0][0] == start
    assert pieces[-1][1] == end
    for (_, before_end), (after_start, _) in pairwise(pieces):
        assert before_end == after_start, "no gap and no overlap"
    assert all(low < high for low, high in pieces)


def expected_cut(moments: Sequence[int], start: int, end: int) -> list[int]:
    """The hours overlapping [start, end) that a window edge or a period bound falls inside of."""
    return sorted(
        {
            hour_of(moment)
            for moment in (start, end, *moments)
            if moment % HOUR and hour_of(moment) + HOUR > start and hour_of(moment) < end
        }
    )


# ----------------------------------------------------------------------------------------------------
# hour_of


def test_the_hour_of_a_moment_before_1970_starts_before_it() -> None:
    assert hour_of(to_micros("1969-12-31T23:30:00Z")) == to_micros("1969-12-31T23:00:00Z")
    assert hour_of(-1) == -HOUR
    assert hour_of(-HOUR) == -HOUR
    assert hour_of(0) == 0
    assert hour_of(to_micros("2024-03-10T05:59:59.999999Z")) == to_micros("2024-03-10T05:00:00Z")


@given(st.integers(-(2**62), 2**62))
def test_the_hour_of_a_moment_holds_it(at: int) -> None:
    hour = hour_of(at)
    assert hour % HOUR == 0
    assert hour <= at < hour + HOUR


# ----------------------------------------------------------------------------------------------------
# When only the instances give the same answer


@pytest.mark.parametrize("method", ["distinctCount", "unknown"])
def test_a_method_the_rollup_cannot_answer_needs_the_instances(method: str) -> None:
    buckets = Buckets(width=DAY, origin=BASE)
    assert hourly_plan(window(BASE, BASE + DAY), ("sum", method), buckets) is None
    assert hourly_plan(window(BASE, BASE + DAY), ("sum",), buckets) is not None


@pytest.mark.parametrize("method", ["totalCount", "sum", "avg", "min", "max", "stddev", "sumsq"])
def test_a_method_a_rollup_row_sums_up_is_answered_from_the_rollup(method: str) -> None:
    assert method in ROLLUP_METHODS
    plan = hourly_plan(window(BASE, BASE + DAY), (method,), Buckets(width=DAY, origin=BASE))
    assert plan == HourlyPlan(BASE, DAY, first=BASE, last=BASE + DAY)


@pytest.mark.parametrize("timeproperty", ["createdAt", "modifiedAt", "deletedAt"])
def test_another_time_property_needs_the_instances(timeproperty: str) -> None:
    query = window(BASE, BASE + DAY, timeproperty)
    assert hourly_plan(query, ("sum",), Buckets(width=DAY, origin=BASE)) is None
    assert hourly_plan(query, ("sum",), Buckets(origin=BASE, end=BASE + DAY)) is None


def test_periods_from_each_entity_s_first_instance_need_the_instances() -> None:
    assert hourly_plan(window(BASE, BASE + DAY), ("sum",), Buckets(width=DAY)) is None
    assert hourly_plan(window(None, None), ("sum",), Buckets(width=HOUR)) is None
    assert hourly_plan(window(BASE, BASE + DAY), ("sum",), Buckets(end=BASE + DAY)) is None


def test_one_period_to_each_entity_s_last_instance_needs_the_instances() -> None:
    assert hourly_plan(window(BASE, None), ("sum",), Buckets(origin=BASE)) is None

    def months(start: int, finish: int) -> list[tuple[int, int]]:
        return [(start, finish)]

    assert hourly_plan(window(BASE, None), ("sum",), Buckets(origin=BASE, calendar=months)) is None


@pytest.mark.parametrize("width", [MINUTE, 15 * MINUTE, 30 * MINUTE, 59 * MINUTE])
def test_periods_shorter_than_an_hour_need_the_instances(width: int) -> None:
    assert hourly_plan(window(BASE, BASE + DAY), ("sum",), Buckets(width=width, origin=BASE)) is None


def test_periods_not_on_whole_hours_and_few_hours_long_need_the_instances() -> None:
    query = window(BASE + 10 * MINUTE, BASE + 2 * DAY)
    assert hourly_plan(query, ("avg",), Buckets(width=90 * MINUTE, origin=BASE + 10 * MINUTE)) is None
    # As long, but each bound on a whole hour: nothing is cut but the window's start.
    plan = hourly_plan(query, ("avg",), Buckets(width=2 * HOUR, origin=BASE))
    assert plan is not None and plan.cut == (BASE,)


def test_a_window_cut_in_most_of_its_hours_needs_the_instances() -> None:
    # Three hours, the first and the last cut by the window's edges.
    query = window(BASE + 10 * MINUTE, BASE + 2 * HOUR + 10 * MINUTE)
    assert hourly_plan(query, ("sum",), Buckets(width=DAY, origin=BASE)) is None
    longer = window(BASE + 10 * MINUTE, BASE + 4 * HOUR + 10 * MINUTE)
    plan = hourly_plan(longer, ("sum",), Buckets(width=DAY, origin=BASE))
    assert plan is not None and plan.cut == (BASE, BASE + 4 * HOUR)


def test_more_cut_hours_than_max_cut_need_the_instances() -> None:
    # Periods of three hours and a minute: nearly every bound cuts an hour, a third of the hours.
    width = 3 * HOUR + MINUTE
    origin = BASE + MINUTE

    def plan(periods: int) -> HourlyPlan | None:
        end = origin + periods * width
        return hourly_plan(window(origin, end), ("sum",), Buckets(width=width, origin=origin))

    fewer = plan(MAX_CUT // 2)
    assert fewer is not None and MAX_CUT // 3 < len(fewer.cut) <= MAX_CUT
    assert plan(MAX_CUT + 100) is None


def test_an_open_window_needs_the_instances_unless_periods_and_edges_are_on_whole_hours() -> None:
    daily = Buckets(width=DAY, origin=BASE)
    assert hourly_plan(window(BASE, None), ("sum",), daily) == HourlyPlan(BASE, DAY, first=BASE, last=None)
    assert hourly_plan(window(None, BASE + DAY), ("sum",), daily) == HourlyPlan(
        BASE, DAY, first=None, last=BASE + DAY
    )
    assert hourly_plan(window(None, None), ("sum",), daily) == HourlyPlan(BASE, DAY)
    assert hourly_plan(window(BASE + MINUTE, None), ("sum",), daily) is None
    assert hourly_plan(window(None, BASE + MINUTE), ("sum",), daily) is None
    assert hourly_plan(window(BASE, None), ("sum",), Buckets(width=DAY, origin=BASE + MINUTE)) is None
    assert hourly_plan(window(BASE, None), ("sum",), Buckets(width=DAY + MINUTE, origin=BASE)) is None


# ----------------------------------------------------------------------------------------------------
# Plans


def test_a_day_shifted_by_minutes_cuts_the_hours_of_its_bounds() -> None:
    start, end = BASE + 10 * MINUTE, BASE + 2 * DAY + 10 * MINUTE
    plan = hourly_plan(window(start, end), ("sum",), Buckets(width=DAY, origin=start))
    assert plan is not None
    assert plan.cut == (BASE, BASE + DAY, BASE + 2 * DAY)
    assert plan.partial == ((start, BASE + HOUR), (BASE + DAY, BASE + DAY + HOUR), (BASE + 2 * DAY, end))
    assert (plan.first, plan.last) == (BASE, BASE + 2 * DAY + HOUR)
    assert_covers_exactly(plan, start, end)


def test_a_plan_before_1970_cuts_the_same_hours() -> None:
    start, end = BEFORE_1970 + 10 * MINUTE, BEFORE_1970 + DAY + 20 * MINUTE
    plan = hourly_plan(window(start, end), ("max",), Buckets(width=6 * HOUR, origin=start))
    assert plan is not None
    assert plan.cut == tuple(BEFORE_1970 + n * 6 * HOUR for n in range(5))
    assert_covers_exactly(plan, start, end)


def test_calendar_periods_carry_their_bounds_and_cut_the_hours_they_fall_in() -> None:
    start, end = BASE, BASE + 60 * DAY
    bounds = ((BASE, BASE + 20 * DAY + 30 * MINUTE), (BASE + 20 * DAY + 30 * MINUTE, BASE + 60 * DAY))
    asked: list[tuple[int, int]] = []

    def calendar(origin: int, finish: int) -> tuple[tuple[int, int], ...]:
        asked.append((origin, finish))
        return bounds

    plan = hourly_plan(window(start, end), ("sum",), Buckets(origin=start, end=end, calendar=calendar))
    assert asked == [(start, end)]
    assert plan is not None
    assert plan.width is None and plan.bounds == bounds
    assert plan.cut == (BASE + 20 * DAY,)
    assert plan.partial == ((BASE + 20 * DAY, BASE + 20 * DAY + HOUR),)
    assert_covers_exactly(plan, start, end)


def test_one_period_for_the_whole_range_is_its_own_bound() -> None:
    start, end = BASE + 5 * MINUTE, BASE + DAY
    plan = hourly_plan(window(start, end), ("avg",), Buckets(origin=start, end=end))
    assert plan is not None
    assert plan.bounds == ((start, end),) and plan.cut == (BASE,)
    assert_covers_exactly(plan, start, end)


def test_calendar_periods_in_an_open_window_cut_the_hours_of_their_bounds() -> None:
    bounds = ((BASE + 30 * MINUTE, BASE + DAY + 30 * MINUTE),)
    plan = hourly_plan(
        window(None, None),
        ("sum",),
        Buckets(origin=bounds[0][0], end=bounds[0][1], calendar=lambda a, b: bounds),
    )
    assert plan is not None
    assert (plan.first, plan.last) == (None, None)
    assert plan.cut == (BASE, BASE + DAY)
    assert plan.partial == ((BASE, BASE + HOUR), (BASE + DAY, BASE + DAY + HOUR))


# ----------------------------------------------------------------------------------------------------
# Any closed window


bases = st.sampled_from([BASE, BEFORE_1970])
offsets = st.integers(0, 3 * HOUR) | st.integers(0, 180).map(lambda minutes: minutes * MINUTE)
lengths = st.builds(
    lambda days, hours, micros: days * DAY + hours * HOUR + micros,
    st.integers(0, 30),
    st.integers(0, 23),
    st.sampled_from([0, 30 * MINUTE]) | st.integers(0, HOUR - 1),
).filter(lambda length: length > 0)
"""Window lengths: a few hours to a month, on whole hours or not."""
widths = (
    st.sampled_from([HOUR, 2 * HOUR, 6 * HOUR, DAY, 7 * DAY, 90 * MINUTE, 25 * HOUR + 7 * MINUTE])
    | st.integers(4 * HOUR, 3 * DAY)
    | st.integers(1, 72).map(lambda hours: hours * HOUR)
    | st.integers(MINUTE, 4 * HOUR)
)


@PLANS
@given(bases, offsets, offsets, lengths, widths)
def test_a_plan_of_fixed_periods_covers_the_window_and_cuts_the_hours_of_the_bounds(
    base: int, origin_offset: int, start_offset: int, length: int, width: int
) -> None:
    origin = base + origin_offset
    start = origin + start_offset
    end = start + length
    plan = hourly_plan(window(start, end), ("sum", "avg"), Buckets(width=width, origin=origin, end=end))
    inside = [bound for bound in range(origin, end + HOUR, width) if bound + HOUR > start]
    cut = expected_cut(inside, start, end)
    if plan is None:
        in_window = sum(1 for bound in inside if start <= bound < end)
        assert len(cut) * HOUR * 2 > end - start or len(cut) > MAX_CUT or in_window > MAX_CUT
        return
    assert len(cut) * HOUR * 2 <= end - start
    assert (plan.origin, plan.width, plan.bounds) == (origin, width, ())
    assert list(plan.cut) == cut
    assert_covers_exactly(plan, start, end)
    rolled_up = whole_hours(plan)
    for bound in inside:
        assert not any(hour < bound < hour + HOUR for hour in rolled_up), "no bound inside a rollup hour"


@st.composite
def calendars(draw: st.DrawFn, origin: int, end: int) -> tuple[tuple[int, int], ...]:
    inner = (
        draw(st.lists(st.integers(origin + 1, end - 1), unique=True, max_size=12)) if end - origin > 1 else []
    )
    moments = [origin, *sorted(inner), end]
    return tuple(pairwise(moments))


@PLANS
@given(bases, offsets, lengths, st.data())
def test_a_plan_of_calendar_periods_covers_the_window_and_cuts_the_hours_of_the_bounds(
    base: int, start_offset: int, length: int, data: st.DataObject
) -> None:
    start = base + start_offset
    end = start + length
    bounds = data.draw(calendars(start, end))
    buckets = Buckets(origin=start, end=end, calendar=lambda a, b: bounds)
    plan = hourly_plan(window(start, end), ("min", "max"), buckets)
    moments = [moment for bound in bounds for moment in bound]
    cut = expected_cut(moments, start, end)
    if plan is None:
        assert len(cut) * HOUR * 2 > end - start
        return
    assert plan.bounds == bounds and plan.width is None
    assert list(plan.cut) == cut
    assert_covers_exactly(plan, start, end)
    rolled_up = whole_hours(plan)
    for moment in moments:
        assert not any(hour < moment < hour + HOUR for hour in rolled_up), "no bound inside a rollup hour"
