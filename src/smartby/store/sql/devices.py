"""The device, payload profile and dead-letter tables, in SQL written once for both backends.

The three tables are plain rows with no geometry or history; a backend mixes `DeviceTables` in
with its dialect and says how it reads and writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import orjson

from smartby.records import audit
from smartby.records.devices import DeadLetter, DeadLetterQuery, Device, PayloadProfile
from smartby.store.sql.audit import AuditedTables

T = TypeVar("T")

_DEVICE_COLUMNS = (
    "tenant, id, entity_id, entity_type, key_hash, profile, decoder, dev_eui, location, organisation, "
    "context, created_at, modified_at, commands, downlink, reporting_interval"
)
_PROFILE_COLUMNS = (
    "tenant, name, decoder, description, created_at, modified_at, commands, downlink, reporting_interval"
)
_LETTER_COLUMNS = "id, tenant, received_at, transport, device_id, reason, payload, topic"


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _loaded(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _device(row: Sequence[Any]) -> Device:
    return Device(
        tenant=row[0],
        id=row[1],
        entity_id=row[2],
        entity_type=row[3],
        key_hash=row[4],
        profile=row[5],
        decoder=_loaded(row[6]),
        dev_eui=row[7],
        location=_loaded(row[8]),
        organisation=row[9],
        context=row[10],
        created_at=row[11],
        modified_at=row[12],
        commands=_loaded(row[13]),
        downlink=_loaded(row[14]),
        reporting_interval=row[15],
    )


def _profile(row: Sequence[Any]) -> PayloadProfile:
    return PayloadProfile(
        row[0], row[1], _loaded(row[2]), row[3], row[4], row[5], _loaded(row[6]), _loaded(row[7]), row[8]
    )


def _letter(row: Sequence[Any]) -> DeadLetter:
    return DeadLetter(
        id=int(row[0]),
        tenant=row[1],
        received_at=row[2],
        transport=row[3],
        device_id=row[4],
        reason=row[5],
        payload=bytes(row[6]),
        topic=row[7],
    )


class DeviceTables(AuditedTables):
    """The device store ingestion needs (`smartby.ingest.device_store.DeviceStore`)."""

    # -- devices -----------------------------------------------------------------------------------

    async def put_device(self, device: Device) -> None:
        sql = self._sql(
            f"INSERT INTO device ({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant, id) DO UPDATE SET entity_id = excluded.entity_id, "
            "entity_type = excluded.entity_type, key_hash = excluded.key_hash, profile = excluded.profile, "
            "decoder = excluded.decoder, dev_eui = excluded.dev_eui, location = excluded.location, "
            "organisation = excluded.organisation, context = excluded.context, "
            "modified_at = excluded.modified_at, commands = excluded.commands, downlink = excluded.downlink, "
            "reporting_interval = excluded.reporting_interval"
        )
        params = (
            device.tenant,
            device.id,
            device.entity_id,
            device.entity_type,
            device.key_hash,
            device.profile,
            _json(device.decoder),
            device.dev_eui,
            _json(device.location),
            device.organisation,
            device.context,
            device.created_at,
            device.modified_at,
            _json(device.commands),
            _json(device.downlink),
            device.reporting_interval,
        )
        entry = audit.change(device.tenant, "device.put", device.id)
        await self._audited(lambda db: db.execute(sql, params).rowcount > 0, entry)

    async def get_device(self, tenant: str, device_id: str) -> Device | None:
        sql = self._sql(f"SELECT {_DEVICE_COLUMNS} FROM device WHERE tenant = ? AND id = ?")

        def run(db: Any) -> Device | None:
            row = db.execute(sql, (tenant, device_id)).fetchone()
            return None if row is None else _device(row)

        return await self._read(run)

    async def get_devices(self, tenant: str, device_ids: Sequence[str]) -> dict[str, Device]:
        wanted = list(dict.fromkeys(device_ids))

        def run(db: Any) -> dict[str, Device]:
            found: dict[str, Device] = {}
            for start in range(0, len(wanted), 500):
                condition, params = self.dialect.any_of("id", wanted[start : start + 500])
                sql = self._sql(f"SELECT {_DEVICE_COLUMNS} FROM device WHERE tenant = ? AND {condition}")
                for row in db.execute(sql, (tenant, *params)).fetchall():
                    found[row[1]] = _device(row)
            return found

        return await self._read(run) if wanted else {}

    async def device_by_eui(self, tenant: str, dev_eui: str) -> Device | None:
        sql = self._sql(f"SELECT {_DEVICE_COLUMNS} FROM device WHERE tenant = ? AND dev_eui = ?")

        def run(db: Any) -> Device | None:
            row = db.execute(sql, (tenant, dev_eui)).fetchone()
            return None if row is None else _device(row)

        return await self._read(run)

    async def list_devices(self, tenant: str, limit: int, offset: int) -> list[Device]:
        sql = self._sql(f"SELECT {_DEVICE_COLUMNS} FROM device WHERE tenant = ? ORDER BY id LIMIT ? OFFSET ?")
        return await self._read(lambda db: [_device(row) for row in db.execute(sql, (tenant, limit, offset))])

    async def delete_device(self, tenant: str, device_id: str) -> bool:
        sql = self._sql("DELETE FROM device WHERE tenant = ? AND id = ?")
        return await self._audited(
            lambda db: db.execute(sql, (tenant, device_id)).rowcount > 0,
            audit.change(tenant, "device.delete", device_id),
        )

    # -- payload profiles --------------------------------------------------------------------------

    async def put_profile(self, profile: PayloadProfile) -> None:
        sql = self._sql(
            f"INSERT INTO payload_profile ({_PROFILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant, name) DO UPDATE SET decoder = excluded.decoder, "
            "description = excluded.description, modified_at = excluded.modified_at, "
            "commands = excluded.commands, downlink = excluded.downlink, "
            "reporting_interval = excluded.reporting_interval"
        )
        params = (
            profile.tenant,
            profile.name,
            _json(profile.decoder),
            profile.description,
            profile.created_at,
            profile.modified_at,
            _json(profile.commands),
            _json(profile.downlink),
            profile.reporting_interval,
        )
        entry = audit.change(profile.tenant, "profile.put", profile.name)
        await self._audited(lambda db: db.execute(sql, params).rowcount > 0, entry)

    async def get_profile(self, tenant: str, name: str) -> PayloadProfile | None:
        sql = self._sql(f"SELECT {_PROFILE_COLUMNS} FROM payload_profile WHERE tenant = ? AND name = ?")

        def run(db: Any) -> PayloadProfile | None:
            row = db.execute(sql, (tenant, name)).fetchone()
            return None if row is None else _profile(row)

        return await self._read(run)

    async def list_profiles(self, tenant: str) -> list[PayloadProfile]:
        sql = self._sql(f"SELECT {_PROFILE_COLUMNS} FROM payload_profile WHERE tenant = ? ORDER BY name")
        return await self._read(lambda db: [_profile(r) for r in db.execute(sql, (tenant,))])

    async def delete_profile(self, tenant: str, name: str) -> bool:
        sql = self._sql("DELETE FROM payload_profile WHERE tenant = ? AND name = ?")
        return await self._audited(
            lambda db: db.execute(sql, (tenant, name)).rowcount > 0,
            audit.change(tenant, "profile.delete", name),
        )

    # -- dead letters ------------------------------------------------------------------------------

    async def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        sql = self._sql(
            "INSERT INTO dead_letter (tenant, received_at, transport, device_id, reason, payload, topic) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        rows = [
            (x.tenant, x.received_at, x.transport, x.device_id, x.reason, x.payload, x.topic) for x in letters
        ]

        def run(db: Any) -> None:
            db.cursor().executemany(sql, rows)

        await self._write(run)

    def _letter_filter(self, tenant: str, query: DeadLetterQuery) -> tuple[str, list[Any]]:
        conditions = ["tenant = ?"]
        params: list[Any] = [tenant]
        for column, value, test in (
            ("device_id", query.device_id, "="),
            ("transport", query.transport, "="),
            ("received_at", query.since, ">="),
            ("received_at", query.until, "<"),
        ):
            if value is not None:
                conditions.append(f"{column} {test} ?")
                params.append(value)
        return " AND ".join(conditions), params

    async def list_dead_letters(self, tenant: str, query: DeadLetterQuery) -> list[DeadLetter]:
        where, params = self._letter_filter(tenant, query)
        sql = self._sql(
            f"SELECT {_LETTER_COLUMNS} FROM dead_letter WHERE {where} "
            "ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        params += [query.limit, query.offset]
        return await self._read(lambda db: [_letter(row) for row in db.execute(sql, params)])

    async def count_dead_letters(self, tenant: str, query: DeadLetterQuery) -> int:
        where, params = self._letter_filter(tenant, query)
        sql = self._sql(f"SELECT count(*) FROM dead_letter WHERE {where}")
        return await self._read(lambda db: int(db.execute(sql, params).fetchone()[0]))

    async def get_dead_letter(self, tenant: str, letter_id: int) -> DeadLetter | None:
        sql = self._sql(f"SELECT {_LETTER_COLUMNS} FROM dead_letter WHERE tenant = ? AND id = ?")

        def run(db: Any) -> DeadLetter | None:
            row = db.execute(sql, (tenant, letter_id)).fetchone()
            return None if row is None else _letter(row)

        return await self._read(run)

    async def delete_dead_letter(self, tenant: str, letter_id: int) -> bool:
        sql = self._sql("DELETE FROM dead_letter WHERE tenant = ? AND id = ?")
        return await self._write(lambda db: db.execute(sql, (tenant, letter_id)).rowcount > 0)

    async def purge_dead_letters(self, tenant: str, query: DeadLetterQuery) -> int:
        """Delete every dead letter the query's filters select (limit and offset do not apply)."""
        where, params = self._letter_filter(tenant, query)
        sql = self._sql(f"DELETE FROM dead_letter WHERE {where}")
        return await self._write(lambda db: int(db.execute(sql, params).rowcount))
