"""An EntityQuery as SQL over the entity, entity_type, attr and geo tables.

Terms whose SQL means exactly what the Python evaluator means (attribute existence, number and
string comparisons, value lists, ranges and patterns on attribute values) run in SQL, so paging and
counting happen in the database. Anything else (sub-attribute paths, dates, `!=`, geo and scope
tests) narrows the candidates in SQL where it can and is decided in Python on each candidate.

How the rows are reached is chosen here, not left to SQLite's planner (which has no statistics
about attribute values): a value term that a bounded probe of the value index finds selective
drives the query through that index; otherwise the scan follows one entity type's rows in key
order, or the entity table itself, and stops as soon as a page is full.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartby.ngsild import query as q
from smartby.ngsild.entity import Entity
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeExpr, TypeName
from smartby.store.kinds import KIND_CODE
from smartby.store.sqlite.rows import GEO_SLOTS

TermLookup = Callable[[str], int | None]
Probe = Callable[[str, list[Any]], int]
"""Counts the rows of a `SELECT 1 FROM attr a WHERE ...` up to a bound."""

_RELATIONSHIP_KINDS = f"({KIND_CODE['Relationship']}, {KIND_CODE['ListRelationship']})"
_MISSING = -1
SELECTIVE = 2000
"""A value term matching fewer attribute rows than this drives the query through the value index."""


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
    def __init__(self, lookup: TermLookup) -> None:
        self._lookup = lookup
        self.params: list[Any] = []

    def term(self, iri: str) -> int:
        found = self._lookup(iri)
        return _MISSING if found is None else found

    def add(self, *values: Any) -> None:
        self.params.extend(values)


def compile_query(
    query: EntityQuery, tenant_id: int, lookup: TermLookup, probe: Probe | None = None
) -> Compiled:
    builder = _Builder(lookup)
    clauses: list[str] = []
    checks: list[Callable[[Entity], bool]] = []

    driver = _driving_term(query.q, builder, probe) if probe is not None else None
    type_driver = _single_type(query) if driver is None else None
    if type_driver is not None:
        source = "entity_type t CROSS JOIN entity e ON e.pk = t.pk"
        clauses.append("t.tenant_id = ? AND t.type_id = ?")
        builder.add(tenant_id, builder.term(type_driver))
        order = "t.pk"
    else:
        source = "entity e"
        uses_ids = any(s.ids for s in query.selectors)
        clauses.append("e.tenant_id = ?" if uses_ids else "+e.tenant_id = ?")
        builder.add(tenant_id)
        order = "e.pk"
    if driver is not None:
        sql, params = driver
        clauses.append(f"e.pk IN (SELECT a.pk FROM attr a WHERE {sql})")
        builder.add(*params)
    if query.selectors and type_driver is None:
        clauses.append("(" + " OR ".join(_selector(s, tenant_id, builder) for s in query.selectors) + ")")
    if query.attrs:
        ids = [builder.term(iri) for iri in query.attrs]
        clauses.append(
            f"EXISTS (SELECT 1 FROM attr a WHERE a.pk = e.pk AND a.name_id IN ({','.join('?' * len(ids))}))"
        )
        builder.add(*ids)
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
        box = query.geo.bbox()
        name_id = builder.term(query.geo.geoproperty)
        if box is not None:
            minx, miny, maxx, maxy = box
            clauses.append(
                f"e.pk IN (SELECT id / {GEO_SLOTS} FROM geo WHERE minx <= ? AND maxx >= ? "
                "AND miny <= ? AND maxy >= ? AND name_id = ?)"
            )
            builder.add(maxx, minx, maxy, miny, name_id)
        geo = query.geo

        def geo_check(entity: Entity) -> bool:
            return any(
                instance.get("type") == "GeoProperty" and geo.matches(instance["value"])
                for instance in entity.get(geo.geoproperty, ())
            )

        checks.append(geo_check)
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


def _selector(selector: EntitySelector, tenant_id: int, builder: _Builder) -> str:
    parts: list[str] = []
    if selector.ids:
        parts.append(f"e.id IN ({','.join('?' * len(selector.ids))})")
        builder.add(*selector.ids)
    if selector.id_pattern is not None:
        parts.append("regexp(?, e.id)")
        builder.add(selector.id_pattern)
    if selector.types is not None:
        parts.append(_types(selector.types, tenant_id, builder))
    return "(" + (" AND ".join(parts) or "1") + ")"


def _types(expr: TypeExpr, tenant_id: int, builder: _Builder) -> str:
    if isinstance(expr, TypeName) or (
        isinstance(expr, TypeAny) and all(isinstance(t, TypeName) for t in expr.terms)
    ):
        ids = [builder.term(name) for name in sorted(expr.names())]
        builder.add(tenant_id, *ids)
        return (
            "EXISTS (SELECT 1 FROM entity_type t2 WHERE t2.tenant_id = ? "
            f"AND t2.type_id IN ({','.join('?' * len(ids))}) AND t2.pk = e.pk)"
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
        return "NOT EXISTS (SELECT 1 FROM attr a WHERE a.pk = e.pk AND a.name_id = ?)"
    if not isinstance(expr, q.Term) or not _simple(expr.path):
        return None
    condition = _value_condition(expr, builder.term(expr.path.attr), index=False)
    if condition is None:
        return None
    sql, params = condition
    builder.add(*params)
    return f"EXISTS (SELECT 1 FROM attr a WHERE a.pk = e.pk AND {sql})"


def _value_condition(term: q.Term, name_id: int, *, index: bool) -> tuple[str, list[Any]] | None:
    """The condition on one attr row `a` for a term, or None if SQL cannot say it exactly.

    With `index` False the value columns carry a unary `+`, so SQLite looks rows up by the
    entity's key (correlated sub-queries) instead of wandering through the value index.
    """
    plus = "" if index else "+"
    head = "a.name_id = ?"
    if isinstance(term, q.Exists):
        return head, [name_id]
    if isinstance(term, q.Compare):
        column = _column(term.value)
        if column is None or term.op == "!=":
            return None
        op = "=" if term.op == "==" else term.op
        guard = "" if term.op == "==" else f" AND a.kind NOT IN {_RELATIONSHIP_KINDS}"
        return f"{head} AND {plus}a.{column} {op} ?{guard}", [name_id, term.value.value]
    if isinstance(term, q.InList):
        if term.negated:
            return None
        numbers = [v.value for v in term.values if _column(v) == "num"]
        texts = [v.value for v in term.values if _column(v) == "txt"]
        if len(numbers) + len(texts) != len(term.values):
            return None
        options = []
        if numbers:
            options.append(f"{plus}a.num IN ({','.join('?' * len(numbers))})")
        if texts:
            options.append(f"{plus}a.txt IN ({','.join('?' * len(texts))})")
        return f"{head} AND ({' OR '.join(options)})", [name_id, *numbers, *texts]
    if isinstance(term, q.InRange):
        column = _column(term.low)
        if column is None or term.negated or _column(term.high) != column:
            return None
        return f"{head} AND {plus}a.{column} BETWEEN ? AND ?", [name_id, term.low.value, term.high.value]
    if isinstance(term, q.Pattern):
        if term.negated:
            return None
        return f"{head} AND a.kind NOT IN {_RELATIONSHIP_KINDS} AND regexp(?, a.txt)", [name_id, term.regex]
    return None


def _column(literal: q.Literal) -> str | None:
    if literal.kind == "number":
        return "num"
    if literal.kind in ("string", "uri"):
        return "txt"
    return None


def _driving_term(expr: q.Expr | None, builder: _Builder, probe: Probe) -> tuple[str, list[Any]] | None:
    """The most selective indexable value term of a top-level AND, if it is selective enough."""
    if expr is None:
        return None
    terms = expr.terms if isinstance(expr, q.And) else (expr,)
    best: tuple[int, str, list[Any]] | None = None
    for term in terms:
        if not isinstance(term, q.Compare | q.InList | q.InRange) or not _simple(term.path):
            continue
        condition = _value_condition(term, builder.term(term.path.attr), index=True)
        if condition is None:
            continue
        sql, params = condition
        found = probe(sql, params)
        if found < SELECTIVE and (best is None or found < best[0]):
            best = (found, sql, params)
    return None if best is None else (best[1], best[2])


def _narrowing(expr: q.Expr, builder: _Builder) -> str | None:
    """SQL every match satisfies (a superset), from the exact parts of a top-level AND."""
    terms = expr.terms if isinstance(expr, q.And) else (expr,)
    parts = [part for part in (_expression(term, builder) for term in terms) if part is not None]
    return " AND ".join(parts) if parts else None
