"""Hourly rollups of history (`history_hour`) as both backends lay them out, and the plan by which
an aggregation reads them instead of every instance.

A rollup row sums up one attribute instance series over one hour of `at`: how many instances (not
deletions) it holds, the largest kind code, and of its numbers how many, their sum, sum of squares,
minimum and maximum. `at` is what the raw aggregation buckets by for `timeproperty=observedAt` (the
observedAt of an instance, or when it was recorded if it has none), so the rollup holds exactly what
that aggregation reads: an aggregation gets the same answer from one row per series and whole hour,
plus the instances of the few hours a window edge or period bound cuts, as from every instance (see
`hourly_plan`). Each backend keeps its rollup with its own SQL (`store/sqlite/rollup.py`,
`store/postgres/rollup.py`); both read it with the same (`store/sql/temporal.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smartby.ngsild.reads import Buckets, HistoryQuery

HOUR = 3_600_000_000
"""One hour in microseconds: the width of a rollup bucket."""
ROLLUP_METHODS = frozenset({"totalCount", "sum", "avg", "min", "max", "stddev", "sumsq"})
"""The aggregation methods a rollup can answer (not distinctCount: it needs every value)."""

Bucket = tuple[int, int, int, int]
"""(entity key, attribute, dataset, start of the hour) of one rollup row."""


def hour_of(at: int) -> int:
    """The start of the hour that holds `at` (also before 1970)."""
    return at - at % HOUR


@dataclass(frozen=True)
class HourlyPlan:
    """How an aggregation reads the rollup: fixed periods of `width` from `origin`, or the `bounds`
    (calendar periods, or one period for the whole range) when `width` is None.

    Whole hours of the window that no period bound cuts come from the rollup (from `first` on, and
    before `last` unless it is None); the `cut` hours (a window edge or a period bound within them)
    come from the instances, those of them in the window (`partial` ranges)."""

    origin: int
    width: int | None = None
    bounds: tuple[tuple[int, int], ...] = ()
    first: int | None = None
    last: int | None = None
    cut: tuple[int, ...] = ()
    partial: tuple[tuple[int, int], ...] = ()


MAX_CUT = 2000
"""At most this many hours read from the instances (bounds within hours), else the plan is not worth it."""


def hourly_plan(query: HistoryQuery, methods: Sequence[str], buckets: Buckets) -> HourlyPlan | None:
    """The plan to aggregate from the rollup, or None when only the instances give the same answer
    (other methods than ROLLUP_METHODS, another time property than observedAt, periods that start
    at each entity's first instance or end at its last) or when most hours would be cut by period
    bounds within them (periods shorter than an hour, or not aligned on hours and few hours long)."""
    if query.timeproperty != "observedAt" or not set(methods) <= ROLLUP_METHODS:
        return None
    origin, start, end = buckets.origin, query.start, query.end
    if origin is None:
        return None
    if buckets.width is not None:
        width = buckets.width
        if end is None or start is None:
            # An open window: only periods and edges on whole hours need no list of the bounds.
            aligned = origin % HOUR == 0 and width % HOUR == 0
            if not aligned or any(edge is not None and edge % HOUR for edge in (start, end)):
                return None
            return HourlyPlan(origin, width, first=start, last=end)
        edges: list[int] = []
        if width % HOUR or origin % HOUR:
            first_bound = origin + -((origin - start) // width) * width
            if (end - first_bound) // width > MAX_CUT:
                return None
            edges = list(range(first_bound, end, width))
        plan_bounds: tuple[tuple[int, int], ...] = ()
    else:
        if buckets.end is None:
            return None
        calendar = buckets.calendar
        plan_bounds = tuple(calendar(origin, buckets.end)) if calendar else ((origin, buckets.end),)
        edges = [moment for bound in plan_bounds for moment in bound]
        width = None
    edges += [edge for edge in (start, end) if edge is not None]
    cut = sorted({hour_of(edge) for edge in edges if edge % HOUR and _inside(edge, start, end)})
    if len(cut) > MAX_CUT or (start is not None and end is not None and len(cut) * HOUR * 2 > end - start):
        return None
    partial = tuple(
        (
            max(hour, start) if start is not None else hour,
            min(hour + HOUR, end) if end is not None else hour + HOUR,
        )
        for hour in cut
    )
    return HourlyPlan(
        origin,
        width,
        plan_bounds,
        first=hour_of(start) if start is not None else None,
        last=end if end is None or end % HOUR == 0 else hour_of(end) + HOUR,
        cut=tuple(cut),
        partial=partial,
    )


def _inside(moment: int, start: int | None, end: int | None) -> bool:
    """Whether `moment`'s hour holds instances of the window [start, end)."""
    hour = hour_of(moment)
    return (start is None or hour + HOUR > start) and (end is None or hour < end)
