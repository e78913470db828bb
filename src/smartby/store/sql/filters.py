"""An EntityQuery as SQL over the entity, entity_type, attr and geo tables.

Terms whose SQL means exactly what the Python evaluator in `ngsild/query.py` means (attribute
existence, number and string comparisons, value lists, ranges, and patterns the database reads as
Python does) run in SQL, so paging and counting happen in the database. Anything else (sub-attribute
paths, dates, `!=`, scope tests, an attribute some of whose values the index cannot hold exactly,
geometries the backend cannot decide as shapely does) narrows the candidates in SQL where it can
and is decided in Python on each candidate.

How rows are reached is chosen here, not left to the planner (SQLite has no statistics about
attribute values): a value term that a bounded probe of the value index finds selective drives the
query through that index; otherwise the scan follows one entity type's rows in creation order, or
the entity table itself, and stops as soon as a page is full.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartby.ngsild import query as q
from smartby.ngsild.entity import Entity
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeExpr, TypeName
from smartby.store.kinds import KIND_CODE
from smartby.store.sql.dialect import Dialect
from smartby.store.sql.index_rows import EXACT_INTEGERS, UNINDEXED
from smartby.store.sql.ordering import ENTITY_COLUMNS, order_clause

_RELATIONSHIP_KINDS = f"({KIND_CODE['Relationship']}, {KIND_CODE['ListRelationship']})"
_MISSING = -1
SELECTIVE = 2000
"""A value term matching fewer attribute rows than this drives the query through the value index."""

Condition = tuple[str, list[Any]]


class Lookups:
    """What compiling a query asks the database: term ids, how many rows a condition selects, and
    whether an attribute has values the index does not hold. `db` is a connection of the backend."""

    def __init__(self, dialect: Dialect, db: Any, tenant_id: int, term: Callable[[str], int | None]) -> None:
        self.dialect = dialect
        self.db = db
        self.tenant_id = tenant_id
        self._term = term
        self._indexed: dict[int, bool] = {}

    def term(self, iri: str) -> int:
        found = self._term(iri)
        return _MISSING if found is None else found

    def probe(self, condition: str, params: list[Any]) -> int:
        """How many attr rows meet `condition`, counting no further than the selectivity bound."""
        sql = f"SELECT count(*) FROM (SELECT 1 FROM attr a WHERE {condition} LIMIT {SELECTIVE}) AS found"
        row = self.db.execute(self.dialect.sql(sql), params).fetchone()
        return int(row[0]) if row is not None else 0

    def indexed(self, name_id: int) -> bool:
        """Whether every value of the attribute in the tenant is in the value index."""
        if name_id == _MISSING:
            return True
        flag = self._indexed.get(name_id)
        if flag is None:
            row = self.db.execute(
                self.dialect.sql(
                    "SELECT EXISTS (SELECT 1 FROM attr WHERE tenant_id = ? AND name_id = ? "
                    f"AND kind >= {UNINDEXED})"
                ),
                (self.tenant_id, name_id),
            ).fetchone()
            flag = self._indexed[name_id] = not (row and row[0])
        return flag


@dataclass
class Compiled:
    source: str
    """FROM clause; the entity table is always `e`."""
    where: str
    params: list[Any]
    order: str
    exact: bool
    checks: list[Callable[[Entity], bool]] = field(default_factory=list)
    order_params: list[Any] = field(default_factory=list)
    """The parameters of `order` (they follow those of `where`)."""

    def matches(self, entity: Entity) -> bool:
        return all(check(entity) for check in self.checks)

    def select(self, columns: str) -> str:
        return f"SELECT {columns} FROM {self.source} WHERE {self.where}"


class _Builder:
    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups
        self.dialect = lookups.dialect
        self.params: list[Any] = []

    def term(self, iri: str) -> int:
        return self.lookups.term(iri)

    def add(self, *values: Any) -> None:
        self.params.extend(values)

    def any_of(self, column: str, values: list[Any]) -> str:
        sql, params = self.dialect.any_of(column, values)
        self.params.extend(params)
        return sql


def compile_query(
    query: EntityQuery, lookups: Lookups, geo_condition: GeoCondition | None = None
) -> Compiled:
    """The SQL (with `?` marks) that selects the query's matches, or a superset of them with the
    checks Python makes on each."""
    builder = _Builder(lookups)
    tenant_id = lookups.tenant_id
    clauses: list[str] = []
    checks: list[Callable[[Entity], bool]] = []

    driver = _driving_term(query.q, tenant_id, builder)
    type_driver = _single_type(query) if driver is None else None
    if type_driver is not None:
        source = f"entity_type t {builder.dialect.fixed_join} entity e ON e.key = t.key"
        clauses.append("t.tenant_id = ? AND t.type_id = ?")
        builder.add(tenant_id, builder.term(type_driver))
        order = "t.ordinal"
    else:
        source = "entity e"
        clauses.append("e.tenant_id = ?")
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
        ids = [builder.term(iri) for iri in query.attrs]
        clauses.append(
            f"EXISTS (SELECT 1 FROM attr a WHERE a.key = e.key AND {builder.any_of('a.name_id', ids)})"
        )
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
        condition = (
            ("1 = 1", [], False)
            if geo_condition is None
            else geo_condition(geo, builder.term(geo.geoproperty))
        )
        sql, params, geo_exact = condition
        clauses.append(sql)
        builder.add(*params)
        if not geo_exact:

            def geo_check(entity: Entity) -> bool:
                return any(
                    instance.get("type") == "GeoProperty" and geo.matches(instance["value"])
                    for instance in entity.get(geo.geoproperty, ())
                )

            checks.append(geo_check)
    if query.scope is not None:
        scope = query.scope
        checks.append(lambda entity: scope.matches(entity.get("scope", [])))
    order_params: list[Any] = []
    if query.order_by:
        columns = dataclasses.replace(ENTITY_COLUMNS, default=order)
        order, order_params = order_clause(query.order_by, columns, builder.dialect, builder.term)
    return Compiled(
        source,
        " AND ".join(clauses),
        builder.params,
        order,
        exact=not checks,
        checks=checks,
        order_params=order_params,
    )


GeoCondition = Callable[[Any, int], tuple[str, list[Any], bool]]
"""(geo query, name id of its geoproperty) -> a condition on `e`, its parameters, whether exact."""


def _single_type(query: EntityQuery) -> str | None:
    """The one entity type every match must have, when the query names exactly one."""
    if len(query.selectors) != 1:
        return None
    selector = query.selectors[0]
    if selector.ids or selector.id_pattern is not None or not isinstance(selector.types, TypeName):
        return None
    return selector.types.name


def _selector(selector: EntitySelector, tenant_id: int, builder: _Builder) -> tuple[str, bool]:
    """SQL for one selector, and whether it is exact (an idPattern the database cannot read is
    left out: Python checks it)."""
    parts: list[str] = []
    exact = True
    if selector.ids:
        builder.add(tenant_id)
        ids = builder.any_of("k.id", list(selector.ids))
        parts.append(f"e.key IN (SELECT k.key FROM entity_key k WHERE k.tenant_id = ? AND {ids})")
    if selector.id_pattern is not None:
        pattern = builder.dialect.matches("e.id", selector.id_pattern)
        if pattern is None:
            exact = False
        else:
            parts.append(pattern[0])
            builder.add(*pattern[1])
    if selector.types is not None:
        parts.append(_types(selector.types, tenant_id, builder))
    return "(" + (" AND ".join(parts) or "1 = 1") + ")", exact


def selector_matches(selector: EntitySelector, entity: Entity) -> bool:
    """Whether an entity (id and type) meets a selector, decided in Python."""
    return selector.matches(entity)


def _types(expr: TypeExpr, tenant_id: int, builder: _Builder) -> str:
    if isinstance(expr, TypeName) or (
        isinstance(expr, TypeAny) and all(isinstance(t, TypeName) for t in expr.terms)
    ):
        builder.add(tenant_id)
        ids = builder.any_of("t2.type_id", [builder.term(name) for name in sorted(expr.names())])
        return (
            f"EXISTS (SELECT 1 FROM entity_type t2 WHERE t2.tenant_id = ? AND {ids} "
            "AND t2.ordinal = e.ordinal)"
        )
    joiner = " AND " if isinstance(expr, TypeAll) else " OR "
    return balanced(joiner, [_types(term, tenant_id, builder) for term in expr.terms])


def balanced(joiner: str, parts: list[str]) -> str:
    """`parts` joined by `joiner` in parentheses nested as a balanced tree, so a query of thousands
    of terms stays a few levels deep (SQLite refuses an expression deeper than 1,000, and reads
    `a OR b OR c ...` as a chain)."""
    if len(parts) <= 16:
        return "(" + joiner.join(parts) + ")"
    middle = len(parts) // 2
    return "(" + balanced(joiner, parts[:middle]) + joiner + balanced(joiner, parts[middle:]) + ")"


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
        return balanced(joiner, [p for p in parts if p is not None])
    if isinstance(expr, q.NotExists):
        if not _simple(expr.path):
            return None
        builder.add(builder.term(expr.path.attr))
        return "NOT EXISTS (SELECT 1 FROM attr a WHERE a.key = e.key AND a.name_id = ?)"
    if not isinstance(expr, q.Term) or not _simple(expr.path):
        return None
    condition = _value_condition(expr, builder.term(expr.path.attr), builder, index=False)
    if condition is None:
        return None
    sql, params = condition
    builder.add(*params)
    return f"EXISTS (SELECT 1 FROM attr a WHERE a.key = e.key AND {sql})"


def _value_condition(term: q.Term, name_id: int, builder: _Builder, *, index: bool) -> Condition | None:
    """The condition on one attr row `a` for a term, or None if SQL cannot say it exactly. With
    `index` False the row is reached by the entity's key (a correlated sub-query), and the value
    columns are kept from leading the planner to the value index."""
    dialect = builder.dialect
    head = "a.name_id = ?"
    if isinstance(term, q.Exists):
        return head, [name_id]
    if not builder.lookups.indexed(name_id):
        return None

    def value(column: str) -> str:
        return f"a.{column}" if index else dialect.unplanned(f"a.{column}")

    if isinstance(term, q.Compare):
        column = _column(term.value)
        if column is None or term.op == "!=":
            return None
        op = "=" if term.op == "==" else term.op
        guard = "" if term.op == "==" else f" AND a.kind NOT IN {_RELATIONSHIP_KINDS}"
        return f"{head} AND {value(column)} {op} ?{guard}", [name_id, _parameter(term.value)]
    if isinstance(term, q.InList):
        if term.negated:
            return None
        numbers = [_parameter(v) for v in term.values if _column(v) == "num"]
        texts = [v.value for v in term.values if _column(v) == "txt"]
        if len(numbers) + len(texts) != len(term.values):
            return None
        options = []
        params: list[Any] = [name_id]
        for column, values in (("num", numbers), ("txt", texts)):
            if values:
                sql, found = dialect.any_of(value(column), values)
                options.append(sql)
                params.extend(found)
        return f"{head} AND ({' OR '.join(options)})", params
    if isinstance(term, q.InRange):
        column = _column(term.low)
        if column is None or term.negated or _column(term.high) != column:
            return None
        low, high = _parameter(term.low), _parameter(term.high)
        return f"{head} AND {value(column)} BETWEEN ? AND ?", [name_id, low, high]
    if isinstance(term, q.Pattern):
        pattern = dialect.matches("a.txt", term.regex)
        if term.negated or pattern is None:
            return None
        return f"{head} AND a.kind NOT IN {_RELATIONSHIP_KINDS} AND {pattern[0]}", [name_id, *pattern[1]]
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
    """A literal as the value index holds it (numbers as doubles)."""
    return float(literal.value) if literal.kind == "number" else literal.value  # type: ignore[arg-type]


def _driving_term(expr: q.Expr | None, tenant_id: int, builder: _Builder) -> Condition | None:
    """The most selective indexable value term of a top-level AND, if it is selective enough."""
    if expr is None:
        return None
    terms = expr.terms if isinstance(expr, q.And) else (expr,)
    best: tuple[int, str, list[Any]] | None = None
    for term in terms:
        if not isinstance(term, q.Compare | q.InList | q.InRange) or not _simple(term.path):
            continue
        condition = _value_condition(term, builder.term(term.path.attr), builder, index=True)
        if condition is None:
            continue
        sql, params = f"a.tenant_id = ? AND {condition[0]}", [tenant_id, *condition[1]]
        found = builder.lookups.probe(sql, params)
        if found < SELECTIVE and (best is None or found < best[0]):
            best = (found, sql, params)
    return None if best is None else (best[1], best[2])


def _narrowing(expr: q.Expr, builder: _Builder) -> str | None:
    """SQL every match satisfies (a superset), from the exact parts of a top-level AND."""
    terms = expr.terms if isinstance(expr, q.And) else (expr,)
    parts = [part for part in (_expression(term, builder) for term in terms) if part is not None]
    return " AND ".join(parts) if parts else None
