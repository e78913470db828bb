"""Context source registrations (clauses 5.2.9, 5.2.10, 5.2.34, 4.20, 5.9): checking a
CSourceRegistration, keeping it with its names expanded, showing it in a requester's terms, and
deciding which registrations a query or a csource subscription concerns.

A registration is stored expanded: the entity types, attribute names and the names of its own
registration properties (members the spec does not define) are IRIs, so a registration written with
one @context is found and shown with any other. `compact_registration` turns it back into terms.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smartby.ngsild.context import Context
from smartby.ngsild.entity import Entity, check_entity_id, check_name, check_nesting, is_uri, parse_scopes
from smartby.ngsild.errors import BadRequestData, Conflict
from smartby.ngsild.geo import GeoQuery, validate_geometry
from smartby.ngsild.query import Expr
from smartby.ngsild.regex import compiled
from smartby.ngsild.scope import ScopeExpr
from smartby.ngsild.temporal import TemporalQuery
from smartby.ngsild.timestamps import normalize_datetime, parse_datetime
from smartby.ngsild.typequery import TypeExpr

TYPE = "ContextSourceRegistration"
MODES = ("inclusive", "exclusive", "redirect", "auxiliary")
DEFAULT_MODE = "inclusive"
OPERATIONS = (
    "createEntity",
    "updateEntity",
    "appendAttrs",
    "updateAttrs",
    "deleteAttrs",
    "deleteEntity",
    "replaceEntity",
    "replaceAttrs",
    "mergeEntity",
    "createBatch",
    "upsertBatch",
    "updateBatch",
    "deleteBatch",
    "mergeBatch",
    "upsertTemporal",
    "appendAttrsTemporal",
    "deleteAttrsTemporal",
    "updateAttrsTemporal",
    "deleteAttrInstanceTemporal",
    "deleteTemporal",
    "mergeTemporal",
    "retrieveEntity",
    "queryEntity",
    "queryBatch",
    "retrieveTemporal",
    "queryTemporal",
    "retrieveEntityTypes",
    "retrieveEntityTypeDetails",
    "retrieveEntityTypeInfo",
    "retrieveAttrTypes",
    "retrieveAttrTypeDetails",
    "retrieveAttrTypeInfo",
    "createSubscription",
    "updateSubscription",
    "retrieveSubscription",
    "querySubscription",
    "deleteSubscription",
)
"""The operation names a registration may list (clause 4.20)."""
_DISCOVERY = (
    "retrieveEntityTypes",
    "retrieveEntityTypeDetails",
    "retrieveEntityTypeInfo",
    "retrieveAttrTypes",
    "retrieveAttrTypeDetails",
    "retrieveAttrTypeInfo",
)
OPERATION_GROUPS: dict[str, tuple[str, ...]] = {
    "federationOps": (
        "retrieveEntity",
        "queryEntity",
        "queryBatch",
        *_DISCOVERY,
        "createSubscription",
        "updateSubscription",
        "retrieveSubscription",
        "querySubscription",
        "deleteSubscription",
    ),
    "updateOps": ("updateEntity", "updateAttrs", "replaceEntity", "replaceAttrs"),
    "retrieveOps": ("retrieveEntity", "queryEntity"),
    "redirectionOps": (
        "createEntity",
        "updateEntity",
        "appendAttrs",
        "updateAttrs",
        "deleteAttrs",
        "deleteEntity",
        "mergeEntity",
        "replaceEntity",
        "replaceAttrs",
        "retrieveEntity",
        "queryEntity",
        *_DISCOVERY,
    ),
}
"""The operation groups of clause 4.20 and the operations each stands for."""
DEFAULT_OPERATIONS = ("federationOps",)
STATUS_MEMBERS = frozenset(
    {
        "status",
        "timesSent",
        "timesFailed",
        "lastSuccess",
        "lastFailure",
        "createdAt",
        "modifiedAt",
        "deletedAt",
    }
)
"""Members the broker keeps and reports; a body may carry them (a GET fed back) and they are ignored."""
GEO_MEMBERS = ("location", "observationSpace", "operationSpace")
MEMBERS = frozenset(
    {
        "id",
        "type",
        "registrationName",
        "description",
        "contextSourceAlias",
        "information",
        "datasetId",
        "tenant",
        "observationInterval",
        "managementInterval",
        *GEO_MEMBERS,
        "expiresAt",
        "endpoint",
        "contextSourceInfo",
        "scope",
        "mode",
        "operations",
        "refreshRate",
        "management",
    }
)
MANAGEMENT_MEMBERS = frozenset({"localOnly", "cacheDuration", "timeout", "cooldown"})
_DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"{name} must be a non-empty string, not {_kind(value)}")
    return value


def _uri(value: object, name: str) -> str:
    if not isinstance(value, str) or not is_uri(value):
        raise BadRequestData(f"{name} must be an absolute URI")
    return value


def _names(value: object, name: str, ctx: Context) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{name} must be a non-empty array of attribute names")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise BadRequestData(f"{name} must hold attribute names (strings), not {_kind(item)}")
        iri = ctx.expand(check_name(item))
        if iri not in out:
            out.append(iri)
    return out


def _entity_info(value: object, ctx: Context) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequestData("Each item of information.entities must be a JSON object (EntityInfo)")
    unknown = set(value) - {"id", "idPattern", "type"}
    if unknown:
        raise BadRequestData(f"Unknown member(s) of an EntityInfo: {', '.join(sorted(unknown))}")
    raw_type = value.get("type")
    if not isinstance(raw_type, str) or not raw_type:
        raise BadRequestData("Each EntityInfo needs a type (one entity type name)")
    out = {"type": ctx.expand(check_name(raw_type))}
    if "id" in value:
        out["id"] = check_entity_id(value["id"], "EntityInfo id")
    if "idPattern" in value:
        pattern = value["idPattern"]
        if not isinstance(pattern, str) or compiled(pattern) is None:
            raise BadRequestData(f"EntityInfo idPattern is not a valid regular expression: {pattern!r}")
        out["idPattern"] = pattern
    return out


def _information(value: object, ctx: Context) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise BadRequestData("information must be a non-empty array of RegistrationInfo")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise BadRequestData("Each item of information must be a JSON object (RegistrationInfo)")
        unknown = set(item) - {"entities", "propertyNames", "relationshipNames"}
        if unknown:
            raise BadRequestData(f"Unknown member(s) of a RegistrationInfo: {', '.join(sorted(unknown))}")
        info: dict[str, Any] = {}
        if "entities" in item:
            entities = item["entities"]
            if not isinstance(entities, list) or not entities:
                raise BadRequestData("information.entities must be a non-empty array of EntityInfo")
            info["entities"] = [_entity_info(entity, ctx) for entity in entities]
        for name in ("propertyNames", "relationshipNames"):
            if name in item:
                info[name] = _names(item[name], f"information.{name}", ctx)
        if not info:
            raise BadRequestData(
                "A RegistrationInfo needs entities, propertyNames or relationshipNames (clause 5.2.10)"
            )
        out.append(info)
    return out


def _interval(value: object, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or "startAt" not in value:
        raise BadRequestData(f"{name} must be a TimeInterval with startAt (and optionally endAt)")
    unknown = set(value) - {"startAt", "endAt"}
    if unknown:
        raise BadRequestData(f"Unknown member(s) of {name}: {', '.join(sorted(unknown))}")
    out = {}
    for member in ("startAt", "endAt"):
        if member in value:
            if not isinstance(value[member], str):
                raise BadRequestData(f"{name}.{member} must be a date-time string")
            out[member] = normalize_datetime(value[member], f"{name}.{member}")
    if "endAt" in out and parse_datetime(out["endAt"]) < parse_datetime(out["startAt"]):
        raise BadRequestData(f"{name}.endAt must not be before its startAt")
    return out


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


def _milliseconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value < 1e12:
        raise BadRequestData(f"{name} must be a number of milliseconds, at least 1")
    return value


def _management(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("management must be a JSON object (RegistrationManagementInfo)")
    unknown = set(value) - MANAGEMENT_MEMBERS
    if unknown:
        raise BadRequestData(f"Unknown member(s) of management: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    if "localOnly" in value:
        if not isinstance(value["localOnly"], bool):
            raise BadRequestData("management.localOnly must be true or false")
        out["localOnly"] = value["localOnly"]
    if "cacheDuration" in value:
        out["cacheDuration"] = _duration(value["cacheDuration"], "management.cacheDuration")
    for name in ("timeout", "cooldown"):
        if name in value:
            out[name] = _milliseconds(value[name], f"management.{name}")
    return out


def _duration(value: object, name: str) -> str:
    if not isinstance(value, str) or not _DURATION.match(value):
        raise BadRequestData(f"{name} must be an ISO 8601 duration such as PT10S")
    return value


def _operations(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequestData("operations must be a non-empty array of operation or group names")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or (item not in OPERATIONS and item not in OPERATION_GROUPS):
            raise BadRequestData(
                f"Unknown operation {item!r}: operations are the names of clause 4.20 or the groups "
                f"{', '.join(OPERATION_GROUPS)}"
            )
        if item not in out:
            out.append(item)
    return out


def expand_operations(names: Iterable[str]) -> frozenset[str]:
    """The operations a registration's `operations` stand for, groups expanded."""
    out: set[str] = set()
    for name in names:
        out.update(OPERATION_GROUPS.get(name, (name,)))
    return frozenset(out)


def _dataset_ids(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequestData("datasetId must be a non-empty array of URIs (or @none)")
    for item in value:
        if item != "@none" and not is_uri(item):
            raise BadRequestData(f"datasetId items must be URIs or @none, not {item!r}")
    return list(dict.fromkeys(value))


def parse_registration(body: object, ctx: Context, *, now: datetime, fill_id: bool = True) -> dict[str, Any]:
    """Check a CSourceRegistration (without its @context) and return it as stored: names expanded
    with `ctx`, defaults filled in (mode, operations), status members dropped. Raises BadRequestData."""
    if not isinstance(body, dict):
        raise BadRequestData("A context source registration must be a JSON object")
    check_nesting("A context source registration", body)
    if body.get("type") != TYPE:
        raise BadRequestData(f'A context source registration needs "type": "{TYPE}"')
    out: dict[str, Any] = {}
    if "id" in body:
        out["id"] = check_entity_id(body["id"], "Registration id")
    elif fill_id:
        out["id"] = f"urn:ngsi-ld:ContextSourceRegistration:{uuid.uuid4()}"
    out["type"] = TYPE
    for name in ("registrationName", "description", "contextSourceAlias", "tenant"):
        if name in body:
            out[name] = _text(body[name], name)
    if "information" not in body:
        raise BadRequestData("information is mandatory (clause 5.2.9)")
    out["information"] = _information(body["information"], ctx)
    if "endpoint" not in body:
        raise BadRequestData("endpoint is mandatory (clause 5.2.9)")
    out["endpoint"] = _uri(body["endpoint"], "endpoint")
    if "datasetId" in body:
        out["datasetId"] = _dataset_ids(body["datasetId"])
    for name in ("observationInterval", "managementInterval"):
        if name in body:
            out[name] = _interval(body[name], name)
    for name in GEO_MEMBERS:
        if name in body:
            out[name] = validate_geometry(body[name])
    if "expiresAt" in body:
        if not isinstance(body["expiresAt"], str):
            raise BadRequestData("expiresAt must be a date-time string")
        out["expiresAt"] = normalize_datetime(body["expiresAt"], "expiresAt")
        if parse_datetime(out["expiresAt"]) <= now:
            raise BadRequestData("expiresAt must be in the future")
    if "contextSourceInfo" in body:
        out["contextSourceInfo"] = _key_values(body["contextSourceInfo"], "contextSourceInfo")
    if "scope" in body:
        out["scope"] = parse_scopes(body["scope"])
    out["mode"] = body.get("mode", DEFAULT_MODE)
    if out["mode"] not in MODES:
        raise BadRequestData(f"mode must be one of {', '.join(MODES)}")
    out["operations"] = _operations(body.get("operations", list(DEFAULT_OPERATIONS)))
    if "refreshRate" in body:
        out["refreshRate"] = _duration(body["refreshRate"], "refreshRate")
    if "management" in body:
        out["management"] = _management(body["management"])
    for name, value in body.items():
        if name in MEMBERS or name in STATUS_MEMBERS or name == "@context":
            continue
        if value is None:
            raise BadRequestData(f"Registration property {name!r} has no value")
        check_nesting(f"Registration property {name}", value)
        out[ctx.expand(check_name(name))] = value
    if out["mode"] == "exclusive":
        _check_exclusive(out)
    return out


def _check_exclusive(document: Mapping[str, Any]) -> None:
    """Clause 5.9.2: an exclusive registration names its entities by id and its attributes."""
    for info in document["information"]:
        entities = info.get("entities")
        if not entities or any("id" not in entity for entity in entities):
            raise BadRequestData("An exclusive registration must name each entity by its id")
        if not info.get("propertyNames") and not info.get("relationshipNames"):
            raise BadRequestData("An exclusive registration must name the attributes it provides")


def registration_properties(document: Mapping[str, Any]) -> dict[str, Any]:
    """The registration's own properties (members the spec does not define), by expanded name."""
    return {
        name: value
        for name, value in document.items()
        if name not in MEMBERS and name not in STATUS_MEMBERS and name != "@context"
    }


def merge_registration(stored: Mapping[str, Any], fragment: object) -> dict[str, Any]:
    """A registration after an update (clause 5.9.3): the fragment's members replace the stored
    ones, a null removes one. The result still needs `parse_registration` (stored names are IRIs and
    expand to themselves)."""
    if not isinstance(fragment, dict) or not fragment:
        raise BadRequestData("A registration update must be a non-empty JSON object")
    if "id" in fragment and fragment["id"] != stored["id"]:
        raise BadRequestData("The id of a registration cannot be changed")
    if "type" in fragment and fragment["type"] != TYPE:
        raise BadRequestData(f'A registration update may only say "type": "{TYPE}"')
    merged = dict(stored)
    for name, value in fragment.items():
        if name == "@context":
            continue
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def compact_registration(document: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """A stored registration in the requester's terms."""
    out: dict[str, Any] = {}
    for name, value in document.items():
        if name == "information":
            out[name] = [_compact_info(info, ctx) for info in value]
        elif name in MEMBERS or name in STATUS_MEMBERS:
            out[name] = value
        else:
            out[ctx.compact(name)] = value
    return out


def _compact_info(info: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "entities" in info:
        out["entities"] = [{**entity, "type": ctx.compact(entity["type"])} for entity in info["entities"]]
    for name in ("propertyNames", "relationshipNames"):
        if name in info:
            out[name] = [ctx.compact(iri) for iri in info[name]]
    return out


def overlapping_exclusive(new: Mapping[str, Any], others: Iterable[Mapping[str, Any]]) -> None:
    """Clause 5.9.2: an exclusive registration may not claim an attribute of an entity that another
    exclusive registration claims already (Conflict)."""
    if new.get("mode") != "exclusive":
        return
    claimed = _claims(new)
    for other in others:
        if other.get("mode") != "exclusive" or other["id"] == new["id"]:
            continue
        shared = claimed & _claims(other)
        if shared:
            entity_id, attribute = sorted(shared)[0]
            raise Conflict(f"Registration {other['id']} already holds {attribute} of {entity_id} exclusively")


def _claims(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    claims = set()
    for info in document["information"]:
        names = [*info.get("propertyNames", ()), *info.get("relationshipNames", ())]
        for entity in info.get("entities", ()):
            for name in names:
                claims.add((entity["id"], name))
    return claims


@dataclass(frozen=True)
class RegistrationFilter:
    """What a query of registrations asks (clause 5.10.2), names expanded: the entities (ids, an id
    pattern, a type expression) and attributes a registration must be able to provide, a geo-query
    on its location, and `q` / `csf` on its registration properties."""

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: TypeExpr | None = None
    attrs: frozenset[str] = frozenset()
    geo: GeoQuery | None = None
    q: Expr | None = None
    csf: Expr | None = None
    scope: ScopeExpr | None = None
    temporal: TemporalQuery | None = None
    """Matched against observationInterval (timeproperty observedAt) or managementInterval."""
    operations: frozenset[str] = field(default_factory=frozenset)
    """If set, the registration must support one of these operations."""

    def matches(self, document: Mapping[str, Any], moment: datetime | None = None) -> bool:
        if moment is not None and "expiresAt" in document and parse_datetime(document["expiresAt"]) <= moment:
            return False
        if self.operations and self.operations.isdisjoint(expand_operations(document.get("operations", ()))):
            return False
        if not any(self._info_matches(info) for info in document["information"]):
            return False
        if self.geo is not None:
            geometry = document.get(self.geo.geoproperty)
            if geometry is None or not self.geo.matches(geometry):
                return False
        for expr in (self.q, self.csf):
            if expr is not None and not expr.matches(_as_entity(document)):
                return False
        if self.scope is not None and not self.scope.matches(document.get("scope", [])):
            return False
        return self.temporal is None or _overlaps(document, self.temporal)

    def _info_matches(self, info: Mapping[str, Any]) -> bool:
        if self.attrs:
            names = [*info.get("propertyNames", ()), *info.get("relationshipNames", ())]
            if names and self.attrs.isdisjoint(names):
                return False
        if not self.ids and self.id_pattern is None and self.types is None:
            return True
        entities = info.get("entities")
        if not entities:
            return True  # Attributes of any entity.
        return any(self._entity_matches(entity) for entity in entities)

    def _entity_matches(self, entity: Mapping[str, str]) -> bool:
        if self.types is not None and not self.types.matches([entity["type"]]):
            return False
        if self.ids:
            return any(provides_id(entity, entity_id) for entity_id in self.ids)
        if self.id_pattern is not None and "id" in entity:
            pattern = compiled(self.id_pattern)
            return pattern is not None and pattern.search(entity["id"]) is not None
        return True


def _overlaps(document: Mapping[str, Any], temporal: TemporalQuery) -> bool:
    """Whether the registration's time interval for the query's timeproperty overlaps what the
    query asks for (a registration without that interval provides no temporal data)."""
    member = "observationInterval" if temporal.timeproperty == "observedAt" else "managementInterval"
    interval = document.get(member)
    if interval is None:
        return False
    start, end = temporal.range()
    begins = parse_datetime(interval["startAt"])
    ends = parse_datetime(interval["endAt"]) if "endAt" in interval else None
    return (end is None or begins < end) and (start is None or ends is None or ends >= start)


def provides_id(entity: Mapping[str, str], entity_id: str) -> bool:
    """Whether an EntityInfo covers an entity id: named, matched by its pattern, or of any id."""
    if "id" in entity:
        return entity["id"] == entity_id
    if "idPattern" in entity:
        pattern = compiled(entity["idPattern"])
        return pattern is not None and pattern.search(entity_id) is not None
    return True


def _as_entity(document: Mapping[str, Any]) -> Entity:
    """The registration's properties as an entity's Properties, for `q` and `csf`."""
    entity: Entity = {"id": document["id"], "type": [TYPE]}
    for name, value in registration_properties(document).items():
        entity[name] = [{"type": "Property", "value": value}]
    return entity


def exclusive_attributes(document: Mapping[str, Any], entity_id: str) -> frozenset[str]:
    """The attributes an exclusive registration holds of one entity (expanded names)."""
    names: set[str] = set()
    for info in document["information"]:
        if any(entity.get("id") == entity_id for entity in info.get("entities", ())):
            names.update(info.get("propertyNames", ()))
            names.update(info.get("relationshipNames", ()))
    return frozenset(names)
