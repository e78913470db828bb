"""Building an EntityQuery from the NGSI-LD query parameters, names expanded with the @context."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smartby.ngsild.context import Context
from smartby.ngsild.entity import Entity, check_entity_id
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.geo import GeoQuery, geo_query_from_json, parse_geo_query
from smartby.ngsild.ordering import parse_order_by
from smartby.ngsild.projection import Projection, parse_projection
from smartby.ngsild.query import And, Compare, Expr, InList, Literal, Or, parse_attrs_list, parse_q
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.regex import problem
from smartby.ngsild.scope import parse_scope_query
from smartby.ngsild.typequery import TypeExpr, parse_type_query

ENTITY_MEMBER_NAMES = frozenset({"id", "type", "scope", "createdAt", "modifiedAt"})
SYSTEM_NAMES = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"})
TYPE_WILDCARD = "*"
"""`type=*`: every entity type (Table 6.4.3.2-1)."""


@dataclass(frozen=True)
class Selection:
    """What to return of each entity: names expanded, `None` for everything."""

    pick: set[str] | None
    omit: set[str]


def check_pattern(pattern: str) -> str:
    why = problem(pattern)
    if why is not None:
        raise BadRequestData(f"idPattern is not a valid regular expression ({why}): {pattern!r}")
    return pattern


def selector(
    ctx: Context, *, ids: Sequence[str] = (), id_pattern: str | None = None, types: str | None = None
) -> EntitySelector:
    return EntitySelector(
        ids=tuple(check_entity_id(i) for i in ids),
        id_pattern=check_pattern(id_pattern) if id_pattern is not None and not ids else None,
        types=type_query(ctx, types) if types is not None and types != TYPE_WILDCARD else None,
    )


def type_query(ctx: Context, types: str) -> TypeExpr:
    return parse_type_query(types).map_names(ctx.expand)


def narrows(q: str | None, attrs: Sequence[str] | None) -> bool:
    """Whether `q` or `attrs` restricts a query by at least one non-system attribute (5.7.2.4)."""
    if attrs and any(name not in SYSTEM_NAMES for name in attrs):
        return True
    return q is not None and any(name not in SYSTEM_NAMES for name in parse_q(q).attributes())


JOINS = ("inline", "flat", "@none")
MAX_JOIN_LEVEL = 10


def join_of(join: str | None, level: str | int | None) -> tuple[str | None, int]:
    """Linked Entity Retrieval (clause 4.5.23): the join kind (None: none) and how many hops."""
    if join is not None and join not in JOINS:
        raise BadRequestData(f"join must be one of {', '.join(JOINS)}")
    hops = 1
    if level is not None:
        text = str(level)
        whole = text.isascii() and text.isdigit()
        if isinstance(level, bool) or not whole or not 1 <= int(text) <= MAX_JOIN_LEVEL:
            raise BadRequestData(f"joinLevel must be a whole number from 1 to {MAX_JOIN_LEVEL}")
        hops = int(text)
    return (None if join == "@none" else join), hops


def relationship_targets(entity: Entity) -> set[str]:
    """The entity ids the Relationships and ListRelationships of an entity point at."""
    targets: set[str] = set()
    for key, instances in entity.items():
        if key in ENTITY_MEMBER_NAMES or not isinstance(instances, list):
            continue
        for instance in instances:
            if instance.get("type") == "Relationship":
                value = instance.get("object")
                targets.update(value if isinstance(value, list) else [value])
            elif instance.get("type") == "ListRelationship":
                targets.update(item.get("object") for item in instance.get("objectList", []))
    return {t for t in targets if isinstance(t, str)}


def holds_any(entity: Entity, ctx: Context, names: Sequence[str]) -> bool:
    """Whether the entity has at least one of the attributes (or members) `names` names: Retrieve
    Entity with `attrs` naming none of them finds nothing (clause 5.7.1.4)."""
    return any((name if name in ENTITY_MEMBER_NAMES else ctx.expand(name)) in entity for name in names)


def check_csf(csf: str) -> None:
    """A context source filter has the q grammar; smartby has no context sources to apply it to."""
    parse_q(csf)


def entity_query(
    ctx: Context,
    *,
    selectors: Sequence[EntitySelector] = (),
    q: str | None = None,
    geo: GeoQuery | None = None,
    scope_q: str | None = None,
    attrs: Sequence[str] | None = None,
    limit: int,
    offset: int = 0,
    count: bool = False,
    expand_values: Sequence[str] = (),
    order_by: str | None = None,
) -> EntityQuery:
    expr = parse_q(q).map_names(ctx.expand) if q is not None else None
    ordering = parse_order_by(order_by) if order_by is not None else ()
    if expr is not None and expand_values:
        expr = _expand_values(expr, {ctx.expand(name) for name in expand_values}, ctx)
    if expr is not None:
        for regex in _patterns(expr):
            check_pattern(regex)
    if geo is not None:
        geo = dataclasses.replace(geo, geoproperty=ctx.expand(geo.geoproperty))
    return EntityQuery(
        selectors=tuple(selectors),
        q=expr,
        geo=geo,
        scope=parse_scope_query(scope_q) if scope_q is not None else None,
        attrs=tuple(ctx.expand(a) for a in attrs or ()),
        limit=limit,
        offset=offset,
        count=count,
        order_by=tuple(key.map_names(ctx.expand) for key in ordering),
    )


def _expand_values(expr: Expr, names: set[str], ctx: Context) -> Expr:
    """`expandValues` (clause 4.9): the string values compared with these attributes are terms,
    expanded with the @context before the query runs (as VocabProperty values are stored)."""
    if isinstance(expr, And | Or):
        return type(expr)(tuple(_expand_values(term, names, ctx) for term in expr.terms))
    if isinstance(expr, Compare) and expr.path.attr in names:
        return dataclasses.replace(expr, value=_expanded(expr.value, ctx))
    if isinstance(expr, InList) and expr.path.attr in names:
        return dataclasses.replace(expr, values=tuple(_expanded(v, ctx) for v in expr.values))
    return expr


def _expanded(literal: Literal, ctx: Context) -> Literal:
    if literal.kind not in ("string", "uri") or not isinstance(literal.value, str):
        return literal
    return Literal("string", ctx.expand(literal.value))


def _patterns(expr: Any) -> list[str]:
    found: list[str] = []
    for term in getattr(expr, "terms", ()):
        found.extend(_patterns(term))
    regex = getattr(expr, "regex", None)
    if isinstance(regex, str):
        found.append(regex)
    return found


def geo_from_params(
    georel: str | None, geometry: str | None, coordinates: str | None, geoproperty: str | None
) -> GeoQuery | None:
    return parse_geo_query(georel, geometry, coordinates, geoproperty)


def geo_from_json(value: Any) -> GeoQuery:
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be a JSON object")
    return geo_query_from_json(value)


def selection(
    ctx: Context, *, attrs: Sequence[str] | None, pick: Sequence[str] | None, omit: Sequence[str] | None
) -> Selection:
    """Projection from attrs/pick/omit. `attrs` keeps id and type; `pick` names them explicitly."""

    def expand(name: str) -> str:
        return name if name in ENTITY_MEMBER_NAMES else ctx.expand(name)

    if attrs is not None and (pick is not None or omit is not None):
        raise BadRequestData("attrs cannot be combined with pick or omit (use pick alone)")
    picked: set[str] | None = None
    if attrs is not None:
        picked = {"id", "type", "scope"} | {expand(a) for a in attrs}
    if pick is not None:
        chosen = {expand(p) for p in pick}
        picked = chosen if picked is None else picked & (chosen | {"id", "type"})
    omitted = {expand(o) for o in omit or ()}
    if pick is not None and omit is not None:
        raise BadRequestData("pick and omit cannot be used together")
    return Selection(picked, omitted)


@dataclass(frozen=True)
class QueryBody:
    """The members of a Query (clause 5.2.23) sent as a JSON body, checked."""

    selectors: list[EntitySelector]
    attrs: list[str] | None
    pick: list[str] | None
    omit: list[str] | None
    geo: GeoQuery | None
    q: str | None
    scope_q: str | None
    lang: str | None
    pick_projection: Projection | None = None
    omit_projection: Projection | None = None
    """pick and omit with the projections of linked entities (clause 4.21), when `linked` allowed them."""

    @property
    def narrows(self) -> bool:
        return bool(self.selectors or self.attrs or self.geo or self.q or self.scope_q)

    def check_narrows(self) -> None:
        """A Query of entities or of their history selects something (clauses 5.7.2, 5.7.4)."""
        if not self.narrows:
            raise BadRequestData("A query needs entities, attrs, q, geoQ or scopeQ")


def _names(value: Any, member: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_attrs_list(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [name for v in value for name in parse_attrs_list(v)]
    raise BadRequestData(f"{member} must be an array of attribute names")


def text_member(value: Any, member: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadRequestData(f"{member} must be a string")


def _projection(value: Any, member: str) -> Projection | None:
    if value is None:
        return None
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise BadRequestData(f"{member} must be an array of attribute projections")
    projection = parse_projection(texts[0])
    for text in texts[1:]:
        projection = projection.joined(parse_projection(text))
    return projection


def query_body(ctx: Context, data: Any, *, linked: bool = False) -> QueryBody:
    """Read a Query object: entity selectors (type is mandatory; id a URI or an array of URIs),
    attrs, pick, omit, geoQ, q, scopeQ and lang; no empty arrays. With `linked` (a query of
    entities, which may join linked ones) pick and omit may project linked entities (clause 4.21):
    their own names are then in `pick` and `omit`, the whole in the projections."""
    if not isinstance(data, dict):
        raise BadRequestData("The query must be a JSON object")
    if data.get("type", "Query") != "Query":
        raise BadRequestData("The query's type must be Query")
    for member in ("entities", "attrs", "pick", "omit"):
        if member in data and data[member] == []:
            raise BadRequestData(f"{member} must not be an empty array")
    raw_selectors = data.get("entities", [])
    if not isinstance(raw_selectors, list) or not all(isinstance(s, dict) for s in raw_selectors):
        raise BadRequestData("entities must be an array of entity selectors")
    selectors = []
    for raw in raw_selectors:
        if raw.get("type") is None:
            raise BadRequestData("An entity selector needs a type")
        entity_id = raw.get("id")
        ids = entity_id if isinstance(entity_id, list) else [entity_id] if entity_id is not None else []
        if not all(isinstance(i, str) for i in ids):
            raise BadRequestData("An entity selector's id must be a string or an array of strings")
        selectors.append(
            selector(
                ctx,
                ids=ids,
                id_pattern=text_member(raw.get("idPattern"), "idPattern"),
                types=text_member(raw.get("type"), "type"),
            )
        )
    picked = _projection(data.get("pick"), "pick") if linked else None
    omitted = _projection(data.get("omit"), "omit") if linked else None
    return QueryBody(
        selectors=selectors,
        attrs=_names(data.get("attrs"), "attrs"),
        pick=picked.names if picked is not None else _names(data.get("pick"), "pick"),
        omit=(
            [name for name, inner in omitted.members if inner is None]
            if omitted is not None
            else _names(data.get("omit"), "omit")
        ),
        geo=geo_from_json(data["geoQ"]) if data.get("geoQ") is not None else None,
        q=text_member(data.get("q"), "q"),
        scope_q=text_member(data.get("scopeQ"), "scopeQ"),
        lang=text_member(data.get("lang"), "lang"),
        pick_projection=picked,
        omit_projection=omitted,
    )
