"""How each NGSI-LD operation changes an entity, as pure functions on the internal form."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.broker.changes import (
    AttributeOutcome,
    add_types,
    append_attributes,
    append_scopes,
    delete_attribute,
    delete_scope,
    is_delete,
    merge_entity,
    merge_instance,
    merge_patch,
    new_entity,
    partial_update,
    purge_attributes,
    replace_attribute,
    replace_entity,
    stamp,
    strip_system,
    update_attributes,
    update_scopes,
    upsert_update,
)
from smartby.ngsild.entity import ATTRIBUTE_TYPES, NULL_URI, VALUE_MEMBER, Entity, Instance
from smartby.ngsild.errors import BadRequestData, ResourceNotFound

NS = "https://example.org/ns/"
SPEED, BRAND, ACCURACY, SOURCE = NS + "speed", NS + "brand", NS + "accuracy", NS + "source"
LAMP = NS + "Lamp"
THEN = "2024-01-01T00:00:00Z"
NOW = "2024-05-01T10:00:00Z"
DATASET = "urn:ngsi-ld:Dataset:b"


def prop(value: Any, **members: Any) -> Instance:
    return {"type": "Property", "value": value, **members}


def stamped(instance: Instance, created: str = THEN, modified: str = THEN) -> Instance:
    return {**instance, "createdAt": created, "modifiedAt": modified}


def vehicle(**attributes: list[Instance]) -> Entity:
    """A stored entity: created and last modified THEN, its instances too."""
    entity: Entity = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": [NS + "Vehicle"],
        "createdAt": THEN,
        "modifiedAt": THEN,
    }
    for name, instances in attributes.items():
        entity[NS + name] = [stamped(instance) for instance in instances]
    return entity


def bad_request(error: pytest.ExceptionInfo[BadRequestData]) -> None:
    assert type(error.value) is BadRequestData and error.value.status == 400


def not_found(error: pytest.ExceptionInfo[ResourceNotFound]) -> None:
    assert type(error.value) is ResourceNotFound and error.value.status == 404


# ----------------------------------------------------------------------------------------------------
# Instances


def test_an_outcome_is_complete_when_no_attribute_was_left_unchanged() -> None:
    assert AttributeOutcome().complete
    assert AttributeOutcome(updated=[SPEED]).complete
    assert not AttributeOutcome(updated=[SPEED], not_updated=[(BRAND, "why")]).complete


@pytest.mark.parametrize("kind", ATTRIBUTE_TYPES)
def test_an_instance_holding_the_ngsild_null_in_its_value_member_is_a_delete(kind: str) -> None:
    member = VALUE_MEMBER[kind]
    assert is_delete({"type": kind, member: NULL_URI})
    assert not is_delete({"type": kind, member: "urn:ngsi-ld:Thing:1"})


def test_an_instance_without_a_known_type_is_a_delete_by_its_value() -> None:
    assert is_delete({"value": NULL_URI})
    assert is_delete({"type": "Unknown", "value": NULL_URI})
    assert not is_delete({"object": NULL_URI})
    assert not is_delete({"type": "Relationship", "value": NULL_URI})


def test_stamping_a_new_instance_creates_and_modifies_it_now() -> None:
    instance = prop(1)
    assert stamp(instance, NOW) is instance
    assert instance == prop(1, createdAt=NOW, modifiedAt=NOW)


def test_stamping_keeps_a_creation_time_given_or_held() -> None:
    assert stamp(prop(1, createdAt=THEN), NOW) == prop(1, createdAt=THEN, modifiedAt=NOW)
    given_time = "2023-06-01T00:00:00Z"
    assert stamp(prop(1, createdAt=THEN), NOW, given_time) == prop(1, createdAt=given_time, modifiedAt=NOW)


def test_stamping_reaches_sub_attributes_but_not_values() -> None:
    instance = prop(
        {"reading": {"type": "Property", "value": 3}},
        **{
            ACCURACY: prop(0.5, createdAt=THEN, **{SOURCE: prop("gps")}),
            NS + "meta": {"type": "JsonProperty", "json": {"createdAt": "kept"}},
        },
    )
    stamp(instance, NOW)
    assert instance["value"] == {"reading": {"type": "Property", "value": 3}}
    assert instance[ACCURACY]["createdAt"] == THEN and instance[ACCURACY]["modifiedAt"] == NOW
    assert instance[ACCURACY][SOURCE]["createdAt"] == NOW and instance[ACCURACY][SOURCE]["modifiedAt"] == NOW
    assert instance[NS + "meta"]["json"] == {"createdAt": "kept"}
    assert instance[NS + "meta"]["modifiedAt"] == NOW


# ----------------------------------------------------------------------------------------------------
# Whole entities


def test_a_new_entity_and_all_its_instances_are_created_now() -> None:
    entity: Entity = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": [NS + "Vehicle"],
        "scope": ["/a"],
        SPEED: [prop(1, createdAt=THEN), prop(2, datasetId=DATASET)],
        BRAND: [prop("Seat", **{SOURCE: prop("registry")})],
    }
    assert new_entity(entity, NOW) is entity
    assert entity["createdAt"] == entity["modifiedAt"] == NOW
    assert entity["scope"] == ["/a"]
    for instance in (*entity[SPEED], *entity[BRAND], entity[BRAND][0][SOURCE]):
        assert (instance["createdAt"], instance["modifiedAt"]) == (NOW, NOW)


def test_a_replaced_entity_keeps_only_its_creation_time() -> None:
    old = vehicle(speed=[prop(1)], brand=[prop("Seat")])
    new: Entity = {"id": old["id"], "type": [NS + "Car"], SPEED: [prop(2)]}
    replaced = replace_entity(old, new, NOW)
    assert replaced == {
        "id": old["id"],
        "type": [NS + "Car"],
        "createdAt": THEN,
        "modifiedAt": NOW,
        SPEED: [prop(2, createdAt=NOW, modifiedAt=NOW)],
    }


def test_an_entity_replaced_without_a_creation_time_is_created_now() -> None:
    replaced = replace_entity(
        {"id": "urn:ngsi-ld:Vehicle:1"}, {"id": "urn:ngsi-ld:Vehicle:1", "type": []}, NOW
    )
    assert replaced["createdAt"] == NOW


# ----------------------------------------------------------------------------------------------------
# Append


def test_appending_adds_attributes_and_instances_of_new_datasets() -> None:
    entity = vehicle(speed=[prop(1)])
    outcome = append_attributes(
        entity, {SPEED: [prop(5, datasetId=DATASET)], BRAND: [prop("Seat")]}, NOW, overwrite=True
    )
    assert outcome == AttributeOutcome(updated=[SPEED, BRAND])
    assert entity[SPEED] == [stamped(prop(1)), prop(5, datasetId=DATASET, createdAt=NOW, modifiedAt=NOW)]
    assert entity[BRAND] == [prop("Seat", createdAt=NOW, modifiedAt=NOW)]
    assert entity["modifiedAt"] == NOW


def test_appending_overwrites_an_instance_of_the_same_dataset_keeping_its_creation() -> None:
    entity = vehicle(speed=[prop(1)])
    outcome = append_attributes(entity, {SPEED: [prop(9)]}, NOW, overwrite=True)
    assert outcome.updated == [SPEED] and outcome.complete
    assert entity[SPEED] == [prop(9, createdAt=THEN, modifiedAt=NOW)]


def test_appending_without_overwrite_leaves_existing_instances_and_says_why() -> None:
    entity = vehicle(speed=[prop(1)])
    before = copy.deepcopy(entity)
    outcome = append_attributes(entity, {SPEED: [prop(9)]}, NOW, overwrite=False)
    assert outcome == AttributeOutcome(
        not_updated=[(SPEED, "attribute exists and noOverwrite was requested")]
    )
    assert entity == before, "nothing changed, not even modifiedAt"


@pytest.mark.parametrize("instance", [prop(NULL_URI), {"value": 3}], ids=["null", "fragment"])
def test_appending_needs_full_values(instance: Instance) -> None:
    with pytest.raises(BadRequestData) as error:
        append_attributes(vehicle(), {SPEED: [instance]}, NOW, overwrite=True)
    bad_request(error)


# ----------------------------------------------------------------------------------------------------
# Update


def test_updating_replaces_existing_instances_keeping_their_creation() -> None:
    entity = vehicle(speed=[prop(1), prop(2, datasetId=DATASET)])
    outcome = update_attributes(entity, {SPEED: [prop(7, datasetId=DATASET)]}, NOW)
    assert outcome == AttributeOutcome(updated=[SPEED])
    assert entity[SPEED] == [stamped(prop(1)), prop(7, datasetId=DATASET, createdAt=THEN, modifiedAt=NOW)]
    assert entity["modifiedAt"] == NOW


def test_updating_adds_an_instance_of_a_new_dataset() -> None:
    entity = vehicle(speed=[prop(1)])
    outcome = update_attributes(entity, {SPEED: [prop(7, datasetId=DATASET)]}, NOW)
    assert outcome.updated == [SPEED]
    assert entity[SPEED][1] == prop(7, datasetId=DATASET, createdAt=NOW, modifiedAt=NOW)


def test_updating_with_the_null_deletes_the_instance_and_the_attribute_with_its_last() -> None:
    entity = vehicle(speed=[prop(1), prop(2, datasetId=DATASET)])
    assert update_attributes(entity, {SPEED: [prop(NULL_URI)]}, NOW).updated == [SPEED]
    assert entity[SPEED] == [stamped(prop(2, datasetId=DATASET))]
    assert update_attributes(entity, {SPEED: [prop(NULL_URI, datasetId=DATASET)]}, NOW).updated == [SPEED]
    assert SPEED not in entity


def test_updating_with_the_null_of_a_missing_instance_changes_nothing_and_says_why() -> None:
    entity = vehicle(speed=[prop(1)])
    outcome = update_attributes(
        entity, {BRAND: [prop(NULL_URI)], SPEED: [prop(NULL_URI, datasetId=DATASET)]}, NOW
    )
    reason = "no instance to delete with that datasetId exists"
    assert outcome == AttributeOutcome(not_updated=[(BRAND, reason), (SPEED, reason)])
    assert entity == vehicle(speed=[prop(1)]), "no empty attribute left behind, modifiedAt as it was"


def test_updating_an_existing_instance_needs_a_full_value() -> None:
    with pytest.raises(BadRequestData) as error:
        update_attributes(vehicle(speed=[prop(1)]), {SPEED: [{"value": 3}]}, NOW)
    bad_request(error)


def test_updating_scopes_replaces_those_the_entity_has() -> None:
    entity = {**vehicle(), "scope": ["/a", "/b"]}
    scopes = ["/c"]
    outcome = AttributeOutcome()
    update_scopes(entity, scopes, NOW, outcome)
    assert entity["scope"] == ["/c"] and entity["scope"] is not scopes
    assert entity["modifiedAt"] == NOW
    assert outcome == AttributeOutcome(updated=["scope"])


def test_updating_scopes_of_an_entity_without_any_adds_none() -> None:
    entity = vehicle()
    outcome = AttributeOutcome()
    update_scopes(entity, ["/c"], NOW, outcome)
    assert entity == vehicle()
    assert outcome == AttributeOutcome(not_updated=[("scope", "the entity has no scope to update")])


def test_types_given_are_added_to_the_entity_s_types() -> None:
    entity = vehicle()
    add_types(entity, [NS + "Vehicle", NS + "Car", NS + "Taxi"], NOW)
    assert entity["type"] == [NS + "Vehicle", NS + "Car", NS + "Taxi"]
    assert entity["modifiedAt"] == NOW


def test_types_the_entity_has_change_nothing() -> None:
    entity = vehicle()
    add_types(entity, [NS + "Vehicle"], NOW)
    assert entity == vehicle()


# ----------------------------------------------------------------------------------------------------
# Merge patch (RFC 7396, with the NGSI-LD Null as null)

RFC_7396_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"a": "b"}, {"a": NULL_URI}, {}),
    ({"a": {"b": 1, "c": 2}}, {"a": {"c": NULL_URI}}, {"a": {"b": 1}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7396_EXAMPLES)
def test_merge_patch_does_what_rfc_7396_shows(target: Any, patch: Any, result: Any) -> None:
    original = copy.deepcopy(target)
    assert merge_patch(target, patch) == result
    assert target == original, "the target is not changed"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4) | st.just(NULL_URI),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from("abcd"), children, max_size=3)
    ),
    max_leaves=8,
)


@given(json_values, json_values)
def test_merge_patch_applied_twice_is_applied_once(target: Any, patch: Any) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(json_values, st.dictionaries(st.sampled_from("abcd"), json_values, max_size=4))
def test_merge_patch_keeps_what_the_patch_does_not_name_and_drops_what_it_nulls(
    target: Any, patch: Any
) -> None:
    merged = merge_patch(target, patch)
    for key, value in patch.items():
        if value is None or value == NULL_URI:
            assert key not in merged
        elif not isinstance(value, dict):
            assert merged[key] == value
    if isinstance(target, dict):
        for key in target.keys() - patch.keys():
            assert merged[key] == target[key]


# ----------------------------------------------------------------------------------------------------
# Merging instances


def test_merging_an_instance_replaces_the_members_given_and_keeps_the_rest() -> None:
    old = stamped(prop(1, unitCode="KMH", observedAt="2024-04-01T00:00:00Z"))
    kept = copy.deepcopy(old)
    merged = merge_instance(old, {"value": 2, "observedAt": "2024-05-01T00:00:00Z", "createdAt": NOW}, NOW)
    assert merged == {
        "type": "Property",
        "value": 2,
        "unitCode": "KMH",
        "observedAt": "2024-05-01T00:00:00Z",
        "createdAt": THEN,
        "modifiedAt": NOW,
    }
    assert old == kept


def test_merging_a_new_type_drops_the_old_value_member() -> None:
    old = stamped(prop("urn:ngsi-ld:Garage:1"))
    merged = merge_instance(old, {"type": "Relationship", "object": "urn:ngsi-ld:Garage:2"}, NOW)
    assert merged["type"] == "Relationship" and merged["object"] == "urn:ngsi-ld:Garage:2"
    assert "value" not in merged


def test_merging_a_new_type_needs_its_value_member() -> None:
    with pytest.raises(BadRequestData) as error:
        merge_instance(stamped(prop(1)), {"type": "Relationship", "value": "urn:ngsi-ld:Garage:2"}, NOW)
    bad_request(error)


def test_an_object_value_replaces_unless_values_are_merged() -> None:
    old = stamped(prop({"a": 1, "b": 2}))
    assert merge_instance(old, {"value": {"c": 3}}, NOW)["value"] == {"c": 3}
    assert merge_instance(old, {"value": {"c": 3}}, NOW, merge_values=True)["value"] == {
        "a": 1,
        "b": 2,
        "c": 3,
    }
    merged = merge_instance(old, {"value": {"b": NULL_URI, "c": 3}}, NOW, merge_values=True)
    assert merged["value"] == {"a": 1, "c": 3}
    assert old["value"] == {"a": 1, "b": 2}


def test_merging_sub_attributes_merges_existing_deletes_nulls_and_stamps_new_ones() -> None:
    old = stamped(prop(1, **{ACCURACY: stamped(prop(0.5, unitCode="MTR")), SOURCE: stamped(prop("gps"))}))
    fragment = {ACCURACY: {"value": 0.2}, SOURCE: prop(NULL_URI), BRAND: prop("Seat")}
    merged = merge_instance(old, fragment, NOW)
    assert merged[ACCURACY] == prop(0.2, unitCode="MTR", createdAt=THEN, modifiedAt=NOW)
    assert SOURCE not in merged
    assert merged[BRAND] == prop("Seat", createdAt=NOW, modifiedAt=NOW)


def test_a_new_sub_attribute_needs_a_type() -> None:
    with pytest.raises(BadRequestData) as error:
        merge_instance(stamped(prop(1)), {ACCURACY: {"value": 0.2}}, NOW)
    bad_request(error)


def test_merging_an_entity_adds_merges_and_deletes_attributes() -> None:
    entity = vehicle(speed=[prop({"max": 50, "avg": 30})], brand=[prop("Seat")])
    merge_entity(
        entity,
        {
            SPEED: [{"value": {"avg": 35, "max": NULL_URI}}],
            BRAND: [prop(NULL_URI)],
            NS + "colour": [prop({"main": "red", "trim": NULL_URI})],
            NS + "owner": [prop(NULL_URI)],
        },
        NOW,
        [NS + "Car"],
    )
    assert entity == {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": [NS + "Vehicle", NS + "Car"],
        "createdAt": THEN,
        "modifiedAt": NOW,
        SPEED: [prop({"avg": 35}, createdAt=THEN, modifiedAt=NOW)],
        NS + "colour": [prop({"main": "red"}, createdAt=NOW, modifiedAt=NOW)],
    }


def test_merging_a_new_attribute_needs_a_type() -> None:
    with pytest.raises(BadRequestData) as error:
        merge_entity(vehicle(), {SPEED: [{"value": 3}]}, NOW)
    bad_request(error)


def test_merging_an_entity_always_modifies_it() -> None:
    entity = vehicle()
    merge_entity(entity, {}, NOW)
    assert entity["modifiedAt"] == NOW


# ----------------------------------------------------------------------------------------------------
# One attribute


def test_a_partial_update_merges_into_the_instance_of_its_dataset() -> None:
    entity = vehicle(speed=[prop({"a": 1}), prop(2, datasetId=DATASET)])
    partial_update(entity, SPEED, {"value": 9, "datasetId": DATASET, "unitCode": "KMH"}, NOW)
    assert entity[SPEED] == [
        stamped(prop({"a": 1})),
        prop(9, datasetId=DATASET, unitCode="KMH", createdAt=THEN, modifiedAt=NOW),
    ]
    partial_update(entity, SPEED, {"value": {"b": 2}}, NOW, given_type="Property")
    assert entity[SPEED][0]["value"] == {"b": 2}, "values are not merged"
    assert entity["modifiedAt"] == NOW


def test_a_partial_update_with_the_null_deletes_the_instance() -> None:
    entity = vehicle(speed=[prop(1)])
    partial_update(entity, SPEED, prop(NULL_URI), NOW)
    assert SPEED not in entity
    assert entity["modifiedAt"] == NOW


@pytest.mark.parametrize(
    ("iri", "fragment"),
    [(BRAND, {"value": 1}), (SPEED, {"value": 1, "datasetId": DATASET})],
    ids=["no attribute", "no instance of that dataset"],
)
def test_a_partial_update_of_what_does_not_exist_is_not_found(iri: str, fragment: Instance) -> None:
    with pytest.raises(ResourceNotFound) as error:
        partial_update(vehicle(speed=[prop(1)]), iri, fragment, NOW)
    not_found(error)


def test_a_partial_update_given_another_type_is_bad_request_data() -> None:
    entity = vehicle(speed=[prop(1)])
    with pytest.raises(BadRequestData) as error:
        partial_update(entity, SPEED, {"object": "urn:ngsi-ld:X:1"}, NOW, given_type="Relationship")
    bad_request(error)
    assert entity == vehicle(speed=[prop(1)])


def test_replacing_an_attribute_replaces_the_instance_of_its_dataset() -> None:
    entity = vehicle(speed=[prop(1, unitCode="KMH"), prop(2, datasetId=DATASET)])
    replace_attribute(entity, SPEED, prop(5, datasetId=DATASET), NOW)
    assert entity[SPEED] == [
        stamped(prop(1, unitCode="KMH")),
        prop(5, datasetId=DATASET, createdAt=THEN, modifiedAt=NOW),
    ]
    replace_attribute(entity, SPEED, prop(6), NOW)
    assert entity[SPEED][0] == prop(6, createdAt=THEN, modifiedAt=NOW), "no unitCode left from before"
    assert entity["modifiedAt"] == NOW


@pytest.mark.parametrize(
    ("iri", "instance"),
    [(BRAND, prop(1)), (SPEED, prop(1, datasetId=DATASET))],
    ids=["no attribute", "no instance of that dataset"],
)
def test_replacing_what_does_not_exist_is_not_found(iri: str, instance: Instance) -> None:
    with pytest.raises(ResourceNotFound) as error:
        replace_attribute(vehicle(speed=[prop(1)]), iri, instance, NOW)
    not_found(error)


@pytest.mark.parametrize("instance", [prop(NULL_URI), {"value": 3}], ids=["null", "fragment"])
def test_replacing_an_attribute_needs_a_full_value(instance: Instance) -> None:
    with pytest.raises(BadRequestData) as error:
        replace_attribute(vehicle(speed=[prop(1)]), SPEED, instance, NOW)
    bad_request(error)


def test_deleting_an_attribute_deletes_the_instance_of_its_dataset() -> None:
    entity = vehicle(speed=[prop(1), prop(2, datasetId=DATASET)])
    delete_attribute(entity, SPEED, DATASET, False, NOW)
    assert entity[SPEED] == [stamped(prop(1))]
    assert entity["modifiedAt"] == NOW
    delete_attribute(entity, SPEED, None, False, NOW)
    assert SPEED not in entity


def test_deleting_all_of_an_attribute_deletes_every_instance() -> None:
    entity = vehicle(speed=[prop(1), prop(2, datasetId=DATASET)], brand=[prop("Seat")])
    delete_attribute(entity, SPEED, None, True, NOW)
    assert SPEED not in entity and BRAND in entity
    assert entity["modifiedAt"] == NOW


@pytest.mark.parametrize(
    ("iri", "dataset_id", "delete_all"),
    [(BRAND, None, False), (BRAND, None, True), (SPEED, DATASET, False)],
    ids=["no attribute", "no attribute, all", "no instance of that dataset"],
)
def test_deleting_what_does_not_exist_is_not_found(
    iri: str, dataset_id: str | None, delete_all: bool
) -> None:
    entity = vehicle(speed=[prop(1)])
    with pytest.raises(ResourceNotFound) as error:
        delete_attribute(entity, iri, dataset_id, delete_all, NOW)
    not_found(error)
    assert entity == vehicle(speed=[prop(1)])


# ----------------------------------------------------------------------------------------------------
# Scopes and upserts


def test_appending_scopes_replaces_them_or_adds_the_new_ones() -> None:
    entity = {**vehicle(), "scope": ["/a", "/b"]}
    append_scopes(entity, ["/b", "/c"], NOW, overwrite=False)
    assert entity["scope"] == ["/a", "/b", "/c"]
    assert entity["modifiedAt"] == NOW
    scopes = ["/d"]
    append_scopes(entity, scopes, NOW, overwrite=True)
    assert entity["scope"] == ["/d"] and entity["scope"] is not scopes


def test_appending_scopes_to_an_entity_without_any_gives_it_those() -> None:
    entity = vehicle()
    append_scopes(entity, ["/a"], NOW, overwrite=False)
    assert entity["scope"] == ["/a"]


def test_deleting_the_scope_removes_every_scope() -> None:
    entity = {**vehicle(), "scope": ["/a"]}
    delete_scope(entity, NOW)
    assert "scope" not in entity and entity["modifiedAt"] == NOW


def test_deleting_the_scope_of_an_entity_without_any_is_not_found() -> None:
    with pytest.raises(ResourceNotFound) as error:
        delete_scope(vehicle(), NOW)
    not_found(error)


def test_an_upsert_update_adds_types_replaces_the_scope_and_overwrites_attributes() -> None:
    entity = {**vehicle(speed=[prop(1)], brand=[prop("Seat")]), "scope": ["/a"]}
    new: Entity = {
        "id": entity["id"],
        "type": [NS + "Car"],
        "scope": ["/b"],
        SPEED: [prop(2)],
        NS + "colour": [prop("red")],
    }
    upsert_update(entity, new, NOW)
    assert entity == {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": [NS + "Vehicle", NS + "Car"],
        "scope": ["/b"],
        "createdAt": THEN,
        "modifiedAt": NOW,
        SPEED: [prop(2, createdAt=THEN, modifiedAt=NOW)],
        BRAND: [stamped(prop("Seat"))],
        NS + "colour": [prop("red", createdAt=NOW, modifiedAt=NOW)],
    }


def test_an_upsert_update_without_a_scope_keeps_the_entity_s() -> None:
    entity = {**vehicle(), "scope": ["/a"]}
    upsert_update(entity, {"id": entity["id"], "type": [NS + "Vehicle"]}, NOW)
    assert entity["scope"] == ["/a"] and entity["modifiedAt"] == NOW


# ----------------------------------------------------------------------------------------------------
# Comparing content


def test_stripping_system_members_removes_them_everywhere() -> None:
    entity = vehicle(speed=[prop(1, **{ACCURACY: stamped(prop(0.5))})])
    assert strip_system(entity) == {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": [NS + "Vehicle"],
        SPEED: [prop(1, **{ACCURACY: prop(0.5)})],
    }
    assert entity["createdAt"] == THEN, "the entity itself is not changed"


system_trees = st.recursive(
    st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["createdAt", "modifiedAt", "value", "observedAt"]), children, max_size=4
        )
    ),
    max_leaves=10,
)


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


@given(system_trees)
def test_stripped_content_holds_no_system_member_and_everything_else(value: Any) -> None:
    stripped = strip_system(value)
    assert not _keys(stripped) & {"createdAt", "modifiedAt"}
    assert strip_system(stripped) == stripped
    if isinstance(value, dict):
        assert set(stripped) == set(value) - {"createdAt", "modifiedAt"}


@given(
    st.sets(st.sampled_from(["https://example.org/a", "https://example.org/b", "https://example.org/c"])),
    st.sets(st.sampled_from(["https://example.org/a", "https://example.org/b", "https://example.org/x"])),
    st.booleans(),
)
def test_purge_keeps_or_drops_only_attributes(present: set[str], named: set[str], keeping: bool) -> None:
    entity: dict[str, Any] = {"id": "urn:e", "type": ["T"], "scope": ["/a"], "modifiedAt": "old"}
    entity.update({name: [{"type": "Property", "value": 1}] for name in present})
    changed = purge_attributes(entity, named if keeping else None, set() if keeping else named, "new")
    left = {name for name in entity if name.startswith("https://")}
    assert left == (present & named if keeping else present - named)
    assert changed == (left != present)
    assert entity["modifiedAt"] == ("new" if changed else "old")
    assert entity["id"] == "urn:e" and entity["type"] == ["T"] and entity["scope"] == ["/a"]
