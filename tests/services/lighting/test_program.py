"""Tests for services/lighting/program.py and calendar.py: parsing LightingProgram rules (hypothesis:
what is written reads back the same; anything else is a ProgramError, never another exception), and
which rule a date gets (first match wins)."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.services.lighting.calendar import WEEKDAYS, Calendar, Day
from smartby.services.lighting.program import (
    DUSK_TO_DAWN,
    EVENTS,
    ProgramError,
    parse_program,
    parse_rules,
    rules_json,
)

levels = st.floats(min_value=0, max_value=1, allow_nan=False)
steps = st.one_of(
    st.builds(
        lambda h, m, level: {"time": f"{h:02d}:{m:02d}", "level": level},
        st.integers(0, 23),
        st.integers(0, 59),
        levels,
    ),
    st.builds(
        lambda event, offset, level: {"event": event, "offset": offset, "level": level},
        st.sampled_from(EVENTS),
        st.integers(-720, 720),
        levels,
    ),
)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
annual = st.builds(lambda d: f"--{d.month:02d}-{d.day:02d}", days)


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {"steps": draw(st.lists(steps, min_size=1, max_size=3))}
    if draw(st.booleans()):
        rule["name"] = draw(st.text(max_size=6))
    if draw(st.booleans()):
        rule["weekdays"] = sorted(draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1)), key=WEEKDAYS.index)
    if draw(st.booleans()):
        rule["dates"] = draw(st.lists(st.one_of(days.map(date.isoformat), annual), min_size=1, max_size=2))
    match draw(st.integers(0, 2)):
        case 1:
            first, last = sorted(draw(st.lists(days, min_size=2, max_size=2)))
            rule["from"], rule["to"] = first.isoformat(), last.isoformat()
        case 2:
            rule["from"], rule["to"] = draw(annual), draw(annual)
    return rule


@given(st.lists(rules(), min_size=1, max_size=2))
def test_a_program_reads_back_what_it_writes(raw: list[dict[str, Any]]) -> None:
    program = parse_program("urn:ngsi-ld:LightingProgram:p", raw)
    again = parse_program("urn:ngsi-ld:LightingProgram:p", rules_json(program.rules))
    assert again == program


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_anything_else_is_a_program_error(raw: Any) -> None:
    with contextlib.suppress(ProgramError):
        parse_rules(raw)


@given(
    st.lists(rules(), min_size=1, max_size=2),
    st.sampled_from(["level", "time", "event", "offset"]),
    json_values,
)
def test_a_spoilt_step_is_a_program_error(raw: list[dict[str, Any]], member: str, value: Any) -> None:
    raw[0]["steps"][0][member] = value
    with contextlib.suppress(ProgramError):
        parse_rules(raw)


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"time": "24:00", "level": 1}]}, "HH:MM"),
        ({"steps": [{"time": "12:00", "event": "sunset", "level": 1}]}, "either"),
        ({"steps": [{"event": "noon", "level": 1}]}, "event"),
        ({"steps": [{"event": "sunset", "level": 1.5}]}, "level"),
        ({"steps": [{"time": "12:00", "offset": 5, "level": 1}]}, "offset"),
        ({"from": "2026-12-24", "to": "2026-12-01", "steps": [{"time": "12:00", "level": 1}]}, "after"),
        ({"from": "--12-24", "steps": [{"time": "12:00", "level": 1}]}, "both"),
        ({"from": "--12-24", "to": "2026-12-31", "steps": [{"time": "12:00", "level": 1}]}, "both"),
        ({"dates": ["2026-W51-1"], "steps": [{"time": "12:00", "level": 1}]}, "not a date"),
        ({"weekdays": ["Monday"], "steps": [{"time": "12:00", "level": 1}]}, "weekdays"),
        ({"colour": "red", "steps": [{"time": "12:00", "level": 1}]}, "unknown"),
    ],
)
def test_what_is_wrong_is_said(rule: dict[str, Any], problem: str) -> None:
    with pytest.raises(ProgramError, match=problem):
        parse_rules([rule])


SUNSET = {"event": "sunset", "level": 1}


def test_the_first_rule_that_matches_wins() -> None:
    program = parse_program(
        "urn:ngsi-ld:LightingProgram:city",
        [
            {"name": "christmas eve", "dates": ["--12-24"], "steps": [SUNSET]},
            {
                "name": "winter weekends",
                "from": "--11-01",
                "to": "--02-28",
                "weekdays": ["Sa", "Su"],
                "steps": [SUNSET],
            },
            {"name": "winter", "from": "--11-01", "to": "--02-28", "steps": [SUNSET]},
            {"name": "2026 works", "from": "2026-06-01", "to": "2026-06-30", "steps": [SUNSET]},
        ],
    )
    names = {
        date(2026, 12, 24): "christmas eve",  # a Thursday, also winter
        date(2027, 12, 24): "christmas eve",  # a Friday
        date(2026, 12, 26): "winter weekends",  # a Saturday, wraps over New Year
        date(2027, 1, 2): "winter weekends",
        date(2027, 1, 4): "winter",  # a Monday
        date(2026, 6, 15): "2026 works",
    }
    for day, name in names.items():
        rule = program.rule_for(day)
        assert rule is not None and rule.name == name, day
    assert program.rule_for(date(2027, 6, 15)) is None  # no rule: the level stays as it was
    assert program.rule_for(date(2026, 3, 1)) is None


@given(days, st.sets(st.integers(0, 6), min_size=1))
def test_weekdays_match_their_days(day: date, weekdays: set[int]) -> None:
    assert Calendar(weekdays=frozenset(weekdays)).matches(day) == (day.weekday() in weekdays)


@given(days, days, days)
def test_an_every_year_range_matches_the_days_between_wrapping_over_new_year(
    day: date, first: date, last: date
) -> None:
    calendar = Calendar(Day(first.month, first.day), Day(last.month, last.day))
    start = (first.month, first.day)
    end = (last.month, last.day)
    inside = [
        (d.month, d.day)
        for d in (date(2000, 1, 1) + timedelta(days=n) for n in range(366))  # a leap year: every MM-DD
        if (start <= (d.month, d.day) <= end if start <= end else not end < (d.month, d.day) < start)
    ]
    assert calendar.matches(day) == ((day.month, day.day) in inside)


@given(days, days, days)
def test_a_range_of_dates_matches_the_days_between(day: date, first: date, last: date) -> None:
    first, last = min(first, last), max(first, last)
    calendar = Calendar(Day(first.month, first.day, first.year), Day(last.month, last.day, last.year))
    assert calendar.matches(day) == (first <= day <= last)


def test_the_default_program_is_dusk_to_dawn() -> None:
    [rule] = DUSK_TO_DAWN.rules
    assert [(step.reason, step.level) for step in rule.steps] == [("sunrise+0", 0.0), ("sunset+0", 1.0)]
    assert rule.matches(date(2026, 12, 21))
