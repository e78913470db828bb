"""The city services' SQL, written once for both backends: each service's feed of changes and the
schedule and lease of its periodic jobs.

A claim of fed changes takes rows with the dialect's `skip_locked` (PostgreSQL: `FOR UPDATE SKIP
LOCKED`), so several processes never claim the same change while its lease lasts. A job is claimed by
one conditional UPDATE (due, and no lease running): of several processes one finds the row still
claimable, the others (PostgreSQL re-reads the row once the first commits) find it taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from smartby.records.service_feed import ClaimedChange, FedChange
from smartby.store.sql.dialect import Dialect
from smartby.store.sql.outbox import Connection


def _document(value: dict[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _loaded(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded: dict[str, Any] = orjson.loads(value)
    return loaded


class ServiceFeedSQL:
    """Feed and job statements in one backend's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._sql = dialect.sql

    def rows(self, changes: Sequence[FedChange], now: float) -> list[tuple[Any, ...]]:
        return [
            (c.service, c.tenant, c.entity_id, _document(c.before), _document(c.after), now) for c in changes
        ]

    def insert(self, db: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        statement = self._sql(
            "INSERT INTO service_change (service, tenant, entity_id, before, after, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        if len(rows) == 1:
            db.execute(statement, rows[0])
        elif rows:
            db.cursor().executemany(statement, rows)

    def claim(
        self, db: Connection, service: str, now: float, limit: int, lease: float
    ) -> list[ClaimedChange]:
        lock = self.dialect.skip_locked
        rows = db.execute(
            self._sql(
                "UPDATE service_change SET claimed_until = ?, attempts = attempts + 1 WHERE id IN ("
                "SELECT id FROM service_change WHERE service = ? AND claimed_until <= ? "
                f"ORDER BY id LIMIT ?{lock}) "
                "RETURNING id, tenant, entity_id, before, after, attempts"
            ),
            (now + lease, service, now, limit),
        ).fetchall()
        claimed = [
            ClaimedChange(int(r[0]), service, r[1], r[2], _loaded(r[3]), _loaded(r[4]), int(r[5]))
            for r in rows
        ]
        return sorted(claimed, key=lambda change: change.id)

    def settle(self, db: Connection, ids: Sequence[int]) -> None:
        """Handled: the changes leave the feed."""
        if ids:
            condition, params = self.dialect.any_of("id", list(ids))
            db.execute(self._sql(f"DELETE FROM service_change WHERE {condition}"), params)

    def release(self, db: Connection, ids: Sequence[int]) -> None:
        """Not handled (a clean stop with a batch claimed): the changes are claimable again at once,
        and the claim does not count as an attempt."""
        if ids:
            condition, params = self.dialect.any_of("id", list(ids))
            db.execute(
                self._sql(
                    f"UPDATE service_change SET claimed_until = 0, attempts = attempts - 1 WHERE {condition}"
                ),
                params,
            )

    def pending(self, db: Connection, service: str) -> int:
        row = db.execute(self._sql("SELECT count(*) FROM service_change WHERE service = ?"), (service,))
        return int(row.fetchone()[0])

    def claim_job(
        self, db: Connection, service: str, job: str, due: float, wall: float, lease: float, holder: str
    ) -> float | None:
        """Take a job that is due at `due` (the services' clock) and not leased at `wall` (seconds
        since the epoch) for `lease` seconds; the moment it was due, or None when it is not this
        caller's to run. A job seen for the first time is due at once."""
        db.execute(
            self._sql(
                "INSERT INTO service_job (service, job, due_at) VALUES (?, ?, ?) "
                "ON CONFLICT (service, job) DO NOTHING"
            ),
            (service, job, due),
        )
        row = db.execute(
            self._sql(
                "UPDATE service_job SET holder = ?, lease_until = ? "
                "WHERE service = ? AND job = ? AND due_at <= ? AND lease_until <= ? RETURNING due_at"
            ),
            (holder, wall + lease, service, job, due, wall),
        ).fetchone()
        return None if row is None else float(row[0])

    def finish_job(self, db: Connection, service: str, job: str, holder: str, next_due: float) -> bool:
        """The holder ran the job: it is next due at `next_due`, and its lease ends."""
        changed = db.execute(
            self._sql(
                "UPDATE service_job SET due_at = ?, holder = NULL, lease_until = 0, runs = runs + 1 "
                "WHERE service = ? AND job = ? AND holder = ?"
            ),
            (next_due, service, job, holder),
        ).rowcount
        return bool(changed)

    def job_runs(self, db: Connection, service: str, job: str) -> int:
        row = db.execute(
            self._sql("SELECT runs FROM service_job WHERE service = ? AND job = ?"), (service, job)
        ).fetchone()
        return 0 if row is None else int(row[0])
