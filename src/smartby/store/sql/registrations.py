"""Context source registrations and csource subscriptions (clauses 5.9, 5.11), in SQL both
backends run: plain tables keyed by (tenant, id), the documents as JSON."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from smartby.records import audit
from smartby.records.notifications import ClaimedNotification, PendingNotification, StoredSubscription
from smartby.records.registrations import StoredRegistration
from smartby.store.sql.audit import AuditedTables

_REGISTRATION = (
    "tenant, id, doc, created_at, modified_at, times_sent, times_failed, last_success, last_failure"
)
_SUBSCRIPTION = (
    "tenant, id, doc, created_at, modified_at, times_sent, times_failed, last_notification, "
    "last_success, last_failure"
)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _registration(row: Sequence[Any]) -> StoredRegistration:
    return StoredRegistration(
        row[0], row[1], _json(row[2]), row[3], row[4], int(row[5]), int(row[6]), row[7], row[8]
    )


def _subscription(row: Sequence[Any]) -> StoredSubscription:
    return StoredSubscription(
        row[0], row[1], _json(row[2]), row[3], row[4], int(row[5]), int(row[6]), row[7], row[8], row[9]
    )


class RegistrationTables(AuditedTables):
    """The store the broker's registrations need (`smartby.broker.registrations.RegistrationStore`)."""

    def _queue(self, db: Any, notifications: Sequence[PendingNotification]) -> None:
        """Write csource notifications in the transaction of `db`."""
        if not notifications:
            return
        sql = self._sql(
            "INSERT INTO csource_notification (tenant, subscription_id, payload, created_at, due_at) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        now = time.time()
        rows = [
            (n.tenant, n.subscription_id, orjson.dumps(n.payload).decode(), now, n.due_at)
            for n in notifications
        ]
        db.cursor().executemany(sql, rows)

    async def create_registration(
        self, registration: StoredRegistration, notifications: Sequence[PendingNotification] = ()
    ) -> bool:
        """Store a new registration (its tenant made if new) and, in the same transaction, the csource
        notifications it causes; False (and nothing written) when the tenant has one with that id."""
        tenant = self._sql("INSERT INTO tenant (name) VALUES (?) ON CONFLICT (name) DO NOTHING")
        insert = self._sql(
            "INSERT INTO registration (tenant, id, doc, created_at, modified_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant, id) DO NOTHING RETURNING id"
        )
        params = (
            registration.tenant,
            registration.id,
            orjson.dumps(registration.document).decode(),
            registration.created_at,
            registration.modified_at,
        )

        def run(db: Any) -> bool:
            db.execute(tenant, (registration.tenant,))
            if db.execute(insert, params).fetchone() is None:
                return False
            self._queue(db, notifications)
            return True

        entry = audit.change(registration.tenant, "registration.create", registration.id)
        return await self._audited(run, entry)

    async def get_registration(self, tenant: str, registration_id: str) -> StoredRegistration | None:
        sql = self._sql(f"SELECT {_REGISTRATION} FROM registration WHERE tenant = ? AND id = ?")

        def run(db: Any) -> StoredRegistration | None:
            row = db.execute(sql, (tenant, registration_id)).fetchone()
            return None if row is None else _registration(row)

        return await self._read(run)

    async def list_registrations(self, tenant: str) -> list[StoredRegistration]:
        """Every registration of a tenant, oldest first."""
        sql = self._sql(f"SELECT {_REGISTRATION} FROM registration WHERE tenant = ? ORDER BY created_at, id")
        return await self._read(lambda db: [_registration(row) for row in db.execute(sql, (tenant,))])

    async def replace_registration(
        self,
        tenant: str,
        registration_id: str,
        document: dict[str, Any],
        modified_at: str,
        notifications: Sequence[PendingNotification] = (),
    ) -> bool:
        sql = self._sql("UPDATE registration SET doc = ?, modified_at = ? WHERE tenant = ? AND id = ?")
        params = (orjson.dumps(document).decode(), modified_at, tenant, registration_id)

        def run(db: Any) -> bool:
            if db.execute(sql, params).rowcount == 0:
                return False
            self._queue(db, notifications)
            return True

        return await self._audited(run, audit.change(tenant, "registration.update", registration_id))

    async def delete_registration(
        self, tenant: str, registration_id: str, notifications: Sequence[PendingNotification] = ()
    ) -> bool:
        sql = self._sql("DELETE FROM registration WHERE tenant = ? AND id = ?")

        def run(db: Any) -> bool:
            if db.execute(sql, (tenant, registration_id)).rowcount == 0:
                return False
            self._queue(db, notifications)
            return True

        return await self._audited(run, audit.change(tenant, "registration.delete", registration_id))

    async def record_registration_use(
        self, tenant: str, registration_id: str, at: str, success: bool
    ) -> None:
        """Count one forwarded request to a registration's source in its status members."""
        outcome = "last_success" if success else "last_failure"
        sql = self._sql(
            f"UPDATE registration SET times_sent = times_sent + 1, times_failed = times_failed + ?, "
            f"{outcome} = ? WHERE tenant = ? AND id = ?"
        )
        params = (0 if success else 1, at, tenant, registration_id)
        await self._write(lambda db: db.execute(sql, params))

    # -- csource subscriptions ---------------------------------------------------------------------

    async def create_csource_subscription(
        self, subscription: StoredSubscription, notifications: Sequence[PendingNotification] = ()
    ) -> bool:
        """Store a new csource subscription with its first notifications; False when it exists."""
        sql = self._sql(
            "INSERT INTO csource_subscription (tenant, id, doc, created_at, modified_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, id) DO NOTHING RETURNING id"
        )
        params = (
            subscription.tenant,
            subscription.id,
            orjson.dumps(subscription.document).decode(),
            subscription.created_at,
            subscription.modified_at,
        )

        def run(db: Any) -> bool:
            if db.execute(sql, params).fetchone() is None:
                return False
            self._queue(db, notifications)
            return True

        entry = audit.change(subscription.tenant, "csourceSubscription.create", subscription.id)
        return await self._audited(run, entry)

    async def get_csource_subscription(self, tenant: str, subscription_id: str) -> StoredSubscription | None:
        sql = self._sql(f"SELECT {_SUBSCRIPTION} FROM csource_subscription WHERE tenant = ? AND id = ?")

        def run(db: Any) -> StoredSubscription | None:
            row = db.execute(sql, (tenant, subscription_id)).fetchone()
            return None if row is None else _subscription(row)

        return await self._read(run)

    async def list_csource_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]:
        """One page of a tenant's csource subscriptions (oldest first), and their number if asked."""
        page = self._sql(
            f"SELECT {_SUBSCRIPTION} FROM csource_subscription WHERE tenant = ? "
            "ORDER BY created_at, id LIMIT ? OFFSET ?"
        )
        total = self._sql("SELECT count(*) FROM csource_subscription WHERE tenant = ?")

        def run(db: Any) -> tuple[list[StoredSubscription], int | None]:
            rows = [_subscription(row) for row in db.execute(page, (tenant, limit, offset)).fetchall()]
            number = int(db.execute(total, (tenant,)).fetchone()[0]) if count else None
            return rows, number

        return await self._read(run)

    async def tenant_csource_subscriptions(self, tenant: str) -> list[StoredSubscription]:
        sql = self._sql(
            f"SELECT {_SUBSCRIPTION} FROM csource_subscription WHERE tenant = ? ORDER BY created_at, id"
        )
        return await self._read(lambda db: [_subscription(row) for row in db.execute(sql, (tenant,))])

    async def replace_csource_subscription(
        self, tenant: str, subscription_id: str, document: dict[str, Any], modified_at: str
    ) -> bool:
        sql = self._sql(
            "UPDATE csource_subscription SET doc = ?, modified_at = ? WHERE tenant = ? AND id = ?"
        )
        params = (orjson.dumps(document).decode(), modified_at, tenant, subscription_id)
        return await self._audited(
            lambda db: db.execute(sql, params).rowcount > 0,
            audit.change(tenant, "csourceSubscription.update", subscription_id),
        )

    async def delete_csource_subscription(self, tenant: str, subscription_id: str) -> bool:
        """Remove a csource subscription and its undelivered notifications."""
        sql = self._sql("DELETE FROM csource_subscription WHERE tenant = ? AND id = ?")
        pending = self._sql("DELETE FROM csource_notification WHERE tenant = ? AND subscription_id = ?")

        def run(db: Any) -> bool:
            removed = db.execute(sql, (tenant, subscription_id)).rowcount > 0
            db.execute(pending, (tenant, subscription_id))
            return bool(removed)

        return await self._audited(run, audit.change(tenant, "csourceSubscription.delete", subscription_id))

    async def claim_csource_notifications(
        self, now: float, limit: int, lease: float
    ) -> list[ClaimedNotification]:
        """Claim up to `limit` due, unclaimed csource notifications for `lease` seconds, oldest first;
        each by one caller at a time, also across processes."""
        sql = self._sql(
            "UPDATE csource_notification SET claimed_until = ?, attempts = attempts + 1 WHERE id IN ("
            "SELECT id FROM csource_notification WHERE due_at <= ? AND claimed_until <= ? "
            f"ORDER BY due_at, id LIMIT ?{self.dialect.skip_locked}) "
            "RETURNING id, tenant, subscription_id, payload, created_at, attempts"
        )

        due = self._sql("SELECT 1 FROM csource_notification WHERE due_at <= ? AND claimed_until <= ? LIMIT 1")
        if await self._read(lambda db: db.execute(due, (now, now)).fetchone()) is None:
            return []  # Nothing due: no write transaction (on SQLite, no turn of the one writer).

        def run(db: Any) -> list[ClaimedNotification]:
            rows = db.execute(sql, (now + lease, now, now, limit)).fetchall()
            claimed = [
                ClaimedNotification(int(r[0]), r[1], r[2], _json(r[3]), float(r[4]), int(r[5])) for r in rows
            ]
            return sorted(claimed, key=lambda n: n.id)

        return await self._write(run)

    async def settle_csource_notification(self, notification_id: int, retry_at: float | None) -> None:
        """A delivered or abandoned csource notification goes (`retry_at` None); a failed one comes
        due again at `retry_at`."""
        if retry_at is None:
            sql = self._sql("DELETE FROM csource_notification WHERE id = ?")
            await self._write(lambda db: db.execute(sql, (notification_id,)))
            return
        again = self._sql("UPDATE csource_notification SET due_at = ?, claimed_until = 0 WHERE id = ?")
        await self._write(lambda db: db.execute(again, (retry_at, notification_id)))

    async def record_csource_notification(
        self, tenant: str, subscription_id: str, at: str, success: bool
    ) -> None:
        """Count one delivery attempt of a csource notification in its subscription's status."""
        outcome = "last_success" if success else "last_failure"
        failed = 0 if success else 1
        sql = self._sql(
            f"UPDATE csource_subscription SET times_sent = times_sent + 1, times_failed = times_failed + ?, "
            f"last_notification = ?, {outcome} = ? WHERE tenant = ? AND id = ?"
        )
        params = (failed, at, at, tenant, subscription_id)
        await self._write(lambda db: db.execute(sql, params))
