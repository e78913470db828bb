"""An SQLite database made before the shared layout (migrations 1 and 2, rows as that code wrote
them) opens with everything in place: migrations 3 to 7 fill the rollup, give every entity id a key
(the temporal entity's number where it had one), keep the order queries page in, flag values the
index cannot hold exactly, and later writes take keys and ordinals that collide with nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from smartby.ngsild.geo import parse_geo_query
from smartby.ngsild.query import parse_q
from smartby.ngsild.reads import Buckets, EntityQuery, EntitySelector, HistoryQuery
from smartby.ngsild.typequery import TypeName
from smartby.store.base import Transaction
from smartby.store.sqlite.backend import SQLiteStore, _migrations, _statements

EX = "https://example.org/"
THING = EX + "Thing"
SPEED = EX + "speed"
LOCATION = EX + "location"
STAMP = "2024-01-01T00:00:00Z"
BASE = 1_704_067_200_000_000
HOUR = 3_600_000_000
BIG = 2**60


def _doc(entity_id: str, speed: int | float, location: list[float] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": entity_id,
        "type": [THING],
        SPEED: [{"type": "Property", "value": speed, "createdAt": STAMP, "modifiedAt": STAMP}],
        "createdAt": STAMP,
        "modifiedAt": STAMP,
    }
    if location is not None:
        doc[LOCATION] = [
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": location},
                "createdAt": STAMP,
                "modifiedAt": STAMP,
            }
        ]
    return doc


def _old_database(path: Path) -> dict[str, dict[str, Any]]:
    """A database at migration 2, written as smartby wrote it then; the documents by id."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_migration (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for version, script in _migrations():
        if version > 2:
            break
        for statement in _statements(script):
            db.execute(statement)
        db.execute("INSERT INTO schema_migration VALUES (?, '2024-01-01T00:00:00Z')", (version,))
    db.execute("INSERT INTO tenant (id, name) VALUES (1, '')")
    db.executemany("INSERT INTO term (id, iri) VALUES (?, ?)", [(1, THING), (2, SPEED), (3, LOCATION)])
    docs = {
        "urn:ngsi-ld:Thing:b": _doc("urn:ngsi-ld:Thing:b", BIG + 1, [12.57, 55.68]),
        "urn:ngsi-ld:Thing:a": _doc("urn:ngsi-ld:Thing:a", BIG),
        "urn:ngsi-ld:Thing:c": _doc("urn:ngsi-ld:Thing:c", 7),
    }
    # pk (creation order) b, a, c; temporal entities a=1, b=2, and d=3 (deleted, history only); c has none.
    temporal = {"urn:ngsi-ld:Thing:a": 1, "urn:ngsi-ld:Thing:b": 2}
    for pk, (entity_id, doc) in enumerate(docs.items(), start=1):
        db.execute(
            "INSERT INTO entity (pk, tenant_id, id, doc, temporal) VALUES (?, 1, ?, ?, ?)",
            (pk, entity_id, orjson.dumps(doc), temporal.get(entity_id)),
        )
        db.execute("INSERT INTO entity_type (tenant_id, type_id, pk) VALUES (1, 1, ?)", (pk,))
        value = doc[SPEED][0]["value"]
        db.execute(
            "INSERT INTO attr (pk, name_id, seq, kind, num, txt) VALUES (?, 2, 0, 0, ?, NULL)",
            (pk, float(value)),
        )
        if LOCATION in doc:
            x, y = doc[LOCATION][0]["value"]["coordinates"]
            db.execute(
                "INSERT INTO attr (pk, name_id, seq, kind, num, txt) VALUES (?, 3, 0, 2, ?, NULL)", (pk, x)
            )
            db.execute("INSERT INTO geo VALUES (?, ?, ?, ?, ?, 3)", (pk * 256, x, x, y, y))
    for tentity, entity_id, deleted in (
        (1, "urn:ngsi-ld:Thing:a", None),
        (2, "urn:ngsi-ld:Thing:b", None),
        (3, "urn:ngsi-ld:Thing:d", BASE + 9 * HOUR),
    ):
        db.execute(
            "INSERT INTO temporal_entity (id, tenant_id, entity_id, types, scope, created_at, modified_at, "
            "deleted_at) "
            "VALUES (?, 1, ?, ?, NULL, ?, ?, ?)",
            (tentity, entity_id, orjson.dumps([THING]).decode(), BASE, BASE, deleted),
        )
        db.execute("INSERT INTO temporal_type (tenant_id, type_id, tentity) VALUES (1, 1, ?)", (tentity,))
        db.execute(
            "INSERT INTO temporal_attr (tentity, name_id, dataset_id, kind) VALUES (?, 2, 0, 0)", (tentity,)
        )
        for hour in range(6):
            number = tentity * 100 + hour
            db.execute(
                "INSERT INTO history VALUES (?, 2, 0, ?, ?, ?, NULL, 16, ?, NULL, NULL, NULL)",
                (tentity, BASE + hour * HOUR + 60_000_000, number, BASE + hour * HOUR, hour * tentity),
            )
    db.execute("UPDATE counter SET value = 400 WHERE name = 'instance'")
    db.close()
    return docs


async def test_an_old_database_opens_with_everything_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    docs = _old_database(path)
    store = SQLiteStore(f"sqlite:///{path}")
    await store.open()
    try:
        for entity_id, doc in docs.items():
            assert await store.get_entity("", entity_id) == doc
        by_type = EntityQuery(selectors=(EntitySelector(types=TypeName(THING)),), limit=10)
        assert [e["id"] for e in (await store.query_entities("", by_type)).entities] == list(docs)
        big = EntityQuery(q=parse_q(f"{SPEED}=={BIG + 1}"))
        assert [e["id"] for e in (await store.query_entities("", big)).entities] == ["urn:ngsi-ld:Thing:b"]
        near = parse_geo_query("near;maxDistance==100", "Point", "[12.57,55.68]", None)
        assert near is not None
        from dataclasses import replace

        found = await store.query_entities("", EntityQuery(geo=replace(near, geoproperty=LOCATION)))
        assert [e["id"] for e in found.entities] == ["urn:ngsi-ld:Thing:b"]

        history, _ = await store.history(
            "", HistoryQuery(selectors=(EntitySelector(ids=("urn:ngsi-ld:Thing:b",)),))
        )
        instances = history[0].attributes[SPEED]
        assert [i["value"] for i in instances] == [0, 2, 4, 6, 8, 10]
        assert instances[0]["instanceId"] == "urn:ngsi-ld:instance:200"
        sums, _ = await store.aggregate(
            "",
            HistoryQuery(start=BASE, end=BASE + 6 * HOUR),
            ("sum", "totalCount"),
            Buckets(width=2 * HOUR, origin=BASE, end=BASE + 6 * HOUR),
        )
        by_id = {e.id: [p[2] for p in e.attributes[SPEED][0].periods] for e in sums}
        assert by_id["urn:ngsi-ld:Thing:d"] == [
            {"sum": 3, "totalCount": 2},
            {"sum": 15, "totalCount": 2},
            {"sum": 27, "totalCount": 2},
        ]

        def later(tx: Transaction) -> None:
            tx.insert(_doc("urn:ngsi-ld:Thing:e", 1))
            tx.insert(_doc("urn:ngsi-ld:Thing:d", 2))  # re-created: its history comes back with it
            changed = _doc("urn:ngsi-ld:Thing:c", 8)
            changed[SPEED][0]["modifiedAt"] = "2024-01-02T00:00:00Z"
            tx.replace(changed)

        await store.transact("", later)
        ordered = [e["id"] for e in (await store.query_entities("", by_type)).entities]
        assert ordered == [*docs, "urn:ngsi-ld:Thing:e", "urn:ngsi-ld:Thing:d"]
        everything, _ = await store.history("", HistoryQuery(limit=10))
        counts = {e.id: len(e.attributes.get(SPEED, [])) for e in everything}
        assert counts == {
            "urn:ngsi-ld:Thing:a": 6,
            "urn:ngsi-ld:Thing:b": 6,
            "urn:ngsi-ld:Thing:d": 7,
            "urn:ngsi-ld:Thing:c": 1,
            "urn:ngsi-ld:Thing:e": 1,
        }
        with sqlite3.connect(path) as db:
            keys = dict(db.execute("SELECT id, key FROM entity_key").fetchall())
            counters = dict(db.execute("SELECT name, value FROM counter").fetchall())
        assert keys["urn:ngsi-ld:Thing:a"] == 1 and keys["urn:ngsi-ld:Thing:b"] == 2
        assert keys["urn:ngsi-ld:Thing:d"] == 3
        assert len(set(keys.values())) == len(keys) == 5
        assert counters["key"] == max(keys.values())
        assert counters["instance"] > 400
    finally:
        await store.close()


async def test_contexts_stored_before_tenants_belong_to_the_default_tenant(tmp_path: Path) -> None:
    """Migration 15 keeps the contexts stored before it, in the default tenant."""
    path = tmp_path / "contexts.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_migration (version INTEGER PRIMARY KEY, applied_at TEXT)")
    for version, script in _migrations():
        if version >= 15:
            break
        for statement in _statements(script):
            db.execute(statement)
        db.execute("INSERT INTO schema_migration VALUES (?, '2024-01-01T00:00:00Z')", (version,))
    db.execute(
        "INSERT INTO jsonld_context (id, url, kind, document, created_at, hits) "
        "VALUES ('h1', 'http://smartby.test/ngsi-ld/v1/jsonldContexts/h1', 'Hosted', '{\"@context\": {}}', "
        "'2024-01-01T00:00:00Z', 3)"
    )
    db.close()
    store = SQLiteStore(f"sqlite:///{path}")
    await store.open()
    try:
        found = await store.get_context("", "h1")
        assert found is not None and found.hits == 3 and found.document == {"@context": {}}
        assert await store.get_context("other", "h1") is None
    finally:
        await store.close()
