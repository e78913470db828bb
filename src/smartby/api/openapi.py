"""OpenAPI declarations of the parameters and bodies that handlers read from the request."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from typing import Any

from smartby.ngsild.ordering import MAX_KEYS as MAX_ORDER_KEYS
from smartby.ngsild.registration import MODES as REGISTRATION_MODES
from smartby.ngsild.registration import OPERATION_GROUPS, OPERATIONS
from smartby.ngsild.temporal import TIME_PROPERTIES

STRING: dict[str, Any] = {"type": "string"}


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or STRING,
    }


def path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": STRING}


def header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": STRING}


TENANT = header("NGSILD-Tenant", "The tenant; tenants never see each other's data.")
LINK = header("Link", 'The @context: <url>; rel="http://www.w3.org/ns/json-ld#context"')
ENTITY_ID = path("entityId", "The entity id (a URI).")
ATTR_ID = path("attrId", "The attribute name (expanded with the @context).")
REPRESENTATIONS = ("normalized", "concise", "keyValues", "simplified")


def options(allowed: Iterable[str], formats: Iterable[str] = REPRESENTATIONS) -> dict[str, Any]:
    """`options` as an operation reads it (clause 6.3.7): comma-separated, each one the operation
    knows, at most one representation. Declared as the list of those combinations."""
    forms = [name for name in formats if name in set(allowed)]
    others = sorted(set(allowed) - set(forms))
    choices = [
        ",".join([*chosen, *form])
        for size in range(len(others) + 1)
        for chosen in combinations(others, size)
        for form in ([], *([f] for f in forms))
    ]
    return query(
        "options",
        "Comma-separated options: at most one representation, and the others this operation knows.",
        {"type": "string", "enum": [choice for choice in choices if choice]},
    )


def format_param(formats: Iterable[str] = REPRESENTATIONS) -> dict[str, Any]:
    """`format` (clause 6.3.12): the representation, one of those the operation gives."""
    return query(
        "format", "The representation; wins over one in options.", {"type": "string", "enum": [*formats]}
    )


OPTIONS = options([*REPRESENTATIONS, "sysAttrs"])
FORMAT = format_param()
ATTRS = query("attrs", "Comma-separated attribute names to return (and, in queries, to require).")
PICK = query(
    "pick",
    "Comma-separated entity members to return (id, type and attribute names); with join, "
    "locatedAt{name} picks members of the linked entity (clause 4.21).",
)
OMIT = query("omit", "Comma-separated entity members to leave out; with join, braces as for pick.")
LANG = query("lang", "Preferred languages for LanguageProperty values, e.g. da,en;q=0.8.")
GEOMETRY_PROPERTY = query("geometryProperty", "GeoProperty used as the GeoJSON geometry (default location).")
DATASET_ID = query("datasetId", "Comma-separated datasetIds of the attribute instances to return.")
LOCAL = query(
    "local", "true: only this broker's own entities.", {"type": "string", "enum": ["true", "false"]}
)
INTEGER = {"type": "integer", "minimum": 0, "maximum": 999_999_999}
"""A whole number as smartby reads one: at most nine digits."""
DATE_TIME = {"type": "string", "format": "date-time"}


def names_of(names: Iterable[str]) -> str:
    """A pattern for a comma-separated list of some of `names`."""
    choice = "|".join(sorted(names))
    return f"^({choice})(,({choice}))*$"


ORDER_BY = query("orderBy", "Keys to order by, e.g. speed;desc,id (attribute paths or id, createdAt, ...).")
PAGING = [
    query("limit", "Entities per page.", INTEGER),
    query("offset", "Entities to skip.", INTEGER),
    query("count", "true: the total in NGSILD-Results-Count.", {"type": "string", "enum": ["true", "false"]}),
]

QUERY_PARAMS = [
    query("id", "Comma-separated entity ids."),
    query("type", "Entity type selection: A, A,B (either), (A;B)|C."),
    query("idPattern", "Regular expression the entity id must match."),
    ATTRS,
    PICK,
    OMIT,
    query("q", 'NGSI-LD query language filter, e.g. speed>50;status=="ok".'),
    query("scopeQ", "Scope filter, e.g. /Copenhagen/#."),
    query("georel", "near;maxDistance==1000, within, contains, intersects, equals, disjoint, overlaps."),
    query("geometry", "Point, LineString, Polygon, MultiPoint, MultiLineString, MultiPolygon."),
    query("coordinates", "GeoJSON coordinates of the geometry, as JSON."),
    query("geoproperty", "GeoProperty the geo-query applies to (default location)."),
    GEOMETRY_PROPERTY,
    LANG,
    DATASET_ID,
    query("limit", "Entities per page.", INTEGER),
    query("offset", "Entities to skip.", INTEGER),
    query(
        "count",
        "true: give the total in the NGSILD-Results-Count header.",
        {"type": "string", "enum": ["true", "false"]},
    ),
    ORDER_BY,
    OPTIONS,
    FORMAT,
    LOCAL,
    TENANT,
    LINK,
]


def json_body(
    description: str,
    schema: dict[str, Any] | None = None,
    media_types: tuple[str, ...] = ("application/json", "application/ld+json"),
) -> dict[str, Any]:
    shape = schema or {"type": "object"}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media_type: {"schema": shape} for media_type in media_types},
        }
    }


def operation(parameters: list[dict[str, Any]], body: dict[str, Any] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"parameters": parameters}
    if body:
        extra.update(body)
    return extra


# Context source registrations and csource subscriptions (docs/federation.md)
REGISTRATION_ID = path("registrationId", "The registration id (a URI).")
SYS_ATTRS = query(
    "options", "sysAttrs: show createdAt and modifiedAt.", {"type": "string", "enum": ["sysAttrs"]}
)
REGISTRATION_QUERY_PARAMS = [
    query("id", "Comma-separated entity ids a registration must be able to provide."),
    query("type", "Entity type selection: A, A,B (either), (A;B)|C."),
    query("idPattern", "Regular expression of entity ids."),
    query("attrs", "Comma-separated attribute names a registration must be able to provide."),
    query("q", "Query on the registrations' own properties."),
    query("csf", "Context source filter on the registrations' own properties."),
    query("georel", "Geo-relationship with the registrations' location."),
    query("geometry", "Point, LineString, Polygon, ..."),
    query("coordinates", "GeoJSON coordinates of the geometry, as JSON."),
    query(
        "geoproperty",
        "location (default), observationSpace or operationSpace.",
        {"type": "string", "enum": ["location", "observationSpace", "operationSpace"]},
    ),
    query("scopeQ", "Scope filter on the registrations' scope."),
    query("timerel", "before, after or between: on observationInterval (or managementInterval)."),
    query("timeAt", "Date-time the timerel refers to."),
    query("endTimeAt", "End of a between."),
    query("timeproperty", "observedAt (observationInterval; default), createdAt, modifiedAt, deletedAt."),
    *PAGING,
    SYS_ATTRS,
    TENANT,
    LINK,
]


# ----------------------------------------------------------------------------------------------------
# What every operation may answer besides success, and who may call it: derived from access.ROUTES
# (through `needed`) and the operation's shape, in one place, never declared route by route.

PROBLEM = "#/components/schemas/ProblemDetails"
PROBLEM_DETAILS: dict[str, Any] = {
    "type": "object",
    "description": "RFC 7807 ProblemDetails with an NGSI-LD error type (clause 5.5.2).",
    "required": ["type", "title"],
    "properties": {
        "type": {"type": "string", "description": "https://uri.etsi.org/ngsi-ld/errors/... "},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`smartby keys create`) or an OpenID Connect access token (a JWT).",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "An API key, as some FIWARE clients send it.",
    },
}
AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
TENANTED = frozenset({"reader", "writer", "admin", "device"})
"""Needs checked on the request's tenant: a tenant the caller has no role on is answered 404."""
QUERIES = ("/ngsi-ld/v1/entities", "/ngsi-ld/v1/temporal/", "/ngsi-ld/v1/entityOperations/query")
"""Where a query can be too complex (403 TooComplexQuery) or run out of its time (503 QueryTimedOut)."""

WHY = {
    "400": "The request is malformed (BadRequestData, InvalidRequest).",
    "401": "No API key or token, or one that is unknown, revoked or expired.",
    "403": "The caller's role is too weak for this operation, or the query is too complex.",
    "404": "No such resource, or a tenant the caller has no role on (as if it did not exist).",
    "406": "None of the representations of the Accept header can be given.",
    "409": "The resource already exists, or the change conflicts with it.",
    "411": "POST, PATCH and PUT need a Content-Length (clause 6.3.4).",
    "413": "The body is larger, or holds more entities, attributes or elements, than the limits.",
    "415": "The Content-Type is not one this operation reads.",
    "422": "The operation is not supported on this resource (OperationNotSupported).",
    "429": "Too many requests: try again after Retry-After seconds.",
    "503": "The query ran out of its time budget (QueryTimedOut), or a remote @context is unavailable.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def failure(status: str) -> dict[str, Any]:
    if status == "411":
        return {"description": WHY[status]}
    answer: dict[str, Any] = {
        "description": WHY[status],
        "content": {"application/json": {"schema": {"$ref": PROBLEM}}},
    }
    if status == "429":
        answer["headers"] = RETRY_AFTER
    return answer


def failures(path: str, method: str, need: str, operation: dict[str, Any]) -> list[str]:
    """The error statuses an operation can answer, from who may call it and what it reads."""
    statuses = ["400", "404"]
    if need != "public":
        statuses += ["401", "403", "429"]
    if "requestBody" in operation:
        statuses += ["411", "413", "415"]
    if method in ("post", "put", "patch"):
        statuses += ["409", "422", "503"]
    if path.startswith(QUERIES):
        statuses += ["403", "503"]
    if any(parameter.get("name") == "Link" for parameter in operation.get("parameters", [])):
        statuses.append("503")  # LdContextNotAvailable: the Link's @context cannot be fetched
    return sorted(set(statuses))


TEXT_PARAMETER = {"minLength": 1, "pattern": "^[^\\x00]*$"}
"""A query parameter of free text: not empty, and without NUL, which no URL may hold (api.limits)."""


def secured(
    document: dict[str, Any], needed: Any, max_limit: int = 1000, schemas: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The document with its security schemes, each operation's `security` (from `needed`, i.e.
    access.ROUTES), the ProblemDetails answers each operation can give, the page size the server
    allows (SMARTBY_MAX_LIMIT), and `schemas` (other bodies' components) besides the NGSI-LD ones."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(
        ProblemDetails=PROBLEM_DETAILS, **BODY_SCHEMAS, **(schemas or {})
    )
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            need, _ = needed(method.upper(), path)
            if need == "public":
                operation["security"] = []
            elif need == "device":
                operation["security"] = [*AUTHENTICATED, {}]  # or the device's own key, or none
            else:
                operation["security"] = AUTHENTICATED
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("path", "header") and parameter["name"] in PARAMETER_SCHEMAS:
                    parameter["schema"] = PARAMETER_SCHEMAS[parameter["name"]]
                elif parameter.get("in") == "query" and parameter["schema"] == STRING:
                    parameter["schema"] = QUERY_SCHEMAS.get(parameter["name"], {**TEXT_PARAMETER, **STRING})
                elif (
                    parameter.get("in") == "query"
                    and parameter["schema"].get("type") == "string"
                    and "pattern" not in parameter["schema"]
                ):
                    parameter["schema"] = {**TEXT_PARAMETER, **parameter["schema"]}
                elif parameter.get("in") == "query" and parameter["name"] == "limit":
                    parameter["schema"] = {**parameter["schema"], "maximum": max_limit}
            responses = operation.setdefault("responses", {})
            for status in failures(path, method, need, operation):
                responses.setdefault(status, failure(status))
    return document


SUCCESS = {
    200: "The result.",
    201: "Created.",
    202: "Accepted.",
    204: "Done; no content.",
    207: "Some parts succeeded and some failed: the BatchOperationResult says which (clause 5.6.7).",
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Success statuses an operation can answer besides its decorator's one."""
    return {status: {"description": SUCCESS[status]} for status in statuses}


# Parameters whose values follow a grammar: declared by name, once, for every operation that has them.
URI = r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9._~:@!$&'()*+;=/\-]+"
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
PARAMETER_SCHEMAS: dict[str, dict[str, Any]] = {
    "entityId": {"type": "string", "pattern": f"^{URI}$", "maxLength": 2048},
    "registrationId": {"type": "string", "pattern": f"^{URI}$", "maxLength": 2048},
    "subscriptionId": {"type": "string", "pattern": f"^{URI}$", "maxLength": 2048},
    "instanceId": {"type": "string", "pattern": f"^{URI}$", "maxLength": 2048},
    "attrId": {"type": "string", "pattern": f"^{NAME}$"},
    "type": {"type": "string", "pattern": f"^{NAME}$"},
    # clause 6.3.14: a tenant's name (smartby: 1 to 64 of these; empty is the default tenant)
    "NGSILD-Tenant": {"type": "string", "pattern": r"^[A-Za-z0-9_.:/\-]{0,64}$"},
    # clause 6.3.5: the @context as a Link (RFC 8288) with the JSON-LD context relation (an empty
    # header is read as no Link)
    "Link": {
        "type": "string",
        "pattern": r'^(<https?://[A-Za-z0-9._~:/?#@!$&()*+,=-]+>; rel="http://www\.w3\.org/ns/json-ld#context")?$',
    },
}


def listed(item: str, most: int | None = None) -> str:
    """A pattern for a comma-separated list of `item`s (at most `most` of them)."""
    more = "*" if most is None else f"{{0,{most - 1}}}"
    return f"^{item}(,{item}){more}$"


DURATION = (
    r"^P([0-9]{1,5}W|(?!$)([0-9]{1,3}Y)?([0-9]{1,4}M)?([0-9]{1,6}D)?"
    r"(T(?=[0-9])([0-9]{1,7}H)?([0-9]{1,8}M)?([0-9]{1,9}S)?)?)$"
)
"""An ISO 8601 duration in the designator format (weeks alone, as temporal.AggregationPeriod reads
them), each number no longer than keeps the whole within the 10,000 years smartby accepts."""
AGGREGATIONS = ["totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq"]
GEOMETRIES = ["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"]
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    # languages of their own (smartby.ngsild: query.py, scope.py, geo.py, typequery.py): named by
    # a format, so a client (and the fuzz test) knows which grammar a value follows
    "q": {"type": "string", "minLength": 1, "format": "ngsi-ld-q"},
    "scopeQ": {"type": "string", "minLength": 1, "format": "ngsi-ld-scope-q"},
    "georel": {"type": "string", "minLength": 1, "format": "ngsi-ld-georel"},
    "coordinates": {"type": "string", "minLength": 1, "format": "ngsi-ld-coordinates"},
    "geometry": {"type": "string", "enum": GEOMETRIES},
    "type": {"type": "string", "minLength": 1, "format": "ngsi-ld-type-selection"},
    "idPattern": {"type": "string", "minLength": 1, "maxLength": 1024, "format": "regex"},
    "id": {"type": "string", "pattern": listed(URI)},
    "datasetId": {"type": "string", "pattern": listed(URI)},
    "attrs": {"type": "string", "pattern": listed(NAME)},
    "pick": {"type": "string", "pattern": listed(NAME)},
    "omit": {"type": "string", "pattern": listed(NAME)},
    "csf": {"type": "string", "minLength": 1, "format": "ngsi-ld-q"},
    "timeproperty": {"type": "string", "enum": list(TIME_PROPERTIES)},
    "keep": {"type": "string", "pattern": listed(NAME)},
    "drop": {"type": "string", "pattern": listed(NAME)},
    "geoproperty": {"type": "string", "pattern": f"^{NAME}$"},
    "geometryProperty": {"type": "string", "pattern": f"^{NAME}$"},
    "orderBy": {"type": "string", "pattern": listed(f"{NAME}(;(asc|desc))?", most=MAX_ORDER_KEYS)},
    "timerel": {"type": "string", "enum": ["before", "after", "between"]},
    "timeAt": DATE_TIME,
    "endTimeAt": DATE_TIME,
    "aggrMethods": {"type": "string", "pattern": names_of(AGGREGATIONS)},
    "aggrPeriodDuration": {"type": "string", "pattern": DURATION},
    "lang": {"type": "string", "pattern": listed(r"([a-z]{2,3}(-[A-Z]{2})?|\*)(;q=(0(\.[0-9])?|1))?")},
}
"""Query parameters whose values follow a grammar, by name, for every operation that has them."""


# ----------------------------------------------------------------------------------------------------
# NGSI-LD bodies (clause 4.5, 5.2.4): declared once under components.schemas and referenced by the
# operations that read them. With application/ld+json the @context is in the body (clause 6.3.5).

SCHEMAS = "#/components/schemas/"
ATTRIBUTE_EVENTS = ["attributeCreated", "attributeUpdated", "attributeDeleted"]
RESERVED = (
    "id|type|scope|createdAt|modifiedAt|deletedAt|value|object|languageMap|vocab|valueList|objectList|json"
    "|observedAt|unitCode|datasetId|instanceId|valueType|objectType|lang|entity|entityList|previousValue"
    "|previousObject|previousLanguageMap|previousVocab|previousValueList|previousObjectList|previousJson"
    "|location|observationSpace|operationSpace|ngsildproof"
)
ATTRIBUTE_NAME = f"^(?!({RESERVED})$)[A-Za-z][A-Za-z0-9_]{{0,63}}$"
"""An attribute name as a body gives it (clause 4.6.2): a letter, then letters, digits and _; not a
core member (those are declared by name, the GeoProperties location, observationSpace and
operationSpace among them)."""
URI_STRING = {
    "type": "string",
    "pattern": f"^{URI}$",
    "maxLength": 2048,
    "not": {"const": "urn:ngsi-ld:null"},
}
SCALAR: list[dict[str, Any]] = [
    {"type": "string", "maxLength": 64, "not": {"const": "urn:ngsi-ld:null"}},
    {
        "type": "number",
        "description": "Written as an integer, within -2^63 .. 2^63-1 (what both stores keep exactly); "
        "a JSON Schema cannot tell 1e20 from 100000000000000000000.",
    },
    {"type": "boolean"},
]
POSITION = {
    "type": "array",
    "minItems": 2,
    "maxItems": 2,
    "items": False,
    "prefixItems": [
        {"type": "number", "minimum": -180, "maximum": 180},
        {"type": "number", "minimum": -90, "maximum": 90},
    ],
}
TIMESTAMP = {
    "type": "string",
    "pattern": r"^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z$",
}
"""observedAt: a UTC date-time ending in Z (clause 4.8)."""
DATASET = {"datasetId": {"$ref": SCHEMAS + "Uri"}, "observedAt": {"$ref": SCHEMAS + "Timestamp"}}


def kind(name: str, member: str, value: dict[str, Any], **extra: dict[str, Any]) -> dict[str, Any]:
    """One attribute type in normalized form: its type, value member and metadata."""
    return {
        "type": "object",
        "required": ["type", member],
        "properties": {"type": {"const": name}, member: value, **DATASET, **extra},
        "additionalProperties": False,
    }


def attributes(
    required: tuple[str, ...] = (), attribute: str = "Attribute", **properties: dict[str, Any]
) -> dict[str, Any]:
    """An object of attributes (an entity or a fragment of one), each an `attribute`, with
    `properties` its own members."""
    location = "GeoProperty" if attribute == "Attribute" else "TemporalGeoProperty"
    return {
        "type": "object",
        "required": [*required],
        "properties": {"location": {"$ref": SCHEMAS + location}, **properties},
        "patternProperties": {ATTRIBUTE_NAME: {"$ref": SCHEMAS + attribute}},
        "additionalProperties": False,
    }


ENTITY_MEMBERS: dict[str, Any] = {"id": {"$ref": SCHEMAS + "Uri"}, "type": {"$ref": SCHEMAS + "EntityType"}}
CONTEXT: dict[str, Any] = {
    "@context": {
        "description": "The @context: here an object of terms mapped to IRIs, or the core @context.",
        "anyOf": [
            {"const": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"},
            {
                "type": "object",
                "maxProperties": 3,
                "propertyNames": {"pattern": "^[A-Za-z][A-Za-z0-9]{0,15}$"},
                "additionalProperties": {"type": "string", "pattern": "^https://example\\.org/[a-z]{1,8}$"},
            },
        ],
    }
}
NORMALIZED = ("Property", "Relationship", "GeoProperty", "LanguageProperty")
BODY_KINDS: dict[str, dict[str, Any]] = {
    "Property": kind(
        "Property",
        "value",
        {"$ref": SCHEMAS + "Value"},
        unitCode={"type": "string", "minLength": 1, "maxLength": 8},
    ),
    "Relationship": kind(
        "Relationship",
        "object",
        {
            "anyOf": [
                {"$ref": SCHEMAS + "Uri"},
                {"type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": SCHEMAS + "Uri"}},
            ]
        },
    ),
    "GeoProperty": kind("GeoProperty", "value", {"$ref": SCHEMAS + "Geometry"}),
    "LanguageProperty": kind(
        "LanguageProperty",
        "languageMap",
        {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[a-z]{2,3}(-[A-Z]{2})?$"},
            "additionalProperties": {"type": "string", "maxLength": 32},
        },
    ),
}


def with_context(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, an object, with an @context member it requires (application/ld+json)."""
    return {
        **schema,
        "required": [*schema.get("required", []), "@context"],
        "properties": {**schema["properties"], **CONTEXT},
    }


BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "Uri": URI_STRING,
    "Timestamp": TIMESTAMP,
    "EntityType": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$"},
    "Value": {"anyOf": [*SCALAR, {"type": "array", "maxItems": 4, "items": {"anyOf": SCALAR}}]},
    "Geometry": {
        "description": "A GeoJSON geometry (RFC 7946). Polygons and MultiPolygons are read too; their "
        "closed rings are not a rule JSON Schema can state.",
        "anyOf": [
            {
                "type": "object",
                "required": ["type", "coordinates"],
                "properties": {"type": {"const": "Point"}, "coordinates": POSITION},
            },
            {
                "type": "object",
                "required": ["type", "coordinates"],
                "properties": {
                    "type": {"enum": ["LineString", "MultiPoint"]},
                    "coordinates": {"type": "array", "minItems": 2, "maxItems": 4, "items": POSITION},
                },
            },
        ],
    },
    **BODY_KINDS,
    "Attribute": {
        "description": "An attribute: normalized (clause 4.5) or concise, a plain value (clause 4.5.3.3).",
        "anyOf": [{"$ref": SCHEMAS + name} for name in (*NORMALIZED, "Value")],
    },
    "Entity": attributes(("id", "type"), **ENTITY_MEMBERS),
    "EntityLd": attributes(("id", "type", "@context"), **ENTITY_MEMBERS, **CONTEXT),
    "Replacement": attributes(("type",), type=ENTITY_MEMBERS["type"]),
    "ReplacementLd": attributes(("type", "@context"), type=ENTITY_MEMBERS["type"], **CONTEXT),
    "Attributes": attributes(),
    "AttributesLd": attributes(("@context",), **CONTEXT),
    "AttributeObject": {
        "description": "One attribute in normalized form (clause 4.5).",
        "anyOf": [{"$ref": SCHEMAS + name} for name in NORMALIZED],
    },
    "AttributeObjectLd": {
        "description": "One attribute in normalized form (clause 4.5), with its @context.",
        "anyOf": [with_context(BODY_KINDS[name]) for name in NORMALIZED],
    },
    "TemporalAttribute": {
        "description": "An attribute of a temporal body: one instance, or an array of them (clause 5.6.11).",
        "anyOf": [
            {"$ref": SCHEMAS + "AttributeObject"},
            {"type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": SCHEMAS + "AttributeObject"}},
        ],
    },
    "TemporalGeoProperty": {
        "anyOf": [
            {"$ref": SCHEMAS + "GeoProperty"},
            {"type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": SCHEMAS + "GeoProperty"}},
        ],
    },
    "TemporalEntity": attributes(("id", "type"), "TemporalAttribute", **ENTITY_MEMBERS),
    "TemporalEntityLd": attributes(
        ("id", "type", "@context"), "TemporalAttribute", **ENTITY_MEMBERS, **CONTEXT
    ),
    "TemporalAttributes": attributes((), "TemporalAttribute"),
    "TemporalAttributesLd": attributes(("@context",), "TemporalAttribute", **CONTEXT),
    "Entities": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": SCHEMAS + "Entity"}},
    "EntitiesLd": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"$ref": SCHEMAS + "EntityLd"}},
}
"""The NGSI-LD bodies, by name; `ngsi_body` refers to them."""

NAMES = {
    "type": "array",
    "minItems": 1,
    "maxItems": 3,
    "items": {"type": "string", "pattern": ATTRIBUTE_NAME},
}
ENDPOINT_URI = r"://[a-z][a-z0-9.\-]{0,30}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~\-]{0,16})*$"
"""A notification endpoint after its scheme: a host name (clause 5.2.15). Loopback and private
addresses are refused unless SMARTBY_OUTBOUND_ALLOW names them (docs/security.md): a rule of the
server's settings and of DNS, stated in the description, not the pattern."""
SELECTOR: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "format": "ngsi-ld-type-selection"},
        "id": {"$ref": SCHEMAS + "Uri"},
        "idPattern": {"type": "string", "format": "regex"},
    },
}
"""An entity selector (clause 5.2.33); a Query reads unknown members, a Subscription refuses them."""


def subscription_members(schemes: str) -> dict[str, Any]:
    """The members of a Subscription (clause 5.2.12) described here, the ones most subscriptions
    use; `schemes` those its endpoint may have (a pattern)."""
    return {
        "id": {"$ref": SCHEMAS + "Uri"},
        "type": {"const": "Subscription"},
        "subscriptionName": {"type": "string", "maxLength": 32},
        "description": {"type": "string", "maxLength": 32},
        "entities": {
            "type": "array",
            "minItems": 1,
            "maxItems": 3,
            "items": {**SELECTOR, "additionalProperties": False},
        },
        "watchedAttributes": NAMES,
        "notificationTrigger": {
            "type": "array",
            "minItems": 1,
            "items": {"enum": ["entityCreated", "entityUpdated", "entityDeleted", *ATTRIBUTE_EVENTS]},
        },
        "q": {"type": "string", "format": "ngsi-ld-q"},
        "scopeQ": {"type": "string", "format": "ngsi-ld-scope-q"},
        "isActive": {"type": "boolean"},
        "notification": {
            "type": "object",
            "required": ["endpoint"],
            "properties": {
                "endpoint": {
                    "type": "object",
                    "required": ["uri"],
                    "properties": {
                        "uri": {
                            "type": "string",
                            "pattern": f"^({schemes}){ENDPOINT_URI}",
                            "description": "Not loopback or private unless SMARTBY_OUTBOUND_ALLOW allows it.",
                        },
                        "accept": {
                            "enum": ["application/json", "application/ld+json", "application/geo+json"]
                        },
                    },
                    "additionalProperties": False,
                },
                "attributes": NAMES,
                "format": {"enum": ["normalized", "concise", "keyValues", "simplified"]},
                "sysAttrs": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    }


def subscription_schemas(name: str, schemes: str) -> dict[str, dict[str, Any]]:
    """A subscription (`name`), its patch, and their application/ld+json twins."""
    members = subscription_members(schemes)
    whole = {
        "type": "object",
        "required": ["type", "notification"],
        "anyOf": [{"required": ["entities"]}, {"required": ["watchedAttributes"]}],
        "properties": members,
        "additionalProperties": False,
    }
    patch = {"type": "object", "minProperties": 1, "properties": members, "additionalProperties": False}
    return {
        name: whole,
        f"{name}Ld": with_context(whole),
        f"{name}Patch": patch,
        f"{name}PatchLd": with_context(patch),
    }


BODY_SCHEMAS.update(subscription_schemas("Subscription", "https?|mqtts?"))
BODY_SCHEMAS.update(subscription_schemas("CSourceSubscription", "https?"))  # notified over HTTP only


TEXT = {"type": "string", "minLength": 1}
REGISTERED_NAMES = {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": ATTRIBUTE_NAME}}
REGISTRATION_INFO = {
    "type": "object",
    "description": "Entities, and the attributes of them, the source provides (clause 5.2.10).",
    "anyOf": [{"required": [member]} for member in ("entities", "propertyNames", "relationshipNames")],
    "properties": {
        "entities": {
            "type": "array",
            "minItems": 1,
            "items": {
                **SELECTOR,
                "properties": {**SELECTOR["properties"], "type": {"$ref": SCHEMAS + "EntityType"}},
                "additionalProperties": False,
            },
        },
        "propertyNames": REGISTERED_NAMES,
        "relationshipNames": REGISTERED_NAMES,
    },
    "additionalProperties": False,
}


def registration_members(optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """The members of a CSourceRegistration (clause 5.2.9) described here; each optional one
    through `optional` (in a patch, where null removes it)."""
    keep = optional or {}
    return {
        "type": {"const": "ContextSourceRegistration"},
        "registrationName": keep.get("registrationName", TEXT),
        "description": keep.get("description", TEXT),
        "information": {"type": "array", "minItems": 1, "items": REGISTRATION_INFO},
        "endpoint": {
            "type": "string",
            "pattern": f"^https?{ENDPOINT_URI}",
            "description": "The source's NGSI-LD API. Not loopback or private where authentication "
            "is required, unless SMARTBY_OUTBOUND_ALLOW allows it; never link-local or cloud metadata "
            "(docs/outbound.md).",
        },
        "mode": keep.get("mode", {"enum": list(REGISTRATION_MODES)}),
        "operations": keep.get(
            "operations",
            {"type": "array", "minItems": 1, "items": {"enum": [*OPERATIONS, *OPERATION_GROUPS]}},
        ),
    }


def registration_schemas() -> dict[str, dict[str, Any]]:
    """A CSourceRegistration, its patch (members to replace, null removes an optional one), and
    their application/ld+json twins. An exclusive registration names each entity by id, and the
    attributes it provides (clause 5.9.2)."""
    members = registration_members()
    whole = {
        "type": "object",
        "required": ["type", "information", "endpoint"],
        "properties": {"id": {"$ref": SCHEMAS + "Uri"}, **members},
        "additionalProperties": False,
    }
    removable = ("registrationName", "description", "mode", "operations")
    patch = {
        "type": "object",
        "minProperties": 1,
        "properties": registration_members(
            {name: {"anyOf": [members[name], {"type": "null"}]} for name in removable}
        ),
        "additionalProperties": False,
    }
    return {
        "CSourceRegistration": whole,
        "CSourceRegistrationLd": with_context(whole),
        "CSourceRegistrationPatch": patch,
        "CSourceRegistrationPatchLd": with_context(patch),
    }


BODY_SCHEMAS.update(registration_schemas())


HTTP_IRI = {"type": "string", "pattern": r"^https?://[A-Za-z0-9._~:/?#@!$&'()*+,;=%\-]*$"}
"""An IRI a hosted @context maps a term to, as described here: an http(s) IRI (JSON-LD takes any
absolute IRI; one whose scheme is a term of the same @context is a cyclic IRI mapping, refused)."""
TERMS = {
    "type": "object",
    "propertyNames": {"minLength": 1, "pattern": "^[^:/@][^:/]*$"},
    "additionalProperties": {
        "anyOf": [
            {"type": "null"},
            HTTP_IRI,
            {
                "type": "object",
                "required": ["@id"],
                "properties": {"@id": HTTP_IRI, "@type": {"enum": ["@id", "@vocab", "@json"]}},
                "additionalProperties": False,
            },
        ]
    },
}
"""A JSON-LD context's term definitions: terms without `:` or `/` (JSON-LD reads those as IRIs,
which must then expand to their own definition)."""
BODY_SCHEMAS["ContextDocument"] = {
    "type": "object",
    "description": "A JSON-LD context to host (clause 5.13.2): its @context an object of terms, or an "
    "array of such objects (and URLs of other contexts, fetched as remote contexts are).",
    "required": ["@context"],
    "properties": {"@context": {"anyOf": [TERMS, {"type": "array", "items": TERMS}]}},
}


def ngsi_body(description: str, name: str) -> dict[str, Any]:
    """A body of the component `name`, with its @context in the body as application/ld+json."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": {"$ref": SCHEMAS + name}},
                "application/ld+json": {"schema": {"$ref": f"{SCHEMAS}{name}Ld"}},
            },
        }
    }


QUERY_MEMBERS: dict[str, Any] = {
    "type": {"const": "Query"},
    "entities": {"type": "array", "minItems": 1, "items": SELECTOR},
    "attrs": NAMES,
    "q": {"type": "string", "format": "ngsi-ld-q"},
    "scopeQ": {"type": "string", "format": "ngsi-ld-scope-q"},
    "geoQ": {
        "type": "object",
        "description": "A geo-query (clause 5.2.13): coordinates of the geometry's shape.",
        "required": ["geometry", "coordinates", "georel"],
        "properties": {
            "geometry": {"enum": GEOMETRIES},
            "coordinates": {"type": "array", "minItems": 1},
            "georel": {"type": "string", "format": "ngsi-ld-georel"},
        },
    },
}
"""The members of a Query (clause 5.2.23) described here; pick, omit and lang are read too."""
SELECTS = [{"required": [member]} for member in ("entities", "attrs", "q", "geoQ", "scopeQ")]
"""A query selects something (clause 5.7.2)."""
TEMPORAL_Q = {
    "type": "object",
    "required": ["timerel", "timeAt"],
    "properties": {
        "timerel": {"enum": ["before", "after", "between"]},
        "timeAt": DATE_TIME,
        "endTimeAt": DATE_TIME,
    },
    "description": "With between, endTimeAt is required and after timeAt (clause 4.11).",
}
BODY_SCHEMAS["Query"] = {"type": "object", "anyOf": SELECTS, "properties": QUERY_MEMBERS}
BODY_SCHEMAS["QueryLd"] = with_context(BODY_SCHEMAS["Query"])
BODY_SCHEMAS["TemporalQuery"] = {
    "type": "object",
    "required": ["temporalQ"],
    "anyOf": SELECTS,
    "properties": {**QUERY_MEMBERS, "temporalQ": TEMPORAL_Q},
}
BODY_SCHEMAS["TemporalQueryLd"] = with_context(BODY_SCHEMAS["TemporalQuery"])
