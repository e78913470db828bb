"""PostgreSQL's history reads: the shared reader (`smartby.store.sql.temporal`), with the per-series
reads (lastN, the rollup) as one statement each, a LATERAL sub-query per series: each series is
still read by its own index range, however stale the planner's statistics are, without a round trip
per series. Partitions outside a query's window are skipped by the planner. Every read selects from
history's rows together with the packed days' (`pack.py`)."""

from __future__ import annotations

from typing import Any

from smartby.ngsild.reads import HistoryQuery
from smartby.store.postgres.dialect import POSTGRES
from smartby.store.postgres.pack import ROWS, rows_within
from smartby.store.postgres.terms import PostgresTerms
from smartby.store.rollup_plan import HourlyPlan
from smartby.store.sql.temporal import ORDER, ROW, SERIES_OF_S, HistoryReader, RollupStatement, Sql


def _window(query: HistoryQuery | None) -> tuple[int | None, int | None]:
    """The [start, end) of `at` a query asks for (None, None: it asks for no window on `at`)."""
    if query is None or query.timeproperty not in ("observedAt", "deletedAt"):
        return None, None
    return query.start, query.end


class PostgresHistoryReader(HistoryReader):
    def __init__(self, terms: PostgresTerms) -> None:
        super().__init__(POSTGRES, terms)

    def history_rows(self, query: HistoryQuery | None = None) -> str:
        """History's rows and the packed days' (`pack.ROWS`); of the packed days only those a time
        window on `at` can reach are unpacked."""
        return rows_within(*_window(query))

    def last_n(self, db: Any, sql: Sql, last_n: int, keys: list[int], query: HistoryQuery) -> list[Any]:
        """The last N of each series: history's rows through the index, backwards, and of the packed
        days only the latest ones that hold N instances between them (in the window, if one is
        asked), each series' first such day found from the chunks' counts (`newest`). Instances the
        filters leave out, or a back-filled row older than that day, can make that too few: then
        every packed day of the window is read. (OFFSET 0 keeps each series' first day computed
        once, not once per row.)"""
        start, end = _window(query)
        bounds = []
        if start is not None:
            bounds.append(f"c.last_at >= {int(start)}")
        if end is not None:
            bounds.append(f"c.first_at < {int(end)}")
        window = " AND ".join(bounds) or "1 = 1"
        newest = (
            "(SELECT d.day FROM (SELECT c.day, sum(c.count) OVER (ORDER BY c.day DESC) AS total "
            "FROM history_chunk c WHERE c.key = s.key AND c.name_id = s.name_id "
            f"AND c.dataset_id = s.dataset_id AND {window}) d WHERE d.total >= ? "
            "ORDER BY d.day DESC LIMIT 1)"
        )
        recent = rows_within(start, end, f"c.day >= coalesce(s.newest, {-(2**63)})")
        rows = self._execute(
            db,
            f"SELECT {ROW}, s.key, s.name_id, s.dataset_id, s.newest FROM (SELECT s.*, {newest} AS newest "
            "FROM temporal_attr s WHERE s.key = ANY(?) OFFSET 0) s LEFT JOIN LATERAL ("
            f"SELECT h.* FROM {recent} h WHERE {sql.where()} AND {SERIES_OF_S} "
            f"ORDER BY h.at DESC, h.instance DESC LIMIT ?) h ON 1 = 1 ORDER BY {ORDER}",
            (last_n, keys, *sql.params, last_n),
        ).fetchall()
        found: dict[tuple[int, int, int], list[Any]] = {}
        newest_day: dict[tuple[int, int, int], int | None] = {}
        for row in rows:
            series = (row[12], row[13], row[14])
            newest_day[series] = row[15]
            if row[0] is not None:
                found.setdefault(series, []).append(row[:12])
        failing = [
            series
            for series, day in newest_day.items()
            if day is not None and not (len(found.get(series, ())) == last_n and found[series][0][3] >= day)
        ]
        if failing:
            keys_, names, datasets = (list(column) for column in zip(*failing, strict=True))
            again = self._execute(
                db,
                f"SELECT {ROW} FROM temporal_attr s CROSS JOIN LATERAL ("
                f"SELECT h.* FROM {rows_within(start, end)} h WHERE {sql.where()} AND {SERIES_OF_S} "
                "ORDER BY h.at DESC, h.instance DESC LIMIT ?) h WHERE (s.key, s.name_id, s.dataset_id) IN "
                f"(SELECT * FROM unnest(?::bigint[], ?::integer[], ?::integer[])) ORDER BY {ORDER}",
                (*sql.params, last_n, keys_, names, datasets),
            ).fetchall()
            for series in failing:
                found.pop(series, None)
            for row in again:
                found.setdefault((row[0], row[1], row[2]), []).append(row)
        return [row for series in sorted(found) for row in found[series]]

    def first_n(self, db: Any, sql: Sql, first_n: int, keys: list[int], query: HistoryQuery) -> list[Any]:
        return list(
            self._execute(
                db,
                f"SELECT {ROW} FROM temporal_attr s CROSS JOIN LATERAL ("
                f"SELECT h.* FROM {self.history_rows(query)} h WHERE {sql.where()} AND {SERIES_OF_S} "
                f"ORDER BY h.at, h.instance LIMIT ?) h WHERE s.key = ANY(?) ORDER BY {ORDER}",
                (*sql.params, first_n, keys),
            ).fetchall()
        )

    def rolled_up(
        self, db: Any, series: Sql, plan: HourlyPlan, methods: tuple[str, ...], rows: str = ROWS
    ) -> list[Any]:
        statement = RollupStatement(self.dialect, plan, methods, rows)
        inner, params = statement.inner(SERIES_OF_S, [])
        return list(
            self._execute(
                db,
                f"{statement.views}SELECT s.key, s.name_id, s.dataset_id, x.* FROM temporal_attr s "
                f"CROSS JOIN LATERAL ({inner}) x WHERE {series.where().replace('h.', 's.')} "
                "ORDER BY 1, 2, 3, 4",
                [*statement.view_params, *params, *series.params],
            ).fetchall()
        )
