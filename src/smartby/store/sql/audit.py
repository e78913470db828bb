"""The audit log's SQL, written once for both backends (`audit_log`, migration 16; docs/audit.md).

Records are only inserted, read and, past their retention, deleted: a trigger refuses UPDATE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from smartby.records import audit
from smartby.records.audit import AuditFilter, AuditRecord
from smartby.store.sql.dialect import Dialect
from smartby.store.sql.outbox import Connection
from smartby.store.sql.tables import Tables

T = TypeVar("T")

_COLUMNS = "at, actor, tenant, operation, target, outcome, detail"
_EQUAL = ("actor", "tenant", "operation", "outcome")


def _row(record: AuditRecord) -> tuple[Any, ...]:
    return (
        record.at,
        record.actor,
        record.tenant,
        record.operation,
        record.target,
        record.outcome,
        record.detail,
    )


def _record(row: Sequence[Any]) -> AuditRecord:
    return AuditRecord(row[1], row[2], row[3], row[4], row[5], row[6], row[7], id=int(row[0]))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AuditSQL:
    """Audit statements in one backend's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self._sql = dialect.sql

    def insert(self, db: Connection, records: Sequence[AuditRecord]) -> None:
        statement = self._sql(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)")
        if len(records) == 1:
            db.execute(statement, _row(records[0]))
        elif records:
            db.cursor().executemany(statement, [_row(record) for record in records])

    def select(self, wanted: AuditFilter) -> tuple[str, list[Any]]:
        """The query of a page of records, newest first, and its parameters."""
        where: list[str] = []
        params: list[Any] = []
        if wanted.since is not None:
            where.append("at >= ?")
            params.append(wanted.since)
        if wanted.until is not None:
            where.append("at < ?")
            params.append(wanted.until)
        for name in _EQUAL:
            value = getattr(wanted, name)
            if value is not None:
                where.append(f"{name} = ?")
                params.append(value)
        if wanted.target is not None:
            where.append("(' ' || target || ' ') LIKE ? ESCAPE '\\'")
            params.append(f"% {_like(wanted.target)} %")
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        return condition, params


class AuditedTables(Tables):
    """Tables whose changes are recorded in the audit log in the transaction that makes them."""

    async def _audited(self, change: Callable[[Any], T], entry: AuditRecord) -> T:
        """Run `change(connection)` in a transaction of its own and, when it changed something (a
        true result), insert `entry` in that transaction: the record commits with the change and
        only with it. The current action is then marked `recorded` (the API does not record it
        again); a change that changed nothing leaves no record."""
        statements = AuditSQL(self.dialect)

        def run(db: Any) -> T:
            result = change(db)
            if result:
                statements.insert(db, [entry])
            return result

        result = await self._write(run)
        if result:
            audit.current().recorded = True
        return result


class AuditTables(Tables):
    """The audit log as the API and the retention pass use it."""

    @property
    def _audit(self) -> AuditSQL:
        return AuditSQL(self.dialect)

    async def record_audit(self, records: Sequence[AuditRecord]) -> None:
        """Append records in a transaction of their own (refusals, failures, audited reads)."""
        if records:
            audit = self._audit
            await self._write(lambda db: audit.insert(db, records))

    async def audit_records(self, wanted: AuditFilter) -> tuple[list[AuditRecord], int]:
        """A page of records, newest first, and how many match in all."""
        condition, params = self._audit.select(wanted)
        page = self._sql(f"SELECT id, {_COLUMNS} FROM audit_log{condition} ORDER BY id DESC LIMIT ? OFFSET ?")
        count = self._sql(f"SELECT count(*) FROM audit_log{condition}")

        def run(db: Any) -> tuple[list[AuditRecord], int]:
            rows = db.execute(page, (*params, wanted.limit, wanted.offset)).fetchall()
            total = db.execute(count, params).fetchone()[0]
            found = [_record(row) for row in rows]
            return found, int(total)

        return await self._read(run)

    async def prune_audit(self, before: str) -> int:
        """Delete the records made before `before` (an `at`); how many went."""
        sql = self._sql("DELETE FROM audit_log WHERE at < ?")
        return int(await self._write(lambda db: db.execute(sql, (before,)).rowcount))
