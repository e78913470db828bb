"""NGSI-LD subscriptions (clauses 5.2.12, 5.2.14, 5.2.15, 5.8): checking a Subscription body and
deciding whether one change of an entity concerns it.

A subscription is kept as the document its subscriber wrote (their terms, with defaults filled in)
plus the @context it was written with, because notifications are rendered in those terms. For
matching, `compile_subscription` turns it into a `Subscription` whose names are expanded IRIs, so a
change is tested without a JSON-LD processor in the loop.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from smartby.ngsild.context import Context
from smartby.ngsild.entity import (
    ENTITY_MEMBERS,
    NULL_URI,
    PREVIOUS_MEMBER,
    VALUE_MEMBER,
    Entity,
    Instance,
    check_entity_id,
    check_name,
    is_uri,
)
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.geo import GeoQuery, geo_query_from_json
from smartby.ngsild.query import Expr, parse_q
from smartby.ngsild.regex import Regex, compiled
from smartby.ngsild.scope import ScopeExpr, parse_scope_query
from smartby.ngsild.timestamps import normalize_datetime, parse_datetime
from smartby.ngsild.typequery import TypeExpr, TypeName, parse_type_query

TRIGGERS = (
    "entityCreated",
    "entityUpdated",
    "entityDeleted",
    "attributeCreated",
    "attributeUpdated",
    "attributeDeleted",
)
DEFAULT_TRIGGERS = ("attributeCreated", "attributeUpdated")
"""What notifies when a subscription names no trigger (Table 5.2.12-1)."""
ATTRIBUTE_EVENTS = frozenset({"attributeCreated", "attributeUpdated", "attributeDeleted"})
FORMATS = ("normalized", "concise", "keyValues", "simplified")
"""Notification formats; `simplified` is the older name of keyValues (clause 4.5.3)."""
KEY_VALUES = frozenset({"keyValues", "simplified"})
ACCEPTS = ("application/json", "application/ld+json", "application/geo+json")
JOINS = ("flat", "inline", "@none")
SCHEMES = ("http", "https", "mqtt", "mqtts")
STATUS_MEMBERS = frozenset(
    {"status", "timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure"}
)
"""Read-only members the broker reports; a body may carry them (e.g. a GET fed back) and they are ignored."""
SYSTEM_MEMBERS = STATUS_MEMBERS | {"createdAt", "modifiedAt", "deletedAt"}
MEMBERS = frozenset(
    {
        "id",
        "type",
        "subscriptionName",
        "description",
        "entities",
        "watchedAttributes",
        "notificationTrigger",
        "q",
        "geoQ",
        "scopeQ",
        "lang",
        "expiresAt",
        "isActive",
        "throttling",
        "timeInterval",
        "notification",
        "jsonldContext",
        "localOnly",
        "csf",
        "datasetId",
        "@context",
    }
)
NOTIFICATION_MEMBERS = frozenset(
    {"attributes", "format", "sysAttrs", "pick", "omit", "showChanges", "join", "joinLevel", "endpoint"}
)
ENDPOINT_MEMBERS = frozenset({"uri", "accept", "receiverInfo", "notifierInfo", "timeout", "cooldown"})
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers a subscription's receiverInfo may not set: they belong to the connection (RFC 9110 7.6.1)."""
MQTT_QOS = "MQTT-QoS"
MQTT_VERSION = "MQTT-Version"
_LANG = re.compile(r"^(\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)(;q=[01](\.[0-9]{1,3})?)?$")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1:
        raise BadRequestData(f"{name} must be a number of seconds, at least 1")
    if value != value or value == float("inf"):
        raise BadRequestData(f"{name} must be a finite number")
    return value


def _names(value: object, name: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{name} must be a non-empty array of attribute names")
    for item in value:
        if not isinstance(item, str):
            raise BadRequestData(f"{name} must hold attribute names (strings), not {_kind(item)}")
        check_name(item)
    return list(dict.fromkeys(value))


def _key_values(value: object, name: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise BadRequestData(f"{name} must be an array of {{key, value}} objects")
    pairs = []
    for item in value:
        if (
            not isinstance(item, dict)
            or set(item) != {"key", "value"}
            or not isinstance(item["key"], str)
            or not isinstance(item["value"], str)
            or not item["key"]
        ):
            raise BadRequestData(f"Each {name} item must be {{'key': string, 'value': string}}")
        pairs.append({"key": item["key"], "value": item["value"]})
    return pairs


def _endpoint(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("notification.endpoint must be a JSON object")
    unknown = set(value) - ENDPOINT_MEMBERS
    if unknown:
        raise BadRequestData(f"Unknown member(s) of notification.endpoint: {', '.join(sorted(unknown))}")
    uri = value.get("uri")
    if not isinstance(uri, str) or not is_uri(uri):
        raise BadRequestData("notification.endpoint.uri must be an absolute URI")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise BadRequestData("notification.endpoint.uri is not a valid URL (host or port)") from None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise BadRequestData(f"notification.endpoint.uri must be one of {', '.join(SCHEMES)} with a host")
    out: dict[str, Any] = {"uri": uri}
    if "accept" in value:
        if value["accept"] not in ACCEPTS:
            raise BadRequestData(f"notification.endpoint.accept must be one of {', '.join(ACCEPTS)}")
        out["accept"] = value["accept"]
    for name in ("timeout", "cooldown"):
        if name in value:
            number = value[name]
            if isinstance(number, bool) or not isinstance(number, int | float) or not 1 <= number < 1e12:
                raise BadRequestData(f"notification.endpoint.{name} must be milliseconds, at least 1")
            out[name] = number
    for name in ("receiverInfo", "notifierInfo"):
        if name in value:
            out[name] = _key_values(value[name], f"notification.endpoint.{name}")
    for pair in out.get("receiverInfo", []):
        if pair["key"].lower() in RESERVED_HEADERS:
            raise BadRequestData(
                f"notification.endpoint.receiverInfo may not set the {pair['key']} header "
                "(Host, Content-Length and hop-by-hop headers are the notifier's)"
            )
    for pair in out.get("notifierInfo", []):
        if pair["key"] == MQTT_QOS and pair["value"] not in ("0", "1", "2"):
            raise BadRequestData("MQTT-QoS must be 0, 1 or 2")
        if pair["key"] == MQTT_VERSION and pair["value"] not in ("mqtt3.1.1", "mqtt5.0"):
            raise BadRequestData("MQTT-Version must be mqtt3.1.1 or mqtt5.0")
    return out


def _notification(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("notification must be a JSON object")
    unknown = set(value) - NOTIFICATION_MEMBERS - STATUS_MEMBERS
    if unknown:
        raise BadRequestData(f"Unknown member(s) of notification: {', '.join(sorted(unknown))}")
    if "endpoint" not in value:
        raise BadRequestData("notification.endpoint is mandatory")
    out: dict[str, Any] = {"endpoint": _endpoint(value["endpoint"])}
    if "attributes" in value:
        out["attributes"] = _names(value["attributes"], "notification.attributes")
    if "format" in value:
        if value["format"] not in FORMATS:
            raise BadRequestData(f"notification.format must be one of {', '.join(FORMATS)}")
        out["format"] = value["format"]
    for name in ("sysAttrs", "showChanges"):
        if name in value:
            if not isinstance(value[name], bool):
                raise BadRequestData(f"notification.{name} must be true or false")
            out[name] = value[name]
    if out.get("showChanges") and out.get("format") in KEY_VALUES:
        raise BadRequestData("notification.showChanges cannot be true with the keyValues format")
    for name in ("pick", "omit"):
        if name in value:
            out[name] = _names(value[name], f"notification.{name}")
    if "pick" in out and "omit" in out:
        raise BadRequestData("notification.pick and notification.omit cannot be used together")
    if "attributes" in out and ("pick" in out or "omit" in out):
        raise BadRequestData("notification.attributes cannot be combined with pick or omit (use pick alone)")
    if "join" in value:
        if value["join"] not in JOINS:
            raise BadRequestData(f"notification.join must be one of {', '.join(JOINS)}")
        out["join"] = value["join"]
    if "joinLevel" in value:
        level = value["joinLevel"]
        if isinstance(level, bool) or not isinstance(level, int | float) or level != int(level) or level < 1:
            raise BadRequestData("notification.joinLevel must be a whole number, at least 1")
        out["joinLevel"] = int(level)
    return out


def _selectors(value: object) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise BadRequestData("entities must be a non-empty array of entity selectors")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise BadRequestData("Each entity selector must be a JSON object")
        unknown = set(item) - {"id", "idPattern", "type"}
        if unknown:
            raise BadRequestData(f"Unknown member(s) of an entity selector: {', '.join(sorted(unknown))}")
        if not isinstance(item.get("type"), str) or not item["type"]:
            raise BadRequestData("Each entity selector needs a type")
        parse_type_query(item["type"])
        selector: dict[str, str] = {"type": item["type"]}
        if "id" in item:
            selector["id"] = check_entity_id(item["id"])
        if "idPattern" in item:
            pattern = item["idPattern"]
            if not isinstance(pattern, str):
                raise BadRequestData("idPattern must be a string")
            if compiled(pattern) is None:
                raise BadRequestData(f"idPattern is not a valid regular expression: {pattern!r}")
            selector["idPattern"] = pattern
        out.append(selector)
    return out


def _dataset_ids(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequestData("datasetId must be a non-empty array of URIs (or @none)")
    for item in value:
        if item != "@none" and not is_uri(item):
            raise BadRequestData(f"datasetId items must be URIs or @none, not {item!r}")
    return list(dict.fromkeys(value))


def _triggers(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequestData("notificationTrigger must be a non-empty array")
    for item in value:
        if item not in TRIGGERS:
            raise BadRequestData(f"notificationTrigger items must be among {', '.join(TRIGGERS)}")
    return list(dict.fromkeys(value))


def _datetime(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"{name} must be a date-time string")
    return normalize_datetime(value, name)


def _string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"{name} must be a string, not {_kind(value)}")
    return value


def parse_subscription(body: object, *, now: datetime, fill_id: bool = True) -> dict[str, Any]:
    """Check a Subscription body (without its @context) and return it as stored: the members given,
    checked (defaults are not filled in: a retrieved subscription shows what its subscriber wrote,
    clause 5.8.3), status members dropped (the broker keeps those). Raises BadRequestData."""
    if not isinstance(body, dict):
        raise BadRequestData("A subscription must be a JSON object")
    unknown = set(body) - MEMBERS - SYSTEM_MEMBERS
    if unknown:
        raise BadRequestData(f"Unknown member(s) of a subscription: {', '.join(sorted(unknown))}")
    if body.get("type") != "Subscription":
        raise BadRequestData('A subscription needs "type": "Subscription"')
    out: dict[str, Any] = {}
    if "id" in body:
        out["id"] = check_entity_id(body["id"], "Subscription id")
    elif fill_id:
        out["id"] = f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
    out["type"] = "Subscription"
    for name in ("subscriptionName", "description"):
        if name in body:
            out[name] = _string(body[name], name)
    if "entities" in body:
        out["entities"] = _selectors(body["entities"])
    if "watchedAttributes" in body:
        out["watchedAttributes"] = _names(body["watchedAttributes"], "watchedAttributes")
    if "entities" not in out and "watchedAttributes" not in out:
        raise BadRequestData("A subscription needs entities or watchedAttributes (clause 5.8.1)")
    if "timeInterval" in body:
        out["timeInterval"] = _positive(body["timeInterval"], "timeInterval")
        if "watchedAttributes" in out:
            raise BadRequestData("timeInterval and watchedAttributes cannot be used together")
        if "throttling" in body:
            raise BadRequestData("timeInterval and throttling cannot be used together")
        if "entities" not in out:
            raise BadRequestData("A periodic subscription (timeInterval) needs entities")
    if "throttling" in body:
        out["throttling"] = _positive(body["throttling"], "throttling")
    if "notificationTrigger" in body:
        out["notificationTrigger"] = _triggers(body["notificationTrigger"])
    if "q" in body:
        parse_q(_string(body["q"], "q"))
        out["q"] = body["q"]
    if "geoQ" in body:
        geo = geo_query_from_json(body["geoQ"])
        out["geoQ"] = {"geometry": geo.geometry["type"], "coordinates": geo.geometry["coordinates"]}
        out["geoQ"]["georel"] = geo.georel_text
        if isinstance(body["geoQ"], dict) and "geoproperty" in body["geoQ"]:
            out["geoQ"]["geoproperty"] = geo.geoproperty
    if "scopeQ" in body:
        parse_scope_query(_string(body["scopeQ"], "scopeQ"))
        out["scopeQ"] = body["scopeQ"]
    if "lang" in body:
        lang = _string(body["lang"], "lang")
        if not all(_LANG.match(part.strip()) for part in lang.split(",")):
            raise BadRequestData(f"lang is not a language preference: {lang!r}")
        out["lang"] = lang
    if "expiresAt" in body:
        out["expiresAt"] = _datetime(body["expiresAt"], "expiresAt")
        if parse_datetime(out["expiresAt"]) <= now:
            raise BadRequestData("expiresAt must be in the future")
    if "isActive" in body:
        if not isinstance(body["isActive"], bool):
            raise BadRequestData("isActive must be true or false")
        out["isActive"] = body["isActive"]
    if "jsonldContext" in body:
        if not isinstance(body["jsonldContext"], str) or not is_uri(body["jsonldContext"]):
            raise BadRequestData("jsonldContext must be a URI")
        out["jsonldContext"] = body["jsonldContext"]
    if "localOnly" in body:
        if not isinstance(body["localOnly"], bool):
            raise BadRequestData("localOnly must be true or false")
        out["localOnly"] = body["localOnly"]
    if "csf" in body:
        parse_q(_string(body["csf"], "csf"))
        out["csf"] = body["csf"]
    if "datasetId" in body:
        out["datasetId"] = _dataset_ids(body["datasetId"])
    if "notification" not in body:
        raise BadRequestData("notification is mandatory")
    out["notification"] = _notification(body["notification"])
    return out


def merge_fragment(stored: Mapping[str, Any], fragment: object) -> dict[str, Any]:
    """A subscription after a PATCH (clause 5.8.2): the fragment is applied as a JSON Merge Patch
    (IETF RFC 7396), so objects such as `notification` and its `endpoint` merge member by member and
    `null` removes a member; the merged document is then checked again as a whole."""
    if not isinstance(fragment, dict) or not fragment:
        raise BadRequestData("A subscription update must be a non-empty JSON object")
    if "id" in fragment and fragment["id"] != stored["id"]:
        raise BadRequestData("The id of a subscription cannot be changed")
    if "type" in fragment and fragment["type"] != "Subscription":
        raise BadRequestData('A subscription update may only say "type": "Subscription"')
    merged = merge_patch(stored, fragment)
    assert isinstance(merged, dict)
    return merged


def merge_patch(target: object, patch: object) -> object:
    """IETF RFC 7396: `patch` applied to `target` (neither is changed)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = merge_patch(out.get(name), value)
    return out


PROJECTION_MEMBERS = frozenset({"id", "type", "scope"})
"""Entity members pick and omit may name beside attributes; they are not terms to expand."""


def compacted_subscription(document: Mapping[str, Any], written: Context, wanted: Context) -> dict[str, Any]:
    """A subscription's names as a reader with the @context `wanted` sees them (clause 5.8.3: the
    term to URI expansion is observed): entity types, watchedAttributes, the notification's
    attributes, pick and omit, and geoQ's geoproperty, read with the @context the subscription was
    written with and compacted with the reader's (without one, the core context: full IRIs)."""

    def name(term: str) -> str:
        return wanted.compact(written.expand(term))

    def types(text: str) -> str:
        expression = parse_type_query(text)
        compacted = expression.map_names(name)
        return text if compacted == expression else compacted.to_text()

    out = dict(document)
    if "entities" in out:
        out["entities"] = [{**item, "type": types(item["type"])} for item in out["entities"]]
    if "watchedAttributes" in out:
        out["watchedAttributes"] = [name(item) for item in out["watchedAttributes"]]
    if isinstance(out.get("geoQ"), dict) and "geoproperty" in out["geoQ"]:
        out["geoQ"] = {**out["geoQ"], "geoproperty": name(out["geoQ"]["geoproperty"])}
    notification = out.get("notification")
    if isinstance(notification, dict):
        notification = dict(notification)
        for member in ("attributes", "pick", "omit"):
            if member in notification:
                notification[member] = [
                    item if item in PROJECTION_MEMBERS else name(item) for item in notification[member]
                ]
        out["notification"] = notification
    return out


@dataclass(frozen=True)
class Selector:
    """An entity selector with its type expression expanded."""

    types: TypeExpr
    id: str | None = None
    id_pattern: Regex | None = None

    def matches(self, entity: Entity) -> bool:
        if self.id is not None and entity["id"] != self.id:
            return False
        if self.id is None and self.id_pattern is not None and not self.id_pattern.search(entity["id"]):
            return False
        return self.types.matches(entity["type"])


@dataclass(frozen=True)
class Change:
    """One entity's change inside one transaction: its state before (None: it was created) and after
    (None: it was deleted). For writes to history (the temporal API) the states show the instances
    written or removed, `attributes` names the attributes whose instances were written and `removed`
    those whose instances were removed; otherwise (`attributes` None) the states are diffed."""

    before: Entity | None
    after: Entity | None
    attributes: frozenset[str] | None = None
    removed: frozenset[str] = frozenset()

    @property
    def entity(self) -> Entity:
        found = self.after if self.after is not None else self.before
        assert found is not None
        return found

    @property
    def events(self) -> dict[str, set[str]]:
        """What happened: each trigger name, with the attributes concerned (entity events: all).
        Worked out once per change, however many subscriptions look at it (kept in the instance's
        dict by hand: functools.cached_property takes a lock on every read before Python 3.12)."""
        found: dict[str, set[str]] | None = self.__dict__.get("_events")
        if found is None:
            found = self.__dict__["_events"] = self._events()
        return found

    def _events(self) -> dict[str, set[str]]:
        before, after = self.before, self.after
        if before is None and after is not None:
            names = _attribute_names(after)
            return {"entityCreated": names, "attributeCreated": names}
        if after is None and before is not None:
            # Deleting an entity deletes its attributes too (an attributeDeleted subscription that
            # watches one of them is told, clause 5.8.6), but it is not an update of the entity.
            names = _attribute_names(before) | self.removed
            return {"entityDeleted": names, "attributeDeleted": names} if names else {"entityDeleted": names}
        assert before is not None and after is not None
        created: set[str] = set()
        updated: set[str] = set()
        deleted: set[str] = set()
        if self.attributes is not None:
            updated = set(self.attributes)
            deleted = set(self.removed)
        else:
            for name, new in after.items():
                if name not in ENTITY_MEMBERS:
                    old = before.get(name)
                    if old is None:
                        created.add(name)
                    elif old != new:
                        # An instance (a datasetId) that is gone is a deletion of the attribute's
                        # instance; what remains changed, or an instance came, is an update.
                        gone = {i.get("datasetId") for i in old} - {i.get("datasetId") for i in new}
                        if gone:
                            deleted.add(name)
                            old = [i for i in old if i.get("datasetId") not in gone]
                        if old != new:
                            updated.add(name)
            for name in before:
                if name not in after and name not in ENTITY_MEMBERS:
                    deleted.add(name)
        events: dict[str, set[str]] = {}
        for trigger, names in (
            ("attributeCreated", created),
            ("attributeUpdated", updated),
            ("attributeDeleted", deleted),
        ):
            if names:
                events[trigger] = names
        changed = created | updated | deleted
        if changed or before.get("type") != after.get("type") or before.get("scope") != after.get("scope"):
            events["entityUpdated"] = changed
        return events


def _attribute_names(entity: Entity) -> set[str]:
    return {name for name in entity if name not in ENTITY_MEMBERS}


def with_changes(
    before: Entity | None,
    after: Entity | None,
    deleted_at: str,
    *,
    previous: bool = True,
    stamped: bool = True,
) -> Entity:
    """What a notification holds of a change that deleted something (clauses 5.2.14 and 5.8.6): the
    new state, where each instance that is gone (an attribute deleted, or one of its datasetIds) is
    shown as the NGSI-LD Null (clause 5.2.1) and, when `stamped`, with its `deletedAt`. A deleted
    entity is its id, type and deletedAt with every attribute shown so.

    With `previous` (NotificationParams.showChanges), each instance that replaced another (same
    attribute, same datasetId) and each one that is gone carries the earlier value too, in
    `previousValue`, `previousObject`, `previousLanguageMap`, ... (by the earlier instance's type);
    a new entity is as it is (nothing came before)."""
    if after is None:
        assert before is not None
        shown = gone_entity(before, deleted_at)
    else:
        shown = dict(after)
    if before is None:
        return shown
    if after is not None:
        deleted_at = after.get("modifiedAt") or deleted_at
    for name, instances in before.items():
        if name in ENTITY_MEMBERS:
            continue
        earlier = {instance.get("datasetId"): instance for instance in instances}
        current: list[Instance] = shown.get(name, [])
        changed = False
        out: list[Instance] = []
        for instance in current:
            old = earlier.pop(instance.get("datasetId"), None)
            if previous and old is not None and old != instance:
                instance = {**instance, PREVIOUS_MEMBER[old["type"]]: old.get(VALUE_MEMBER[old["type"]])}
                changed = True
            out.append(instance)
        for old in earlier.values():
            out.append(removed_instance(old, deleted_at, previous=previous, stamped=stamped))
            changed = True
        if changed:
            shown[name] = out
    return shown


def gone_entity(before: Entity, deleted_at: str) -> Entity:
    """A deleted entity as a notification shows it: its id, type and `deletedAt` (and its system
    timestamps, which only sysAttrs shows)."""
    shown: Entity = {"id": before["id"], "type": before["type"], "deletedAt": deleted_at}
    for member in ("createdAt", "modifiedAt"):
        if member in before:
            shown[member] = before[member]
    return shown


def removed_instance(
    old: Instance, deleted_at: str, *, previous: bool = True, stamped: bool = True
) -> Instance:
    """An instance that is gone, as the NGSI-LD Null of its type (clause 5.2.1): with the value it had
    when `previous`, with its `deletedAt` (and system timestamps) when `stamped`."""
    kind = old["type"]
    # Clause 5.2.1: a LanguageProperty's Null is the languageMap {"@none": "urn:ngsi-ld:null"}.
    null: Any = {"@none": NULL_URI} if kind == "LanguageProperty" else NULL_URI
    gone: Instance = {"type": kind, VALUE_MEMBER[kind]: null}
    if "datasetId" in old:
        gone["datasetId"] = old["datasetId"]
    if stamped:
        for member in ("createdAt", "modifiedAt"):
            if member in old:
                gone[member] = old[member]
        gone["deletedAt"] = deleted_at
    if previous:
        gone[PREVIOUS_MEMBER[kind]] = old.get(VALUE_MEMBER[kind])
    return gone


def notified_entity(change: Change, sub: Subscription, reason: str, stamp: str) -> Entity:
    """An entity as a notification of `sub` for this change shows it (clause 5.8.6), in its stored
    form: its new state; with showChanges the previous values (see `with_changes`); what a deletion
    removed as the NGSI-LD Null when the subscription is told of deletions (attributeDeleted, or
    entityUpdated); a deleted entity as its id, type and deletedAt, with (attributeDeleted) the
    watched attributes it had as the NGSI-LD Null."""
    before, after = change.before, change.after
    if sub.show_changes:
        return with_changes(before, after, stamp, stamped=sub.sys_attrs)
    if after is None:
        assert before is not None
        shown = gone_entity(before, stamp)
        if reason == "attributeDeleted":
            for name, instances in before.items():
                if name not in ENTITY_MEMBERS and (sub.watched is None or name in sub.watched):
                    shown[name] = [
                        removed_instance(i, stamp, previous=False, stamped=sub.sys_attrs) for i in instances
                    ]
        return shown
    if change.attributes is None and sub.tells_deletions and "attributeDeleted" in change.events:
        return with_changes(before, after, stamp, previous=False, stamped=sub.sys_attrs)
    return after


@dataclass(frozen=True)
class Subscription:
    """A stored subscription ready for matching: names are expanded IRIs."""

    id: str
    tenant: str
    document: dict[str, Any] = dataclasses.field(hash=False, compare=False)
    selectors: tuple[Selector, ...] = ()
    watched: frozenset[str] | None = None
    triggers: frozenset[str] = frozenset(DEFAULT_TRIGGERS)
    q: Expr | None = None
    geo: GeoQuery | None = None
    scope: ScopeExpr | None = None
    expires_at: datetime | None = None
    active: bool = True
    throttling: float | None = None
    time_interval: float | None = None
    show_changes: bool = False
    sys_attrs: bool = False
    criteria: object = dataclasses.field(default=None, hash=False, compare=False, repr=False)
    """What decides `concerns` (selectors, watchedAttributes, triggers, q, geoQ, scopeQ); the broker
    gives subscriptions that agree on all of them one object, so one verdict per change serves all."""
    type_names: frozenset[str] | None = dataclasses.field(
        default=None, init=False, hash=False, compare=False, repr=False
    )
    """When every selector is one plain type and nothing more (the usual case), those types: an
    entity is selected when it has one of them, without walking the selectors."""

    def __post_init__(self) -> None:
        if self.selectors and all(
            isinstance(s.types, TypeName) and s.id is None and s.id_pattern is None for s in self.selectors
        ):
            names = frozenset(s.types.name for s in self.selectors if isinstance(s.types, TypeName))
            object.__setattr__(self, "type_names", names)

    def criteria_key(self) -> tuple[object, ...]:
        """The members `concerns` reads, hashable: equal keys give equal verdicts."""
        geo = None
        if self.geo is not None:
            geo = (repr(self.geo.geometry), self.geo.georel_text, self.geo.geoproperty)
        return (
            self.tenant,
            self.selectors,
            self.watched,
            self.triggers,
            self.q,
            geo,
            self.scope,
            self.time_interval,
        )

    def status(self, moment: datetime) -> str:
        if self.expires_at is not None and self.expires_at <= moment:
            return "expired"
        return "active" if self.active else "paused"

    @property
    def tells_deletions(self) -> bool:
        """Whether an update that deletes attributes (or instances) notifies this subscription of
        the deletion: its triggers name attributeDeleted, or entityUpdated that stands for it."""
        return "attributeDeleted" in self.triggers or "entityUpdated" in self.triggers

    def notified_form(self, change: Change, reason: str) -> tuple[object, ...] | None:
        """What `notified_entity` depends on besides the change, hashable (None: the entity's new
        state as it is), so subscriptions that agree share one rendering of a change."""
        if self.show_changes:
            return ("changes", self.sys_attrs)
        if change.after is None:
            watched = self.watched if reason == "attributeDeleted" else False
            return ("deleted", watched, self.sys_attrs)
        if change.attributes is None and self.tells_deletions and "attributeDeleted" in change.events:
            return ("removed", self.sys_attrs)
        return None

    def type_keys(self) -> set[str] | None:
        """Entity types an entity must have one of to match (for indexing); None: any entity may."""
        if not self.selectors:
            return None
        keys: set[str] = set()
        for selector in self.selectors:
            keys |= selector.types.names()
        return keys

    def selects(self, entity: Entity) -> bool:
        if self.type_names is not None:
            return not self.type_names.isdisjoint(entity["type"])
        return not self.selectors or any(selector.matches(entity) for selector in self.selectors)

    def concerns(self, change: Change, verdicts: dict[int, bool] | None = None) -> bool:
        """Whether this change notifies (see `reason`)."""
        return self.reason(change, verdicts) is not None

    def reason(self, change: Change, verdicts: dict[int, bool] | None = None) -> str | None:
        """The trigger this change notifies for (its `triggerReason`), or None when it does not
        notify: the entity is selected, a trigger fires on a watched attribute, and the entity meets
        q, geoQ and scopeQ (its new state; its last for a deletion).

        `verdicts` remembers, for one change, what each q (by identity) said: subscriptions that
        share one compiled q (the broker interns them) then evaluate it once per change."""
        entity = change.entity
        if self.time_interval is not None or not self.selects(entity):
            return None
        reason = self.trigger_reason(change.events)
        if reason is None:
            return None
        q = self.q
        if q is not None:
            held = verdicts.get(id(q)) if verdicts is not None else None
            if held is None:
                held = q.matches(entity)
                if verdicts is not None:
                    verdicts[id(q)] = held
            if not held:
                return None
        if self.geo is not None:
            geo = self.geo
            if not any(
                instance.get("type") == "GeoProperty" and geo.matches(instance.get("value"))
                for instance in entity.get(geo.geoproperty, ())
            ):
                return None
        if self.scope is not None and not self.scope.matches(entity.get("scope", [])):
            return None
        return reason

    def trigger_reason(self, events: dict[str, set[str]]) -> str | None:
        """Which of this subscription's notificationTrigger values a change's events fire (the
        first in the order of Table 5.2.12-1), or None. An attribute event fires entityUpdated,
        which stands for all three of them, unless the entity was deleted."""
        deleted = "entityDeleted" in events
        for trigger in TRIGGERS:
            names = events.get(trigger)
            if names is None or trigger not in self.triggers:
                if trigger != "entityUpdated" or deleted or "entityUpdated" not in self.triggers:
                    continue
                found = [events[e] for e in ATTRIBUTE_EVENTS if e in events]
                if not found:
                    continue
                names = set().union(*found)
            if self.watched is None or self.watched & names:
                return trigger
        return None


def compile_subscription(tenant: str, document: dict[str, Any], ctx: Context) -> Subscription:
    """The matching form of a stored subscription document, names expanded with its @context."""
    selectors = []
    for item in document.get("entities", ()):
        pattern = item.get("idPattern")
        selectors.append(
            Selector(
                types=parse_type_query(item["type"]).map_names(ctx.expand),
                id=item.get("id"),
                id_pattern=compiled(pattern) if pattern is not None else None,
            )
        )
    watched = document.get("watchedAttributes")
    geo = None
    if "geoQ" in document:
        geo = geo_query_from_json(document["geoQ"])
        geo = dataclasses.replace(geo, geoproperty=ctx.expand(geo.geoproperty))
    expires = document.get("expiresAt")
    return Subscription(
        id=document["id"],
        tenant=tenant,
        document=document,
        selectors=tuple(selectors),
        watched=frozenset(ctx.expand(name) for name in watched) if watched else None,
        triggers=frozenset(document.get("notificationTrigger", DEFAULT_TRIGGERS)),
        q=parse_q(document["q"]).map_names(ctx.expand) if "q" in document else None,
        geo=geo,
        scope=parse_scope_query(document["scopeQ"]) if "scopeQ" in document else None,
        expires_at=parse_datetime(expires) if expires else None,
        active=document.get("isActive", True),
        throttling=document.get("throttling"),
        time_interval=document.get("timeInterval"),
        show_changes=document["notification"].get("showChanges", False),
        sys_attrs=document["notification"].get("sysAttrs", False),
    )
