"""The commands to devices, in SQL written once for both backends (`device_command`, migration 13).

Times of a command are ISO 8601 UTC with six fraction digits, so they compare as text. A pending
command is tried by one process at a time: `claim_attempt` moves its `next_attempt` on only if no
other process moved it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from smartby.records.commands import CommandRecord
from smartby.store.sql.tables import Tables

_COLUMNS = (
    "id, tenant, device_id, name, value, state, created_at, expires_at, payload, f_port, sent_at, "
    "confirmed_at, info, attempts, next_attempt, confirm_by, confirmed"
)


def _command(row: Sequence[Any]) -> CommandRecord:
    return CommandRecord(
        id=row[0],
        tenant=row[1],
        device=row[2],
        name=row[3],
        value=orjson.loads(row[4]),
        state=row[5],
        created_at=row[6],
        expires_at=row[7],
        payload=bytes(row[8]),
        f_port=row[9],
        sent_at=row[10],
        confirmed_at=row[11],
        info=row[12],
        attempts=int(row[13]),
        next_attempt=float(row[14]),
        confirm_by=row[15],
        confirmed=bool(row[16]),
    )


class CommandTables(Tables):
    """The command store device ingestion needs (`smartby.ingest.command_store.CommandStore`)."""

    async def add_command(self, command: CommandRecord) -> None:
        sql = self._sql(f"INSERT INTO device_command ({_COLUMNS}) VALUES ({', '.join('?' * 17)})")
        params = (
            command.id,
            command.tenant,
            command.device,
            command.name,
            orjson.dumps(command.value).decode(),
            command.state,
            command.created_at,
            command.expires_at,
            command.payload,
            command.f_port,
            command.sent_at,
            command.confirmed_at,
            command.info,
            command.attempts,
            command.next_attempt,
            command.confirm_by,
            int(command.confirmed),
        )
        await self._write(lambda db: db.execute(sql, params))

    async def get_command(self, tenant: str, command_id: str) -> CommandRecord | None:
        sql = self._sql(f"SELECT {_COLUMNS} FROM device_command WHERE tenant = ? AND id = ?")

        def run(db: Any) -> CommandRecord | None:
            row = db.execute(sql, (tenant, command_id)).fetchone()
            return None if row is None else _command(row)

        return await self._read(run)

    async def list_commands(
        self, tenant: str, device_id: str, states: Sequence[str], limit: int, offset: int
    ) -> list[CommandRecord]:
        """A device's commands, newest first; only those in `states` when some are given."""
        where = "tenant = ? AND device_id = ?"
        params: list[Any] = [tenant, device_id]
        if states:
            condition, values = self.dialect.any_of("state", list(states))
            where += f" AND {condition}"
            params += values
        sql = self._sql(
            f"SELECT {_COLUMNS} FROM device_command WHERE {where} ORDER BY created_at DESC, id DESC "
            "LIMIT ? OFFSET ?"
        )
        params += [limit, offset]
        return await self._read(lambda db: [_command(row) for row in db.execute(sql, params)])

    async def open_commands(self, states: Sequence[str], limit: int) -> list[CommandRecord]:
        """Commands of every tenant in `states`, oldest first."""
        condition, params = self.dialect.any_of("state", list(states))
        sql = self._sql(
            f"SELECT {_COLUMNS} FROM device_command WHERE {condition} ORDER BY created_at, id LIMIT ?"
        )
        return await self._read(lambda db: [_command(row) for row in db.execute(sql, [*params, limit])])

    async def claim_attempt(self, tenant: str, command_id: str, seen: float, until: float) -> bool:
        """Take the next try of a pending command: True for the one process whose `seen` value of
        `next_attempt` was still there."""
        sql = self._sql(
            "UPDATE device_command SET next_attempt = ?, attempts = attempts + 1 "
            "WHERE tenant = ? AND id = ? AND state = 'pending' AND next_attempt = ?"
        )
        return await self._write(lambda db: db.execute(sql, (until, tenant, command_id, seen)).rowcount > 0)

    async def move_command(
        self,
        tenant: str,
        command_id: str,
        from_states: Sequence[str],
        state: str,
        *,
        at: str,
        info: str | None,
    ) -> bool:
        """Move a command in one of `from_states` to `state` (`at` is its sentAt or confirmedAt);
        False when it was in none of them (another process moved it first)."""
        moment = {"sent": "sent_at = ?, ", "confirmed": "confirmed_at = ?, "}.get(state, "")
        condition, values = self.dialect.any_of("state", list(from_states))
        sql = self._sql(
            f"UPDATE device_command SET {moment}state = ?, info = ? "
            f"WHERE tenant = ? AND id = ? AND {condition}"
        )
        params = [*([at] if moment else []), state, info, tenant, command_id, *values]
        return await self._write(lambda db: db.execute(sql, params).rowcount > 0)

    async def note_command(self, tenant: str, command_id: str, info: str) -> None:
        """Say why a command still waits."""
        sql = self._sql("UPDATE device_command SET info = ? WHERE tenant = ? AND id = ?")
        await self._write(lambda db: db.execute(sql, (info, tenant, command_id)))
