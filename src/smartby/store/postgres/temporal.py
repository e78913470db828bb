"""Reading history from PostgreSQL: which temporal entities match, their instances, their aggregates.

As on SQLite, a query runs in two phases: first one page of the matching entities (by id, type,
attributes held; q, geo and scope by their current state), then the history of that page, filtered
by time (partitions outside the window are skipped), the last N per series, or aggregated per period
in SQL. Aggregates are computed on exact decimals: population standard deviation by `stddev_pop`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import orjson
import psycopg

from smartby.ngsild.reads import (
    Aggregate,
    AggregatedEntity,
    Buckets,
    EntityQuery,
    EntitySelector,
    HistoryQuery,
    TemporalEntity,
)
from smartby.ngsild.timestamps import from_micros
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeExpr, TypeName
from smartby.store.history_rows import DELETED, KIND_MASK, instance_from_row
from smartby.store.kinds import KIND_NAME
from smartby.store.postgres.filters import selector_matches as _selector_matches
from smartby.store.postgres.history import from_numeric
from smartby.store.postgres.patterns import to_postgres
from smartby.store.postgres.terms import Terms
from smartby.store.rollup_plan import HourlyPlan, hourly_plan

DEFAULT_DATASET = 0
log = logging.getLogger("smartby.store")

CurrentMatches = Callable[[EntityQuery], set[str]]
"""Ids of the current entities that match a query (used for q, geo and scope)."""
PageRow = tuple[int, str, list[str], list[str] | None, int, int, int | None]
"""(key, id, types, scope, createdAt, modifiedAt, deletedAt) of one selected entity."""
Page = list[PageRow]


def _system(row: PageRow) -> dict[str, str]:
    system = {"createdAt": from_micros(row[4]), "modifiedAt": from_micros(row[5])}
    if row[6] is not None:
        system["deletedAt"] = from_micros(row[6])
    return system


class _Sql:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def where(self) -> str:
        return " AND ".join(self.parts) or "TRUE"


def select_entities(
    db: psycopg.Connection,
    tenant_id: int,
    query: HistoryQuery,
    terms: Terms,
    current: CurrentMatches,
) -> tuple[Page, int | None]:
    """One page of (key, id, types, scope) for the query, and the total if asked."""
    sql = _Sql()
    sql.add("te.tenant_id = %s", tenant_id)
    checks: list[EntitySelector] = []
    if query.selectors:
        options = []
        for selector in query.selectors:
            part = _Sql()
            if not _selector(part, selector, tenant_id, terms, db):
                checks.append(selector)
            options.append(f"({part.where()})")
            sql.params.extend(part.params)
        sql.parts.append("(" + " OR ".join(options) + ")")
    if query.attrs:
        sql.add(
            "EXISTS (SELECT 1 FROM temporal_attr ta WHERE ta.key = te.key AND ta.name_id = ANY(%s))",
            [_term(terms, db, a) for a in query.attrs],
        )
    if query.q is not None or query.geo is not None or query.scope is not None:
        matching = current(
            EntityQuery(
                selectors=query.selectors,
                q=query.q,
                geo=query.geo,
                scope=query.scope,
                limit=1_000_000,
            )
        )
        if not matching:
            return [], 0 if query.count else None
        sql.add("te.entity_id = ANY(%s)", sorted(matching))
    if query.instances_required:
        inner = _Sql()
        if not _series_filter(inner, query, None, terms, db):
            return [], 0 if query.count else None
        _time_filter(inner, query)
        if query.timeproperty != "deletedAt":
            inner.add(f"h.kind & {DELETED} = 0")
        sql.add(f"EXISTS (SELECT 1 FROM history h WHERE h.key = te.key AND {inner.where()})", *inner.params)
    select = (
        "SELECT te.key, te.entity_id, te.types, te.scope, te.created_at, te.modified_at, te.deleted_at "
        f"FROM temporal_entity te WHERE {sql.where()}"
    )
    if checks:
        # An idPattern PostgreSQL cannot read: the SQL found a superset, Python decides.
        found = [
            _page_row(row)
            for row in db.execute(f"{select} ORDER BY te.key", sql.params)
            if any(
                _selector_matches(s, {"id": row[1], "type": orjson.loads(row[2])}) for s in query.selectors
            )
        ]
        return found[query.offset : query.offset + query.limit], len(found) if query.count else None
    rows = db.execute(
        f"{select} ORDER BY te.key LIMIT %s OFFSET %s", (*sql.params, query.limit, query.offset)
    )
    page = [_page_row(row) for row in rows]
    count = None
    if query.count:
        total = db.execute(
            f"SELECT count(*) FROM temporal_entity te WHERE {sql.where()}", sql.params
        ).fetchone()
        count = int(total[0]) if total is not None else 0
    return page, count


def _page_row(row: Any) -> PageRow:
    scope = orjson.loads(row[3]) if row[3] is not None else None
    return int(row[0]), row[1], orjson.loads(row[2]), scope, int(row[4]), int(row[5]), row[6]


def _term(terms: Terms, db: psycopg.Connection, iri: str) -> int:
    found = terms.lookup(db, iri)
    return -1 if found is None else found


def _selector(
    sql: _Sql, selector: EntitySelector, tenant_id: int, terms: Terms, db: psycopg.Connection
) -> bool:
    """Add one selector's conditions; False when its idPattern must be checked another way."""
    exact = True
    if selector.ids:
        sql.add("te.entity_id = ANY(%s)", list(selector.ids))
    if selector.id_pattern is not None:
        pattern = to_postgres(selector.id_pattern)
        if pattern is None:
            exact = False
        else:
            sql.add("te.entity_id ~ %s", pattern)
    if selector.types is not None:
        sql.parts.append(_types(sql, selector.types, tenant_id, terms, db))
    return exact


def _types(sql: _Sql, expr: TypeExpr, tenant_id: int, terms: Terms, db: psycopg.Connection) -> str:
    if isinstance(expr, TypeName):
        sql.params.extend((tenant_id, _term(terms, db, expr.name)))
        return (
            "EXISTS (SELECT 1 FROM temporal_type tt WHERE tt.tenant_id = %s AND tt.type_id = %s "
            "AND tt.key = te.key)"
        )
    joiner = " AND " if isinstance(expr, TypeAll) else " OR "
    assert isinstance(expr, TypeAll | TypeAny)
    return "(" + joiner.join(_types(sql, term, tenant_id, terms, db) for term in expr.terms) + ")"


def _time_filter(sql: _Sql, query: HistoryQuery) -> None:
    column = {
        "observedAt": "h.at",
        "createdAt": "h.created_at",
        "modifiedAt": "coalesce(h.modified_at, h.created_at)",
        "deletedAt": "h.at",
    }[query.timeproperty]
    if query.timeproperty == "deletedAt":
        sql.add(f"h.kind & {DELETED} != 0")
    if query.start is not None:
        sql.add(f"{column} >= %s", query.start)
    if query.end is not None:
        sql.add(f"{column} < %s", query.end)


def _series_filter(
    sql: _Sql, query: HistoryQuery, keys: list[int] | None, terms: Terms, db: psycopg.Connection
) -> bool:
    """Restrict rows to the page's entities (None: the caller does), the wanted attributes and
    datasets; False if none can match."""
    if keys is not None:
        sql.add("h.key = ANY(%s)", keys)
    if query.attrs:
        ids = [i for i in (terms.lookup(db, a) for a in query.attrs) if i is not None]
        if not ids:
            return False
        sql.add("h.name_id = ANY(%s)", ids)
    if query.dataset_ids is not None:
        datasets = [DEFAULT_DATASET if d is None else terms.lookup(db, d) for d in query.dataset_ids]
        known = [d for d in datasets if d is not None]
        if not known:
            return False
        sql.add("h.dataset_id = ANY(%s)", known)
    return True


_ROW = (
    "h.key, h.name_id, h.dataset_id, h.at, h.instance, h.created_at, h.modified_at, h.kind, h.num, "
    "h.value, h.unit_id, h.extra"
)
_ORDER = "h.key, h.name_id, h.dataset_id, h.at, h.instance"


def read_history(
    db: psycopg.Connection, query: HistoryQuery, page: Page, terms: Terms
) -> list[TemporalEntity]:
    """The instances of each entity of the page, oldest first (the last N per series with lastN)."""
    entities = {row[0]: TemporalEntity(row[1], row[2], row[3], system=_system(row)) for row in page}
    if not entities:
        return []
    sql = _Sql()
    if not _series_filter(sql, query, None, terms, db):
        return list(entities.values())
    _time_filter(sql, query)
    if query.timeproperty != "deletedAt":
        sql.add(f"h.kind & {DELETED} = 0")
    rows: Iterable[Any]
    if query.last_n is None:
        sql.add("h.key = ANY(%s)", list(entities))
        rows = db.execute(f"SELECT {_ROW} FROM history h WHERE {sql.where()} ORDER BY {_ORDER}", sql.params)
    else:
        rows = _last_n(db, sql, query.last_n, list(entities))
    for row in rows:
        key, name_id, dataset_id = row[0], row[1], row[2]
        num = row[8]
        instance = instance_from_row(
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            from_numeric(num) if num is not None else None,
            row[9],
            terms.iri(db, row[10]) if row[10] is not None else None,
            row[11],
            terms.iri(db, dataset_id) if dataset_id != DEFAULT_DATASET else None,
        )
        entities[key].attributes.setdefault(terms.iri(db, name_id), []).append(instance)
    return list(entities.values())


def _last_n(db: psycopg.Connection, sql: _Sql, last_n: int, keys: list[int]) -> list[Any]:
    """Per series, the last N rows by time: each series read backwards through its index, all in one
    statement."""
    return db.execute(
        f"SELECT {_ROW} FROM temporal_attr ta CROSS JOIN LATERAL ("
        f"SELECT h.* FROM history h WHERE {sql.where()} AND h.key = ta.key AND h.name_id = ta.name_id "
        "AND h.dataset_id = ta.dataset_id ORDER BY h.at DESC, h.instance DESC LIMIT %s) h "
        f"WHERE ta.key = ANY(%s) ORDER BY {_ORDER}",
        (*sql.params, last_n, keys),
    ).fetchall()


def aggregate(
    db: psycopg.Connection,
    query: HistoryQuery,
    page: Page,
    terms: Terms,
    methods: tuple[str, ...],
    buckets: Buckets,
) -> list[AggregatedEntity]:
    """Aggregates per series and period, computed in SQL (numbers from `num`, others from `value`)."""
    entities = {row[0]: AggregatedEntity(row[1], row[2], row[3], system=_system(row)) for row in page}
    if not entities:
        return []
    found = _from_rollup(db, query, list(entities), terms, methods, buckets)
    if found is None:
        found = _from_history(db, query, list(entities), terms, buckets)
    series: dict[tuple[int, int, int], Aggregate] = {}
    for row, start_, end_ in found:
        key, name_id, dataset_id, kind = row[0], row[1], row[2], int(row[5])
        series_key = (key, name_id, dataset_id)
        aggregate_ = series.get(series_key)
        if aggregate_ is None:
            dataset = terms.iri(db, dataset_id) if dataset_id != DEFAULT_DATASET else None
            aggregate_ = Aggregate(KIND_NAME[kind], dataset, [])
            series[series_key] = aggregate_
            entities[key].attributes.setdefault(terms.iri(db, name_id), []).append(aggregate_)
        aggregate_.periods.append((start_, end_, _methods(methods, row)))
    return list(entities.values())


def _from_history(
    db: psycopg.Connection, query: HistoryQuery, keys: list[int], terms: Terms, buckets: Buckets
) -> list[tuple[Any, int, int]]:
    """The aggregate rows per series and period, with each period's bounds, from every instance."""
    sql = _Sql()
    if not _series_filter(sql, query, keys, terms, db):
        return []
    _time_filter(sql, query)
    sql.add(f"h.kind & {DELETED} = 0")
    found: list[tuple[Any, int, int]] = []
    if buckets.width is not None:
        width = int(buckets.width)
        if buckets.origin is not None:
            join, origin, origin_params = "", "%s", [buckets.origin]
        else:
            # Each entity's periods start at its first selected instance.
            join = (
                " JOIN (SELECT h.key, min(h.at) AS origin FROM history h "
                f"WHERE {sql.where()} GROUP BY h.key) o ON o.key = h.key"
            )
            origin, origin_params = "o.origin", []
        period = (
            f"((h.at - {origin}) / {width} - CASE WHEN (h.at - {origin}) %% {width} < 0 THEN 1 ELSE 0 END)"
        )
        head = origin_params * 2 + origin_params * 3 + (sql.params if buckets.origin is None else [])
        for row in _grouped(db, sql, join, period, f"{origin} + {period} * {width}", head):
            found.append((row, int(row[4]), int(row[4]) + width))
    else:
        for key, (low, high) in _spans(db, sql).items():
            start = buckets.origin if buckets.origin is not None else low
            finish = buckets.end if buckets.end is not None else high + 1
            bounds = list(buckets.calendar(start, finish)) if buckets.calendar else [(start, finish)]
            if not bounds:
                continue
            join = (
                " JOIN unnest(%s::bigint[], %s::bigint[]) WITH ORDINALITY AS b (low, high, bucket) "
                "ON h.at >= b.low AND h.at < b.high"
            )
            head = [[a for a, _ in bounds], [z for _, z in bounds]]
            for row in _grouped(db, sql, join, "b.bucket - 1", "0", head, key):
                found.append((row, *bounds[int(row[3])]))
    return found


def _from_rollup(
    db: psycopg.Connection,
    query: HistoryQuery,
    keys: list[int],
    terms: Terms,
    methods: tuple[str, ...],
    buckets: Buckets,
) -> list[tuple[Any, int, int]] | None:
    """The aggregate rows `_from_history` gives, read from the hourly rollup (and the instances of
    the hours a window edge or period bound cuts); None when that cannot give the same answer (see
    `hourly_plan`), or when a minimum or maximum of a period without numbers is asked (that is the
    least or greatest other value, which only the instances hold)."""
    plan = hourly_plan(query, methods, buckets)
    if plan is None:
        return None
    series = _Sql()
    if not _series_filter(series, query, keys, terms, db):
        return []
    if plan.width is None and not plan.bounds:
        return []
    found: list[tuple[Any, int, int]] = []
    for row in _rolled_up(db, series, plan, methods):
        if plan.width is not None:
            start = plan.origin + int(row[3]) * plan.width
            found.append((row, start, start + plan.width))
        else:
            found.append((row, *plan.bounds[int(row[3])]))
    if ("min" in methods or "max" in methods) and any(row[13] == 0 for row, _, _ in found):
        return None
    log.debug("aggregated %d periods from history_hour", len(found))
    return found


def _rolled_up(db: psycopg.Connection, series: _Sql, plan: HourlyPlan, methods: tuple[str, ...]) -> list[Any]:
    """The columns `_grouped` gives (no distinct count, no other values than numbers; the period's
    start is left to the caller), summed from the rollup's whole hours and the cut hours' instances.
    Each series (from `temporal_attr`) is summed up on its own (LATERAL): a few hundred rows per
    aggregation, read by their primary key, however stale the planner's statistics are. The
    standard deviation is computed as stddev_pop computes it, from the exact sums."""
    views: list[str] = []
    params: list[Any] = []
    if plan.width is None:
        views.append(
            "b AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[]) WITH ORDINALITY AS b (low, high, bucket))"
        )
        params += [[low for low, _ in plan.bounds], [high for _, high in plan.bounds]]
    if plan.partial:
        views.append("r AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS r (low, high))")
        params += [[low for low, _ in plan.partial], [high for _, high in plan.partial]]

    def period(column: str) -> tuple[str, str]:
        if plan.width is None:
            return "b.bucket - 1", f" JOIN b ON {column} >= b.low AND {column} < b.high"
        params.extend((plan.origin, plan.origin))
        width = plan.width
        return f"(({column} - %s) / {width} - CASE WHEN ({column} - %s) %% {width} < 0 THEN 1 ELSE 0 END)", ""

    same = "h.key = s.key AND h.name_id = s.name_id AND h.dataset_id = s.dataset_id"
    bucket, join = period("h.hour")
    hours = _Sql()
    if plan.first is not None:
        hours.add("h.hour >= %s", plan.first)
    if plan.last is not None:
        hours.add("h.hour < %s", plan.last)
    if plan.cut:
        hours.add("h.hour <> ALL(%s)", list(plan.cut))
    parts = [
        f"SELECT {bucket} AS bucket, h.kind, h.instances, h.numbers, h.num_sum, h.num_sumsq, h.num_min, "
        f"h.num_max FROM history_hour h{join} WHERE {same} AND {hours.where()}"
    ]
    params += hours.params
    if plan.partial:
        bucket, join = period("h.at")
        parts.append(
            f"SELECT {bucket}, h.kind, 1, (h.num IS NOT NULL)::int, h.num, h.num * h.num, h.num, h.num "
            f"FROM r JOIN history h ON {same} AND h.at >= r.low AND h.at < r.high{join} "
            f"WHERE h.kind & {DELETED} = 0"
        )
    params += series.params
    statement = (
        f"{'WITH ' + ', '.join(views) + ' ' if views else ''}SELECT s.key, s.name_id, s.dataset_id, x.* "
        "FROM temporal_attr s CROSS JOIN LATERAL ("
        f"SELECT bucket, 0, max(kind) & {KIND_MASK}, sum(instances)::bigint, NULL, "
        + _wanted(
            methods,
            ("sum(num_sum)", "sum"),
            ("sum(num_sum) / nullif(sum(numbers), 0)", "avg"),
            ("min(num_min)", "min"),
            ("max(num_max)", "max"),
            ("sum(num_sumsq)", "sumsq"),
        )
        + ", sum(numbers)::bigint, NULL, NULL, "
        + _wanted(
            methods,
            (
                "sqrt(greatest(sum(numbers) * sum(num_sumsq) - sum(num_sum) * sum(num_sum), 0) "
                "/ nullif(sum(numbers) * sum(numbers), 0))",
                "stddev",
            ),
        )
        + f" FROM ({' UNION ALL '.join(parts)}) u GROUP BY bucket) x "
        f"WHERE {series.where().replace('h.', 's.')} ORDER BY 1, 2, 3, 4"
    )
    return db.execute(statement, params).fetchall()


def _wanted(methods: tuple[str, ...], *columns: tuple[str, ...]) -> str:
    """Aggregate columns, each NULL unless one of the methods named after it is asked for (so a sum
    does not pay for extremes and squares)."""
    return ", ".join(column if set(uses) & set(methods) else "NULL" for column, *uses in columns)


def _spans(db: psycopg.Connection, sql: _Sql) -> dict[int, tuple[int, int]]:
    """Per entity, the first and last moment of the selected instances."""
    rows = db.execute(
        f"SELECT h.key, min(h.at), max(h.at) FROM history h WHERE {sql.where()} "
        "GROUP BY h.key ORDER BY h.key",
        sql.params,
    )
    return {int(key): (int(low), int(high)) for key, low, high in rows}


def _grouped(
    db: psycopg.Connection,
    sql: _Sql,
    join: str,
    period: str,
    start: str,
    head: list[Any],
    key: int | None = None,
) -> list[Any]:
    """The aggregate columns per (entity, attribute, dataset, period); the period's number fourth and
    its start fifth. `head` holds the parameters of `period`, `start` and `join`, in that order."""
    where = sql.where() + (" AND h.key = %s" if key is not None else "")
    params = [*head, *sql.params, *((key,) if key is not None else ())]
    statement = (
        f"SELECT h.key, h.name_id, h.dataset_id, {period} AS bucket, {start} AS start, "
        f"max(h.kind) & {KIND_MASK}, count(*), count(DISTINCT h.num) + count(DISTINCT h.value), sum(h.num), "
        "avg(h.num), min(h.num), max(h.num), sum(h.num * h.num), count(h.num), min(h.value), max(h.value), "
        f"stddev_pop(h.num) FROM history h{join} WHERE {where} GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4"
    )
    return db.execute(statement, params).fetchall()


def _number(value: Decimal | None) -> int | float | None:
    return None if value is None else from_numeric(value)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _methods(methods: tuple[str, ...], row: Any) -> dict[str, Any]:
    total, distinct, total_sum, mean, low, high, squares, numbers, low_text, high_text, deviation = row[6:17]
    values: dict[str, Any] = {}
    for method in methods:
        if method == "totalCount":
            values[method] = total
        elif method == "distinctCount":
            values[method] = distinct
        elif numbers == 0:
            if method == "min" and low_text is not None:
                values[method] = orjson.loads(low_text)
            elif method == "max" and high_text is not None:
                values[method] = orjson.loads(high_text)
            else:
                values[method] = None
        elif method == "sum":
            values[method] = _number(total_sum)
        elif method == "avg":
            values[method] = _float(mean)
        elif method == "min":
            values[method] = _number(low)
        elif method == "max":
            values[method] = _number(high)
        elif method == "sumsq":
            values[method] = _number(squares)
        elif method == "stddev":
            values[method] = _float(deviation)
    return values
