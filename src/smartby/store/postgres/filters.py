"""An EntityQuery as SQL over the entity, entity_type, attr and geo tables.

The rules are SQLite's (`smartby.store.sqlite.filters`): terms whose SQL means exactly what the
Python evaluator means run in SQL, so paging and counting happen in the database; anything else
narrows the candidates in SQL where it can and is decided in Python on each candidate. On top of
those: a number is compared in SQL only while a double holds it exactly; a regular expression only
when PostgreSQL's reads the same (`patterns`); an attribute some of whose values the index could
not hold (`UNINDEXED`) is decided in Python. Geo-queries run in PostGIS: the topological relations
are GEOS's DE-9IM predicates, as shapely's are; `near` between points is the haversine distance on
the same sphere and with the same arithmetic as `GeoQuery.distance`. Geometries where the two could
differ (a `near` involving a line or polygon, a GeometryCollection, an invalid geometry) are only
narrowed by their bounding box in SQL and decided by shapely.

A value term that a bounded probe of the value index finds selective drives the query through that
index; otherwise the scan follows one entity type's rows in creation order, or the entity table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import shapely

from smartby.ngsild import query as q
from smartby.ngsild.entity import Entity
from smartby.ngsild.geo import EARTH_RADIUS_M, GeoQuery
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeExpr, TypeName
from smartby.store.kinds import KIND_CODE
from smartby.store.postgres.patterns import to_postgres
from smartby.store.postgres.rows import EXACT_INTEGERS, POINT, SHAPE

TermLookup = Callable[[str], int | None]
Probe = Callable[[str, list[Any]], int]
"""Counts the rows of a `SELECT 1 FROM attr a WHERE ...` up to a bound."""
Unindexed = Callable[[int], bool]
"""Whether an attribute has values in the tenant that the value index does not hold."""
WorstShape = Callable[[int], int | None]
"""The highest geometry class (rows.POINT, SHAPE, UNDECIDED) of a GeoProperty in the tenant."""

_RELATIONSHIP_KINDS = f"({KIND_CODE['Relationship']}, {KIND_CODE['ListRelationship']})"
_MISSING = -1
SELECTIVE = 2000
"""A value term matching fewer attribute rows than this drives the query through the value index."""

_PREDICATES = {
    "within": "ST_Within",
    "contains": "ST_Contains",
    "intersects": "ST_Intersects",
    "equals": "ST_Equals",
    "disjoint": "ST_Disjoint",
    "overlaps": "ST_Overlaps",
}
_HAVERSINE = (
    f"{2 * EARTH_RADIUS_M!r}::float8 * asin(sqrt(least(1.0, "
    "sin((radians(ST_Y(g.geom)) - %s) / 2) ^ 2 "
    "+ %s * cos(radians(ST_Y(g.geom))) * sin((radians(ST_X(g.geom)) - %s) / 2) ^ 2)))"
)


@dataclass
class Compiled:
    source: str
    """FROM clause; the entity table is always `e`."""
    where: str
    params: list[Any]
    order: str
    exact: bool
    checks: list[Callable[[Entity], bool]] = field(default_factory=list)

    def matches(self, entity: Entity) -> bool:
        return all(check(entity) for check in self.checks)

    def select(self, columns: str) -> str:
        return f"SELECT {columns} FROM {self.source} WHERE {self.where}"


class _Builder:
    def __init__(self, lookup: TermLookup, unindexed: Unindexed) -> None:
        self._lookup = lookup
        self._unindexed = unindexed
        self._flags: dict[int, bool] = {}
        self.params: list[Any] = []

    def term(self, iri: str) -> int:
        found = self._lookup(iri)
        return _MISSING if found is None else found

    def indexed(self, name_id: int) -> bool:
        """Whether every value of the attribute is in the value index."""
        if name_id == _MISSING:
            return True
        flag = self._flags.get(name_id)
        if flag is None:
            flag = self._flags[name_id] = not self._unindexed(name_id)
        return flag

    def add(self, *values: Any) -> None:
        self.params.extend(values)


def compile_query(
    query: EntityQuery,
    tenant_id: int,
    lookup: TermLookup,
    probe: Probe | None = None,
    unindexed: Unindexed = lambda name_id: False,
    worst_shape: WorstShape = lambda name_id: None,
) -> Compiled:
    builder = _Builder(lookup, unindexed)
    clauses: list[str] = []
    checks: list[Callable[[Entity], bool]] = []

    driver = _driving_term(query.q, tenant_id, builder, probe) if probe is not None else None
    type_driver = _single_type(query) if driver is None else None
    if type_driver is not None:
        source = "entity_type t JOIN entity e ON e.key = t.key"
        clauses.append("t.tenant_id = %s AND t.type_id = %s")
        builder.add(tenant_id, builder.term(type_driver))
        order = "t.ordinal"
    else:
        source = "entity e"
        clauses.append("e.tenant_id = %s")
        builder.add(tenant_id)
        order = "e.ordinal"
    if driver is not None:
        sql, params = driver
        clauses.append(f"e.key IN (SELECT a.key FROM attr a WHERE {sql})")
        builder.add(*params)
    if query.selectors and type_driver is None:
        options = []
        exact = True
        for selector in query.selectors:
            sql, selector_exact = _selector(selector, tenant_id, builder)
            options.append(sql)
            exact = exact and selector_exact
        clauses.append("(" + " OR ".join(options) + ")")
        if not exact:
            selectors = query.selectors
            checks.append(lambda entity: any(selector_matches(s, entity) for s in selectors))
    if query.attrs:
        clauses.append("EXISTS (SELECT 1 FROM attr a WHERE a.key = e.key AND a.name_id = ANY(%s))")
        builder.add([builder.term(iri) for iri in query.attrs])
    if query.q is not None:
        exact_sql = _expression(query.q, builder)
        if exact_sql is not None:
            clauses.append(exact_sql)
        else:
            narrowing = _narrowing(query.q, builder)
            if narrowing:
                clauses.append(narrowing)
            checks.append(query.q.matches)
    if query.geo is not None:
        geo = query.geo
        name_id = builder.term(geo.geoproperty)
        condition = _geo_exact(geo, worst_shape(name_id) if name_id != _MISSING else None)
        if condition is None:
            box = geo.bbox()
            condition = (
                ("g.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", list(box)) if box else ("TRUE", [])
            )

            def geo_check(entity: Entity) -> bool:
                return any(
                    instance.get("type") == "GeoProperty" and geo.matches(instance["value"])
                    for instance in entity.get(geo.geoproperty, ())
                )

            checks.append(geo_check)
        sql, params = condition
        clauses.append(f"EXISTS (SELECT 1 FROM geo g WHERE g.key = e.key AND g.name_id = %s AND {sql})")
        builder.add(name_id, *params)
    if query.scope is not None:
        scope = query.scope
        checks.append(lambda entity: scope.matches(entity.get("scope", [])))
    return Compiled(source, " AND ".join(clauses), builder.params, order, exact=not checks, checks=checks)


def _single_type(query: EntityQuery) -> str | None:
    """The one entity type every match must have, when the query names exactly one."""
    if len(query.selectors) != 1:
        return None
    selector = query.selectors[0]
    if selector.ids or selector.id_pattern is not None or not isinstance(selector.types, TypeName):
        return None
    return selector.types.name


def _selector(selector: EntitySelector, tenant_id: int, builder: _Builder) -> tuple[str, bool]:
    """SQL for one selector and whether it is exact (an idPattern PostgreSQL cannot say is TRUE)."""
    parts: list[str] = []
    exact = True
    if selector.ids:
        parts.append("e.key IN (SELECT k.key FROM entity_key k WHERE k.tenant_id = %s AND k.id = ANY(%s))")
        builder.add(tenant_id, list(selector.ids))
    if selector.id_pattern is not None:
        pattern = to_postgres(selector.id_pattern)
        if pattern is None:
            exact = False
        else:
            parts.append("e.id ~ %s")
            builder.add(pattern)
    if selector.types is not None:
        parts.append(_types(selector.types, tenant_id, builder))
    return "(" + (" AND ".join(parts) or "TRUE") + ")", exact


@lru_cache(maxsize=256)
def _compiled(expression: str) -> re.Pattern[str] | None:
    try:
        return re.compile(expression)
    except re.error:
        return None


def selector_matches(selector: EntitySelector, entity: Entity) -> bool:
    if selector.ids and entity["id"] not in selector.ids:
        return False
    if selector.id_pattern is not None:
        pattern = _compiled(selector.id_pattern)
        if pattern is None or pattern.search(entity["id"]) is None:
            return False
    return selector.types is None or selector.types.matches(entity["type"])


def _types(expr: TypeExpr, tenant_id: int, builder: _Builder) -> str:
    if isinstance(expr, TypeName) or (
        isinstance(expr, TypeAny) and all(isinstance(t, TypeName) for t in expr.terms)
    ):
        builder.add(tenant_id, [builder.term(name) for name in sorted(expr.names())])
        return (
            "EXISTS (SELECT 1 FROM entity_type t2 WHERE t2.tenant_id = %s AND t2.type_id = ANY(%s) "
            "AND t2.ordinal = e.ordinal)"
        )
    if isinstance(expr, TypeAll):
        return "(" + " AND ".join(_types(term, tenant_id, builder) for term in expr.terms) + ")"
    assert isinstance(expr, TypeAny)
    return "(" + " OR ".join(_types(term, tenant_id, builder) for term in expr.terms) + ")"


def _simple(path: q.AttrPath) -> bool:
    return not path.subattrs and path.member is None and not path.keys


def _expression(expr: q.Expr, builder: _Builder) -> str | None:
    """Exact SQL for `expr`, or None when part of it must be decided in Python."""
    mark = len(builder.params)
    sql = _exact(expr, builder)
    if sql is None:
        del builder.params[mark:]
    return sql


def _exact(expr: q.Expr, builder: _Builder) -> str | None:
    if isinstance(expr, q.And | q.Or):
        parts = [_exact(term, builder) for term in expr.terms]
        if any(part is None for part in parts):
            return None
        joiner = " AND " if isinstance(expr, q.And) else " OR "
        return "(" + joiner.join(p for p in parts if p is not None) + ")"
    if isinstance(expr, q.NotExists):
        if not _simple(expr.path):
            return None
        builder.add(builder.term(expr.path.attr))
        return "NOT EXISTS (SELECT 1 FROM attr a WHERE a.key = e.key AND a.name_id = %s)"
    if not isinstance(expr, q.Term) or not _simple(expr.path):
        return None
    condition = _value_condition(expr, builder.term(expr.path.attr), builder)
    if condition is None:
        return None
    sql, params = condition
    builder.add(*params)
    return f"EXISTS (SELECT 1 FROM attr a WHERE a.key = e.key AND {sql})"


def _value_condition(term: q.Term, name_id: int, builder: _Builder) -> tuple[str, list[Any]] | None:
    """The condition on one attr row `a` for a term, or None if SQL cannot say it exactly."""
    head = "a.name_id = %s"
    if isinstance(term, q.Exists):
        return head, [name_id]
    if not builder.indexed(name_id):
        return None
    if isinstance(term, q.Compare):
        column = _column(term.value)
        if column is None or term.op == "!=":
            return None
        op = "=" if term.op == "==" else term.op
        guard = "" if term.op == "==" else f" AND a.kind NOT IN {_RELATIONSHIP_KINDS}"
        return f"{head} AND a.{column} {op} %s{guard}", [name_id, _parameter(term.value)]
    if isinstance(term, q.InList):
        if term.negated:
            return None
        numbers = [_parameter(v) for v in term.values if _column(v) == "num"]
        texts = [v.value for v in term.values if _column(v) == "txt"]
        if len(numbers) + len(texts) != len(term.values):
            return None
        options = []
        params: list[Any] = [name_id]
        if numbers:
            options.append("a.num = ANY(%s)")
            params.append(numbers)
        if texts:
            options.append("a.txt = ANY(%s)")
            params.append(texts)
        return f"{head} AND ({' OR '.join(options)})", params
    if isinstance(term, q.InRange):
        column = _column(term.low)
        if column is None or term.negated or _column(term.high) != column:
            return None
        low, high = _parameter(term.low), _parameter(term.high)
        return f"{head} AND a.{column} BETWEEN %s AND %s", [name_id, low, high]
    if isinstance(term, q.Pattern):
        pattern = to_postgres(term.regex)
        if term.negated or pattern is None:
            return None
        return f"{head} AND a.kind NOT IN {_RELATIONSHIP_KINDS} AND a.txt ~ %s", [name_id, pattern]
    return None


def _column(literal: q.Literal) -> str | None:
    if literal.kind == "number":
        value = literal.value
        if isinstance(value, int) and not -EXACT_INTEGERS <= value <= EXACT_INTEGERS:
            return None
        return "num"
    if literal.kind in ("string", "uri"):
        return "txt"
    return None


def _parameter(literal: q.Literal) -> Any:
    return float(literal.value) if literal.kind == "number" else literal.value  # type: ignore[arg-type]


def _driving_term(
    expr: q.Expr | None, tenant_id: int, builder: _Builder, probe: Probe
) -> tuple[str, list[Any]] | None:
    """The most selective indexable value term of a top-level AND, if it is selective enough."""
    if expr is None:
        return None
    terms = expr.terms if isinstance(expr, q.And) else (expr,)
    best: tuple[int, str, list[Any]] | None = None
    for term in terms:
        if not isinstance(term, q.Compare | q.InList | q.InRange) or not _simple(term.path):
            continue
        condition = _value_condition(term, builder.term(term.path.attr), builder)
        if condition is None:
            continue
        sql, params = condition
        sql, params = f"a.tenant_id = %s AND {sql}", [tenant_id, *params]
        found = probe(sql, params)
        if found < SELECTIVE and (best is None or found < best[0]):
            best = (found, sql, params)
    return None if best is None else (best[1], best[2])


def _narrowing(expr: q.Expr, builder: _Builder) -> str | None:
    """SQL every match satisfies (a superset), from the exact parts of a top-level AND."""
    terms = expr.terms if isinstance(expr, q.And) else (expr,)
    parts = [part for part in (_expression(term, builder) for term in terms) if part is not None]
    return " AND ".join(parts) if parts else None


def _geo_exact(geo: GeoQuery, worst: int | None) -> tuple[str, list[Any]] | None:
    """The exact PostGIS condition on a geo row `g`, or None where shapely must decide."""
    if not shapely.is_valid(geo.shape):
        return None
    if geo.georel != "near":
        if worst is not None and worst > SHAPE:
            return None
        query = shapely.to_wkb(shapely.set_srid(geo.shape, 4326), include_srid=True, output_dimension=2)
        return f"{_PREDICATES[geo.georel]}(g.geom, ST_GeomFromEWKB(%s))", [query]
    if geo.geometry["type"] != "Point" or (worst is not None and worst > POINT):
        return None
    lon, lat = (float(c) for c in geo.geometry["coordinates"][:2])
    lon1, lat1 = math.radians(lon), math.radians(lat)
    parts: list[str] = []
    params: list[Any] = []
    box = geo.bbox()
    if box is not None:
        parts.append("g.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
        params.extend(box)
    distance = (_HAVERSINE, [lat1, math.cos(lat1), lon1])
    if geo.max_distance is not None:
        parts.append(f"{distance[0]} <= %s")
        params.extend([*distance[1], geo.max_distance])
    if geo.min_distance is not None:
        parts.append(f"{distance[0]} >= %s")
        params.extend([*distance[1], geo.min_distance])
    return " AND ".join(parts), params
