"""NGSI-LD entities: the internal form, input parsing and output rendering.

Internal form (what the broker and store hold, what query evaluators see):

    {
      "id": "urn:ngsi-ld:Streetlight:1",
      "type": ["https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"],
      "scope": ["/Copenhagen/Norrebro"],            # optional
      "createdAt": "2024-01-01T00:00:00Z",           # system attributes, always kept
      "modifiedAt": "2024-01-01T00:00:00Z",
      "<expanded attribute IRI>": [instance, ...],   # one per datasetId; default instance has none
    }

An instance is the normalized NGSI-LD attribute with expanded sub-attribute names:

    {"type": "Property", "value": 21.5, "unitCode": "CEL", "observedAt": "...Z",
     "createdAt": "...Z", "modifiedAt": "...Z",
     "<expanded sub-attribute IRI>": {"type": "Property", "value": ...}}

Keys that are NGSI-LD core members keep their short names (type, value, object, languageMap, vocab,
valueList, objectList, json, observedAt, unitCode, datasetId, createdAt, modifiedAt, deletedAt).
Every other key of an entity or an instance is an absolute IRI (it always contains ':').
Relationship targets are in "object", LanguageProperty values in "languageMap" ({lang: text}),
VocabProperty in "vocab" (expanded IRI or list), ListProperty in "valueList", ListRelationship in
"objectList" (list of {"object": id}) and JsonProperty in "json".
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, Literal

import orjson

from smartby.ngsild.context import Context
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.geo import validate_geometry
from smartby.ngsild.scope import validate_scope
from smartby.ngsild.timestamps import canonical_datetime, normalize_datetime

Instance = dict[str, Any]
Entity = dict[str, Any]

ATTRIBUTE_TYPES = (
    "Property",
    "Relationship",
    "GeoProperty",
    "LanguageProperty",
    "VocabProperty",
    "ListProperty",
    "ListRelationship",
    "JsonProperty",
)

# Members of an attribute instance that are not sub-attributes.
INSTANCE_MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "languageMap",
        "vocab",
        "valueList",
        "objectList",
        "json",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "objectType",
        "lang",
        "instanceId",
        "valueType",
        "entityIdSealed",
        "entityTypeSealed",
    }
)
# The member a notification with showChanges gives an instance's previous value in, by attribute type.
PREVIOUS_MEMBER = {
    "Property": "previousValue",
    "GeoProperty": "previousValue",
    "Relationship": "previousObject",
    "LanguageProperty": "previousLanguageMap",
    "VocabProperty": "previousVocab",
    "ListProperty": "previousValueList",
    "ListRelationship": "previousObjectList",
    "JsonProperty": "previousJson",
}
PREVIOUS_MEMBERS = frozenset(PREVIOUS_MEMBER.values())
# Members an attribute never carries on input: output-only and Linked Entity members (4.5.2.2, 4.5.3.2).
PROHIBITED_MEMBERS = PREVIOUS_MEMBERS | {"entity", "entityList"}
# The non-reified members only the ngsildproof Property may carry (4.5.2.2).
SEALED_MEMBERS = frozenset({"entityIdSealed", "entityTypeSealed"})
PROOF_NAME = "ngsildproof"
# Attribute types that never carry a unitCode (4.5.3.2, 4.5.24.2).
UNITLESS = frozenset(
    {"Relationship", "ListRelationship", "JsonProperty", "LanguageProperty", "VocabProperty"}
)
# The core GeoProperties (4.7.1): whatever their value, they are GeoProperties.
GEO_NAMES = frozenset(
    {
        "https://uri.etsi.org/ngsi-ld/location",
        "https://uri.etsi.org/ngsi-ld/observationSpace",
        "https://uri.etsi.org/ngsi-ld/operationSpace",
    }
)

ENTITY_MEMBERS = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"})

GEOJSON_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)
NULL_URI = "urn:ngsi-ld:null"

# The member that holds an attribute's value, per attribute type.
VALUE_MEMBER = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
    "JsonProperty": "json",
}
# In the concise form an attribute's type is inferred from the member that holds its value.
TYPE_BY_MEMBER = {member: kind for kind, member in VALUE_MEMBER.items() if kind != "GeoProperty"}

_NAME = re.compile(r"[^\W\d_]\w*")
"""A name without a prefix (4.6.2): a Unicode letter, then letters, digits and underscores."""
# Characters that render invisibly or ambiguously: never part of an identifier (4.5.1).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_FILLERS = frozenset({0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0})
_FORBIDDEN_NAME_CHARS = frozenset("<>\"'=;()&?\\ \t\n\r")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]*$")

_MAX_DEPTH = 16
_MAX_VALUE_DEPTH = 64
"""How deep a value may nest arrays and objects: deeper JSON cannot be stored (orjson writes 255
levels) and is no real data."""

Form = Literal["normalized", "concise", "keyValues"]
ENTITY_INPUT_MEMBERS = frozenset(
    {"id", "@id", "type", "@type", "scope", "@context", "createdAt", "modifiedAt", "deletedAt"}
)
SYSTEM_TIMESTAMPS = frozenset({"createdAt", "modifiedAt", "deletedAt"})


def is_entity_member(name: str, raw: object) -> bool:
    """Whether a member of an entity (or fragment) on input is the entity's own rather than an
    attribute. The system timestamps are DateTime strings the broker sets (clause 4.8), ignored on
    input; given as anything else they would be an attribute named by a core member: BadRequestData."""
    if name not in ENTITY_INPUT_MEMBERS:
        return False
    if name in SYSTEM_TIMESTAMPS and not isinstance(raw, str):
        raise BadRequestData(f"{name} is an NGSI-LD core member and cannot name an attribute")
    return True


def is_uri(text: object) -> bool:
    """An absolute URI as NGSI-LD requires for entity ids, datasetIds and relationship objects."""
    return (
        isinstance(text, str)
        and len(text) <= 2048
        and _URI_SCHEME.match(text) is not None
        and (text.isprintable() if text.isascii() else not any(_invisible(ch) for ch in text))
    )


def _invisible(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in _INVISIBLE_CATEGORIES
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x180B <= code <= 0x180F
        or code in _FILLERS
    )


def check_entity_id(value: object, what: str = "Entity id") -> str:
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"{what} must be a non-empty string (a URI)")
    if not is_uri(value):
        raise BadRequestData(f"{what} must be a URI: {value!r}")
    if value == NULL_URI:
        raise BadRequestData(f"{what} cannot be the NGSI-LD Null {NULL_URI}")
    return value


def check_name(name: object) -> str:
    """An attribute name or entity type as given by a client (before expansion)."""
    if not isinstance(name, str) or not name:
        raise BadRequestData("An attribute name must be a non-empty string")
    problem = _name_problem(name)
    if problem is not None:
        raise BadRequestData(problem)
    return name


@functools.lru_cache(maxsize=4096)
def _name_problem(name: str) -> str | None:
    if len(name) > 1024 or not _FORBIDDEN_NAME_CHARS.isdisjoint(name) or not name.isprintable():
        return f"Invalid attribute name: {name!r}"
    if ":" not in name and not _NAME.fullmatch(name):
        return f"Invalid name {name!r}: a name starts with a letter and holds only letters, digits and _"
    return None


def parse_types(raw: object, ctx: Context) -> list[str]:
    """Entity type(s), expanded. A single string or a non-empty array of strings."""
    names = raw if isinstance(raw, list) else [raw]
    if not names:
        raise BadRequestData("Entity type must not be an empty array")
    types: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name:
            raise BadRequestData("Entity type must be a string or an array of strings")
        iri = ctx.expand(check_name(name))
        if iri not in types:
            types.append(iri)
    return types


def parse_scopes(raw: object) -> list[str]:
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise BadRequestData("scope must not be an empty array")
    scopes: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise BadRequestData("scope must be a string or an array of strings")
        scope = validate_scope(value)
        if scope not in scopes:
            scopes.append(scope)
    return scopes


def parse_entity(body: object, ctx: Context, *, key_values: bool = False) -> Entity:
    """Validate an entity from a request body (normalized, concise or keyValues) into the internal form."""
    if not isinstance(body, dict):
        raise BadRequestData("An entity must be a JSON object")
    entity_id = check_entity_id(body.get("id", body.get("@id")))
    raw_type = body.get("type", body.get("@type"))
    if raw_type is None:
        raise BadRequestData(f"Entity {entity_id} has no type")
    entity: Entity = {"id": entity_id, "type": parse_types(raw_type, ctx)}
    if "scope" in body:
        entity["scope"] = parse_scopes(body["scope"])
    entity.update(parse_attributes(body, ctx, key_values=key_values))
    return entity


def parse_attributes(
    fragment: object,
    ctx: Context,
    *,
    key_values: bool = False,
    allow_null: bool = False,
    partial: bool = False,
) -> dict[str, list[Instance]]:
    """The attributes of an entity or an entity fragment, keyed by expanded name.

    With `allow_null` (merge and partial updates) a JSON null or "urn:ngsi-ld:null" is kept as an
    instance whose value is NULL_URI, which the caller reads as "delete".
    """
    if not isinstance(fragment, dict):
        raise BadRequestData("Attributes must be given as a JSON object")
    attributes: dict[str, list[Instance]] = {}
    for name, raw in fragment.items():
        if is_entity_member(name, raw):
            continue
        if name in INSTANCE_MEMBERS or name in PROHIBITED_MEMBERS:
            raise BadRequestData(f"{name} is an NGSI-LD core member and cannot name an attribute")
        iri = ctx.expand(check_name(name))
        if iri in attributes:
            raise BadRequestData(f"Attribute {name} is given twice")
        simple = None if key_values or name == PROOF_NAME else _plain_property(raw, iri)
        attributes[iri] = (
            [simple]
            if simple is not None
            else parse_attribute(
                name, raw, ctx, key_values=key_values, allow_null=allow_null, partial=partial
            )
        )
    return attributes


_SCALAR_TYPES = frozenset({int, float, str, bool})
INTEGER_RANGE = range(-(2**63), 2**63)
"""The integers a Property's value may be: what both backends store exactly (SQLite's INTEGER)."""


def check_integer(name: str, value: object) -> None:
    """Refuse an integer value neither backend stores exactly (docs/limits.md)."""
    if type(value) is int and value not in INTEGER_RANGE:
        raise BadRequestData(
            f"The value of {name} is an integer beyond 64 bits: {value}; send it as a string"
        )


def _plain_property(raw: object, iri: str) -> Instance | None:
    """The most common attribute, `{"type": "Property", "value": <number, string or boolean>}`,
    checked without the general machinery; None for anything else."""
    if type(raw) is not dict or len(raw) != 2 or raw.get("type") != "Property" or iri in GEO_NAMES:
        return None
    value = raw.get("value")
    if type(value) not in _SCALAR_TYPES or value == NULL_URI:
        return None
    check_integer(iri, value)
    return {"type": "Property", "value": value}


def parse_attribute(
    name: str,
    raw: object,
    ctx: Context,
    *,
    key_values: bool = False,
    allow_null: bool = False,
    partial: bool = False,
) -> list[Instance]:
    """One attribute: a single instance, or an array of instances told apart by datasetId."""
    if key_values:
        instances = [_instance_from_value(name, raw, allow_null)]
    elif isinstance(raw, list) and raw and all(_looks_like_instance(item) for item in raw):
        instances = [parse_instance(name, item, ctx, allow_null=allow_null, partial=partial) for item in raw]
        seen: set[str | None] = set()
        for instance in instances:
            dataset = instance.get("datasetId")
            if dataset in seen:
                label = f"datasetId {dataset}" if dataset else "the default instance (no datasetId)"
                raise BadRequestData(f"Attribute {name} has {label} more than once")
            seen.add(dataset)
    else:
        instances = [parse_instance(name, raw, ctx, allow_null=allow_null, partial=partial)]
    if ctx.expand(name) in GEO_NAMES:
        for instance in instances:
            kind = instance.get("type")
            if kind not in (None, "GeoProperty") and instance.get("value") != NULL_URI:
                raise BadRequestData(f"{name} is a GeoProperty, not a {kind}")
    return instances


def property_instance(
    name: str,
    iri: str,
    value: object,
    ctx: Context,
    *,
    unit_code: str | None,
    observed_at: str,
    unit_text: str | None = None,
) -> Instance:
    """A Property instance from its parts, as a device reading gives them (a name, its expanded
    form, a value, a unit and when it was observed), validated as `parse_instance` validates
    `{"type": "Property", "value": ..., "unitCode": ..., "observedAt": ...}` (with `"unitText":
    {"type": "Property", "value": unit_text}` when there is a unit text); the common case (a
    number, string or boolean without a unit text) without building that object."""
    if type(value) is float and not math.isfinite(value):
        raise BadRequestData(f"The value of {name} is not a finite number: {value}")
    if type(value) not in _SCALAR_TYPES or value == NULL_URI or iri in GEO_NAMES or unit_text is not None:
        raw: dict[str, Any] = {"type": "Property", "value": value, "observedAt": observed_at}
        if unit_code is not None:
            raw["unitCode"] = unit_code
        if unit_text is not None:
            raw["unitText"] = {"type": "Property", "value": unit_text}
        return parse_attribute(name, raw, ctx)[0]
    check_integer(name, value)
    instance: Instance = {"type": "Property", "value": value}
    if unit_code is not None:
        if not isinstance(unit_code, str) or not unit_code:
            raise BadRequestData(f"unitCode of {name} must be a non-empty string")
        instance["unitCode"] = unit_code
    if not isinstance(observed_at, str) or not observed_at.endswith("Z"):
        raise BadRequestData(f"observedAt of {name} must be a UTC date-time string ending in Z")
    instance["observedAt"] = canonical_datetime(observed_at, f"observedAt of {name}")
    return instance


def _looks_like_instance(item: object) -> bool:
    if not isinstance(item, dict):
        return False
    return item.get("type") in ATTRIBUTE_TYPES or any(member in item for member in TYPE_BY_MEMBER)


def _is_geometry(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("type"), str)
        and value["type"] in GEOJSON_TYPES
        and ("coordinates" in value or "geometries" in value)
    )


def _instance_from_value(name: str, value: object, allow_null: bool) -> Instance:
    if value is None or value == NULL_URI:
        if allow_null:
            return {"type": "Property", "value": NULL_URI}
        raise BadRequestData(f"Attribute {name} has a null value")
    check_nesting(f"The value of {name}", value)
    if not allow_null and holds_null(value):
        raise BadRequestData(f"The value of {name} holds the NGSI-LD Null {NULL_URI}")
    if _is_geometry(value):
        return {"type": "GeoProperty", "value": _geometry(name, value)}
    check_integer(name, value)
    return {"type": "Property", "value": value}


def check_nesting(what: str, value: object) -> None:
    """Reject a value that nests arrays and objects more than _MAX_VALUE_DEPTH deep; `what` names it."""
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            if level > _MAX_VALUE_DEPTH:
                raise BadRequestData(f"{what} nests arrays and objects more than {_MAX_VALUE_DEPTH} deep")
            pending.extend(
                (child, level + 1) for child in (item.values() if isinstance(item, dict) else item)
            )


def holds_null(value: object) -> bool:
    """Whether the NGSI-LD Null appears anywhere inside a compound value (5.5.4)."""
    pending = [value]
    while pending:
        item = pending.pop()
        for child in item.values() if isinstance(item, dict) else item if isinstance(item, list) else ():
            if child == NULL_URI:
                return True
            pending.append(child)
    return False


def _geometry(name: str, value: object) -> Any:
    """A GeoProperty value: a GeoJSON geometry other than GeometryCollection (4.6.3), given as an
    object or as a string holding its JSON encoding (4.7.2)."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise BadRequestData(f"GeoProperty {name} is a string that is not a JSON geometry") from None
    if isinstance(value, dict) and value.get("type") == "GeometryCollection":
        raise BadRequestData(f"GeoProperty {name}: GeometryCollection is not a supported value")
    try:
        return validate_geometry(value)
    except BadRequestData as error:
        raise BadRequestData(f"GeoProperty {name}: {error.detail}") from None


def parse_instance(
    name: str,
    raw: object,
    ctx: Context,
    *,
    allow_null: bool = False,
    partial: bool = False,
    depth: int = 0,
) -> Instance:
    """One attribute instance in normalized or concise form (sub-attributes parsed recursively).

    With `partial` (a fragment for a partial attribute update or a merge) an object without a
    type or value member is a fragment of metadata and sub-attributes, and has no "type" key.
    """
    if depth > _MAX_DEPTH:
        raise BadRequestData(f"Attribute {name} nests sub-attributes too deeply")
    if not isinstance(raw, dict):
        return _instance_from_value(name, raw, allow_null)
    kind = raw.get("type")
    if "type" in raw and (kind is None or kind == NULL_URI):
        # A merge-patch null deletes the member it names; an attribute without its type is no
        # attribute the information model knows (clause 4.5.1 of V1.8.1), nor is a value whose
        # `type` is null read as one (concise form).
        raise BadRequestData(f"The type of attribute {name} cannot be null")
    if kind is None or (kind not in ATTRIBUTE_TYPES and "value" not in raw and not _is_geometry(raw)):
        if kind is not None and not isinstance(kind, str):
            raise BadRequestData(f"Attribute {name} has a type that is not a string")
        inferred = next((TYPE_BY_MEMBER[m] for m in TYPE_BY_MEMBER if m in raw), None)
        if inferred is None and partial and kind is None and not _is_geometry(raw):
            return _fragment(name, raw, ctx, allow_null, depth)
        if inferred is None:
            return _instance_from_value(name, raw, allow_null)
        if inferred == "Property" and _is_geometry(raw["value"]):
            inferred = "GeoProperty"
        kind = inferred
    elif kind not in ATTRIBUTE_TYPES:
        if _is_geometry(raw):
            return {"type": "GeoProperty", "value": _geometry(name, raw)}
        raise BadRequestData(f"Attribute {name} has an unknown type {kind!r}")
    member = VALUE_MEMBER[kind]
    if member not in raw:
        raise BadRequestData(f"Attribute {name} is a {kind} and needs a {member!r} member")
    instance: Instance = {"type": kind}
    _members(name, kind, raw, instance, ctx, allow_null, depth)
    return instance


def _fragment(name: str, raw: dict[str, Any], ctx: Context, allow_null: bool, depth: int) -> Instance:
    instance: Instance = {}
    _members(name, None, raw, instance, ctx, allow_null, depth)
    return instance


def _members(
    name: str,
    kind: str | None,
    raw: dict[str, Any],
    instance: Instance,
    ctx: Context,
    allow_null: bool,
    depth: int,
) -> None:
    """Fill `instance` with the value member (when `kind` is known), metadata and sub-attributes."""
    member = VALUE_MEMBER[kind] if kind is not None else None
    if kind is not None and member is not None:
        raw_value = raw[member]
        if raw_value is None or raw_value == NULL_URI or raw_value == {"@none": NULL_URI}:
            if not allow_null:
                raise BadRequestData(f"Attribute {name} has a null {member}")
            instance[member] = NULL_URI
        else:
            if isinstance(raw_value, dict | list):
                check_nesting(f"The {member} of {name}", raw_value)
                if not allow_null and holds_null(raw_value):
                    raise BadRequestData(f"The {member} of {name} holds the NGSI-LD Null {NULL_URI}")
            instance[member] = _check_value(name, kind, raw_value, ctx)
    for key, sub in raw.items():
        if key in ("type", member):
            continue
        if key == "observedAt":
            if not isinstance(sub, str) or not sub.endswith("Z"):
                raise BadRequestData(f"observedAt of {name} must be a UTC date-time string ending in Z")
            instance["observedAt"] = normalize_datetime(sub, f"observedAt of {name}")
        elif key == "unitCode":
            if not isinstance(sub, str) or not sub:
                raise BadRequestData(f"unitCode of {name} must be a non-empty string")
            if kind in UNITLESS:
                raise BadRequestData(f"{name} is a {kind} and cannot have a unitCode")
            instance["unitCode"] = sub
        elif key == "datasetId":
            if sub != "@none":
                instance["datasetId"] = check_entity_id(sub, f"datasetId of {name}")
        elif key == "valueType":
            if not isinstance(sub, str) or not sub:
                raise BadRequestData(f"valueType of {name} must be a non-empty string")
            if kind == "LanguageProperty" and sub != "langString":
                raise BadRequestData(f"valueType of LanguageProperty {name} must be langString")
            instance["valueType"] = sub
        elif key in SEALED_MEMBERS:
            if name != PROOF_NAME:
                raise BadRequestData(f"{key} is only allowed on the {PROOF_NAME} Property, not on {name}")
            if not isinstance(sub, str) or not sub:
                raise BadRequestData(f"{key} of {PROOF_NAME} must be a string")
            instance[key] = ctx.expand(check_name(sub)) if key == "entityTypeSealed" else sub
        elif key == "@context":
            raise BadRequestData(f"Attribute {name} carries an embedded @context")
        elif key in PROHIBITED_MEMBERS:
            raise BadRequestData(f"Attribute {name} cannot have the output-only member {key!r}")
        elif key == "objectType" and kind in ("Relationship", "ListRelationship", None):
            instance["objectType"] = parse_types(sub, ctx)
        elif key in ("createdAt", "modifiedAt", "deletedAt", "instanceId", "lang"):
            continue
        elif key in INSTANCE_MEMBERS:
            raise BadRequestData(f"Attribute {name} ({kind or 'fragment'}) cannot have a {key!r} member")
        else:
            sub_iri = ctx.expand(check_name(key))
            instance[sub_iri] = parse_instance(
                key, sub, ctx, allow_null=allow_null, partial=kind is None, depth=depth + 1
            )


def _check_value(name: str, kind: str, value: Any, ctx: Context) -> Any:
    if kind == "GeoProperty":
        return _geometry(name, value)
    if kind == "Relationship":
        targets = value if isinstance(value, list) else [value]
        if not targets or not all(is_uri(t) for t in targets):
            raise BadRequestData(f"Relationship {name} must point to a URI (or an array of URIs)")
        return value
    if kind == "LanguageProperty":
        if not isinstance(value, dict) or not value:
            raise BadRequestData(f"LanguageProperty {name} needs a languageMap object")
        for tag, text in value.items():
            texts = text if isinstance(text, list) else [text]
            if not tag or not texts or not all(isinstance(t, str) for t in texts):
                raise BadRequestData(f"languageMap of {name} must map language tags to strings")
        return value
    if kind == "VocabProperty":
        terms = value if isinstance(value, list) else [value]
        if not terms or not all(isinstance(t, str) and t for t in terms):
            raise BadRequestData(f"VocabProperty {name} needs a vocab string or array of strings")
        expanded = [ctx.expand(t) for t in terms]
        return expanded if isinstance(value, list) else expanded[0]
    if kind == "ListProperty":
        if not isinstance(value, list):
            raise BadRequestData(f"ListProperty {name} needs a valueList array")
        return value
    if kind == "ListRelationship":
        if not isinstance(value, list):
            raise BadRequestData(f"ListRelationship {name} needs an objectList array")
        objects = []
        for item in value:
            target = item.get("object") if isinstance(item, dict) else item
            if not is_uri(target):
                raise BadRequestData(f"objectList of {name} must hold URIs")
            objects.append({"object": target})
        return objects
    if kind == "JsonProperty":
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, dict) for item in items):
            raise BadRequestData(f"JsonProperty {name} needs a JSON object (or array of objects) as json")
        return value
    if name == PROOF_NAME and not isinstance(value, dict):
        raise BadRequestData(f"The value of {PROOF_NAME} must be a proof object")
    check_integer(name, value)
    return value


def instance_value(instance: Instance) -> Any:
    """The value an instance carries, whatever its type (the keyValues view of it)."""
    kind = instance.get("type", "Property")
    value = instance.get(VALUE_MEMBER.get(kind, "value"))
    if kind == "ListRelationship" and isinstance(value, list):
        return [item.get("object") if isinstance(item, dict) else item for item in value]
    return value


# ----------------------------------------------------------------------------------------------------
# Rendering


class LanguagePreference:
    """The `lang` query parameter: language tags in order of preference, `*` for any."""

    def __init__(self, text: str) -> None:
        ranked: list[tuple[float, int, str]] = []
        for position, part in enumerate(text.split(",")):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    raise BadRequestData(f"Invalid lang quality in {text!r}") from None
            if not tag.strip():
                raise BadRequestData(f"Invalid lang parameter {text!r}")
            ranked.append((-quality, position, tag.strip()))
        self.tags = [tag for _, _, tag in sorted(ranked)]

    def choose(self, language_map: dict[str, Any]) -> tuple[str, Any] | None:
        """The best entry: tags compare case-insensitively, a range matches longer tags it prefixes
        and falls back to its own truncations (RFC 4647 lookup); then @none, then any language."""
        lowered = {tag.lower(): tag for tag in language_map}
        for wanted in self.tags:
            if wanted == "*":
                break
            found = _lookup(wanted.lower(), lowered)
            if found is not None:
                return found, language_map[found]
        if "@none" in language_map:
            return "@none", language_map["@none"]
        for tag, text in language_map.items():
            return tag, text
        return None


def _lookup(wanted: str, lowered: dict[str, str]) -> str | None:
    if wanted in lowered:
        return lowered[wanted]
    for tag, original in lowered.items():
        if tag.startswith(wanted + "-"):
            return original
    while "-" in wanted:
        wanted = wanted.rsplit("-", 1)[0]
        if wanted in lowered:
            return lowered[wanted]
    return None


class Renderer:
    """Renders internal entities for one request: the requester's context and chosen options."""

    def __init__(
        self,
        ctx: Context,
        *,
        form: Form = "normalized",
        sys_attrs: bool = False,
        pick: set[str] | None = None,
        omit: set[str] | None = None,
        lang: LanguagePreference | None = None,
        dataset_ids: set[str | None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.form = form
        self.sys_attrs = sys_attrs
        self.pick = pick
        self.omit = omit or set()
        self.lang = lang
        self.dataset_ids = dataset_ids

    def wants(self, member: str) -> bool:
        return (self.pick is None or member in self.pick) and member not in self.omit

    def entity(self, entity: Entity) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.wants("id"):
            out["id"] = entity["id"]
        if self.wants("type"):
            types = [self.ctx.compact(t) for t in entity["type"]]
            out["type"] = types[0] if len(types) == 1 else types
        if "scope" in entity and self.wants("scope"):
            scopes = entity["scope"]
            out["scope"] = scopes[0] if len(scopes) == 1 else scopes
        if self.sys_attrs and self.form != "keyValues":
            for member in ("createdAt", "modifiedAt"):
                if member in entity:
                    out[member] = entity[member]
        for iri, instances in entity.items():
            if iri in ENTITY_MEMBERS or not self.wants(iri):
                continue
            if self.dataset_ids is not None:
                instances = [i for i in instances if i.get("datasetId") in self.dataset_ids]
                if not instances:
                    continue
            name = self.ctx.compact(iri)
            if self.form == "keyValues" and len(instances) > 1:
                out[name] = {"dataset": {i.get("datasetId", "@none"): self.instance(i) for i in instances}}
                continue
            rendered = [self.instance(i, alone=len(instances) == 1) for i in instances]
            out[name] = rendered[0] if len(rendered) == 1 else rendered
        return out

    def instance(self, instance: Instance, *, alone: bool = True) -> Any:
        """One instance in the chosen form. In concise form an instance that is `alone` (not one of a
        multi-attribute's array) and holds nothing but a simple value renders as that value."""
        if self.form == "keyValues":
            return self._simple_value(instance)
        kind = instance["type"]
        out: dict[str, Any] = {}
        if self.form == "normalized":
            out["type"] = kind
        for key, value in instance.items():
            if key == "type":
                continue
            if key in ("createdAt", "modifiedAt") and not self.sys_attrs:
                continue
            if key in ("vocab", "previousVocab"):
                out[key] = self._compact_vocab(value)
            elif key == "entityTypeSealed":
                out[key] = self.ctx.compact(value)
            elif key == "objectType":
                compacted = [self.ctx.compact(t) for t in value]
                out["objectType"] = compacted[0] if len(compacted) == 1 else compacted
            elif key == "languageMap" and self.lang is not None:
                chosen = self.lang.choose(value)
                if self.form == "normalized":
                    out["type"] = "Property"
                if chosen is not None:
                    out["value"] = chosen[1]
                    out["lang"] = chosen[0]
            elif key in INSTANCE_MEMBERS or key in PREVIOUS_MEMBERS:
                out[key] = value
            else:
                out[self.ctx.compact(key)] = self.instance(value)
        if self.form == "concise" and alone:
            return self._concise(kind, out)
        return out

    def _concise(self, kind: str, out: dict[str, Any]) -> Any:
        if kind in ("Property", "GeoProperty") and list(out) == ["value"]:
            value = out["value"]
            if kind == "GeoProperty" or not isinstance(value, dict | list):
                return value
        return out

    def _simple_value(self, instance: Instance) -> Any:
        kind = instance["type"]
        if kind == "LanguageProperty":
            language_map = instance["languageMap"]
            if self.lang is not None:
                chosen = self.lang.choose(language_map)
                return chosen[1] if chosen else None
            return {"languageMap": language_map}
        if kind == "VocabProperty":
            return {"vocab": self._compact_vocab(instance["vocab"])}
        if kind == "JsonProperty":
            return {"json": instance["json"]}
        return instance_value(instance)

    def _compact_vocab(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.ctx.compact(v) for v in value]
        return self.ctx.compact(value)

    def feature(self, entity: Entity, geometry_property: str) -> dict[str, Any]:
        """An entity as a GeoJSON Feature (geometry from `geometry_property`, an expanded name)."""
        properties = self.entity(entity)
        feature_id = properties.pop("id", entity["id"])
        geometry = None
        instances = entity.get(geometry_property, [])
        for instance in sorted(instances, key=lambda i: "datasetId" in i):
            if instance.get("type") == "GeoProperty":
                geometry = instance["value"]
                break
        return {"id": feature_id, "type": "Feature", "geometry": geometry, "properties": properties}


def names_of(entity: Entity) -> Iterable[str]:
    """The expanded attribute names an entity holds."""
    return (key for key in entity if key not in ENTITY_MEMBERS)
