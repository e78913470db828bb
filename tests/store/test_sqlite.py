"""What only the SQLite backend does: WAL, migrations, row layout, checkpoints, rollback of written rows."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from smartby.ngsild.query import parse_q
from smartby.ngsild.reads import EntityQuery
from smartby.store.base import Transaction
from smartby.store.sqlite.backend import SQLiteStore, _migrations

EX = "https://example.org/"


def entity(number: int, **attributes: Any) -> dict[str, Any]:
    built: dict[str, Any] = {"id": f"urn:ngsi-ld:Thing:{number}", "type": [EX + "Thing"]}
    for name, value in attributes.items():
        if isinstance(value, dict) and "type" in value:
            built[EX + name] = [value]
        else:
            built[EX + name] = [{"type": "Property", "value": value}]
    return built


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'city.db'}", synchronous="NORMAL")
    await store.open()
    yield store
    await store.close()


async def test_tenants_are_separate_and_survive_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'city.db'}"
    store = SQLiteStore(url)
    await store.open()
    await store.transact("aarhus", lambda tx: tx.insert(entity(1, speed=1)))
    await store.close()
    reopened = SQLiteStore(url)
    await reopened.open()
    try:
        assert await reopened.tenant_exists("aarhus")
        assert not await reopened.tenant_exists("odense")
        assert await reopened.get_entity("aarhus", "urn:ngsi-ld:Thing:1") is not None
        assert await reopened.get_entity("", "urn:ngsi-ld:Thing:1") is None
    finally:
        await reopened.close()


async def test_wal_and_migrations_recorded(store: SQLiteStore) -> None:
    connection = sqlite3.connect(store.path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_migration ORDER BY 1")]
        assert (
            versions
            == [version for version, _ in _migrations()]
            == [1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19]
        )
    finally:
        connection.close()


async def test_a_closed_store_opens_again(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'city.db'}")
    await store.open()
    await store.transact("", lambda tx: tx.insert(entity(1, speed=3)))
    await store.close()
    await store.open()
    try:
        found = await store.query_entities("", EntityQuery(q=parse_q(EX + "speed==3")))
        assert [e["id"] for e in found.entities] == ["urn:ngsi-ld:Thing:1"]
    finally:
        await store.close()


async def test_a_change_that_fails_after_writing_rows_is_undone_alone(store: SQLiteStore) -> None:
    def writes_then_fails(tx: Transaction) -> None:
        tx.insert(entity(50, speed=50))
        tx.flush()  # type: ignore[attr-defined]
        raise RuntimeError("after writing")

    outcomes = await asyncio.gather(
        store.transact("", lambda tx: tx.insert(entity(1, speed=1))),
        store.transact("", writes_then_fails),
        store.transact("", lambda tx: tx.insert(entity(2, speed=2))),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], RuntimeError)
    assert await store.get_entity("", "urn:ngsi-ld:Thing:50") is None
    assert await store.get_entity("", "urn:ngsi-ld:Thing:1") is not None
    assert await store.get_entity("", "urn:ngsi-ld:Thing:2") is not None
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("SELECT count(*) FROM attr").fetchone()[0] == 2


async def test_checkpoints_run_off_the_event_loop(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'city.db'}")
    store.checkpoint_bytes = 1
    await store.open()
    try:
        size_before = store.path.stat().st_size

        def fill(tx: Transaction) -> None:
            for number in range(2000):
                tx.insert(entity(number, speed=number))

        await store.transact("", fill)
        for _ in range(200):
            if not store._checkpointing and store.path.stat().st_size > size_before:
                break
            await asyncio.sleep(0.01)
        assert store.path.stat().st_size > size_before, "the WAL was not copied back into the database"
    finally:
        await store.close()


async def test_history_costs_under_sixty_bytes_per_instance(store: SQLiteStore) -> None:
    speed = "https://example.org/speed"
    start = 1_704_067_200_000_000

    def one_reading(number: int) -> Any:
        from smartby.ngsild.timestamps import from_micros

        stamp = from_micros(start + number * 300_000_000)
        reading = {"type": "Property", "value": float(number % 97), "observedAt": stamp, "modifiedAt": stamp}
        document = {"id": "urn:ngsi-ld:Sensor:1", "type": ["https://example.org/Sensor"], speed: [reading]}

        def change(tx: Transaction) -> None:
            if tx.get("urn:ngsi-ld:Sensor:1") is None:
                tx.insert(document)
            else:
                tx.replace(document)

        return change

    for number in range(3000):
        await store.transact("", one_reading(number))
    with sqlite3.connect(store.path) as connection:
        size = connection.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'history'").fetchone()[0]
        rows = connection.execute("SELECT count(*) FROM history").fetchone()[0]
    assert rows == 3000
    assert size / rows < 60
