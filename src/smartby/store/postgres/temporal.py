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


class PostgresHistoryReader(HistoryReader):
    def __init__(self, terms: PostgresTerms) -> None:
        super().__init__(POSTGRES, terms)

    def history_rows(self, query: HistoryQuery | None = None) -> str:
        """History's rows and the packed days' (`pack.ROWS`); of the packed days only those a time
        window on `at` can reach are unpacked."""
        if query is None or query.timeproperty not in ("observedAt", "deletedAt"):
            return ROWS
        return rows_within(query.start, query.end)

    def last_n(self, db: Any, sql: Sql, last_n: int, keys: list[int], history: str = ROWS) -> list[Any]:
        return list(
            self._execute(
                db,
                f"SELECT {ROW} FROM temporal_attr s CROSS JOIN LATERAL ("
                f"SELECT h.* FROM {history} h WHERE {sql.where()} AND {SERIES_OF_S} "
                f"ORDER BY h.at DESC, h.instance DESC LIMIT ?) h WHERE s.key = ANY(?) ORDER BY {ORDER}",
                (*sql.params, last_n, keys),
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
