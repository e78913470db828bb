"""Reading history from SQLite: which temporal entities match, their instances, their aggregates.

A query runs in two phases, as other brokers do: first the matching entities (by id, type,
attributes held; q, geo and scope by their current state), one page of them; then the history of
that page, filtered by time, limited to the last N per series, or aggregated per period in SQL.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from smartby.ngsild.entity import Entity
from smartby.ngsild.typequery import TypeAll, TypeAny, TypeExpr, TypeName
from smartby.store.base import (
    Aggregate,
    AggregatedEntity,
    Buckets,
    EntityQuery,
    EntitySelector,
    HistoryQuery,
    TemporalEntity,
)
from smartby.store.sqlite.history import DELETED, KIND_MASK, instance_from_row
from smartby.store.sqlite.rows import KIND_NAME
from smartby.store.sqlite.terms import Terms

DEFAULT_DATASET = 0
NUMERIC_METHODS = frozenset({"sum", "avg", "min", "max", "stddev", "sumsq"})

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


def select_entities(
    db: sqlite3.Connection,
    tenant_id: int,
    query: HistoryQuery,
    terms: Terms,
    current: CurrentMatches,
) -> tuple[list[tuple[int, str, list[str], list[str] | None]], int | None]:
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
    rows = db.execute(
        f"SELECT te.id, te.entity_id, te.types, te.scope FROM temporal_entity te WHERE {sql.where()} "
        "ORDER BY te.id LIMIT ? OFFSET ?",
        (*sql.params, query.limit, query.offset),
    ).fetchall()
    page = [
        (int(r[0]), r[1], orjson.loads(r[2]), orjson.loads(r[3]) if r[3] is not None else None) for r in rows
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
    sql: _Sql, query: HistoryQuery, tentities: list[int], terms: Terms, db: sqlite3.Connection
) -> bool:
    """Restrict rows to the page's entities, the wanted attributes and datasets; False if none can match."""
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
    page: list[tuple[int, str, list[str], list[str] | None]],
    terms: Terms,
) -> list[TemporalEntity]:
    """The instances of each entity of the page, oldest first (the last N per series with lastN)."""
    entities = {tentity: TemporalEntity(entity_id, types, scope) for tentity, entity_id, types, scope in page}
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
    page: list[tuple[int, str, list[str], list[str] | None]],
    terms: Terms,
    methods: tuple[str, ...],
    buckets: Buckets,
) -> list[AggregatedEntity]:
    """Aggregates per series and period, computed in SQL (numbers from `num`, others from `value`)."""
    entities = {
        tentity: AggregatedEntity(entity_id, types, scope) for tentity, entity_id, types, scope in page
    }
    if not entities:
        return []
    sql = _Sql()
    if not _series_filter(sql, query, list(entities), terms, db):
        return list(entities.values())
    _time_filter(sql, query)
    sql.add(f"h.kind & {DELETED} = 0")
    prefix = ""
    join = ""
    if buckets.width is not None:
        period = "((h.at - ?) / ?) - ((h.at - ?) % ? < 0)"
        head_params: list[Any] = [buckets.origin, buckets.width, buckets.origin, buckets.width]
    else:
        if not buckets.bounds:
            return list(entities.values())
        prefix = f"WITH b (bucket, low, high) AS (VALUES {','.join('(?, ?, ?)' for _ in buckets.bounds)}) "
        join = " JOIN b ON h.at >= b.low AND h.at < b.high"
        period = "b.bucket"
        head_params = [x for index, (low, high) in enumerate(buckets.bounds) for x in (index, low, high)]
    statement = (
        f"{prefix}SELECT h.tentity, h.name_id, h.dataset_id, {period} AS bucket, max(h.kind) & {KIND_MASK}, "
        "count(*), count(DISTINCT coalesce(h.num, h.value)), sum(h.num), avg(h.num), min(h.num), max(h.num), "
        "sum(h.num * h.num), count(h.num), min(h.value), max(h.value) "
        f"FROM history h{join} WHERE {sql.where()} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    params = [*head_params, *sql.params]
    series: dict[tuple[int, int, int], Aggregate] = {}
    for row in db.execute(statement, params):
        tentity, name_id, dataset_id, bucket, kind = row[0], row[1], row[2], int(row[3]), int(row[4])
        key = (tentity, name_id, dataset_id)
        aggregate_ = series.get(key)
        if aggregate_ is None:
            dataset = terms.iri(db, dataset_id) if dataset_id != DEFAULT_DATASET else None
            aggregate_ = Aggregate(KIND_NAME[kind], dataset, [])
            series[key] = aggregate_
            entities[tentity].attributes.setdefault(terms.iri(db, name_id), []).append(aggregate_)
        start, end = _bucket_bounds(buckets, bucket)
        aggregate_.periods.append((start, end, _methods(methods, row)))
    return list(entities.values())


def _bucket_bounds(buckets: Buckets, bucket: int) -> tuple[int, int]:
    if buckets.width is not None:
        start = buckets.origin + bucket * buckets.width
        return start, start + buckets.width
    return buckets.bounds[bucket]


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


def entity_header(row: tuple[int, str, list[str], list[str] | None]) -> Entity:
    header: Entity = {"id": row[1], "type": row[2]}
    if row[3] is not None:
        header["scope"] = row[3]
    return header
