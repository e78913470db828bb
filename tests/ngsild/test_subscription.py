"""Tests for smartby.ngsild.subscription: checking Subscription bodies and matching changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.context import CORE_CONTEXT_URL, ContextResolver, LoaderFailed
from smartby.ngsild.errors import BadRequestData, NgsiLdError
from smartby.ngsild.subscription import (
    TRIGGERS,
    Change,
    compile_subscription,
    merge_fragment,
    merge_patch,
    notified_entity,
    parse_subscription,
    with_changes,
)

CORE_DOCUMENT = json.loads(
    (resources.files("smartby.data") / "contexts" / "ngsi-ld-core-context-v1.8.jsonld").read_bytes()
)


def core_only(url: str) -> Any:
    if url == CORE_CONTEXT_URL:
        return CORE_DOCUMENT
    raise LoaderFailed(f"no {url} here")


RESOLVER = ContextResolver(core_only)
CTX = RESOLVER.resolve({"ex": "https://example.org/", "Lamp": "ex:Lamp", "power": "ex:power"})
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LAMP = "https://example.org/Lamp"
POWER = "https://example.org/power"
DIM = "https://uri.etsi.org/ngsi-ld/default-context/dim"
ENDPOINT = {"uri": "http://127.0.0.1:9999/notify", "accept": "application/json"}
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def body(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Lamp"}],
        "notification": {"endpoint": ENDPOINT},
    }
    base.update(members)
    return {k: v for k, v in base.items() if v is not None}


def lamp(**attrs: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {"id": "urn:ngsi-ld:Lamp:1", "type": [LAMP]}
    for name, value in attrs.items():
        entity[name] = [{"type": "Property", "value": value}]
    return entity


# -- parsing -------------------------------------------------------------------------------------


def test_only_given_members_are_kept() -> None:
    """Clause 5.8.3: a retrieved subscription shows what was given; defaults (isActive, format,
    sysAttrs, showChanges, accept) apply without being written into it."""
    parsed = parse_subscription(body(), now=NOW)
    assert parsed["id"].startswith("urn:ngsi-ld:Subscription:")
    assert "isActive" not in parsed
    assert parsed["notification"] == {"endpoint": ENDPOINT}
    given = body(isActive=False, notification={"endpoint": ENDPOINT, "format": "simplified"})
    assert parse_subscription(given, now=NOW)["isActive"] is False
    assert parse_subscription(given, now=NOW)["notification"]["format"] == "simplified"


@pytest.mark.parametrize(
    ("members", "detail"),
    [
        ({"type": "Sub"}, "type"),
        ({"entities": None}, "entities or watchedAttributes"),
        ({"entities": [{"id": "urn:x:1"}]}, "type"),
        ({"entities": [{"type": "Lamp", "idPattern": "(("}]}, "idPattern"),
        ({"watchedAttributes": []}, "watchedAttributes"),
        ({"timeInterval": 10, "watchedAttributes": ["power"]}, "timeInterval"),
        ({"timeInterval": 0}, "timeInterval"),
        ({"throttling": -1}, "throttling"),
        ({"notificationTrigger": ["entityExploded"]}, "notificationTrigger"),
        ({"q": "power>>"}, ""),
        ({"geoQ": {"georel": "near", "geometry": "Point", "coordinates": [1, 2]}}, "near"),
        ({"scopeQ": "//"}, ""),
        ({"expiresAt": "2020-01-01T00:00:00Z"}, "future"),
        ({"expiresAt": "tomorrow"}, "expiresAt"),
        ({"isActive": "yes"}, "isActive"),
        ({"notification": None}, "notification"),
        ({"notification": {"endpoint": {"uri": "ftp://x/"}}}, "uri"),
        ({"notification": {"endpoint": {"uri": "not a uri"}}}, "uri"),
        ({"notification": {"endpoint": {"uri": "http://[::1/notify"}}}, "uri"),
        ({"notification": {"endpoint": {"uri": "http://host:99999/notify"}}}, "uri"),
        ({"notification": {"endpoint": ENDPOINT, "format": "pretty"}}, "format"),
        ({"notification": {"endpoint": {**ENDPOINT, "accept": "text/plain"}}}, "accept"),
        ({"notification": {"endpoint": {**ENDPOINT, "receiverInfo": [{"key": 1}]}}}, "receiverInfo"),
        (
            {"notification": {"endpoint": {**ENDPOINT, "notifierInfo": [{"key": "MQTT-QoS", "value": "3"}]}}},
            "QoS",
        ),
        ({"notification": {"endpoint": ENDPOINT, "format": "keyValues", "showChanges": True}}, "keyValues"),
        ({"notification": {"endpoint": ENDPOINT, "pick": ["power"], "omit": ["dim"]}}, "pick"),
        ({"notification": {"endpoint": ENDPOINT, "attributes": ["power"], "omit": ["dim"]}}, "attributes"),
        ({"notification": {"endpoint": ENDPOINT, "join": "deep"}}, "join"),
        ({"notification": {"endpoint": ENDPOINT, "joinLevel": True}}, "joinLevel"),
        ({"datasetId": ["urn:ngsi-ld:dataset:a", "a b"]}, "datasetId"),
        ({"colour": "blue"}, "colour"),
        ({"id": "not a uri"}, "id"),
    ],
)
def test_invalid_subscriptions_are_bad_request_data(members: dict[str, Any], detail: str) -> None:
    with pytest.raises(BadRequestData) as raised:
        parse_subscription(body(**members), now=NOW)
    assert detail in raised.value.detail


def test_watched_attributes_alone_suffice() -> None:
    parsed = parse_subscription(body(entities=None, watchedAttributes=["power"]), now=NOW)
    assert parsed["watchedAttributes"] == ["power"]
    assert "entities" not in parsed


def test_status_members_are_dropped() -> None:
    parsed = parse_subscription(body(status="paused", timesSent=5), now=NOW)
    assert "status" not in parsed and "timesSent" not in parsed


def test_merge_fragment_replaces_members_and_endpoint_parts() -> None:
    stored = parse_subscription(body(id="urn:ngsi-ld:Subscription:1", q="power>1"), now=NOW)
    merged = merge_fragment(
        stored, {"q": None, "notification": {"endpoint": {"accept": "application/ld+json"}}}
    )
    assert "q" not in merged
    assert merged["notification"]["endpoint"] == {**ENDPOINT, "accept": "application/ld+json"}
    with pytest.raises(BadRequestData):
        merge_fragment(stored, {"id": "urn:ngsi-ld:Subscription:2"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
member_values = st.sampled_from(
    [
        "Subscription",
        [{"type": "Lamp"}],
        [{"type": "Lamp", "id": "urn:ngsi-ld:Lamp:1"}],
        ["power"],
        {"endpoint": ENDPOINT},
        10,
        "power>1",
        list(TRIGGERS[:2]),
        {"georel": "near;maxDistance==10", "geometry": "Point", "coordinates": [12.5, 55.6]},
    ]
)
subscription_bodies = st.dictionaries(
    st.sampled_from(
        [
            *("id", "type", "entities", "watchedAttributes", "notification", "timeInterval", "throttling"),
            *("q", "notificationTrigger", "geoQ", "scopeQ", "isActive", "expiresAt", "lang"),
        ]
    ),
    member_values | json_values,
    max_size=8,
)


@SETTINGS
@given(subscription_bodies | json_values)
def test_parse_raises_only_ngsild_errors(raw: Any) -> None:
    try:
        parsed = parse_subscription(raw, now=NOW)
    except NgsiLdError as error:
        assert error.status == 400
        return
    assert parsed["type"] == "Subscription"
    # A valid subscription round-trips: checking what was stored changes nothing.
    assert parse_subscription(parsed, now=NOW) == parsed
    compiled = compile_subscription("", parsed, CTX)
    assert compiled.id == parsed["id"]


@SETTINGS
@given(
    st.fixed_dictionaries(
        {"type": st.just("Subscription"), "notification": st.just({"endpoint": ENDPOINT})},
        optional={
            "entities": st.lists(
                st.fixed_dictionaries({"type": st.sampled_from(["Lamp", "Lamp,Bin", "(Lamp;Bin)"])}),
                min_size=1,
                max_size=2,
            ),
            "watchedAttributes": st.lists(st.sampled_from(["power", "dim"]), min_size=1, max_size=2),
            "notificationTrigger": st.lists(st.sampled_from(TRIGGERS), min_size=1, max_size=3),
            "throttling": st.integers(1, 100),
            "q": st.sampled_from(["power>1", "dim==true", "power"]),
            "isActive": st.booleans(),
            "expiresAt": st.just((NOW + timedelta(days=1)).isoformat()),
        },
    ).filter(lambda b: "entities" in b or "watchedAttributes" in b)
)
def test_valid_subscriptions_round_trip(raw: dict[str, Any]) -> None:
    parsed = parse_subscription(raw, now=NOW)
    assert parse_subscription(parsed, now=NOW) == parsed
    for name in ("entities", "watchedAttributes", "throttling", "q", "isActive"):
        if name in raw:
            assert parsed[name] == (
                raw[name] if name != "watchedAttributes" else list(dict.fromkeys(raw[name]))
            )


# -- matching ------------------------------------------------------------------------------------


def compiled(**members: Any) -> Any:
    return compile_subscription("", parse_subscription(body(**members), now=NOW), CTX)


def test_default_triggers_fire_on_creation_and_update_not_deletion() -> None:
    sub = compiled()
    assert sub.concerns(Change(None, lamp(**{POWER: 1})))
    assert sub.concerns(Change(lamp(**{POWER: 1}), lamp(**{POWER: 2})))
    assert not sub.concerns(Change(lamp(**{POWER: 1}), lamp(**{POWER: 1})))
    assert not sub.concerns(Change(lamp(**{POWER: 1}), None))


def test_entity_deleted_trigger() -> None:
    sub = compiled(notificationTrigger=["entityDeleted"])
    assert sub.concerns(Change(lamp(**{POWER: 1}), None))
    assert not sub.concerns(Change(None, lamp(**{POWER: 1})))


def test_attribute_deleted_and_entity_updated() -> None:
    deleted = compiled(notificationTrigger=["attributeDeleted"])
    updated = compiled(notificationTrigger=["entityUpdated"])
    change = Change(lamp(**{POWER: 1, DIM: True}), lamp(**{POWER: 1}))
    assert deleted.concerns(change) and updated.concerns(change)
    assert not deleted.concerns(Change(lamp(**{POWER: 1}), lamp(**{POWER: 2})))


def test_watched_attributes_limit_what_notifies() -> None:
    sub = compiled(watchedAttributes=["power"])
    assert sub.concerns(Change(lamp(**{POWER: 1, DIM: 1}), lamp(**{POWER: 2, DIM: 1})))
    assert not sub.concerns(Change(lamp(**{POWER: 1, DIM: 1}), lamp(**{POWER: 1, DIM: 2})))


def test_selectors_q_geo_and_scope() -> None:
    assert not compiled(entities=[{"type": "Bin"}]).concerns(Change(None, lamp(**{POWER: 1})))
    assert not compiled(entities=[{"type": "Lamp", "id": "urn:x:2"}]).concerns(
        Change(None, lamp(**{POWER: 1}))
    )
    assert compiled(entities=[{"type": "Lamp", "idPattern": "Lamp:[0-9]"}]).concerns(
        Change(None, lamp(**{POWER: 1}))
    )
    sub = compiled(q="power>5")
    assert sub.concerns(Change(lamp(**{POWER: 1}), lamp(**{POWER: 6})))
    assert not sub.concerns(Change(lamp(**{POWER: 6}), lamp(**{POWER: 1})))
    near = compiled(
        geoQ={"georel": "near;maxDistance==1000", "geometry": "Point", "coordinates": [12.5, 55.6]}
    )
    here = lamp(**{POWER: 1})
    here["https://uri.etsi.org/ngsi-ld/location"] = [
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.5, 55.6]}}
    ]
    assert near.concerns(Change(None, here))
    assert not near.concerns(Change(None, lamp(**{POWER: 1})))
    scoped = compiled(scopeQ="/Aarhus/#")
    assert scoped.concerns(Change(None, {**lamp(**{POWER: 1}), "scope": ["/Aarhus/C"]}))
    assert not scoped.concerns(Change(None, {**lamp(**{POWER: 1}), "scope": ["/Odense"]}))


def test_temporal_writes_update_the_attributes_written() -> None:
    sub = compiled(watchedAttributes=["power"])
    state = lamp(**{POWER: 3})
    assert sub.concerns(Change(state, state, frozenset({POWER})))
    assert not sub.concerns(Change(state, state, frozenset({DIM})))


def test_status_and_type_keys() -> None:
    sub = compiled(isActive=False, entities=[{"type": "Lamp,Bin"}])
    assert sub.status(NOW) == "paused"
    assert sub.type_keys() == {LAMP, "https://uri.etsi.org/ngsi-ld/default-context/Bin"}
    assert compiled(entities=None, watchedAttributes=["power"]).type_keys() is None
    expiring = compiled(expiresAt=(NOW + timedelta(hours=1)).isoformat())
    assert expiring.status(NOW + timedelta(hours=2)) == "expired"


@SETTINGS
@given(
    st.text(max_size=40)
    | st.from_regex(r"(https?|mqtts?)://[\[\]a-z0-9.:@%]{0,20}(/[a-z/]{0,8})?", fullmatch=True)
)
def test_any_endpoint_uri_is_accepted_or_bad_request_data(uri: str) -> None:
    try:
        parsed = parse_subscription(body(notification={"endpoint": {"uri": uri}}), now=NOW)
    except BadRequestData:
        return
    assert parsed["notification"]["endpoint"]["uri"] == uri


def test_temporal_removals_delete_the_attributes() -> None:
    deleted = compiled(notificationTrigger=["attributeDeleted"], watchedAttributes=["power"])
    state = lamp(**{POWER: 3})
    assert deleted.concerns(Change(state, state, frozenset(), frozenset({POWER})))
    assert not deleted.concerns(Change(state, state, frozenset({POWER})))
    gone = compiled(notificationTrigger=["entityDeleted"], watchedAttributes=["power"])
    assert gone.concerns(Change(lamp(), None, frozenset(), frozenset({POWER})))
    assert not gone.concerns(Change(lamp(), None, frozenset(), frozenset({DIM})))


# -- showChanges ---------------------------------------------------------------------------------

PARKED = "https://example.org/parkedIn"
NAME = "https://example.org/name"
DATASET = "urn:ngsi-ld:dataset:b"


def test_with_changes_gives_replaced_instances_their_previous_values() -> None:
    before = lamp(**{POWER: 1, DIM: True})
    before[PARKED] = [{"type": "Relationship", "object": "urn:x:A"}]
    before[NAME] = [{"type": "LanguageProperty", "languageMap": {"da": "lampe"}}]
    after = lamp(**{POWER: 2, DIM: True})
    after[PARKED] = [{"type": "Relationship", "object": "urn:x:B"}]
    after[NAME] = [{"type": "LanguageProperty", "languageMap": {"da": "gadelampe"}}]
    shown = with_changes(before, after, "2026-01-01T00:00:00Z")
    assert shown[POWER] == [{"type": "Property", "value": 2, "previousValue": 1}]
    assert shown[DIM] == [{"type": "Property", "value": True}]  # unchanged: no previous value
    assert shown[PARKED][0]["previousObject"] == "urn:x:A"
    assert shown[NAME][0]["previousLanguageMap"] == {"da": "lampe"}
    assert after[POWER] == [{"type": "Property", "value": 2}]  # the change itself is left alone
    assert with_changes(None, after, "2026-01-01T00:00:00Z") == after


def test_with_changes_shows_what_is_gone() -> None:
    before = lamp(**{POWER: 1})
    before[POWER].append({"type": "Property", "value": 7, "datasetId": DATASET})
    after = {**lamp(**{POWER: 1}), "modifiedAt": "2026-02-01T00:00:00Z"}
    shown = with_changes(before, after, "2026-01-01T00:00:00Z")
    assert shown[POWER] == [
        {"type": "Property", "value": 1},
        {
            "type": "Property",
            "value": "urn:ngsi-ld:null",
            "deletedAt": "2026-02-01T00:00:00Z",
            "datasetId": DATASET,
            "previousValue": 7,
        },
    ]
    deleted = with_changes(lamp(**{POWER: 1}), None, "2026-03-01T00:00:00Z")
    assert deleted["deletedAt"] == "2026-03-01T00:00:00Z" and deleted["type"] == [LAMP]
    assert deleted[POWER] == [
        {
            "type": "Property",
            "value": "urn:ngsi-ld:null",
            "deletedAt": "2026-03-01T00:00:00Z",
            "previousValue": 1,
        }
    ]


patch_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: st.dictionaries(st.sampled_from("abc"), children, max_size=3),
    max_leaves=8,
)
documents = st.dictionaries(st.sampled_from("abcd"), patch_values, max_size=4)


@SETTINGS
@given(documents, documents)
def test_merge_patch_is_rfc_7396(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7396 (clause 5.8.2 updates a subscription so): null removes a member, an object merges
    into an object, anything else replaces; members the patch does not name stay; applying a patch
    twice is applying it once."""
    merged = merge_patch(target, patch)
    assert isinstance(merged, dict)
    for name, value in patch.items():
        if value is None:
            assert name not in merged
        elif not isinstance(value, dict):
            assert merged[name] == value
        else:
            assert isinstance(merged[name], dict)
            assert not {k for k, v in value.items() if v is None} & set(merged[name])
    for name in set(target) - set(patch):
        assert merged[name] == target[name]
    assert merge_patch(merged, patch) == merged


attribute_sets = st.dictionaries(
    st.sampled_from([POWER, DIM]),
    st.lists(
        st.fixed_dictionaries(
            {"type": st.just("Property"), "value": st.integers(0, 2)},
            optional={"datasetId": st.sampled_from(["urn:ngsi-ld:Dataset:a", "urn:ngsi-ld:Dataset:b"])},
        ),
        min_size=1,
        max_size=2,
        unique_by=lambda i: i.get("datasetId"),
    ),
    max_size=2,
)
states = st.none() | attribute_sets.map(
    lambda attributes: {"id": "urn:ngsi-ld:Lamp:1", "type": [LAMP], **attributes}
)


@SETTINGS
@given(
    states,
    states,
    st.lists(st.sampled_from(TRIGGERS), min_size=1, max_size=3, unique=True),
    st.booleans(),
    st.booleans(),
)
def test_trigger_reason_and_notified_entity_rules(
    before: Any, after: Any, triggers: list[str], show_changes: bool, sys_attrs: bool
) -> None:
    """Table 5.2.12-1 and clause 5.8.6: a change notifies for one of the subscription's own
    triggers (entityUpdated never for a deletion); what the notification shows of it is the new
    state with every instance that is gone as the NGSI-LD Null, stamped only with sysAttrs, and a
    previous value only with showChanges."""
    if before is None and after is None:
        return
    notification: dict[str, Any] = {"endpoint": ENDPOINT, "sysAttrs": sys_attrs}
    if show_changes:
        notification["showChanges"] = True
    sub = compiled(notificationTrigger=triggers, notification=notification)
    change = Change(before, after)
    reason = sub.trigger_reason(change.events)
    assert sub.concerns(change) == (reason is not None)
    if reason is None:
        return
    assert reason in triggers
    assert not (after is None and reason == "entityUpdated")
    shown = notified_entity(change, sub, reason, "2026-01-01T00:00:00Z")
    assert shown["id"] == "urn:ngsi-ld:Lamp:1"
    assert ("deletedAt" in shown) == (after is None)
    for name, instances in shown.items():
        if name in ("id", "type", "deletedAt", "createdAt", "modifiedAt"):
            continue
        for instance in instances:
            if instance["value"] == "urn:ngsi-ld:null":
                assert ("deletedAt" in instance) == sys_attrs
                assert ("previousValue" in instance) == show_changes
            else:
                assert after is not None
                assert {k: v for k, v in instance.items() if k != "previousValue"} in after[name]
                assert show_changes or "previousValue" not in instance
