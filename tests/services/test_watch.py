"""Property tests for broker/feed.py's rules: which changes a Watch concerns, and what of an entity
it is fed."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from smartby.broker.feed import Watch, touched
from smartby.ngsild.subscription import Change

BASE = "https://example.org/"
TYPES = [BASE + t for t in ("Streetlight", "Alert", "Counter")]
NAMES = [BASE + n for n in ("power", "status", "level", "speed")]

instances = st.lists(
    st.fixed_dictionaries(
        {"type": st.just("Property"), "value": st.integers(0, 3)},
        optional={"observedAt": st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"])},
    ),
    min_size=1,
    max_size=2,
)


@st.composite
def entities(draw: st.DrawFn, types: list[str]) -> dict[str, Any]:
    attributes = draw(st.dictionaries(st.sampled_from(NAMES), instances, max_size=4))
    return {"id": "urn:ngsi-ld:Thing:1", "type": types, **attributes}


@st.composite
def changes(draw: st.DrawFn) -> Change:
    types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=2, unique=True))
    before = draw(st.none() | entities(types))
    after = draw(entities(types)) if before is None else draw(st.none() | entities(types))
    return Change(before, after)


watches = st.builds(
    Watch,
    st.just("svc"),
    st.frozensets(st.sampled_from(TYPES), max_size=2),
    st.frozensets(st.sampled_from(NAMES), max_size=2),
    st.frozensets(st.sampled_from(TYPES), max_size=1),
    st.booleans(),
)


@given(watches, changes())
def test_a_watch_concerns_a_change_of_its_types_that_touches_its_attributes(
    watch: Watch, change: Change
) -> None:
    types = set(change.entity["type"])
    type_ok = bool(watch.types & types) if watch.types else not types <= watch.ignored
    before, after = change.before or {}, change.after or {}
    differing = {n for n in NAMES if before.get(n) != after.get(n)}
    assert touched(change) == differing
    attribute_ok = not watch.attributes or bool(watch.attributes & differing)
    assert watch.concerns(change) == (type_ok and attribute_ok)


@given(watches, changes())
def test_a_watch_is_fed_the_header_and_its_attributes_only(watch: Watch, change: Change) -> None:
    entity = change.entity
    fed = watch.slim(entity)
    assert fed is not None
    assert fed["id"] == entity["id"] and fed["type"] == entity["type"]
    names = {n for n in fed if n not in ("id", "type")}
    wanted = watch.attributes or set(NAMES)
    assert names == {n for n in entity if n in wanted}
    for name in names:
        if watch.brief:
            assert fed[name] == [
                {k: v for k, v in instance.items() if k == "observedAt"} for instance in entity[name]
            ]
        else:
            assert fed[name] == entity[name]
    assert watch.slim(None) is None
    header = watch.header(entity)
    assert header == {"id": entity["id"], "type": entity["type"]}
    assert watch.header(None) is None
