"""Citizen reporters' contact details (`report_contact`, migration 0017), in SQL written once for both
backends. Times are ISO 8601 UTC with six fraction digits, so they compare as text."""

from __future__ import annotations

from typing import Any

from smartby.records.contacts import CONTACT_FIELDS, Contact
from smartby.store.sql.tables import Tables

_COLUMNS = ", ".join(CONTACT_FIELDS)


class ContactTables(Tables):
    """The contact store city services get (`smartby.records.contacts.ContactStore`)."""

    async def keep_contact(self, tenant: str, report_id: str, contact: Contact, at: str) -> None:
        sql = self._sql(
            f"INSERT INTO report_contact (tenant, report_id, given_at, {_COLUMNS}) "
            f"VALUES (?, ?, ?, {', '.join('?' * len(CONTACT_FIELDS))}) "
            "ON CONFLICT (tenant, report_id) DO NOTHING"
        )
        params = (tenant, report_id, at, *(getattr(contact, name) for name in CONTACT_FIELDS))
        await self._write(lambda db: db.execute(sql, params))

    async def contact(self, tenant: str, report_id: str) -> Contact | None:
        sql = self._sql(f"SELECT {_COLUMNS} FROM report_contact WHERE tenant = ? AND report_id = ?")

        def run(db: Any) -> Contact | None:
            row = db.execute(sql, (tenant, report_id)).fetchone()
            return None if row is None else Contact(*row)

        return await self._read(run)

    async def forget_contact(self, tenant: str, report_id: str) -> bool:
        sql = self._sql("DELETE FROM report_contact WHERE tenant = ? AND report_id = ?")
        return bool(await self._write(lambda db: db.execute(sql, (tenant, report_id)).rowcount))

    async def forget_contacts_before(self, at: str) -> int:
        sql = self._sql("DELETE FROM report_contact WHERE given_at < ?")
        return int(await self._write(lambda db: db.execute(sql, (at,)).rowcount))
