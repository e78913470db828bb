"""The change log of one write transaction: per entity, the state before its first change and after
its last, and what writes to history alone did, as subscriptions see it."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ngsild.entity import ATTRIBUTE_TYPES, NULL_URI, VALUE_MEMBER, Entity, Instance
from smartby.ngsild.subscription import Change
from smartby.ngsild.timestamps import now, parse_datetime
from smartby.store.changelog import ChangeLog, removal_mark, replaced

NS = "https://example.org/ns/"
SPEED, LEVEL = NS + "speed", NS + "level"
LAMP = "urn:ngsi-ld:Lamp:1"
HEADER: Entity = {
    "id": LAMP,
    "type": [NS + "Lamp"],
    "scope": ["/city"],
    "createdAt": "2024-01-01T00:00:00Z",
    "modifiedAt": "2024-01-02T00:00:00Z",
}
HEAD: Entity = {"id": LAMP, "type": [NS + "Lamp"], "scope": ["/city"]}
"""What a history write shows of the entity besides its attributes."""


def lamp(entity_id: str = LAMP, **attributes: list[Instance]) -> Entity:
    return {"id": entity_id, "type": [NS + "Lamp"], **{NS + k: v for k, v in attributes.items()}}


def prop(value: object, **members: str) -> Instance:
    return {"type": "Property", "value": value, **members}


def only(log: ChangeLog) -> Change:
    changes = log.changes()
    assert len(changes) == 1
    return changes[0]


# ----------------------------------------------------------------------------------------------------
# State changes


def test_one_change_is_kept_as_it_was_recorded() -> None:
    log = ChangeLog()
    before, after = lamp(speed=[prop(1)]), lamp(speed=[prop(2)])
    log.record(before, after)
    change = only(log)
    assert change == Change(before, after)
    assert change.before is before and change.after is after, "the transaction's own objects"
    assert change.events == {"attributeUpdated": {SPEED}, "entityUpdated": {SPEED}}


def test_several_changes_of_one_entity_merge_into_before_the_first_and_after_the_last() -> None:
    log = ChangeLog()
    states = [lamp(speed=[prop(n)]) for n in range(4)]
    for before, after in pairwise(states):
        log.record(before, after)
    change = only(log)
    assert change.before is states[0] and change.after is states[-1]
    assert change.attributes is None and change.removed == frozenset()


def test_an_entity_created_then_changed_is_created() -> None:
    log = ChangeLog()
    first, last = lamp(speed=[prop(1)]), lamp(speed=[prop(1)], level=[prop(3)])
    log.record(None, first)
    log.record(first, last)
    assert only(log) == Change(None, last)
    assert only(log).events == {"entityCreated": {SPEED, LEVEL}, "attributeCreated": {SPEED, LEVEL}}


def test_an_entity_changed_then_deleted_is_deleted_from_its_first_state() -> None:
    log = ChangeLog()
    first, second = lamp(speed=[prop(1)]), lamp(speed=[prop(2)])
    log.record(first, second)
    log.record(second, None)
    assert only(log) == Change(first, None)
    assert only(log).events == {"entityDeleted": {SPEED}, "attributeDeleted": {SPEED}}


def test_an_entity_created_and_deleted_in_one_transaction_is_left_out() -> None:
    log = ChangeLog()
    brief, kept = lamp(speed=[prop(1)]), lamp("urn:ngsi-ld:Lamp:2", speed=[prop(5)])
    log.record(None, brief)
    log.record(None, kept)
    log.record(brief, None)
    assert log.changes() == [Change(None, kept)]


def test_an_entity_deleted_and_created_again_in_one_transaction_is_updated() -> None:
    log = ChangeLog()
    old, new = lamp(speed=[prop(1)]), lamp(level=[prop(2)])
    log.record(old, None)
    log.record(None, new)
    assert only(log) == Change(old, new)
    assert only(log).events == {
        "attributeCreated": {LEVEL},
        "attributeDeleted": {SPEED},
        "entityUpdated": {SPEED, LEVEL},
    }


def test_changes_come_in_the_order_their_entities_first_changed() -> None:
    log = ChangeLog()
    ids = [f"urn:ngsi-ld:Lamp:{n}" for n in (3, 1, 2)]
    for entity_id in ids:
        log.record(None, lamp(entity_id))
    log.record(lamp(ids[0]), lamp(ids[0], speed=[prop(1)]))
    assert [change.entity["id"] for change in log.changes()] == ids


def test_a_log_without_records_has_no_changes() -> None:
    assert ChangeLog().changes() == []


# ----------------------------------------------------------------------------------------------------
# Writes to history alone


def test_instances_written_to_history_show_the_latest_per_attribute_and_dataset() -> None:
    log = ChangeLog()
    a1 = prop(1, observedAt="2024-03-01T10:00:00Z")
    a2 = prop(2, observedAt="2024-03-01T12:00:00Z")
    a3 = prop(3, observedAt="2024-03-01T11:00:00Z")
    b1 = prop(10, observedAt="2024-03-01T09:00:00Z", datasetId="urn:ngsi-ld:Dataset:b")
    level = prop(7, modifiedAt="2024-03-02T00:00:00Z")
    log.record_history(HEADER, {SPEED: [a1, a2, a3, b1], LEVEL: [level]})
    change = only(log)
    state = {**HEAD, SPEED: [a2, b1], LEVEL: [level]}
    assert change == Change(state, state, frozenset({SPEED, LEVEL}))
    assert change.events == {"attributeUpdated": {SPEED, LEVEL}, "entityUpdated": {SPEED, LEVEL}}


def test_of_instances_at_the_same_time_the_one_written_last_is_shown() -> None:
    log = ChangeLog()
    first = prop("first", observedAt="2024-03-01T10:00:00Z")
    second = prop("second", observedAt="2024-03-01T10:00:00Z")
    log.record_history(HEADER, {SPEED: [first, second]})
    assert only(log).after == {**HEAD, SPEED: [second]}


def test_an_instance_without_observed_at_is_placed_by_its_modified_at() -> None:
    log = ChangeLog()
    observed = prop("observed", observedAt="2024-03-01T10:00:00Z")
    modified = prop("modified", modifiedAt="2024-03-01T11:00:00Z")
    log.record_history(HEADER, {SPEED: [modified, observed]})
    assert only(log).after == {**HEAD, SPEED: [modified]}


@pytest.mark.parametrize("order", ["earlier first", "later first"])
def test_the_latest_instance_is_shown_whatever_the_precision_of_its_time(order: str) -> None:
    log = ChangeLog()
    earlier = prop("earlier", observedAt="2024-03-01T12:00:00Z")
    later = prop("later", observedAt="2024-03-01T12:00:00.500Z")
    written = [earlier, later] if order == "earlier first" else [later, earlier]
    log.record_history(HEADER, {SPEED: written})
    assert only(log).after == {**HEAD, SPEED: [later]}


def test_an_attribute_written_without_instances_is_named_but_not_shown() -> None:
    log = ChangeLog()
    log.record_history(HEADER, {SPEED: [prop(1)], LEVEL: []})
    change = only(log)
    assert change.attributes == {SPEED, LEVEL}
    assert change.after is not None and LEVEL not in change.after


def test_an_instance_replaced_in_history_shows_its_previous_and_new_value() -> None:
    log = ChangeLog()
    old, new = prop(1, instanceId="urn:ngsi-ld:instance:4"), prop(2, instanceId="urn:ngsi-ld:instance:4")
    log.record_instance(HEADER, SPEED, old, new)
    assert only(log) == Change({**HEAD, SPEED: [old]}, {**HEAD, SPEED: [new]}, frozenset({SPEED}))
    assert only(log).events == {"attributeUpdated": {SPEED}, "entityUpdated": {SPEED}}


def test_instances_removed_from_history_are_a_deletion_of_their_attribute() -> None:
    log = ChangeLog()
    gone = [prop(1, instanceId="urn:ngsi-ld:instance:4")]
    marks = [removal_mark("Property", instance_id="urn:ngsi-ld:instance:4")]
    log.record_removal(HEADER, SPEED, gone, marks)
    change = only(log)
    assert change == Change({**HEAD, SPEED: gone}, {**HEAD, SPEED: marks}, frozenset(), frozenset({SPEED}))
    assert change.events == {"attributeDeleted": {SPEED}, "entityUpdated": {SPEED}}


def test_a_removal_whose_values_are_unknown_shows_only_the_marks() -> None:
    log = ChangeLog()
    marks = [removal_mark("Property")]
    log.record_removal(HEADER, SPEED, [], marks)
    assert only(log) == Change(HEAD, {**HEAD, SPEED: marks}, frozenset(), frozenset({SPEED}))


def test_several_history_writes_keep_the_first_previous_values_and_the_latest_instances() -> None:
    log = ChangeLog()
    written = prop(1, observedAt="2024-03-01T10:00:00Z")
    log.record_history(HEADER, {SPEED: [written]})
    old_level, new_level = prop(5), prop(6)
    log.record_instance(HEADER, LEVEL, old_level, new_level)
    newer_level = prop(7)
    log.record_instance(HEADER, LEVEL, new_level, newer_level)
    marks = [removal_mark("Property")]
    log.record_removal(HEADER, SPEED, [written], marks)
    change = only(log)
    assert change.before == {**HEAD, SPEED: [written], LEVEL: [old_level]}
    assert change.after == {**HEAD, SPEED: marks, LEVEL: [newer_level]}
    assert change.attributes == {SPEED, LEVEL}
    assert change.removed == {SPEED}


def test_a_history_write_after_a_change_of_the_entity_leaves_the_change() -> None:
    log = ChangeLog()
    before, after = lamp(speed=[prop(1)]), lamp(speed=[prop(2)])
    log.record(before, after)
    log.record_history(HEADER, {SPEED: [prop(3)]})
    log.record_instance(HEADER, SPEED, prop(1), prop(9))
    log.record_removal(HEADER, SPEED, [], [removal_mark("Property")])
    log.record_history_deletion(HEADER, frozenset({SPEED}))
    assert only(log) == Change(before, after)


def test_a_change_of_the_entity_after_a_history_write_replaces_it() -> None:
    log = ChangeLog()
    log.record_history(HEADER, {SPEED: [prop(3)]})
    before, after = lamp(speed=[prop(1)]), lamp(speed=[prop(2)])
    log.record(before, after)
    assert only(log) == Change(before, after)


def test_removing_an_entity_s_temporal_representation_is_its_deletion() -> None:
    log = ChangeLog()
    log.record_history_deletion(HEADER, frozenset({SPEED, LEVEL}))
    change = only(log)
    assert change == Change(HEAD, None, frozenset(), frozenset({SPEED, LEVEL}))
    assert change.events == {"entityDeleted": {SPEED, LEVEL}, "attributeDeleted": {SPEED, LEVEL}}


def test_a_deletion_of_the_temporal_representation_replaces_earlier_history_writes() -> None:
    log = ChangeLog()
    log.record_history(HEADER, {SPEED: [prop(1)]})
    log.record_history_deletion(HEADER, frozenset({SPEED}))
    assert only(log) == Change(HEAD, None, frozenset(), frozenset({SPEED}))


def test_history_writes_to_different_entities_are_kept_apart() -> None:
    log = ChangeLog()
    other = {**HEADER, "id": "urn:ngsi-ld:Lamp:2"}
    log.record_history(HEADER, {SPEED: [prop(1)]})
    log.record_history(other, {LEVEL: [prop(2)]})
    assert [(c.entity["id"], c.attributes) for c in log.changes()] == [
        (LAMP, {SPEED}),
        ("urn:ngsi-ld:Lamp:2", {LEVEL}),
    ]


# ----------------------------------------------------------------------------------------------------
# Marks and replaced instances


@pytest.mark.parametrize("kind", ATTRIBUTE_TYPES)
def test_a_removal_mark_is_the_ngsild_null_deleted_now(kind: str) -> None:
    earliest = now()
    mark = removal_mark(kind)
    latest = now()
    assert set(mark) == {"type", VALUE_MEMBER[kind], "deletedAt"}
    assert (mark["type"], mark[VALUE_MEMBER[kind]]) == (kind, NULL_URI)
    assert mark["deletedAt"].endswith("Z")
    assert earliest <= parse_datetime(mark["deletedAt"]) <= latest


def test_a_removal_mark_names_the_dataset_and_instance_removed() -> None:
    mark = removal_mark(
        "Relationship", dataset_id="urn:ngsi-ld:Dataset:a", instance_id="urn:ngsi-ld:instance:3"
    )
    assert mark["object"] == NULL_URI
    assert (mark["datasetId"], mark["instanceId"]) == ("urn:ngsi-ld:Dataset:a", "urn:ngsi-ld:instance:3")


@given(st.integers(), st.sampled_from(["2024-03-01T10:00:00Z", "2024-03-01T10:00:00.5Z"]))
def test_a_replaced_instance_keeps_its_id_and_creation_and_is_modified_then(value: int, at: str) -> None:
    previous = {
        "type": "Property",
        "value": "old",
        "observedAt": "2024-01-01T00:00:00Z",
        "unitCode": "CEL",
        "instanceId": "urn:ngsi-ld:instance:8",
        "createdAt": "2024-01-01T00:00:01Z",
        "modifiedAt": "2024-01-01T00:00:01Z",
    }
    instance = {"type": "Property", "value": value, "modifiedAt": "1999-01-01T00:00:00Z"}
    assert replaced(previous, instance, at) == {
        "type": "Property",
        "value": value,
        "instanceId": "urn:ngsi-ld:instance:8",
        "createdAt": "2024-01-01T00:00:01Z",
        "modifiedAt": at,
    }
    assert instance == {"type": "Property", "value": value, "modifiedAt": "1999-01-01T00:00:00Z"}
