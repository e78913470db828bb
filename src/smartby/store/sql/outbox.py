"""The subscription and notification-outbox SQL, written once for both backends.

A claim of due notifications takes rows with the dialect's `skip_locked` (PostgreSQL: `FOR UPDATE
SKIP LOCKED`), so that several processes never claim the same notification for the same attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from smartby.records.notifications import (
    ClaimedNotification,
    DeliveryOutcome,
    PendingNotification,
    StoredSubscription,
)
from smartby.store.sql.dialect import Dialect

_COLUMNS = (
    "tenant, id, doc, created_at, modified_at, times_sent, times_failed, last_notification, "
    "last_success, last_failure, last_failure_reason"
)


class Connection(Protocol):
    """What sqlite3 and psycopg connections have in common, as used here."""

    def execute(self, sql: Any, params: Any = ...) -> Any: ...

    def cursor(self) -> Any: ...


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _period(document: dict[str, Any]) -> float | None:
    """The timeInterval of an active periodic subscription (what the `period` column holds)."""
    interval = document.get("timeInterval")
    if interval is None or document.get("isActive", True) is False:
        return None
    return float(interval)


def _subscription(row: Sequence[Any]) -> StoredSubscription:
    return StoredSubscription(
        row[0],
        row[1],
        _json(row[2]),
        row[3],
        row[4],
        int(row[5]),
        int(row[6]),
        row[7],
        row[8],
        row[9],
        row[10],
    )


class OutboxSQL:
    """Subscription and outbox statements in one backend's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._sql = dialect.sql

    def _bump(self, db: Connection) -> None:
        db.execute(
            "INSERT INTO subscription_version (id, version) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET version = subscription_version.version + 1"
        )

    def create(self, db: Connection, subscription: StoredSubscription) -> bool:
        row = db.execute(
            self._sql(
                "INSERT INTO subscription (tenant, id, doc, created_at, modified_at, period) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant, id) DO NOTHING RETURNING id"
            ),
            (
                subscription.tenant,
                subscription.id,
                orjson.dumps(subscription.document).decode(),
                subscription.created_at,
                subscription.modified_at,
                _period(subscription.document),
            ),
        ).fetchone()
        if row is not None:
            self._bump(db)
        return row is not None

    def get(self, db: Connection, tenant: str, subscription_id: str) -> StoredSubscription | None:
        row = db.execute(
            self._sql(f"SELECT {_COLUMNS} FROM subscription WHERE tenant = ? AND id = ?"),
            (tenant, subscription_id),
        ).fetchone()
        return None if row is None else _subscription(row)

    def page(
        self, db: Connection, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]:
        rows = db.execute(
            self._sql(
                f"SELECT {_COLUMNS} FROM subscription WHERE tenant = ? "
                "ORDER BY created_at, id LIMIT ? OFFSET ?"
            ),
            (tenant, limit, offset),
        ).fetchall()
        total = None
        if count:
            total = int(
                db.execute(
                    self._sql("SELECT count(*) FROM subscription WHERE tenant = ?"), (tenant,)
                ).fetchone()[0]
            )
        return [_subscription(row) for row in rows], total

    def replace(
        self, db: Connection, tenant: str, subscription_id: str, document: dict[str, Any], modified_at: str
    ) -> bool:
        # A new period (or one resumed) starts at once; an unchanged one keeps its schedule.
        period = _period(document)
        changed = db.execute(
            self._sql(
                "UPDATE subscription SET doc = ?, modified_at = ?, "
                "due_at = CASE WHEN period = ? THEN due_at ELSE 0 END, period = ? "
                "WHERE tenant = ? AND id = ?"
            ),
            (orjson.dumps(document).decode(), modified_at, period, period, tenant, subscription_id),
        ).rowcount
        if changed:
            self._bump(db)
        return bool(changed)

    def delete(self, db: Connection, tenant: str, subscription_id: str) -> bool:
        removed = db.execute(
            self._sql("DELETE FROM subscription WHERE tenant = ? AND id = ?"), (tenant, subscription_id)
        ).rowcount
        db.execute(
            self._sql("DELETE FROM notification WHERE tenant = ? AND subscription_id = ?"),
            (tenant, subscription_id),
        )
        if removed:
            self._bump(db)
        return bool(removed)

    def everything(self, db: Connection) -> tuple[int, list[StoredSubscription]]:
        version = self.version(db)
        rows = db.execute(f"SELECT {_COLUMNS} FROM subscription ORDER BY tenant, created_at, id").fetchall()
        return version, [_subscription(row) for row in rows]

    def version(self, db: Connection) -> int:
        return int(db.execute("SELECT coalesce(max(version), 0) FROM subscription_version").fetchone()[0])

    def claim_periodic(self, db: Connection, now: float) -> list[tuple[str, str]]:
        """The periodic subscriptions due at `now`, each moved on to its next period in the same
        statement, so that of several processes exactly one gets each period. The schedule keeps
        its beat (next = due + period) unless a period was missed altogether (then now + period)."""
        rows = db.execute(
            self._sql(
                "UPDATE subscription SET due_at = CASE WHEN due_at + period > ? THEN due_at + period "
                "ELSE ? + period END WHERE period IS NOT NULL AND due_at <= ? RETURNING tenant, id"
            ),
            (now, now, now),
        ).fetchall()
        return [(str(row[0]), str(row[1])) for row in rows]

    def enqueue_rows(self, notifications: Sequence[PendingNotification], now: float) -> list[tuple[Any, ...]]:
        return [
            (n.tenant, n.subscription_id, orjson.dumps(n.payload).decode(), now, n.due_at)
            for n in notifications
        ]

    @property
    def insert_statement(self) -> str:
        return self._sql(
            "INSERT INTO notification (tenant, subscription_id, payload, created_at, due_at) "
            "VALUES (?, ?, ?, ?, ?)"
        )

    def insert(self, db: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Write outbox rows: one (the usual case: one subscription concerned) with a plain
        statement, which costs PostgreSQL one round trip where a pipelined executemany costs three."""
        if len(rows) == 1:
            db.execute(self.insert_statement, rows[0])
        elif rows:
            db.cursor().executemany(self.insert_statement, rows)

    def claim(self, db: Connection, now: float, limit: int, lease: float) -> list[ClaimedNotification]:
        lock = self.dialect.skip_locked
        rows = db.execute(
            self._sql(
                "UPDATE notification SET claimed_until = ?, attempts = attempts + 1 WHERE id IN ("
                "SELECT id FROM notification WHERE due_at <= ? AND claimed_until <= ? "
                f"ORDER BY due_at, id LIMIT ?{lock}) "
                "RETURNING id, tenant, subscription_id, payload, created_at, attempts"
            ),
            (now + lease, now, now, limit),
        ).fetchall()
        claimed = [
            ClaimedNotification(int(r[0]), r[1], r[2], _json(r[3]), float(r[4]), int(r[5])) for r in rows
        ]
        return sorted(claimed, key=lambda n: n.id)

    def settle(self, db: Connection, outcomes: Sequence[DeliveryOutcome]) -> None:
        done = [(o.notification.id,) for o in outcomes if o.success or o.retry_at is None]
        again = [
            (o.retry_at, 0 if o.attempted else 1, o.notification.id)
            for o in outcomes
            if not o.success and o.retry_at is not None
        ]
        sent = [
            (
                o.at,
                o.at if o.success else None,
                None if o.success else o.at,
                0 if o.success else 1,
                None if o.success else o.reason,
                o.notification.tenant,
                o.notification.subscription_id,
            )
            for o in outcomes
            if o.attempted
        ]
        many = db.cursor().executemany
        if done:
            many(self._sql("DELETE FROM notification WHERE id = ?"), done)
        if again:
            many(
                self._sql(
                    "UPDATE notification SET due_at = ?, claimed_until = 0, attempts = attempts - ? "
                    "WHERE id = ?"
                ),
                again,
            )
        if sent:
            many(
                self._sql(
                    "UPDATE subscription SET times_sent = times_sent + 1, last_notification = ?, "
                    "last_success = coalesce(?, last_success), last_failure = coalesce(?, last_failure), "
                    "times_failed = times_failed + ?, last_failure_reason = coalesce(?, last_failure_reason) "
                    "WHERE tenant = ? AND id = ?"
                ),
                sent,
            )

    def pending(self, db: Connection) -> int:
        return int(db.execute("SELECT count(*) FROM notification").fetchone()[0])
