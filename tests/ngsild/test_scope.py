from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartby.ngsild.errors import BadRequestData, InvalidRequest
from smartby.ngsild.scope import (
    ScopeAnd,
    ScopeExpr,
    ScopeOr,
    ScopeTerm,
    parse_scope_query,
    validate_scope,
)

QUERY_ERRORS = (BadRequestData, InvalidRequest)
PARQUE = ["/Madrid/Gardens/ParqueNorte"]
PARQUE_AND_COMPANY = ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]


def term(scope: str) -> ScopeTerm:
    return ScopeTerm(tuple(scope[1:].split("/")))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("/Madrid/Gardens", term("/Madrid/Gardens")),
        ("/Madrid/#", term("/Madrid/#")),
        ("/Madrid/+/ParqueNorte", term("/Madrid/+/ParqueNorte")),
        ("/#", term("/#")),
        ("/a;/b", ScopeAnd((term("/a"), term("/b")))),
        ("/a|/b", ScopeOr((term("/a"), term("/b")))),
        ("/a,/b", ScopeOr((term("/a"), term("/b")))),
        ("/a;/b|/c", ScopeOr((ScopeAnd((term("/a"), term("/b"))), term("/c")))),
        ("(/a;/b)|/c", ScopeOr((ScopeAnd((term("/a"), term("/b"))), term("/c")))),
        ("/a;(/b|/c)", ScopeAnd((term("/a"), ScopeOr((term("/b"), term("/c")))))),
        ("((/a|(/b|/c)))", ScopeOr((term("/a"), term("/b"), term("/c")))),
        (" /a ; /b ", ScopeAnd((term("/a"), term("/b")))),
    ],
)
def test_parse(query: str, expected: ScopeExpr) -> None:
    assert parse_scope_query(query) == expected


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("/a,/b", "/a|/b"),
        ("(/Madrid/Districts;/CompanyA)|/CompanyB", "(/Madrid/Districts;/CompanyA)|/CompanyB"),
        ("(/a|/b);/c", "(/a|/b);/c"),
        ("/a;/b|/c", "(/a;/b)|/c"),
    ],
)
def test_canonical_form(query: str, canonical: str) -> None:
    assert parse_scope_query(query).to_q() == canonical


@pytest.mark.parametrize(
    ("query", "one_scope", "many_scopes"),
    [
        ("/Madrid/Gardens/ParqueNorte", True, True),
        ("/Madrid/+/ParqueNorte", True, True),
        ("/CompanyA/#", False, True),
        ("/#", True, True),
        ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", False, True),
        ("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC", True, True),
        ("(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)", False, True),
        (
            "(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)|/Madrid/Gardens/ParqueNorte",
            True,
            True,
        ),
        ("/CompanyA/OrganizationB/UnitC|/Nowhere/AtAll", False, True),
        ("(/Madrid/Gardens/ParqueNorte;/Nowhere/AtAll)", False, False),
        ("/Madrid/Gardens", False, False),
        ("/Madrid", False, False),
        ("/Madrid/#", True, True),
        ("/Madrid/Gardens/ParqueNorte/#", True, True),
        ("/Madrid/Gardens/ParqueNorte/Pond/#", False, False),
        ("/+", False, False),
        ("/+/+/+", True, True),
        ("/+/#", True, True),
    ],
)
def test_matches_conformance_examples(query: str, one_scope: bool, many_scopes: bool) -> None:
    parsed = parse_scope_query(query)
    assert parsed.matches(PARQUE) is one_scope
    assert parsed.matches(PARQUE_AND_COMPANY) is many_scopes


def test_entity_without_scope_matches_nothing() -> None:
    assert not parse_scope_query("/#").matches([])
    assert not parse_scope_query("/a|/+").matches([])


def test_hash_includes_the_scope_itself() -> None:
    assert parse_scope_query("/Madrid/#").matches(["/Madrid"])
    assert not parse_scope_query("/Madrid/#").matches(["/Madridista"])


@pytest.mark.parametrize("scope", ["/a", "/Madrid/Gardens/ParqueNorte", "/c_d/é/x1", "/Nørrebro"])
def test_validate_scope_accepts(scope: str) -> None:
    assert validate_scope(scope) == scope


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "/",
        "a",
        "a/b",
        "/a-b",
        "/9bad",
        "/urn:x/y.z",
        "/c_d/é/1",
        "/a/",
        "//a",
        "/a//b",
        "/a b",
        "/a/#",
        "/a/+",
        "/a+b",
        "/(a)",
        "/a;b",
        "/a|b",
        "/a,b",
        "/a\n",
    ],
)
def test_validate_scope_rejects(scope: str) -> None:
    with pytest.raises(BadRequestData):
        validate_scope(scope)


def test_validate_scope_rejects_non_strings() -> None:
    with pytest.raises(BadRequestData):
        validate_scope(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "query",
    [
        "",
        " ",
        "Madrid",
        "/",
        "/a/",
        "//a",
        "/a//b",
        "/#/a",
        "/a#",
        "/a/b#",
        "/a;",
        ";/a",
        "/a|",
        "/a,,/b",
        "(/a",
        "/a)",
        "()",
        "/a /b",
        "/a(/b)",
        "(" * 100 + "/a" + ")" * 100,
    ],
)
def test_malformed_queries_raise_bad_request_data(query: str) -> None:
    with pytest.raises(BadRequestData):
        parse_scope_query(query)


levels = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,5}", fullmatch=True)
pattern_levels = st.one_of(levels, st.just("+"))


@st.composite
def scope_terms(draw: st.DrawFn) -> ScopeTerm:
    body = draw(st.lists(pattern_levels, min_size=0, max_size=4))
    if not body or draw(st.booleans()):
        body.append("#")
    return ScopeTerm(tuple(body))


scope_expressions = st.recursive(
    scope_terms(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda items: ScopeAnd(tuple(items))),
        st.lists(children, min_size=2, max_size=3).map(lambda items: ScopeOr(tuple(items))),
    ),
    max_leaves=8,
)
scopes = st.lists(levels, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@settings(max_examples=300, deadline=None)
@given(scope_expressions)
def test_round_trip_of_generated_trees(expr: ScopeExpr) -> None:
    assert parse_scope_query(expr.to_q()) == expr


@given(scopes)
def test_generated_scopes_are_valid(scope: str) -> None:
    assert validate_scope(scope) == scope


@given(st.lists(scopes, max_size=3), scopes)
def test_plain_term_matches_exactly_its_scope(entity_scopes: list[str], wanted: str) -> None:
    assert parse_scope_query(wanted).matches(entity_scopes) is (wanted in entity_scopes)


@given(scopes, st.lists(levels, max_size=3))
def test_hash_matches_every_descendant(scope: str, below: list[str]) -> None:
    descendant = "/".join([scope, *below])
    assert parse_scope_query(scope + "/#").matches([descendant])
    assert parse_scope_query("/#").matches([descendant])


@given(st.lists(levels, min_size=2, max_size=4), st.data())
def test_plus_matches_exactly_one_level(parts: list[str], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(parts) - 1))
    pattern = "/" + "/".join("+" if position == index else part for position, part in enumerate(parts))
    assert parse_scope_query(pattern).matches(["/" + "/".join(parts)])
    assert not parse_scope_query(pattern).matches(["/" + "/".join(parts[:index] + parts[index + 1 :])])
    assert not parse_scope_query(pattern).matches(["/" + "/".join([*parts, "extra"])])


@settings(max_examples=500)
@given(st.text())
def test_any_text_parses_or_raises_a_query_error(query: str) -> None:
    try:
        parsed = parse_scope_query(query)
    except QUERY_ERRORS:
        return
    assert parse_scope_query(parsed.to_q()) == parsed


@settings(max_examples=500)
@given(st.text("/ab#+;|,() ", min_size=1, max_size=20))
def test_reparsing_canonical_form_is_stable(query: str) -> None:
    try:
        parsed = parse_scope_query(query)
    except QUERY_ERRORS:
        return
    assert parse_scope_query(parsed.to_q()) == parsed


@settings(max_examples=300)
@given(st.text())
def test_a_valid_scope_is_a_query_matching_itself(scope: str) -> None:
    try:
        validate_scope(scope)
    except BadRequestData:
        return
    assert parse_scope_query(scope).matches([scope])
