"""Reading history from SQLite: which temporal entities match, their instances, their aggregates.

A query runs in two phases, as other brokers do: first the matching entities (by id, type,
attributes held; q, geo and scope by their current state), one page of them; then the history of
that page, filtered by time, limited to the last N per series, or aggregated per period in SQL.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

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
from smartby.ngsild.timestamps import from_micros
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeExpr, TypeName
from smartby.store.history_rows import DELETED, KIND_MASK, instance_from_row
from smartby.store.kinds import KIND_NAME
from smartby.store.rollup_plan import HourlyPlan, hourly_plan
from smartby.store.sqlite.terms import Terms

DEFAULT_DATASET = 0
NUMERIC_METHODS = frozenset({"sum", "avg", "min", "max", "stddev", "sumsq"})
log = logging.getLogger("smartby.store")

CurrentMatches = Callable[[EntityQuery], set[str]]
"""Ids of the current entities that match a query (used for q, geo and scope)."""


class _Sql:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def where(self) -> str:
        return " AND ".join(self.parts) or "1"


PageRow = tuple[int, str, list[str], list[str] | None, int, int, int | None]
"""(temporal entity, id, types, scope, createdAt, modifiedAt, deletedAt) of one selected entity."""


def _system(row: PageRow) -> dict[str, str]:
    system = {"createdAt": from_micros(row[4]), "modifiedAt": from_micros(row[5])}
    if row[6] is not None:
        system["deletedAt"] = from_micros(row[6])
    return system


def select_entities(
    db: sqlite3.Connection,
    tenant_id: int,
    query: HistoryQuery,
    terms: Terms,
    current: CurrentMatches,
) -> tuple[list[PageRow], int | None]:
    """One page of (tentity, id, types, scope) for the query, and the total if asked."""
    sql = _Sql()
    sql.add("te.tenant_id = ?", tenant_id)
    if query.selectors:
        options = []
        for selector in query.selectors:
            part = _Sql()
            _selector(part, selector, tenant_id, terms, db)
            options.append(f"({part.where()})")
            sql.params.extend(part.params)
        sql.parts.append("(" + " OR ".join(options) + ")")
    if query.attrs:
        ids = [_term(terms, db, a) for a in query.attrs]
        sql.add(
            f"EXISTS (SELECT 1 FROM temporal_attr ta WHERE ta.tentity = te.id "
            f"AND ta.name_id IN ({','.join('?' * len(ids))}))",
            *ids,
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
        sql.add(f"te.entity_id IN ({','.join('?' * len(matching))})", *sorted(matching))
    if query.instances_required:
        inner = _Sql()
        if not _series_filter(inner, query, None, terms, db):
            return [], 0 if query.count else None
        _time_filter(inner, query)
        if query.timeproperty != "deletedAt":
            inner.add(f"h.kind & {DELETED} = 0")
        sql.add(
            f"EXISTS (SELECT 1 FROM history h WHERE h.tentity = te.id AND {inner.where()})", *inner.params
        )
    rows = db.execute(
        "SELECT te.id, te.entity_id, te.types, te.scope, te.created_at, te.modified_at, te.deleted_at "
        f"FROM temporal_entity te WHERE {sql.where()} ORDER BY te.id LIMIT ? OFFSET ?",
        (*sql.params, query.limit, query.offset),
    ).fetchall()
    page = [
        (
            int(r[0]),
            r[1],
            orjson.loads(r[2]),
            orjson.loads(r[3]) if r[3] is not None else None,
            r[4],
            r[5],
            r[6],
        )
        for r in rows
    ]
    count = None
    if query.count:
        count = int(
            db.execute(f"SELECT count(*) FROM temporal_entity te WHERE {sql.where()}", sql.params).fetchone()[
                0
            ]
        )
    return page, count


def _term(terms: Terms, db: sqlite3.Connection, iri: str) -> int:
    found = terms.lookup(db, iri)
    return -1 if found is None else found


def _selector(
    sql: _Sql, selector: EntitySelector, tenant_id: int, terms: Terms, db: sqlite3.Connection
) -> None:
    if selector.ids:
        sql.add(f"te.entity_id IN ({','.join('?' * len(selector.ids))})", *selector.ids)
    if selector.id_pattern is not None:
        sql.add("regexp(?, te.entity_id)", selector.id_pattern)
    if selector.types is not None:
        sql.parts.append(_types(sql, selector.types, tenant_id, terms, db))


def _types(sql: _Sql, expr: TypeExpr, tenant_id: int, terms: Terms, db: sqlite3.Connection) -> str:
    if isinstance(expr, TypeName):
        sql.params.extend((tenant_id, _term(terms, db, expr.name)))
        return (
            "EXISTS (SELECT 1 FROM temporal_type tt WHERE tt.tenant_id = ? AND tt.type_id = ? "
            "AND tt.tentity = te.id)"
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
        sql.add(f"{column} >= ?", query.start)
    if query.end is not None:
        sql.add(f"{column} < ?", query.end)


def _series_filter(
    sql: _Sql, query: HistoryQuery, tentities: list[int] | None, terms: Terms, db: sqlite3.Connection
) -> bool:
    """Restrict rows to the page's entities (None: the caller does), the wanted attributes and
    datasets; False if none can match."""
    if tentities is not None:
        sql.add(f"h.tentity IN ({','.join('?' * len(tentities))})", *tentities)
    if query.attrs:
        ids = [i for i in (terms.lookup(db, a) for a in query.attrs) if i is not None]
        if not ids:
            return False
        sql.add(f"h.name_id IN ({','.join('?' * len(ids))})", *ids)
    if query.dataset_ids is not None:
        datasets = [DEFAULT_DATASET if d is None else terms.lookup(db, d) for d in query.dataset_ids]
        known = [d for d in datasets if d is not None]
        if not known:
            return False
        sql.add(f"h.dataset_id IN ({','.join('?' * len(known))})", *known)
    return True


_ROW = (
    "h.tentity, h.name_id, h.dataset_id, h.at, h.instance, h.created_at, h.modified_at, h.kind, h.num, "
    "h.value, h.unit_id, h.extra"
)
_ORDER = "h.tentity, h.name_id, h.dataset_id, h.at, h.instance"


def read_history(
    db: sqlite3.Connection,
    query: HistoryQuery,
    page: list[PageRow],
    terms: Terms,
) -> list[TemporalEntity]:
    """The instances of each entity of the page, oldest first (the last N per series with lastN)."""
    entities = {row[0]: TemporalEntity(row[1], row[2], row[3], system=_system(row)) for row in page}
    if not entities:
        return []
    sql = _Sql()
    if not _series_filter(sql, query, list(entities), terms, db):
        return list(entities.values())
    _time_filter(sql, query)
    if query.timeproperty != "deletedAt":
        sql.add(f"h.kind & {DELETED} = 0")
    if query.last_n is None:
        rows: Iterable[Any] = db.execute(
            f"SELECT {_ROW} FROM history h WHERE {sql.where()} ORDER BY {_ORDER}",
            sql.params,
        )
    else:
        rows = _last_n(db, sql, query.last_n, list(entities))
    for row in rows:
        tentity, name_id, dataset_id = row[0], row[1], row[2]
        entity = entities[tentity]
        instance = instance_from_row(
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            terms.iri(db, row[10]) if row[10] is not None else None,
            row[11],
            terms.iri(db, dataset_id) if dataset_id != DEFAULT_DATASET else None,
        )
        entity.attributes.setdefault(terms.iri(db, name_id), []).append(instance)
    return list(entities.values())


def _last_n(db: sqlite3.Connection, sql: _Sql, last_n: int, tentities: list[int]) -> list[Any]:
    """Per series, the last N rows by time: each series is read backwards through its index."""
    series = db.execute(
        "SELECT tentity, name_id, dataset_id FROM temporal_attr "
        f"WHERE tentity IN ({','.join('?' * len(tentities))}) ORDER BY tentity, name_id, dataset_id",
        tentities,
    ).fetchall()
    found: list[Any] = []
    for tentity, name_id, dataset_id in series:
        rows = db.execute(
            f"SELECT {_ROW} FROM history h WHERE {sql.where()} AND h.tentity = ? AND h.name_id = ? "
            "AND h.dataset_id = ? ORDER BY h.at DESC, h.instance DESC LIMIT ?",
            (*sql.params, tentity, name_id, dataset_id, last_n),
        ).fetchall()
        found.extend(reversed(rows))
    return found


def aggregate(
    db: sqlite3.Connection,
    query: HistoryQuery,
    page: list[PageRow],
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
    for row, start, end in found:
        tentity, name_id, dataset_id, kind = row[0], row[1], row[2], int(row[4])
        key = (tentity, name_id, dataset_id)
        aggregate_ = series.get(key)
        if aggregate_ is None:
            dataset = terms.iri(db, dataset_id) if dataset_id != DEFAULT_DATASET else None
            aggregate_ = Aggregate(KIND_NAME[kind], dataset, [])
            series[key] = aggregate_
            entities[tentity].attributes.setdefault(terms.iri(db, name_id), []).append(aggregate_)
        aggregate_.periods.append((start, end, _methods(methods, row)))
    return list(entities.values())


def _from_history(
    db: sqlite3.Connection, query: HistoryQuery, tentities: list[int], terms: Terms, buckets: Buckets
) -> list[tuple[Any, int, int]]:
    """The aggregate rows per series and period, with each period's bounds, from every instance."""
    sql = _Sql()
    if not _series_filter(sql, query, tentities, terms, db):
        return []
    _time_filter(sql, query)
    sql.add(f"h.kind & {DELETED} = 0")
    needs_spans = buckets.origin is None or buckets.end is None or buckets.width is None
    spans = _spans(db, sql) if needs_spans else {}
    found: list[tuple[Any, int, int]] = []
    if buckets.width is not None:
        width = int(buckets.width)
        if buckets.origin is not None:
            prefix, join, origin, head = "", "", "?", [buckets.origin, buckets.origin]
        else:
            if not spans:
                return []
            prefix = f"WITH o (tentity, origin) AS (VALUES {','.join('(?, ?)' for _ in spans)}) "
            join, origin = " JOIN o ON o.tentity = h.tentity", "o.origin"
            head = [x for tentity, (low, _) in spans.items() for x in (tentity, low)]
        period = f"((h.at - {origin}) / {width}) - ((h.at - {origin}) % {width} < 0)"
        for row in _grouped(db, sql, prefix, join, period, head):
            start = (buckets.origin if buckets.origin is not None else spans[row[0]][0]) + int(row[3]) * width
            found.append((row, start, start + width))
    else:
        for tentity, (low, high) in spans.items():
            origin_ = buckets.origin if buckets.origin is not None else low
            finish = buckets.end if buckets.end is not None else high + 1
            bounds = list(buckets.calendar(origin_, finish)) if buckets.calendar else [(origin_, finish)]
            if not bounds:
                continue
            prefix = f"WITH b (bucket, low, high) AS (VALUES {','.join('(?, ?, ?)' for _ in bounds)}) "
            head = [x for index, (a, z) in enumerate(bounds) for x in (index, a, z)]
            join = " JOIN b ON h.at >= b.low AND h.at < b.high"
            for row in _grouped(db, sql, prefix, join, "b.bucket", head, tentity):
                found.append((row, *bounds[int(row[3])]))
    return found


def _from_rollup(
    db: sqlite3.Connection,
    query: HistoryQuery,
    tentities: list[int],
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
    if not _series_filter(series, query, tentities, terms, db):
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
    if ("min" in methods or "max" in methods) and any(row[12] == 0 for row, _, _ in found):
        return None
    log.debug("aggregated %d periods from history_hour", len(found))
    return found


def _rolled_up(db: sqlite3.Connection, series: _Sql, plan: HourlyPlan, methods: tuple[str, ...]) -> list[Any]:
    """The columns `_grouped` gives (no distinct count, no other values than numbers), summed from
    the rollup's whole hours and the cut hours' instances. One statement per series (from
    `temporal_attr`): each reads a range of the series' primary key, and groups a few hundred rows
    rather than sorting the rows of every series at once, which takes twice as long."""
    views: list[str] = []
    head: list[Any] = []
    if plan.width is None:
        views.append(f"b (bucket, low, high) AS (VALUES {','.join('(?, ?, ?)' for _ in plan.bounds)})")
        head += [x for index, (low, high) in enumerate(plan.bounds) for x in (index, low, high)]
    if plan.partial:
        views.append(f"r (low, high) AS (VALUES {','.join('(?, ?)' for _ in plan.partial)})")
        head += [x for bounds in plan.partial for x in bounds]

    def period(column: str) -> tuple[str, str, list[int]]:
        if plan.width is None:
            return "b.bucket", f" CROSS JOIN b ON {column} >= b.low AND {column} < b.high", []
        width = plan.width
        return f"(({column} - ?) / {width}) - (({column} - ?) % {width} < 0)", "", [plan.origin, plan.origin]

    same = "h.tentity = ? AND h.name_id = ? AND h.dataset_id = ?"
    bucket, join, hour_head = period("h.hour")
    hours = _Sql()
    if plan.first is not None:
        hours.add("h.hour >= ?", plan.first)
    if plan.last is not None:
        hours.add("h.hour < ?", plan.last)
    if plan.cut:
        hours.add(f"h.hour NOT IN ({','.join('?' * len(plan.cut))})", *plan.cut)
    parts = [
        f"SELECT {bucket} AS bucket, h.kind AS kind, h.instances AS instances, h.numbers AS numbers, "
        "h.num_sum AS num_sum, h.num_sumsq AS num_sumsq, h.num_min AS num_min, h.num_max AS num_max "
        f"FROM history_hour h{join} WHERE {same} AND {hours.where()}"
    ]
    at_head: list[int] = []
    if plan.partial:
        bucket, join, at_head = period("h.at")
        parts.append(
            f"SELECT {bucket}, h.kind, 1, h.num IS NOT NULL, h.num, h.num * h.num, h.num, h.num "
            f"FROM r CROSS JOIN history h ON {same} AND h.at >= r.low AND h.at < r.high{join} "
            f"WHERE h.kind & {DELETED} = 0"
        )
    statement = (
        f"{'WITH ' + ', '.join(views) + ' ' if views else ''}SELECT bucket, "
        f"max(kind) & {KIND_MASK}, sum(instances), NULL, "
        + _wanted(
            methods,
            ("sum(num_sum)", "sum", "avg", "stddev"),
            ("CAST(sum(num_sum) AS REAL) / sum(numbers)", "avg", "stddev"),
            ("min(num_min)", "min"),
            ("max(num_max)", "max"),
            ("sum(num_sumsq)", "sumsq", "stddev"),
        )
        + ", sum(numbers), NULL, NULL "
        f"FROM ({' UNION ALL '.join(parts)}) GROUP BY 1 ORDER BY 1"
    )
    chosen = series.where().replace("h.", "s.")
    keys = db.execute(
        f"SELECT tentity, name_id, dataset_id FROM temporal_attr s WHERE {chosen} ORDER BY 1, 2, 3",
        series.params,
    ).fetchall()
    found: list[Any] = []
    for key in keys:
        params = [*head, *hour_head, *key, *hours.params]
        if plan.partial:
            params += [*at_head, *key]
        found.extend((*key, *row) for row in db.execute(statement, params))
    return found


def _wanted(methods: tuple[str, ...], *columns: tuple[str, ...]) -> str:
    """Aggregate columns, each NULL unless one of the methods named after it is asked for (so a sum
    does not pay for extremes and squares)."""
    return ", ".join(column if set(uses) & set(methods) else "NULL" for column, *uses in columns)


def _spans(db: sqlite3.Connection, sql: _Sql) -> dict[int, tuple[int, int]]:
    """Per temporal entity, the first and last moment of the selected instances."""
    rows = db.execute(
        f"SELECT h.tentity, min(h.at), max(h.at) FROM history h WHERE {sql.where()} GROUP BY h.tentity",
        sql.params,
    )
    return {int(t): (int(low), int(high)) for t, low, high in rows}


def _grouped(
    db: sqlite3.Connection,
    sql: _Sql,
    prefix: str,
    join: str,
    period: str,
    head: list[Any],
    tentity: int | None = None,
) -> list[Any]:
    """The aggregate columns per (entity, attribute, dataset, period)."""
    where = sql.where() + (" AND h.tentity = ?" if tentity is not None else "")
    params = [*head, *sql.params, *((tentity,) if tentity is not None else ())]
    statement = (
        f"{prefix}SELECT h.tentity, h.name_id, h.dataset_id, {period} AS bucket, max(h.kind) & {KIND_MASK}, "
        "count(*), count(DISTINCT coalesce(h.num, h.value)), sum(h.num), avg(h.num), min(h.num), max(h.num), "
        "sum(h.num * h.num), count(h.num), min(h.value), max(h.value) "
        f"FROM history h{join} WHERE {where} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    return db.execute(statement, params).fetchall()


def _methods(methods: tuple[str, ...], row: Any) -> dict[str, Any]:
    total, distinct, total_sum, mean, low, high, squares, numbers, low_text, high_text = row[5:15]
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
            values[method] = total_sum
        elif method == "avg":
            values[method] = mean
        elif method == "min":
            values[method] = low
        elif method == "max":
            values[method] = high
        elif method == "sumsq":
            values[method] = squares
        elif method == "stddev":
            variance = max(squares / numbers - mean * mean, 0.0)
            values[method] = math.sqrt(variance)
    return values
