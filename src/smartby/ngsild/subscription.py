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
from smartby.ngsild.regex import compiled
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
FORMATS = ("normalized", "concise", "keyValues")
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
    out: dict[str, Any] = {"uri": uri, "accept": value.get("accept", ACCEPTS[0])}
    if out["accept"] not in ACCEPTS:
        raise BadRequestData(f"notification.endpoint.accept must be one of {', '.join(ACCEPTS)}")
    for name in ("timeout", "cooldown"):
        if name in value:
            number = value[name]
            if isinstance(number, bool) or not isinstance(number, int | float) or not 1 <= number < 1e12:
                raise BadRequestData(f"notification.endpoint.{name} must be milliseconds, at least 1")
            out[name] = number
    for name in ("receiverInfo", "notifierInfo"):
        if name in value:
            out[name] = _key_values(value[name], f"notification.endpoint.{name}")
    for pair in out.get("notifierInfo", []):
        if pair["key"] == MQTT_QOS and pair["value"] not in ("0", "1", "2"):
            raise BadRequestData("MQTT-QoS must be 0, 1 or 2")
        if pair["key"] == MQTT_VERSION and pair["value"] not in ("mqtt3.1.1", "mqtt5.0"):
            raise BadRequestData("MQTT-Version must be mqtt3.1.1 or mqtt5.0")
    return out


def _notification(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("notification must be a JSON object")
    unknown = (
        set(value)
        - NOTIFICATION_MEMBERS
        - {"status", "timesSent", "timesFailed"}
        - {
            "lastNotification",
            "lastSuccess",
            "lastFailure",
        }
    )
    if unknown:
        raise BadRequestData(f"Unknown member(s) of notification: {', '.join(sorted(unknown))}")
    if "endpoint" not in value:
        raise BadRequestData("notification.endpoint is mandatory")
    out: dict[str, Any] = {"endpoint": _endpoint(value["endpoint"])}
    if "attributes" in value:
        out["attributes"] = _names(value["attributes"], "notification.attributes")
    out["format"] = value.get("format", "normalized")
    if out["format"] not in FORMATS:
        raise BadRequestData(f"notification.format must be one of {', '.join(FORMATS)}")
    for name in ("sysAttrs", "showChanges"):
        out[name] = value.get(name, False)
        if not isinstance(out[name], bool):
            raise BadRequestData(f"notification.{name} must be true or false")
    if out["showChanges"] and out["format"] == "keyValues":
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
    """Check a Subscription body (without its @context) and return it as stored: members checked,
    defaults filled in, status members dropped (the broker keeps those). Raises BadRequestData."""
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
    out["isActive"] = body.get("isActive", True)
    if not isinstance(out["isActive"], bool):
        raise BadRequestData("isActive must be true or false")
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
    """A subscription after a PATCH (clause 5.8.2): the fragment's members replace the stored ones
    (`notification` and its `endpoint` member by member); the merged document is checked again."""
    if not isinstance(fragment, dict) or not fragment:
        raise BadRequestData("A subscription update must be a non-empty JSON object")
    if "id" in fragment and fragment["id"] != stored["id"]:
        raise BadRequestData("The id of a subscription cannot be changed")
    if "type" in fragment and fragment["type"] != "Subscription":
        raise BadRequestData('A subscription update may only say "type": "Subscription"')
    merged = dict(stored)
    for name, value in fragment.items():
        if name == "notification" and isinstance(value, dict):
            notification = dict(merged.get("notification", {}))
            for key, item in value.items():
                if key == "endpoint" and isinstance(item, dict):
                    notification["endpoint"] = {**notification.get("endpoint", {}), **item}
                else:
                    notification[key] = item
            merged["notification"] = notification
        elif value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


@dataclass(frozen=True)
class Selector:
    """An entity selector with its type expression expanded."""

    types: TypeExpr
    id: str | None = None
    id_pattern: re.Pattern[str] | None = None

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
            return {"entityDeleted": _attribute_names(before) | self.removed}
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


def with_changes(before: Entity | None, after: Entity | None, deleted_at: str) -> Entity:
    """What a notification with showChanges holds of a change (NotificationParams.showChanges,
    clause 5.2.14): the new state, where each attribute instance that replaced another (same
    attribute, same datasetId) carries the previous one's value in `previousValue`, `previousObject`,
    `previousLanguageMap`, ... (by the previous instance's type), and each instance that is gone is
    shown as the NGSI-LD Null with its `deletedAt` and previous value. A deleted entity is its id,
    type and deletedAt with every attribute shown so; a new one is as it is (nothing came before)."""
    if after is None:
        assert before is not None
        shown: Entity = {"id": before["id"], "type": before["type"], "deletedAt": deleted_at}
    else:
        shown = dict(after)
    if before is None:
        return shown
    deleted_at = shown.get("modifiedAt") or deleted_at
    for name, instances in before.items():
        if name in ENTITY_MEMBERS:
            continue
        previous = {instance.get("datasetId"): instance for instance in instances}
        current: list[Instance] = shown.get(name, [])
        changed = False
        out: list[Instance] = []
        for instance in current:
            old = previous.pop(instance.get("datasetId"), None)
            if old is not None and old != instance:
                instance = {**instance, PREVIOUS_MEMBER[old["type"]]: old.get(VALUE_MEMBER[old["type"]])}
                changed = True
            out.append(instance)
        for old in previous.values():
            out.append(_removed(old, deleted_at))
            changed = True
        if changed:
            shown[name] = out
    return shown


def _removed(old: Instance, deleted_at: str) -> Instance:
    """An instance that is gone, as history shows a deletion, with the value it had."""
    kind = old["type"]
    gone: Instance = {"type": kind, VALUE_MEMBER[kind]: NULL_URI, "deletedAt": deleted_at}
    if "datasetId" in old:
        gone["datasetId"] = old["datasetId"]
    gone[PREVIOUS_MEMBER[kind]] = old.get(VALUE_MEMBER[kind])
    return gone


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
        """Whether this change notifies: the entity is selected, a trigger fires on a watched
        attribute, and the entity meets q, geoQ and scopeQ (its new state; its last for a deletion).

        `verdicts` remembers, for one change, what each q (by identity) said: subscriptions that
        share one compiled q (the broker interns them) then evaluate it once per change."""
        entity = change.entity
        if self.time_interval is not None or not self.selects(entity):
            return False
        if not self._fires(change.events):
            return False
        q = self.q
        if q is not None:
            held = verdicts.get(id(q)) if verdicts is not None else None
            if held is None:
                held = q.matches(entity)
                if verdicts is not None:
                    verdicts[id(q)] = held
            if not held:
                return False
        if self.geo is not None:
            geo = self.geo
            if not any(
                instance.get("type") == "GeoProperty" and geo.matches(instance.get("value"))
                for instance in entity.get(geo.geoproperty, ())
            ):
                return False
        return self.scope is None or self.scope.matches(entity.get("scope", []))

    def _fires(self, events: dict[str, set[str]]) -> bool:
        for event, names in events.items():
            wanted = event in self.triggers or (
                event in ATTRIBUTE_EVENTS and "entityUpdated" in self.triggers
            )
            if not wanted:
                continue
            if self.watched is None or self.watched & names:
                return True
        return False


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
    )
