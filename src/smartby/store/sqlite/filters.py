"""An EntityQuery as SQL over the entity, entity_type, attr and geo tables.

Terms whose SQL means exactly what the Python evaluator means (attribute existence, number and
string comparisons, value lists, ranges and patterns on attribute values) run in SQL, so paging and
counting happen in the database. Anything else (sub-attribute paths, dates, `!=`, geo and scope
tests) narrows the candidates in SQL where it can and is decided in Python on each candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartby.ngsild import query as q
from smartby.ngsild.entity import Entity
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeExpr, TypeName
from smartby.store.base import EntityQuery, EntitySelector
from smartby.store.sqlite.rows import GEO_SLOTS, KIND_CODE

TermLookup = Callable[[str], int | None]
_RELATIONSHIP_KINDS = f"({KIND_CODE['Relationship']}, {KIND_CODE['ListRelationship']})"
_MISSING = -1


@dataclass
class Compiled:
    where: str
    params: list[Any]
    exact: bool
    checks: list[Callable[[Entity], bool]] = field(default_factory=list)

    def matches(self, entity: Entity) -> bool:
        return all(check(entity) for check in self.checks)


class _Builder:
    def __init__(self, lookup: TermLookup) -> None:
        self._lookup = lookup
        self.params: list[Any] = []

    def term(self, iri: str) -> int:
        found = self._lookup(iri)
        return _MISSING if found is None else found

    def add(self, *values: Any) -> None:
        self.params.extend(values)


def compile_query(query: EntityQuery, tenant_id: int, lookup: TermLookup) -> Compiled:
    builder = _Builder(lookup)
    clauses = ["e.tenant_id = ?"]
    builder.add(tenant_id)
    checks: list[Callable[[Entity], bool]] = []
    if query.selectors:
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
    return Compiled(" AND ".join(clauses), builder.params, exact=not checks, checks=checks)


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
        names = sorted(expr.names())
        ids = [builder.term(name) for name in names]
        builder.add(tenant_id, *ids)
        return (
            "e.pk IN (SELECT pk FROM entity_type WHERE tenant_id = ? "
            f"AND type_id IN ({','.join('?' * len(ids))}))"
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
    condition = _value_condition(expr, builder)
    if condition is None:
        return None
    return condition


def _value_condition(term: q.Term, builder: _Builder) -> str | None:
    name_id = builder.term(term.path.attr)
    head = "EXISTS (SELECT 1 FROM attr a WHERE a.pk = e.pk AND a.name_id = ?"
    if isinstance(term, q.Exists):
        builder.add(name_id)
        return head + ")"
    if isinstance(term, q.Compare):
        column = _column(term.value)
        if column is None or term.op == "!=":
            return None
        builder.add(name_id, term.value.value)
        op = "=" if term.op == "==" else term.op
        guard = "" if term.op == "==" else f" AND a.kind NOT IN {_RELATIONSHIP_KINDS}"
        return f"{head} AND a.{column} {op} ?{guard})"
    if isinstance(term, q.InList):
        if term.negated:
            return None
        numbers = [v.value for v in term.values if _column(v) == "num"]
        texts = [v.value for v in term.values if _column(v) == "txt"]
        if len(numbers) + len(texts) != len(term.values):
            return None
        options = []
        if numbers:
            options.append(f"a.num IN ({','.join('?' * len(numbers))})")
        if texts:
            options.append(f"a.txt IN ({','.join('?' * len(texts))})")
        builder.add(name_id, *numbers, *texts)
        return f"{head} AND ({' OR '.join(options)}))"
    if isinstance(term, q.InRange):
        column = _column(term.low)
        if column is None or term.negated or _column(term.high) != column:
            return None
        builder.add(name_id, term.low.value, term.high.value)
        return f"{head} AND a.{column} BETWEEN ? AND ?)"
    if isinstance(term, q.Pattern):
        if term.negated:
            return None
        builder.add(name_id, term.regex)
        return f"{head} AND a.kind NOT IN {_RELATIONSHIP_KINDS} AND regexp(?, a.txt))"
    return None


def _column(literal: q.Literal) -> str | None:
    if literal.kind == "number":
        return "num"
    if literal.kind in ("string", "uri"):
        return "txt"
    return None


def _narrowing(expr: q.Expr, builder: _Builder) -> str | None:
    """SQL every match satisfies (a superset), from the exact parts of a top-level AND."""
    terms = expr.terms if isinstance(expr, q.And) else (expr,)
    parts = [part for part in (_expression(term, builder) for term in terms) if part is not None]
    return " AND ".join(parts) if parts else None
