"""Tests for smartby.ngsild.projection: the Attribute projection language of pick and omit (clause
4.21), with the projections of linked entities."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.projection import Projection, parse_projection

names = st.sampled_from(["id", "type", "scope", "name", "locatedAt", "owner", "ex:speed", "https://x.org/a"])


def projections(depth: int) -> st.SearchStrategy[Projection]:
    inner = st.none() if depth == 0 else st.none() | st.deferred(lambda: projections(depth - 1))
    members = st.lists(st.tuples(names, inner), min_size=1, max_size=4, unique_by=lambda m: m[0])
    return members.map(lambda items: Projection(tuple(items)))


@given(projections(3))
def test_text_reads_back(projection: Projection) -> None:
    assert parse_projection(projection.text()) == projection
    spaced = projection.text().replace(",", " | ").replace("{", " {")
    assert parse_projection(spaced) == projection


@given(st.text(alphabet="ab{}|, ;", max_size=12))
def test_any_text_is_a_projection_or_bad_request_data(text: str) -> None:
    try:
        projection = parse_projection(text)
    except BadRequestData:
        return
    assert parse_projection(projection.text()) == projection


def test_nested_members_and_depth() -> None:
    projection = parse_projection("name,locatedAt{name,owner{name}}|id")
    assert projection.names == ["name", "locatedAt", "id"]
    located = projection.nested("locatedAt")
    assert located is not None and located.names == ["name", "owner"]
    assert projection.nested("name") is None and projection.depth == 2
    assert parse_projection("name").depth == 0
    assert parse_projection("a,b").joined(parse_projection("b{c},d")).text() == "a,b,d"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "id;name",
        "id,locatedAt{name",
        "id,locatedAt{{name}",
        "id,,name",
        "id,locatedAt{,name}",
        "id,locatedAt{}",
        "name}",
        "{name}",
        "a{b}c",
        "a b",
    ],
)
def test_malformed_projections(text: str) -> None:
    """019_18: malformed pick and omit values are BadRequestData."""
    with pytest.raises(BadRequestData):
        parse_projection(text)
