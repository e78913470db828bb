"""OpenAPI declarations of the parameters and bodies that handlers read from the request."""

from __future__ import annotations

from typing import Any

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
OPTIONS = query("options", "Comma-separated options, e.g. keyValues, concise, sysAttrs.")
FORMAT = query("format", "Representation: normalized, concise or keyValues.")
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
INTEGER = {"type": "integer", "minimum": 0}
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


def json_body(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    shape = schema or {"type": "object"}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": shape}, "application/ld+json": {"schema": shape}},
        }
    }


def operation(parameters: list[dict[str, Any]], body: dict[str, Any] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"parameters": parameters}
    if body:
        extra.update(body)
    return extra


# Context source registrations and csource subscriptions (docs/federation.md)
REGISTRATION_ID = path("registrationId", "The registration id (a URI).")
SYS_ATTRS = query("options", "sysAttrs: show createdAt and modifiedAt.")
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
    query("geoproperty", "location (default), observationSpace or operationSpace."),
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
