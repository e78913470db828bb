"""Packed history on PostgreSQL (`store/postgres/pack.py`): the temporal API answers the same
before and after packing, and after writes into packed days; the chunk encoding round-trips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from smartby.api.app import create_app
from smartby.assembly import Assembly, assemble
from smartby.cli import app as cli
from smartby.ngsild.timestamps import to_micros
from smartby.settings import Settings
from smartby.store.postgres import pack
from smartby.store.postgres.backend import PostgresStore, migrate
from smartby.store.postgres.history import COLUMNS, numeric_text

V1 = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}
METER = "urn:ngsi-ld:Meter:1"
LAMP = "urn:ngsi-ld:Lamp:7"
FAR = to_micros("2100-01-01T00:00:00Z")


@pytest.fixture
async def parts(postgres_database: str) -> AsyncIterator[Assembly]:
    settings = Settings(  # type: ignore[call-arg]
        database=postgres_database, remote_contexts=False, history_pack_interval=0, _env_file=None
    )
    assembled = assemble(settings)
    await assembled.broker.open()
    try:
        yield assembled
    finally:
        await assembled.broker.close()


@pytest.fixture
async def client(parts: Assembly) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(parts))
    async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
        yield http


def store_of(parts: Assembly) -> PostgresStore:
    store = parts.broker.store
    assert isinstance(store, PostgresStore)
    return store


def table_counts(parts: Assembly) -> tuple[int, int]:
    """(history rows, packed instances)."""
    with psycopg.connect(store_of(parts).url) as db:
        rows = db.execute("SELECT count(*) FROM history").fetchone()
        packed = db.execute("SELECT coalesce(sum(count), 0) FROM history_chunk").fetchone()
    assert rows is not None and packed is not None
    return int(rows[0]), int(packed[0])


def unpack_all(parts: Assembly) -> None:
    with psycopg.connect(store_of(parts).url) as db:
        pack.unpack(db, "1 = 1", ())


def instant(day: int, minute: int) -> str:
    return f"2024-03-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00Z"


def meter_body() -> dict[str, Any]:
    """A varied history over three days: exact ints and floats, units, datasets, sub-attributes,
    strings, JSON, relationships, geometry, language maps."""
    power = []
    for day in (4, 5, 6):
        for step in range(12):
            value: Any = [3, 2.5, -7, 0.1, 10**9 + 7, 1e-7, 12.0, 40][(day + step) % 8]
            instance: dict[str, Any] = {
                "type": "Property",
                "value": value,
                "observedAt": instant(day, step * 37 + day),
            }
            if step % 3 == 0:
                instance["unitCode"] = "KWT"
            if step % 4 == 1:
                instance["datasetId"] = "urn:ngsi-ld:Dataset:b"
            if step % 5 == 2:
                instance["accuracy"] = {"type": "Property", "value": step}
            power.append(instance)
    return {
        "id": METER,
        "type": "Meter",
        "power": power,
        "status": [
            {"type": "Property", "value": text, "observedAt": instant(4 + n % 3, 100 + n)}
            for n, text in enumerate(["ok", "læk", "", "ok", "fejl ∆"])
        ],
        "config": [
            {"type": "Property", "value": {"a": [1, 2.5, None]}, "observedAt": instant(5, 10)},
            {"type": "Property", "value": [True, "x"], "observedAt": instant(6, 10)},
        ],
        "feeds": [
            {"type": "Relationship", "object": f"urn:ngsi-ld:Cabinet:{n}", "observedAt": instant(4, 200 + n)}
            for n in range(3)
        ],
        "location": [
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [12.5 + n / 100, 55.6]},
                "observedAt": instant(5, 300 + n),
            }
            for n in range(2)
        ],
        "counter": [
            {"type": "Property", "value": 2**60 + n, "observedAt": instant(4 + n, 1)} for n in range(3)
        ],
        "label": [
            {
                "type": "LanguageProperty",
                "languageMap": {"da": "måler", "en": "meter"},
                "observedAt": instant(6, 5),
            }
        ],
    }


async def record(client: httpx.AsyncClient) -> None:
    created = await client.post(f"{V1}/temporal/entities", json=meter_body(), headers=JSON)
    assert created.status_code == 201, created.text
    # A current entity: instances without observedAt (recorded when written) and a deletion.
    lamp = {
        "id": LAMP,
        "type": "Lamp",
        "level": {"type": "Property", "value": 10},
        "on": {"type": "Property", "value": True},
    }
    assert (await client.post(f"{V1}/entities", json=lamp, headers=JSON)).status_code == 201
    for level in (20, 30.5):
        patch = {"level": {"type": "Property", "value": level}}
        assert (
            await client.patch(f"{V1}/entities/{LAMP}/attrs", json=patch, headers=JSON)
        ).status_code == 204
    assert (await client.delete(f"{V1}/entities/{LAMP}/attrs/on")).status_code == 204


EVER = {"timerel": "after", "timeAt": "2000-01-01T00:00:00Z"}
BETWEEN = {"timerel": "between", "timeAt": instant(4, 300), "endTimeAt": instant(6, 200)}
METHODS = "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq"
READS: list[tuple[str, dict[str, str]]] = [
    (f"/temporal/entities/{METER}", {}),
    (f"/temporal/entities/{METER}", {"options": "temporalValues"}),
    (f"/temporal/entities/{METER}", {"lastN": "3"}),
    (f"/temporal/entities/{METER}", {"attrs": "power,status", "lastN": "2", **BETWEEN}),
    (f"/temporal/entities/{METER}", {"timerel": "before", "timeAt": instant(5, 120)}),
    (f"/temporal/entities/{METER}", {"lastN": "5", "timerel": "before", "timeAt": instant(5, 120)}),
    (f"/temporal/entities/{METER}", {"lastN": "4", "datasetId": "urn:ngsi-ld:Dataset:b"}),
    (f"/temporal/entities/{METER}", {"lastN": "30", "attrs": "power"}),
    (f"/temporal/entities/{METER}", {"timerel": "after", "timeAt": instant(5, 120)}),
    (f"/temporal/entities/{METER}", BETWEEN),
    (f"/temporal/entities/{METER}", {"datasetId": "urn:ngsi-ld:Dataset:b"}),
    (
        f"/temporal/entities/{METER}",
        {"timeproperty": "createdAt", "timerel": "after", "timeAt": "2000-01-01T00:00:00Z"},
    ),
    (
        f"/temporal/entities/{METER}",
        {"options": "aggregatedValues", "aggrMethods": METHODS, "attrs": "power,status,config"},
    ),
    (
        f"/temporal/entities/{METER}",
        {
            "options": "aggregatedValues",
            "aggrMethods": METHODS,
            "aggrPeriodDuration": "PT1H",
            "attrs": "power,status",
            **BETWEEN,
        },
    ),
    (
        f"/temporal/entities/{METER}",
        {
            "options": "aggregatedValues",
            "aggrMethods": "sum,avg,totalCount",
            "aggrPeriodDuration": "P1D",
            "attrs": "power",
        },
    ),
    (
        f"/temporal/entities/{METER}",
        {
            "options": "aggregatedValues",
            "aggrMethods": "min,max",
            "aggrPeriodDuration": "PT6H",
            "attrs": "status",
        },
    ),
    (f"/temporal/entities/{LAMP}", {}),
    (
        f"/temporal/entities/{LAMP}",
        {"timeproperty": "deletedAt", "timerel": "after", "timeAt": "2000-01-01T00:00:00Z"},
    ),
    ("/temporal/entities", {"type": "Meter,Lamp", "count": "true", **EVER}),
    ("/temporal/entities", {"type": "Meter", "attrs": "feeds", "lastN": "1", **EVER}),
    ("/temporal/entities", {"type": "Meter,Lamp", "timerel": "before", "timeAt": instant(4, 250)}),
    ("/temporal/entities", {"type": "Meter,Lamp", "limit": "1", "count": "true", **EVER}),
    ("/temporal/entities", {"type": "Meter,Lamp", "attrs": "status", **BETWEEN}),
]


async def answers(client: httpx.AsyncClient) -> list[tuple[int, str | None, Any]]:
    found = []
    for path, params in READS:
        response = await client.get(V1 + path, params=params)
        assert response.status_code in (200, 206), (path, params, response.text)
        found.append((response.status_code, response.headers.get("Content-Range"), response.json()))
    return found


async def test_every_temporal_read_answers_the_same_once_packed(
    parts: Assembly, client: httpx.AsyncClient
) -> None:
    await record(client)
    before = await answers(client)
    parts.broker.settings.temporal_page_size = 4
    paged = await answers(client)
    assert any(code == 206 for code, _, _ in paged)
    live = table_counts(parts)[0]

    packed = await store_of(parts).pack_history(FAR)

    assert packed == live
    assert table_counts(parts) == (0, live)
    with psycopg.connect(store_of(parts).url) as db:
        # The emptied partitions gave their space back.
        left = db.execute("SELECT pg_total_relation_size('history_2024_03')").fetchone()
    assert left is not None and left[0] <= pack.EMPTY_PARTITION
    parts.broker.settings.temporal_page_size = 10_000
    assert await answers(client) == before
    parts.broker.settings.temporal_page_size = 4
    assert await answers(client) == paged
    # A second pass finds nothing to pack and changes nothing.
    assert await store_of(parts).pack_history(FAR) == 0
    assert table_counts(parts) == (0, live)
    assert await answers(client) == paged


async def test_only_whole_days_older_than_the_cutoff_are_packed(
    parts: Assembly, client: httpx.AsyncClient
) -> None:
    await record(client)
    live = table_counts(parts)[0]
    packed = await store_of(parts).pack_history(to_micros(instant(5, 0)))
    rows, in_chunks = table_counts(parts)
    assert packed == in_chunks > 0 and rows == live - packed
    with psycopg.connect(store_of(parts).url) as db:
        latest = db.execute("SELECT max(last_at) FROM history_chunk").fetchone()
        earliest = db.execute("SELECT min(at) FROM history").fetchone()
    assert latest is not None and latest[0] < to_micros(instant(5, 0))
    assert earliest is not None and earliest[0] >= to_micros(instant(5, 0))


async def instances(client: httpx.AsyncClient, attribute: str, **params: str) -> list[dict[str, Any]]:
    response = await client.get(f"{V1}/temporal/entities/{METER}", params={"attrs": attribute, **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json().get(attribute, [])
    return found if isinstance(found, list) else [found]


async def same_when_unpacked(parts: Assembly, client: httpx.AsyncClient) -> list[tuple[int, str | None, Any]]:
    """The answers read with packed days, checked equal to those read once all is unpacked."""
    mixed = await answers(client)
    unpack_all(parts)
    assert table_counts(parts)[1] == 0
    assert await answers(client) == mixed
    return mixed


async def test_back_fill_into_a_packed_day(parts: Assembly, client: httpx.AsyncClient) -> None:
    await record(client)
    await store_of(parts).pack_history(FAR)
    late = {"status": [{"type": "Property", "value": "late", "observedAt": instant(5, 1)}]}
    added = await client.post(f"{V1}/temporal/entities/{METER}/attrs", json=late, headers=JSON)
    assert added.status_code == 204, added.text
    statuses = await instances(client, "status")
    assert [s["value"] for s in statuses] == ["ok", "ok", "late", "læk", "fejl ∆", ""]
    assert table_counts(parts)[0] == 1
    # An instance observed at the moment of a packed one replaces it.
    same = {"status": [{"type": "Property", "value": "again", "observedAt": instant(5, 101)}]}
    added = await client.post(f"{V1}/temporal/entities/{METER}/attrs", json=same, headers=JSON)
    assert added.status_code == 204, added.text
    statuses = await instances(client, "status")
    assert [s["value"] for s in statuses] == ["ok", "ok", "late", "again", "fejl ∆", ""]
    # The next pass packs the day again, with the new instance.
    assert await store_of(parts).pack_history(FAR) > 1
    assert table_counts(parts)[0] == 0
    statuses = await instances(client, "status")
    assert [s["value"] for s in statuses] == ["ok", "ok", "late", "again", "fejl ∆", ""]
    await same_when_unpacked(parts, client)


async def test_modify_and_delete_packed_instances(parts: Assembly, client: httpx.AsyncClient) -> None:
    await record(client)
    original = await instances(client, "power")
    await store_of(parts).pack_history(FAR)
    target, gone = original[5], original[9]
    changed = {"type": "Property", "value": 99, "observedAt": target["observedAt"]}
    url = f"{V1}/temporal/entities/{METER}/attrs/power/{target['instanceId']}"
    assert (await client.patch(url, json=changed, headers=JSON)).status_code == 204
    url = f"{V1}/temporal/entities/{METER}/attrs/power/{gone['instanceId']}"
    assert (await client.delete(url)).status_code == 204
    assert (await client.delete(url)).status_code == 404
    now = await instances(client, "power")
    assert len(now) == len(original) - 1
    assert gone["instanceId"] not in {i["instanceId"] for i in now}
    assert [i["value"] for i in now if i["instanceId"] == target["instanceId"]] == [99]
    await same_when_unpacked(parts, client)


async def test_delete_attribute_and_entity_history_when_packed(
    parts: Assembly, client: httpx.AsyncClient
) -> None:
    await record(client)
    await store_of(parts).pack_history(FAR)
    assert (await client.delete(f"{V1}/temporal/entities/{METER}/attrs/status")).status_code == 204
    whole = await client.get(f"{V1}/temporal/entities/{METER}")
    assert "status" not in whole.json() and len(whole.json()["power"]) == 36
    assert (await client.delete(f"{V1}/temporal/entities/{METER}/attrs/status")).status_code == 404
    assert len(await instances(client, "power")) == 36
    assert (await client.delete(f"{V1}/temporal/entities/{METER}")).status_code == 204
    assert (await client.get(f"{V1}/temporal/entities/{METER}")).status_code == 404
    with psycopg.connect(store_of(parts).url) as db:
        left = db.execute(
            "SELECT count(*) FROM history_chunk c JOIN temporal_entity t ON t.key = c.key"
        ).fetchone()
        orphans = db.execute(
            "SELECT count(*) FROM history_chunk c WHERE NOT EXISTS "
            "(SELECT 1 FROM temporal_entity t WHERE t.key = c.key)"
        ).fetchone()
    assert left is not None and orphans is not None and orphans[0] == 0 and left[0] > 0


async def test_pruning_reaches_packed_days(parts: Assembly, client: httpx.AsyncClient) -> None:
    await record(client)
    total = sum(table_counts(parts))
    await store_of(parts).pack_history(FAR)
    cut = to_micros(instant(5, 100))
    removed = await parts.broker.store.prune_history("", "Meter", cut)
    power = await instances(client, "power")
    assert power and all(to_micros(i["observedAt"]) >= cut for i in power)
    assert sum(table_counts(parts)) == total - removed
    await same_when_unpacked(parts, client)


async def test_a_writer_during_packing_loses_nothing(parts: Assembly, client: httpx.AsyncClient) -> None:
    await record(client)
    store = store_of(parts)

    async def write() -> None:
        for n in range(40):
            late = {
                "status": [{"type": "Property", "value": f"w{n}", "observedAt": instant(4 + n % 3, 500 + n)}]
            }
            response = await client.post(f"{V1}/temporal/entities/{METER}/attrs", json=late, headers=JSON)
            assert response.status_code == 204

    async def packer() -> int:
        done = 0
        for _ in range(8):
            done += await store.pack_history(FAR)
        return done

    await asyncio.gather(write(), packer())
    await store.pack_history(FAR)
    values = {s["value"] for s in await instances(client, "status")}
    assert {f"w{n}" for n in range(40)} <= values
    assert len(await instances(client, "status")) == 45
    assert table_counts(parts)[0] == 0


async def test_each_process_packs_in_the_background(postgres_database: str) -> None:
    settings = Settings(  # type: ignore[call-arg]
        database=postgres_database,
        remote_contexts=False,
        history_pack_after=0,
        history_pack_interval=0.05,
        _env_file=None,
    )
    parts = assemble(settings)
    await parts.broker.open()
    try:
        transport = httpx.ASGITransport(app=create_app(parts))
        async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
            await record(http)
            for _ in range(400):
                if table_counts(parts)[1] > 0:
                    break
                await asyncio.sleep(0.05)
            rows, packed = table_counts(parts)
            # The meter's days of 2024 are packed; the lamp's instances of today are not, yet.
            assert (packed, rows) == (52, 5)
    finally:
        await parts.broker.close()


def test_the_command_packs_old_days(postgres_database: str, tmp_path: Any) -> None:
    settings = Settings(  # type: ignore[call-arg]
        database=postgres_database, remote_contexts=False, history_pack_interval=0, _env_file=None
    )

    async def write() -> None:
        parts = assemble(settings)
        await parts.broker.open()
        try:
            transport = httpx.ASGITransport(app=create_app(parts))
            async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
                await record(http)
        finally:
            await parts.broker.close()

    asyncio.run(write())
    with psycopg.connect(postgres_database) as db:
        live = db.execute("SELECT count(*) FROM history").fetchone()
    assert live is not None
    # Days older than a day: the meter's March 2024, not the lamp's instances of today.
    result = CliRunner().invoke(cli, ["history", "pack", "--database", postgres_database])
    assert result.exit_code == 0, result.output
    with psycopg.connect(postgres_database) as db:
        packed = db.execute("SELECT sum(count) FROM history_chunk").fetchone()
        today = db.execute("SELECT count(*) FROM history WHERE at > %s", (to_micros(instant(31, 0)),))
        lamp = today.fetchone()
    assert packed is not None and lamp is not None
    assert f"Packed {packed[0]} history instances." in result.output
    assert packed[0] + lamp[0] == live[0] and lamp[0] > 0
    again = CliRunner().invoke(cli, ["history", "pack", "--database", postgres_database, "--after", "0"])
    # Only whole days are packed: today's instances wait for tomorrow.
    assert again.exit_code == 0 and "Packed 0 history instances." in again.output
    sqlite = CliRunner().invoke(cli, ["history", "pack", "--database", f"sqlite:///{tmp_path}/city.db"])
    assert sqlite.exit_code == 0 and "Only PostgreSQL packs history" in sqlite.output


# -- the encoding ------------------------------------------------------------------------------


@pytest.fixture
def database(postgres_database: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_database, autocommit=True) as db:
        migrate(db)
        yield db


numbers = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda n: Decimal(numeric_text(n))),
    # As a `numeric` holds it: no negative zero.
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: Decimal(numeric_text(x + 0.0))),
)
characters = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
"""What JSON text in a `text` column can hold."""
texts = st.one_of(st.none(), st.text(characters, max_size=20))
times = st.integers(min_value=0, max_value=2**62)
DAY = pack.DAY


@st.composite
def series_rows(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    day = draw(st.integers(min_value=0, max_value=100_000)) * DAY
    count = draw(st.integers(min_value=1, max_value=40))
    instances = draw(st.lists(times, min_size=count, max_size=count, unique=True))
    dataset = draw(st.sampled_from([0, 9]))
    rows = []
    for instance in instances:
        rows.append(
            (
                42,
                day + draw(st.integers(min_value=0, max_value=DAY - 1)),
                instance,
                draw(times),
                draw(st.one_of(st.none(), times)),
                3,
                7,
                dataset,
                draw(st.one_of(st.none(), st.integers(min_value=1, max_value=2**31 - 1))),
                draw(st.integers(min_value=0, max_value=63)),
                draw(numbers),
                draw(texts),
                draw(texts),
            )
        )
    return rows


def comparable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row with its number as text with its scale (1.50 is not 1.5)."""
    num = row[10]
    text = (
        None if num is None else format(num, "f") if isinstance(num, Decimal) else format(Decimal(num), "f")
    )
    return (*row[:10], text, *row[11:])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=series_rows())
def test_chunks_round_trip_any_rows(database: psycopg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows of one series and day → a chunk → the same rows, read through the SQL that reads
    history (`pack.ROWS`), in (at, instance) order."""
    with database.transaction():
        database.execute("DELETE FROM history_chunk")
        assert pack.write_chunks(database, rows) == 1
        found = database.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {pack.ROWS} h ORDER BY at, instance"
        ).fetchall()
        database.execute("DELETE FROM history_chunk")
    expected = sorted(rows, key=lambda row: (row[1], row[2]))
    assert [comparable(row) for row in found] == [comparable(row) for row in expected]
