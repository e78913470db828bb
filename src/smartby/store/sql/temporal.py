"""Reading history: which temporal entities match, their instances, their aggregates.

A query runs in two phases, as other brokers do: first one page of the matching entities (by id,
type, attributes held; q, geo and scope by their current state), then the history of that page,
filtered by time, limited to the last N per series, or aggregated per period in SQL (from the
hourly rollup where it gives the same answer, `rollup_plan`). Numbers are summed by the database in
the type of its `num` column (SQLite: integers stay integers; PostgreSQL: exact `numeric`).

The per-series reads (lastN, the rollup) run one statement per series here; PostgreSQL runs them as
one statement with LATERAL (`store/postgres/temporal.py`). Every read selects history's rows from
`history_rows`, its one extension point for where they are: the history table here, the table and
its packed days together on PostgreSQL (`store/postgres/pack.py`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, localcontext
from typing import Any, Protocol

import orjson

from smartby.ngsild.reads import (
    Aggregate,
    AggregatedEntity,
    Buckets,
    EntityQuery,
    EntitySelector,
    HistoryQuery,
    TemporalEntity,
)
from smartby.ngsild.temporal import Bucket
from smartby.ngsild.timestamps import from_micros
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeExpr, TypeName
from smartby.store.history_rows import DELETED, KIND_MASK, instance_from_row
from smartby.store.kinds import KIND_NAME
from smartby.store.rollup_plan import HOUR, HourlyPlan, hourly_plan
from smartby.store.sql.dialect import Dialect
from smartby.store.sql.filters import selector_matches
from smartby.store.sql.ordering import OrderColumns, order_clause

DEFAULT_DATASET = 0
log = logging.getLogger("smartby.store")

CurrentMatches = Callable[[EntityQuery], set[str]]
"""Ids of the current entities that match a query (used for q, geo and scope)."""
PageRow = tuple[int, str, list[str], list[str] | None, int, int, int | None]
"""(key, id, types, scope, createdAt, modifiedAt, deletedAt) of one selected entity."""
Page = list[PageRow]
ROW = (
    "h.key, h.name_id, h.dataset_id, h.at, h.instance, h.created_at, h.modified_at, h.kind, h.num, "
    "h.value, h.unit_id, h.extra"
)
"""The history columns a reader selects, in `HistoryRow` order."""
ORDER = "h.key, h.name_id, h.dataset_id, h.at, h.instance"
SERIES = "h.key = ? AND h.name_id = ? AND h.dataset_id = ?"
"""One series of `h`, by parameters."""
SERIES_OF_S = "h.key = s.key AND h.name_id = s.name_id AND h.dataset_id = s.dataset_id"
"""The series of `h` that the row `s` of temporal_attr names."""


class Terms(Protocol):
    def lookup(self, connection: Any, iri: str) -> int | None: ...

    def iri(self, connection: Any, term_id: int) -> str: ...


class Sql:
    """Conditions joined by AND, and their parameters in order."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def where(self) -> str:
        return " AND ".join(self.parts) or "1 = 1"


def _system(row: PageRow) -> dict[str, str]:
    system = {"createdAt": from_micros(row[4]), "modifiedAt": from_micros(row[5])}
    if row[6] is not None:
        system["deletedAt"] = from_micros(row[6])
    return system


def _page_row(row: Any) -> PageRow:
    scope = orjson.loads(row[3]) if row[3] is not None else None
    return int(row[0]), row[1], orjson.loads(row[2]), scope, int(row[4]), int(row[5]), row[6]


TEMPORAL_COLUMNS = OrderColumns(
    key="te.key",
    id="te.entity_id",
    created="te.created_at",
    modified="te.modified_at",
    document="(SELECT d.doc FROM entity d WHERE d.key = te.key)",
    default="te.key",
)
"""What `orderBy` reads of a temporal entity: its own times, and its current state for the rest."""


class HistoryReader:
    """The temporal queries of one backend's dialect and terms."""

    def __init__(self, dialect: Dialect, terms: Terms) -> None:
        self.dialect = dialect
        self.terms = terms

    def _execute(self, db: Any, sql: str, params: Sequence[Any]) -> Any:
        return db.execute(self.dialect.sql(sql), params)

    def history_rows(self, query: HistoryQuery | None = None) -> str:
        """The table (or sub-query) of history rows a read selects from as `h`, with history's
        columns; `query`, if given, is what the read asks for (a backend may leave out what it
        cannot select). Here the history table; PostgreSQL adds its packed rows (`pack.py`)."""
        return "history"

    def _any(self, sql: Sql, column: str, values: Sequence[Any]) -> None:
        condition, params = self.dialect.any_of(column, values)
        sql.add(condition, *params)

    def _term(self, db: Any, iri: str) -> int:
        found = self.terms.lookup(db, iri)
        return -1 if found is None else found

    # -- phase one: the page of entities ---------------------------------------------------------

    def select_entities(
        self, db: Any, tenant_id: int, query: HistoryQuery, current: CurrentMatches
    ) -> tuple[Page, int | None]:
        """One page of the matching temporal entities, and their number if asked."""
        sql = Sql()
        sql.add("te.tenant_id = ?", tenant_id)
        checks = False
        if query.selectors:
            options = []
            for selector in query.selectors:
                part = Sql()
                if not self._selector(part, selector, tenant_id, db):
                    checks = True
                options.append(f"({part.where()})")
                sql.params.extend(part.params)
            sql.parts.append("(" + " OR ".join(options) + ")")
        if query.attrs:
            names = Sql()
            self._any(names, "ta.name_id", [self._term(db, a) for a in query.attrs])
            sql.add(
                f"EXISTS (SELECT 1 FROM temporal_attr ta WHERE ta.key = te.key AND {names.where()})",
                *names.params,
            )
        if query.q is not None or query.geo is not None or query.scope is not None:
            matching = current(
                EntityQuery(
                    selectors=query.selectors, q=query.q, geo=query.geo, scope=query.scope, limit=1_000_000
                )
            )
            if not matching:
                return [], 0 if query.count else None
            self._any(sql, "te.entity_id", sorted(matching))
        if query.instances_required:
            inner = Sql()
            if not self._series_filter(inner, query, None, db):
                return [], 0 if query.count else None
            _time_filter(inner, query)
            if query.timeproperty != "deletedAt":
                inner.add(f"h.kind & {DELETED} = 0")
            rows = self.history_rows(query)
            exists = f"EXISTS (SELECT 1 FROM {rows} h WHERE h.key = te.key AND {inner.where()})"
            sql.add(exists, *inner.params)
        select = (
            "SELECT te.key, te.entity_id, te.types, te.scope, te.created_at, te.modified_at, te.deleted_at "
            f"FROM temporal_entity te WHERE {sql.where()}"
        )
        order, order_params = order_clause(
            query.order_by, TEMPORAL_COLUMNS, self.dialect, lambda iri: self._term(db, iri)
        )
        if checks:
            # An idPattern the database cannot read: the SQL found a superset, Python decides.
            found = [
                _page_row(row)
                for row in self._execute(db, f"{select} ORDER BY {order}", (*sql.params, *order_params))
                if any(
                    selector_matches(s, {"id": row[1], "type": orjson.loads(row[2])}) for s in query.selectors
                )
            ]
            return found[query.offset : query.offset + query.limit], len(found) if query.count else None
        rows = self._execute(
            db,
            f"{select} ORDER BY {order} LIMIT ? OFFSET ?",
            (*sql.params, *order_params, query.limit, query.offset),
        )
        page = [_page_row(row) for row in rows]
        count = None
        if query.count:
            total = self._execute(
                db, f"SELECT count(*) FROM temporal_entity te WHERE {sql.where()}", sql.params
            )
            row = total.fetchone()
            count = int(row[0]) if row is not None else 0
        return page, count

    def _selector(self, sql: Sql, selector: EntitySelector, tenant_id: int, db: Any) -> bool:
        """Add one selector's conditions; False when its idPattern must be checked in Python."""
        exact = True
        if selector.ids:
            self._any(sql, "te.entity_id", list(selector.ids))
        if selector.id_pattern is not None:
            pattern = self.dialect.matches("te.entity_id", selector.id_pattern)
            if pattern is None:
                exact = False
            else:
                sql.add(pattern[0], *pattern[1])
        if selector.types is not None:
            sql.parts.append(self._types(sql, selector.types, tenant_id, db))
        return exact

    def _types(self, sql: Sql, expr: TypeExpr, tenant_id: int, db: Any) -> str:
        if isinstance(expr, TypeName):
            sql.params.extend((tenant_id, self._term(db, expr.name)))
            return (
                "EXISTS (SELECT 1 FROM temporal_type tt WHERE tt.tenant_id = ? AND tt.type_id = ? "
                "AND tt.key = te.key)"
            )
        joiner = " AND " if isinstance(expr, TypeAll) else " OR "
        assert isinstance(expr, TypeAll | TypeAny)
        return "(" + joiner.join(self._types(sql, term, tenant_id, db) for term in expr.terms) + ")"

    def _series_filter(self, sql: Sql, query: HistoryQuery, keys: list[int] | None, db: Any) -> bool:
        """Restrict rows to the page's entities (None: the caller does), the wanted attributes and
        datasets; False if none can match."""
        if keys is not None:
            self._any(sql, "h.key", keys)
        if query.attrs:
            ids = [i for i in (self.terms.lookup(db, a) for a in query.attrs) if i is not None]
            if not ids:
                return False
            self._any(sql, "h.name_id", ids)
        if query.dataset_ids is not None:
            datasets = [DEFAULT_DATASET if d is None else self.terms.lookup(db, d) for d in query.dataset_ids]
            known = [d for d in datasets if d is not None]
            if not known:
                return False
            self._any(sql, "h.dataset_id", known)
        return True

    # -- phase two: instances --------------------------------------------------------------------

    def read_history(self, db: Any, query: HistoryQuery, page: Page) -> list[TemporalEntity]:
        """The instances of each entity of the page, oldest first (the last N per series with lastN)."""
        entities = {row[0]: TemporalEntity(row[1], row[2], row[3], system=_system(row)) for row in page}
        if not entities:
            return []
        sql = Sql()
        if not self._series_filter(sql, query, None, db):
            return list(entities.values())
        _time_filter(sql, query)
        if query.timeproperty != "deletedAt":
            sql.add(f"h.kind & {DELETED} = 0")
        rows: Iterable[Any]
        if query.last_n is None and query.first_n is not None:
            rows = self.first_n(db, sql, query.first_n, list(entities), query)
        elif query.last_n is None:
            self._any(sql, "h.key", list(entities))
            rows = self._execute(
                db,
                f"SELECT {ROW} FROM {self.history_rows(query)} h WHERE {sql.where()} ORDER BY {ORDER}",
                sql.params,
            )
        else:
            rows = self.last_n(db, sql, query.last_n, list(entities), query)
        terms, number = self.terms, self.dialect.number
        for row in rows:
            dataset_id = row[2]
            instance = instance_from_row(
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                number(row[8]),
                row[9],
                terms.iri(db, row[10]) if row[10] is not None else None,
                row[11],
                terms.iri(db, dataset_id) if dataset_id != DEFAULT_DATASET else None,
            )
            entities[row[0]].attributes.setdefault(terms.iri(db, row[1]), []).append(instance)
        return list(entities.values())

    def last_n(self, db: Any, sql: Sql, last_n: int, keys: list[int], query: HistoryQuery) -> list[Any]:
        """Per series (oldest first), the last N rows by time that `sql` selects for `query`: each
        series read backwards through its index, one statement per series."""
        history = self.history_rows(query)
        found: list[Any] = []
        keys_only = Sql()
        self._any(keys_only, "h.key", keys)
        for series in self._series_rows(db, keys_only):
            rows = self._execute(
                db,
                f"SELECT {ROW} FROM {history} h WHERE {sql.where()} AND {SERIES} "
                "ORDER BY h.at DESC, h.instance DESC LIMIT ?",
                (*sql.params, *series, last_n),
            ).fetchall()
            found.extend(reversed(rows))
        return found

    def first_n(self, db: Any, sql: Sql, first_n: int, keys: list[int], query: HistoryQuery) -> list[Any]:
        """Per series, the first N rows by time that `sql` selects for `query` (a page of instances,
        6.3.10): each series read forwards through its index, one statement per series."""
        history = self.history_rows(query)
        found: list[Any] = []
        keys_only = Sql()
        self._any(keys_only, "h.key", keys)
        for series in self._series_rows(db, keys_only):
            found.extend(
                self._execute(
                    db,
                    f"SELECT {ROW} FROM {history} h WHERE {sql.where()} AND {SERIES} "
                    "ORDER BY h.at, h.instance LIMIT ?",
                    (*sql.params, *series, first_n),
                ).fetchall()
            )
        return found

    # -- aggregation -----------------------------------------------------------------------------

    def aggregate(
        self, db: Any, query: HistoryQuery, page: Page, methods: tuple[str, ...], buckets: Buckets
    ) -> list[AggregatedEntity]:
        """Aggregates per series and period, computed in SQL (numbers from `num`, others from `value`)."""
        entities = {row[0]: AggregatedEntity(row[1], row[2], row[3], system=_system(row)) for row in page}
        if not entities:
            return []
        found = self._from_rollup(db, query, list(entities), methods, buckets)
        if found is None:
            found = self._from_history(db, query, list(entities), buckets)
        series: dict[tuple[int, int, int], list[Bucket]] = {}
        terms = self.terms
        values = self._values(methods)
        for row, start, end in found:
            key, name_id, dataset_id = row[0], row[1], row[2]
            periods = series.get((key, name_id, dataset_id))
            if periods is None:
                dataset = terms.iri(db, dataset_id) if dataset_id != DEFAULT_DATASET else None
                periods = series[(key, name_id, dataset_id)] = []
                aggregate_ = Aggregate(KIND_NAME[int(row[5])], dataset, periods)
                entities[key].attributes.setdefault(terms.iri(db, name_id), []).append(aggregate_)
            periods.append(Bucket(start, end, values(row)))
        return list(entities.values())

    def _from_history(
        self, db: Any, query: HistoryQuery, keys: list[int], buckets: Buckets
    ) -> list[tuple[Any, int, int]]:
        """The aggregate rows per series and period, with each period's bounds, from every instance."""
        sql = Sql()
        if not self._series_filter(sql, query, keys, db):
            return []
        _time_filter(sql, query)
        sql.add(f"h.kind & {DELETED} = 0")
        rows = self.history_rows(query)
        found: list[tuple[Any, int, int]] = []
        if buckets.width is not None:
            width = int(buckets.width)
            if buckets.origin is not None:
                join, origin, origin_params = "", "?", [buckets.origin]
            else:
                # Each entity's periods start at its first selected instance.
                join = (
                    f" JOIN (SELECT h.key, min(h.at) AS origin FROM {rows} h "
                    f"WHERE {sql.where()} GROUP BY h.key) o ON o.key = h.key"
                )
                origin, origin_params = "o.origin", []
            period = (
                f"((h.at - {origin}) / {width} - CASE WHEN (h.at - {origin}) % {width} < 0 THEN 1 ELSE 0 END)"
            )
            head = origin_params * 2 + origin_params * 3 + (sql.params if buckets.origin is None else [])
            start_sql = f"{origin} + {period} * {width}"
            for row in self._grouped(db, sql, rows, "", join, period, start_sql, head):
                found.append((row, int(row[4]), int(row[4]) + width))
            return found
        for key, (low, high) in self._spans(db, sql, rows).items():
            start = buckets.origin if buckets.origin is not None else low
            finish = buckets.end if buckets.end is not None else high + 1
            bounds = list(buckets.calendar(start, finish)) if buckets.calendar else [(start, finish)]
            if not bounds:
                continue
            view, head = self.dialect.rows(
                "b",
                ("bucket", "low", "high"),
                ("bigint", "bigint", "bigint"),
                [(i, a, z) for i, (a, z) in enumerate(bounds)],
            )
            join = " JOIN b ON h.at >= b.low AND h.at < b.high"
            for row in self._grouped(db, sql, rows, f"WITH {view} ", join, "b.bucket", "0", head, key):
                found.append((row, *bounds[int(row[3])]))
        return found

    def _spans(self, db: Any, sql: Sql, history: str) -> dict[int, tuple[int, int]]:
        """Per entity, the first and last moment of the selected instances."""
        rows = self._execute(
            db,
            f"SELECT h.key, min(h.at), max(h.at) FROM {history} h WHERE {sql.where()} "
            "GROUP BY h.key ORDER BY h.key",
            sql.params,
        )
        return {int(key): (int(low), int(high)) for key, low, high in rows}

    def _grouped(
        self,
        db: Any,
        sql: Sql,
        history: str,
        prefix: str,
        join: str,
        period: str,
        start: str,
        head: list[Any],
        key: int | None = None,
    ) -> list[Any]:
        """The aggregate columns (`_methods`' layout) per (entity, attribute, dataset, period): the
        period's number fourth and its start fifth. `head` holds the parameters of `prefix`, `period`,
        `start` and `join`, in that order."""
        where = sql.where() + (" AND h.key = ?" if key is not None else "")
        params = [*head, *sql.params, *((key,) if key is not None else ())]
        statement = (
            f"{prefix}SELECT h.key, h.name_id, h.dataset_id, {period} AS bucket, {start} AS start, "
            f"max(h.kind) & {KIND_MASK}, count(*), count(DISTINCT h.num) + count(DISTINCT h.value), "
            "sum(h.num), avg(h.num), min(h.num), max(h.num), sum(h.num * h.num), count(h.num), "
            "min(h.value), max(h.value) "
            f"FROM {history} h{join} WHERE {where} GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4"
        )
        return list(self._execute(db, statement, params).fetchall())

    def _from_rollup(
        self, db: Any, query: HistoryQuery, keys: list[int], methods: tuple[str, ...], buckets: Buckets
    ) -> list[tuple[Any, int, int]] | None:
        """The aggregate rows `_from_history` gives, read from the hourly rollup (and the instances of
        the hours a window edge or period bound cuts); None when that cannot give the same answer (see
        `hourly_plan`), or when a minimum or maximum of a period without numbers is asked (that is the
        least or greatest other value, which only the instances hold)."""
        plan = hourly_plan(query, methods, buckets)
        if plan is None:
            return None
        series = Sql()
        if not self._series_filter(series, query, keys, db):
            return []
        if plan.width is None and not plan.bounds:
            return []
        found: list[tuple[Any, int, int]] = []
        for row in self.rolled_up(db, series, plan, methods, self.history_rows(query)):
            if plan.width is not None:
                start = plan.origin + int(row[3]) * plan.width
                found.append((row, start, start + plan.width))
            else:
                found.append((row, *plan.bounds[int(row[3])]))
        if ("min" in methods or "max" in methods) and any(row[13] == 0 for row, _, _ in found):
            return None
        log.debug("aggregated %d periods from history_hour", len(found))
        return found

    def rolled_up(
        self, db: Any, series: Sql, plan: HourlyPlan, methods: tuple[str, ...], rows: str = "history"
    ) -> list[Any]:
        """The columns `_grouped` gives (no distinct count, no other values than numbers; the period's
        start is left to the caller), summed from the rollup's whole hours and the cut hours'
        instances. One statement per series (from `temporal_attr`): each reads a range of the series'
        primary key and groups a few hundred rows, rather than sorting the rows of every series."""
        statement = RollupStatement(self.dialect, plan, methods, rows)
        found: list[Any] = []
        for key in self._series_rows(db, series):
            inner, params = statement.inner(SERIES, list(key))
            rows = self._execute(db, f"{statement.views}{inner}", [*statement.view_params, *params])
            found.extend((*key, *row) for row in rows)
        return found

    def _series_rows(self, db: Any, series: Sql) -> list[Any]:
        """The (key, name_id, dataset_id) of temporal_attr that `series` (on `h`) selects."""
        return list(
            self._execute(
                db,
                "SELECT s.key, s.name_id, s.dataset_id FROM temporal_attr s "
                f"WHERE {series.where().replace('h.', 's.')} ORDER BY 1, 2, 3",
                series.params,
            ).fetchall()
        )

    def _values(self, methods: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
        """What an aggregate row (`_grouped`'s layout) gives for each method, as a function of the
        row (periods come by the thousand: the choices are made once)."""
        number = self.dialect.number
        picks: list[tuple[str, Callable[[Any], Any]]] = []
        for method in methods:
            if method == "totalCount":
                picks.append((method, lambda row: int(row[6])))
            elif method == "distinctCount":
                picks.append((method, lambda row: int(row[7])))
            elif method == "sum":
                picks.append((method, lambda row: number(row[8])))
            elif method == "avg":
                picks.append((method, lambda row: float(row[9])))
            elif method == "min":
                picks.append((method, lambda row: number(row[10])))
            elif method == "max":
                picks.append((method, lambda row: number(row[11])))
            elif method == "sumsq":
                picks.append((method, lambda row: number(row[12])))
            elif method == "stddev":
                picks.append((method, lambda row: deviation(int(row[13]), row[8], row[12])))
        counts = {"totalCount": 6, "distinctCount": 7}
        texts = {"min": 14, "max": 15}

        def values(row: Any) -> dict[str, Any]:
            if row[13]:
                return {method: pick(row) for method, pick in picks}
            # No numbers in the period: counts stand, min and max are the least and greatest other
            # value, the rest is null.
            found: dict[str, Any] = {}
            for method in methods:
                if method in counts:
                    found[method] = int(row[counts[method]])
                elif method in texts and row[texts[method]] is not None:
                    found[method] = orjson.loads(row[texts[method]])
                else:
                    found[method] = None
            return found

        return values


def deviation(numbers: int, total: Any, squares: Any) -> float:
    """The population standard deviation of `numbers` values from their sum and sum of squares:
    exactly from exact (Decimal) sums, as PostgreSQL's stddev_pop, else in floating point."""
    if isinstance(total, Decimal) or isinstance(squares, Decimal):
        with localcontext() as context:
            context.prec = 80
            spread = Decimal(numbers) * Decimal(squares) - Decimal(total) * Decimal(total)
            return float((max(spread, Decimal(0)) / (Decimal(numbers) * Decimal(numbers))).sqrt())
    mean = total / numbers
    return math.sqrt(max(squares / numbers - mean * mean, 0.0))


def _time_filter(sql: Sql, query: HistoryQuery) -> None:
    column = {
        "observedAt": "h.at",
        "createdAt": "h.created_at",
        "modifiedAt": "coalesce(h.modified_at, h.created_at)",
        "deletedAt": "h.at",
    }[query.timeproperty]
    if query.timeproperty == "deletedAt":
        sql.add(f"h.kind & {DELETED} <> 0")
    if query.start is not None:
        sql.add(f"{column} >= ?", query.start)
    if query.end is not None:
        sql.add(f"{column} < ?", query.end)


class RollupStatement:
    """The statement that sums one series up per period from the hourly rollup's whole hours and
    the instances of the cut hours (`HourlyPlan`), in `_grouped`'s column layout from the period's
    number on. `views` (with `view_params`) goes first; `inner` is the per-series part."""

    def __init__(
        self, dialect: Dialect, plan: HourlyPlan, methods: tuple[str, ...], rows: str = "history"
    ) -> None:
        self.plan = plan
        self.rows = rows
        self.methods = methods
        views: list[str] = []
        self.view_params: list[Any] = []
        if plan.width is None:
            view, params = dialect.rows(
                "b",
                ("bucket", "low", "high"),
                ("bigint", "bigint", "bigint"),
                [(index, low, high) for index, (low, high) in enumerate(plan.bounds)],
            )
            views.append(view)
            self.view_params += params
        if plan.partial:
            view, params = dialect.rows("r", ("low", "high"), ("bigint", "bigint"), plan.partial)
            views.append(view)
            self.view_params += params
        self.views = f"WITH {', '.join(views)} " if views else ""
        self.hours = Sql()
        if plan.first is not None:
            self.hours.add("h.hour >= ?", plan.first)
        if plan.last is not None:
            self.hours.add("h.hour < ?", plan.last)
        if plan.cut:
            condition, params = dialect.none_of("h.hour", plan.cut)
            self.hours.add(condition, *params)

    def _period(self, column: str) -> tuple[str, str, list[Any]]:
        """The period number of `column`, the join it needs, and the parameters of the number."""
        plan = self.plan
        if plan.width is None:
            return "b.bucket", f" JOIN b ON {column} >= b.low AND {column} < b.high", []
        width = plan.width
        return (
            f"(({column} - ?) / {width} - CASE WHEN ({column} - ?) % {width} < 0 THEN 1 ELSE 0 END)",
            "",
            [plan.origin, plan.origin],
        )

    def inner(self, same: str, same_params: list[Any]) -> tuple[str, list[Any]]:
        """The per-series statement, its periods in order: `same` names the series on `h` (with
        `same_params`)."""
        plan = self.plan
        if plan.width == HOUR and plan.origin % HOUR == 0 and not plan.partial:
            # Hourly periods on whole hours: each rollup row is a period, nothing to group.
            statement = (
                f"SELECT (h.hour - ?) / {HOUR}, 0, h.kind & {KIND_MASK}, h.instances, NULL, "
                + _sums(self.methods, grouped=False, prefix="h.")
                + f", h.numbers, NULL, NULL FROM history_hour h WHERE {same} AND {self.hours.where()} "
                "ORDER BY h.hour"
            )
            return statement, [plan.origin, *same_params, *self.hours.params]
        bucket, join, params = self._period("h.hour")
        params = [*params, *same_params, *self.hours.params]
        parts = [
            f"SELECT {bucket} AS bucket, h.kind AS kind, h.instances AS instances, h.numbers AS numbers, "
            "h.num_sum AS num_sum, h.num_sumsq AS num_sumsq, h.num_min AS num_min, h.num_max AS num_max "
            f"FROM history_hour h{join} WHERE {same} AND {self.hours.where()}"
        ]
        if self.plan.partial:
            bucket, join, at_params = self._period("h.at")
            parts.append(
                f"SELECT {bucket}, h.kind, 1, CASE WHEN h.num IS NULL THEN 0 ELSE 1 END, h.num, "
                "h.num * h.num, "
                f"h.num, h.num FROM r JOIN {self.rows} h ON {same} AND h.at >= r.low AND h.at < r.high{join} "
                f"WHERE h.kind & {DELETED} = 0"
            )
            params += [*at_params, *same_params]
        statement = (
            f"SELECT bucket, 0, max(kind) & {KIND_MASK}, sum(instances), NULL, "
            + _sums(self.methods, grouped=True)
            + f", sum(numbers), NULL, NULL FROM ({' UNION ALL '.join(parts)}) u "
            "GROUP BY bucket ORDER BY bucket"
        )
        return statement, params


def _sums(methods: tuple[str, ...], *, grouped: bool, prefix: str = "") -> str:
    """The number columns of a rollup read (sum, avg, min, max, sum of squares), each NULL unless one
    of the methods that need it is asked for (so a sum does not pay for extremes and squares): of
    one rollup row a period, or `grouped`, aggregated over several. `prefix` qualifies the columns."""

    def of(function: str, column: str) -> str:
        return f"{function}({prefix}{column})" if grouped else prefix + column

    columns = (
        (of("sum", "num_sum"), ("sum", "avg", "stddev")),
        (f"{of('sum', 'num_sum')} * 1.0 / nullif({of('sum', 'numbers')}, 0)", ("avg",)),
        (of("min", "num_min"), ("min",)),
        (of("max", "num_max"), ("max",)),
        (of("sum", "num_sumsq"), ("sumsq", "stddev")),
    )
    return ", ".join(column if set(uses) & set(methods) else "NULL" for column, uses in columns)
