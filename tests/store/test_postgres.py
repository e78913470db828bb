"""What only the PostgreSQL backend does: migrations, monthly partitions, PostGIS indexes, row locks
across processes, COPY, and what history costs per instance."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartby.ngsild.geo import parse_geo_query
from smartby.ngsild.reads import EntityQuery, HistoryQuery
from smartby.ngsild.regex import compiled
from smartby.ngsild.timestamps import from_micros, to_micros
from smartby.store.base import Transaction
from smartby.store.postgres import transaction as pg_transaction
from smartby.store.postgres.backend import PostgresStore, migrations
from smartby.store.postgres.dialect import POSTGRES
from smartby.store.postgres.partitions import create_partition
from smartby.store.postgres.patterns import to_postgres

EX = "https://example.org/"
SPEED = EX + "speed"


@pytest.fixture
async def store(fresh_postgres_database: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(fresh_postgres_database, pool_min=1, pool_max=4)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def sensor(number: int, **attributes: Any) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Sensor:{number}",
        "type": [EX + "Sensor"],
        **{EX + name: [value] for name, value in attributes.items()},
    }


def readings(count: int, start: str, step: int = 300_000_000) -> list[dict[str, Any]]:
    first = to_micros(start)
    return [
        {"type": "Property", "value": float(n % 97), "observedAt": from_micros(first + n * step)}
        for n in range(count)
    ]


def scalar(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(url) as connection:
        row = connection.execute(sql, params).fetchone()
        return None if row is None else row[0]


async def test_migrations_are_recorded_once(store: PostgresStore, fresh_postgres_database: str) -> None:
    with psycopg.connect(fresh_postgres_database) as connection:
        versions = [row[0] for row in connection.execute("SELECT version FROM schema_migration ORDER BY 1")]
    assert versions == [version for version, _ in migrations()]
    assert versions == [1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    others = [PostgresStore(fresh_postgres_database, pool_min=0, pool_max=2) for _ in range(3)]
    await asyncio.gather(*(other.open() for other in others))
    await asyncio.gather(*(other.close() for other in others))
    assert scalar(fresh_postgres_database, "SELECT count(*) FROM schema_migration") == len(versions)


async def test_history_goes_to_a_partition_per_month(
    store: PostgresStore, fresh_postgres_database: str
) -> None:
    header = {"id": "urn:ngsi-ld:Sensor:1", "type": [EX + "Sensor"]}
    january = readings(3, "2023-01-31T23:50:00Z")
    march = readings(2, "2023-03-10T00:00:00Z")
    now = "2024-06-01T00:00:00Z"
    await store.transact("", lambda tx: tx.add_history(header, {SPEED: january + march}, now))
    with psycopg.connect(fresh_postgres_database) as connection:
        placed = connection.execute(
            "SELECT tableoid::regclass::text, count(*) FROM history GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert placed == [("history_2023_01", 2), ("history_2023_02", 1), ("history_2023_03", 2)]
    found, _ = await store.history("", HistoryQuery(start=to_micros("2023-02-01T00:00:00Z")))
    assert [i["value"] for i in found[0].attributes[SPEED]] == [2.0, 0.0, 1.0]


async def test_rows_in_the_default_partition_move_to_their_month(
    store: PostgresStore, fresh_postgres_database: str
) -> None:
    header = {"id": "urn:ngsi-ld:Sensor:1", "type": [EX + "Sensor"]}
    await store.transact(
        "",
        lambda tx: tx.add_history(
            header, {SPEED: readings(1, "2022-05-01T00:00:00Z")}, "2024-06-01T00:00:00Z"
        ),
    )
    with psycopg.connect(fresh_postgres_database, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO history_default (key, at, created_at, tenant_id, name_id, dataset_id, kind, num) "
            "SELECT key, %s, created_at, tenant_id, name_id, dataset_id, kind, num FROM history",
            (to_micros("2022-07-04T00:00:00Z"),),
        )
        assert create_partition(connection, 2022, 7)
        assert not create_partition(connection, 2022, 7)
        placed = connection.execute(
            "SELECT tableoid::regclass::text FROM history WHERE at >= %s",
            (to_micros("2022-07-01T00:00:00Z"),),
        ).fetchall()
    assert placed == [("history_2022_07",)]


async def test_a_near_query_uses_the_gist_index(store: PostgresStore, fresh_postgres_database: str) -> None:
    def fill(tx: Transaction) -> None:
        tx.get_many([f"urn:ngsi-ld:Sensor:{n}" for n in range(3000)])
        for number in range(3000):
            point = {"type": "Point", "coordinates": [12.0 + number % 60 * 0.01, 55.0 + number // 60 * 0.01]}
            tx.insert(sensor(number, location={"type": "GeoProperty", "value": point}))

    await store.transact("", fill)
    near = parse_geo_query("near;maxDistance==500", "Point", "[12.3,55.2]", None)
    assert near is not None
    query = EntityQuery(geo=dataclasses.replace(near, geoproperty=EX + "location"), limit=100)
    found = await store.query_entities("", query)
    expected = [
        f"urn:ngsi-ld:Sensor:{n}"
        for n in range(3000)
        if query.geo is not None
        and query.geo.matches({"type": "Point", "coordinates": [12.0 + n % 60 * 0.01, 55.0 + n // 60 * 0.01]})
    ]
    assert expected and [e["id"] for e in found.entities] == expected
    with psycopg.connect(fresh_postgres_database, autocommit=True) as connection:
        connection.execute("ANALYZE")
        compiled = store._compile(connection, 1, query)
        assert compiled.exact
        plan = "\n".join(
            row[0]
            for row in connection.execute(
                POSTGRES.sql(f"EXPLAIN {compiled.select('e.doc')} ORDER BY {compiled.order} LIMIT 100"),
                compiled.params,
            )
        )
    assert "geo_geom" in plan, plan


async def test_changes_from_two_processes_all_land(fresh_postgres_database: str) -> None:
    stores = [PostgresStore(fresh_postgres_database, pool_min=1, pool_max=6) for _ in range(2)]
    for opened in stores:
        await opened.open()
    try:

        def increment(tx: Transaction) -> None:
            current = tx.get("urn:ngsi-ld:Sensor:1")
            if current is None:
                tx.insert(sensor(1, count={"type": "Property", "value": 1}))
            else:
                current[EX + "count"][0]["value"] += 1
                tx.replace(current)

        await asyncio.gather(*(stores[n % 2].transact("", increment) for n in range(40)))
        found = await stores[1].get_entity("", "urn:ngsi-ld:Sensor:1")
        assert found is not None and found[EX + "count"][0]["value"] == 40
        assert scalar(fresh_postgres_database, "SELECT count(*) FROM entity_key") == 1

        def upsert(number: int) -> Any:
            def change(tx: Transaction) -> str:
                ids = [f"urn:ngsi-ld:Sensor:{n}" for n in range(10, 20)]
                existing = tx.get_many(ids)
                for entity_id in ids:
                    changed = sensor(
                        int(entity_id.rsplit(":", 1)[1]),
                        by={
                            "type": "Property",
                            "value": number,
                            "modifiedAt": f"2024-01-01T00:00:0{number}Z",
                        },
                    )
                    (tx.replace if entity_id in existing else tx.insert)(changed)
                return "replaced" if existing else "created"

            return change

        outcomes = await asyncio.gather(*(stores[n % 2].transact("", upsert(n)) for n in range(6)))
        assert sorted(outcomes) == ["created"] + ["replaced"] * 5
        with psycopg.connect(fresh_postgres_database) as connection:
            assert connection.execute("SELECT count(*) FROM entity").fetchone() == (11,)
            history = connection.execute(
                "SELECT count(*) FROM history h JOIN term t ON t.id = h.name_id WHERE t.iri = %s",
                (EX + "by",),
            ).fetchone()
        assert history == (10 * 6,)
    finally:
        for opened in stores:
            await opened.close()


async def test_many_history_rows_are_sent_with_copy(
    store: PostgresStore, fresh_postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied: list[str] = []
    original = psycopg.Cursor.copy

    def spy(self: psycopg.Cursor[Any], statement: Any, *args: Any, **kwargs: Any) -> Any:
        copied.append(str(statement))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", spy)
    header = {"id": "urn:ngsi-ld:Sensor:1", "type": [EX + "Sensor"]}
    many = readings(pg_transaction.COPY_ROWS * 3, "2024-01-01T00:00:00Z")
    await store.transact("", lambda tx: tx.add_history(header, {SPEED: many}, "2024-06-01T00:00:00Z"))
    assert any(statement.startswith("COPY history") for statement in copied)
    copied.clear()
    await store.transact(
        "",
        lambda tx: tx.add_history(
            header, {SPEED: readings(2, "2024-02-01T00:00:00Z")}, "2024-06-01T00:00:00Z"
        ),
    )
    assert not copied
    found, _ = await store.history("", HistoryQuery())
    instances = found[0].attributes[SPEED]
    assert len(instances) == len(many) + 2
    assert len({i["instanceId"] for i in instances}) == len(instances)


async def test_history_costs_under_150_bytes_per_instance(
    store: PostgresStore, fresh_postgres_database: str
) -> None:
    """100,000 readings (100 sensors x 1,000): heap and index of all history partitions per row."""
    for number in range(100):
        header = {"id": f"urn:ngsi-ld:Sensor:{number}", "type": [EX + "Sensor"]}
        series = [
            {**reading, "value": reading["value"] + 0.5, "unitCode": "CEL"}
            for reading in readings(1000, "2024-01-01T00:00:00Z")
        ]
        await store.transact(
            "",
            lambda tx, h=header, s=series: tx.add_history(h, {EX + "temperature": s}, "2024-06-01T00:00:00Z"),
        )
    with psycopg.connect(fresh_postgres_database, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE history")
        rows, size = connection.execute(
            "SELECT (SELECT count(*) FROM history), sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'history'::regclass"
        ).fetchone() or (0, 0)
    assert rows == 100_000
    assert size / rows < 150


REGEX_PARTS = [
    "a",
    "b",
    "1",
    "-",
    ".",
    "^",
    "$",
    "*",
    "+",
    "?",
    "*?",
    "|",
    "(",
    ")",
    "[ab]",
    "[^a]",
    "[a-b.]",
]
REGEX_PARTS += ["\\.", "\\-", "{1,2}", "{2}", "\n", "\\d", "[", "]"]


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.lists(st.sampled_from(REGEX_PARTS), max_size=7).map("".join),
    texts=st.lists(st.text(alphabet="ab-.\n1{}", max_size=6), min_size=1, max_size=6),
)
def test_regular_expressions_postgres_reads_alike(
    postgres_session: str, pattern: str, texts: list[str]
) -> None:
    translated = to_postgres(pattern)
    if translated is None:
        return
    with psycopg.connect(postgres_session) as connection:
        found = [
            bool(row[0])
            for row in connection.execute(
                'SELECT t COLLATE "C" ~ %s FROM unnest(%s::text[]) WITH ORDINALITY AS x (t, n) ORDER BY n',
                (translated, texts),
            )
        ]
    regex = compiled(pattern)
    assert regex is not None
    assert found == [regex.search(text) is not None for text in texts], translated


# -- group commit: changes that name their entities share a transaction -------------------------------


def _increment(number: int, by: int = 1) -> Any:
    def change(tx: Transaction) -> int:
        current = tx.get(f"urn:ngsi-ld:Sensor:{number}")
        if current is None:
            tx.insert(sensor(number, count={"type": "Property", "value": by}))
            return by
        value = current[EX + "count"][0]["value"] + by
        current[EX + "count"] = [
            {
                "type": "Property",
                "value": value,
                "modifiedAt": f"2024-01-01T00:{value // 60 % 60:02d}:{value % 60:02d}Z",
            }
        ]
        tx.replace(current)
        return int(value)

    return change


async def test_changes_waiting_together_share_a_transaction_and_each_gets_its_result(
    store: PostgresStore, fresh_postgres_database: str
) -> None:
    await store.transact("", _increment(1), ("urn:ngsi-ld:Sensor:1",))
    results = await asyncio.gather(
        *(store.transact("", _increment(1), ("urn:ngsi-ld:Sensor:1",)) for _ in range(60))
    )
    assert sorted(results) == list(range(2, 62))
    found = await store.get_entity("", "urn:ngsi-ld:Sensor:1")
    assert found is not None and found[EX + "count"][0]["value"] == 61
    history, _ = await store.history("", HistoryQuery(attrs=(EX + "count",)))
    assert [i["value"] for i in history[0].attributes[EX + "count"]] == list(range(1, 62))
    # 60 changes waiting together: a few transactions held many of them.
    assert store.groups.changes > 20 and store.groups.shared < store.groups.changes / 2
    assert store.groups.split == 0


async def test_a_change_that_fails_in_a_group_fails_alone(store: PostgresStore) -> None:
    def fails_before_writing(tx: Transaction) -> None:
        current = tx.get("urn:ngsi-ld:Sensor:1")
        assert current is not None
        current[EX + "count"] = [{"type": "Property", "value": -1}]
        tx.replace(current)
        raise ValueError("refused")

    def fails_after_writing(tx: Transaction) -> None:
        tx.insert(sensor(9, count={"type": "Property", "value": 9}))
        tx.flush()  # type: ignore[attr-defined]
        raise RuntimeError("too late")

    await store.transact("", _increment(1), ("urn:ngsi-ld:Sensor:1",))
    jobs = [
        store.transact("", _increment(1), ("urn:ngsi-ld:Sensor:1",)),
        store.transact("", fails_before_writing, ("urn:ngsi-ld:Sensor:1",)),
        store.transact("", _increment(1), ("urn:ngsi-ld:Sensor:1",)),
        store.transact("", fails_after_writing, ("urn:ngsi-ld:Sensor:9",)),
        store.transact("", _increment(2), ("urn:ngsi-ld:Sensor:2",)),
    ]
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(outcomes[1], ValueError) and isinstance(outcomes[3], RuntimeError)
    assert store.groups.split == 1  # the change that had sent writes: its group ran again one by one
    assert sorted(o for o in outcomes if isinstance(o, int)) == [1, 2, 3]
    found = await store.get_entity("", "urn:ngsi-ld:Sensor:1")
    assert found is not None and found[EX + "count"][0]["value"] == 3
    assert await store.get_entity("", "urn:ngsi-ld:Sensor:9") is None
    history, _ = await store.history("", HistoryQuery(attrs=(EX + "count",)))
    counts = {e.id: [i["value"] for i in e.attributes[EX + "count"]] for e in history}
    assert counts == {"urn:ngsi-ld:Sensor:1": [1, 2, 3], "urn:ngsi-ld:Sensor:2": [1]}


async def test_groups_of_two_processes_lock_in_id_order_and_take_turns(fresh_postgres_database: str) -> None:
    stores = [PostgresStore(fresh_postgres_database, pool_min=1, pool_max=6) for _ in range(2)]
    for opened in stores:
        await opened.open()
    try:
        numbers = list(range(8))

        def both(first: int, second: int) -> Any:
            def change(tx: Transaction) -> None:
                _increment(first)(tx)
                _increment(second)(tx)

            return change

        jobs = []
        for round_ in range(25):
            for n in numbers:
                a, b = n, numbers[(n + 3 + round_) % 8]
                if a == b:
                    continue
                # One process names the pair one way round, the other the other way.
                jobs.append(
                    stores[0].transact("", both(a, b), (f"urn:ngsi-ld:Sensor:{a}", f"urn:ngsi-ld:Sensor:{b}"))
                )
                jobs.append(
                    stores[1].transact("", both(b, a), (f"urn:ngsi-ld:Sensor:{b}", f"urn:ngsi-ld:Sensor:{a}"))
                )
        await asyncio.gather(*jobs)
        finals = [await stores[0].get_entity("", f"urn:ngsi-ld:Sensor:{n}") for n in numbers]
        total = sum(e[EX + "count"][0]["value"] for e in finals if e is not None)
        assert total == 2 * len(jobs)
        # A deadlock between two groups would have split them (run again change by change).
        assert stores[0].groups.split == stores[1].groups.split == 0
        assert stores[0].groups.shared + stores[1].groups.shared > 0
    finally:
        for opened in stores:
            await opened.close()


async def test_contexts_stored_before_tenants_belong_to_the_default_tenant(
    fresh_postgres_database: str,
) -> None:
    """Migration 15 keeps the contexts stored before it, in the default tenant."""
    with psycopg.connect(fresh_postgres_database, autocommit=True) as connection:
        for version, script in migrations():
            if version >= 15:
                break
            connection.execute(script.encode())
        connection.execute(
            "CREATE TABLE schema_migration (version integer PRIMARY KEY, applied_at timestamptz)"
        )
        for version, _ in migrations():
            if version < 15:
                connection.execute("INSERT INTO schema_migration (version) VALUES (%s)", (version,))
        connection.execute(
            "INSERT INTO jsonld_context (id, url, kind, document, created_at, hits) VALUES "
            "('h1', 'http://smartby.test/ngsi-ld/v1/jsonldContexts/h1', 'Hosted', '{\"@context\": {}}', "
            "'2024-01-01T00:00:00Z', 3)"
        )
    store = PostgresStore(fresh_postgres_database, pool_min=0, pool_max=2)
    await store.open()
    try:
        found = await store.get_context("", "h1")
        assert found is not None and found.hits == 3 and found.document == {"@context": {}}
        assert await store.get_context("other", "h1") is None
    finally:
        await store.close()
