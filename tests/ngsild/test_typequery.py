"""Entity type selections: parsed, or refused with a BadRequestData, whatever a client sends."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.query import MAX_TERMS, parse_q
from smartby.ngsild.typequery import MAX_DEPTH, MAX_TYPES, TypeAll, TypeAny, TypeName, parse_type_query


def test_nesting_within_the_limit_parses() -> None:
    deep = "(" * MAX_DEPTH + "A;B" + ")" * MAX_DEPTH
    assert parse_type_query(deep) == TypeAll((TypeName("A"), TypeName("B")))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 10_000])
def test_deeper_nesting_is_refused(depth: int) -> None:
    with pytest.raises(BadRequestData, match="nest deeper"):
        parse_type_query("(" * depth + "A" + ")" * depth)


def test_too_many_types_are_refused() -> None:
    assert isinstance(parse_type_query(",".join(f"T{i}" for i in range(MAX_TYPES))), TypeAny)
    with pytest.raises(BadRequestData, match=f"at most {MAX_TYPES} types"):
        parse_type_query(",".join(f"T{i}" for i in range(MAX_TYPES + 1)))


def test_q_of_too_many_terms_is_refused() -> None:
    parse_q("|".join(f"a=={i}" for i in range(MAX_TERMS)))
    with pytest.raises(BadRequestData, match=f"at most {MAX_TERMS} terms"):
        parse_q("|".join(f"a=={i}" for i in range(MAX_TERMS + 1)))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="AB(),;| ", max_size=200))
def test_any_selection_parses_or_is_bad_request_data(text: str) -> None:
    with contextlib.suppress(BadRequestData):
        parse_type_query(text)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=5000), st.sampled_from("(;|,"))
def test_long_runs_of_one_character_never_overflow_the_stack(count: int, char: str) -> None:
    with contextlib.suppress(BadRequestData):
        parse_type_query(char * count + "A")
    with contextlib.suppress(BadRequestData):
        parse_q(char * count + "a")
