"""Regular expressions from clients: RE2, linear in the text, or refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.query import parse_q
from smartby.ngsild.regex import MAX_PATTERN_LENGTH, compiled, problem


def test_backtracking_pattern_runs_in_linear_time() -> None:
    pattern = compiled("(a+)+$")
    assert pattern is not None
    assert pattern.search("a" * 100_000 + "!") is None
    assert pattern.search("a" * 100_000) is not None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "backreferences and look-around"),
        ("(?=a)", "backreferences and look-around"),
        ("(?<!a)b", "backreferences and look-around"),
        ("a{1001}", "repetition"),
        ("[", "missing ]"),
        ("x" * (MAX_PATTERN_LENGTH + 1), "longer than"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_with_a_reason(pattern: str, reason: str) -> None:
    assert compiled(pattern) is None
    why = problem(pattern)
    assert why is not None and reason in why
    with pytest.raises(BadRequestData, match="invalid regular expression"):
        parse_q(f'name~="{pattern}"')


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        ("(?i)ju.*", "Ajuna", True),
        (r"^urn:ngsi-ld:Streetlight:\d+$", "urn:ngsi-ld:Streetlight:12", True),
        ("a$", "a\n", False),
        ("é", "café", True),
        ("a.b", "a\nb", False),
    ],
)
def test_re2_reads_patterns(pattern: str, text: str, found: bool) -> None:
    regex = compiled(pattern)
    assert regex is not None
    assert (regex.search(text) is not None) is found


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_pattern_or_has_a_reason(pattern: str) -> None:
    assert (compiled(pattern) is None) == (problem(pattern) is not None)
