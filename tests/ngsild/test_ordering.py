from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ngsild.errors import BadRequestData, NgsiLdError, OperationNotSupported
from smartby.ngsild.ordering import (
    ENTITY_KEYS,
    MAX_KEYS,
    OrderKey,
    order_by_text,
    parse_order_by,
)
from smartby.ngsild.query import MEMBERS, AttrPath

names = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=8)
attribute_names = names.filter(lambda name: name not in ENTITY_KEYS and name not in MEMBERS)
paths = st.builds(
    AttrPath,
    attribute_names,
    st.lists(attribute_names, max_size=2).map(tuple),
    st.none(),
    st.lists(names, max_size=2).map(tuple),
) | st.builds(AttrPath, attribute_names, st.just(()), st.sampled_from(sorted(MEMBERS)), st.just(()))
keys = st.builds(OrderKey, st.sampled_from(ENTITY_KEYS) | paths, st.booleans())


@given(st.lists(keys, min_size=1, max_size=MAX_KEYS).map(tuple))
def test_written_keys_read_back(ordering: tuple[OrderKey, ...]) -> None:
    assert parse_order_by(order_by_text(ordering)) == ordering


@given(st.text(max_size=40))
def test_any_text_is_read_or_refused_as_an_ngsi_ld_error(text: str) -> None:
    try:
        parsed = parse_order_by(text)
    except NgsiLdError as error:
        assert error.status in (400, 422)
    else:
        assert parsed and parse_order_by(order_by_text(parsed)) == parsed


@given(keys, st.sampled_from(["up", "ASC", "descending", "", "asc;desc"]))
def test_unknown_directions_are_refused(key: OrderKey, direction: str) -> None:
    written = key.to_text().rsplit(";", 1)[0]
    with pytest.raises(BadRequestData):
        parse_order_by(f"{written};{direction}")


def test_examples() -> None:
    assert parse_order_by("speed") == (OrderKey(AttrPath("speed")),)
    assert parse_order_by("speed;desc, id") == (OrderKey(AttrPath("speed"), True), OrderKey("id"))
    assert parse_order_by("speed.accuracy;asc") == (OrderKey(AttrPath("speed", ("accuracy",))),)
    assert parse_order_by("speed.observedAt") == (OrderKey(AttrPath("speed", (), "observedAt")),)
    assert parse_order_by("address[city]") == (OrderKey(AttrPath("address", (), None, ("city",))),)
    assert parse_order_by("createdAt;desc") == (OrderKey("createdAt", True),)


@pytest.mark.parametrize("text", ["", " ", "speed,", ",speed", "speed==1", "!speed", "a;b", "(a)", "a|b"])
def test_malformed(text: str) -> None:
    with pytest.raises(BadRequestData):
        parse_order_by(text)


def test_distance_is_not_offered() -> None:
    with pytest.raises(OperationNotSupported):
        parse_order_by("location;dist-asc")


def test_too_many_keys() -> None:
    with pytest.raises(BadRequestData):
        parse_order_by(",".join(["speed"] * (MAX_KEYS + 1)))


def test_names_expand_but_entity_members_stay() -> None:
    ordering = parse_order_by("speed.accuracy,id")
    expanded = tuple(key.map_names(lambda name: "https://example.org/" + name) for key in ordering)
    assert expanded == (
        OrderKey(AttrPath("https://example.org/speed", ("https://example.org/accuracy",))),
        OrderKey("id"),
    )
