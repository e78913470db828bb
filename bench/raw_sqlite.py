"""The raw-driver baseline: sqlite3 writing exactly the rows smartby's store writes.

The rows (the entity's key, document, type rows, attribute index rows, the temporal entity, the
history of every attribute, its hourly rollup and the counters) are computed before the clock
starts; what is timed is only the driver: the same statements into the same schema, with the same
pragmas, one transaction per batch.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from smartby.store.history_rows import Clock, instance_row
from smartby.store.sql.index_rows import attribute_rows
from smartby.store.sqlite import rollup
from smartby.store.sqlite.backend import _migrations, _statements

_STATEMENTS = {
    "entity_key": "INSERT INTO entity_key (tenant_id, id, key) VALUES (?, ?, ?)",
    "temporal_entity": "INSERT INTO temporal_entity "
    "(key, tenant_id, entity_id, types, scope, created_at, modified_at, deleted_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET types = excluded.types, scope = excluded.scope, "
    "modified_at = excluded.modified_at, deleted_at = excluded.deleted_at",
    "temporal_type": "INSERT INTO temporal_type (tenant_id, type_id, key) VALUES (?, ?, ?)",
    "entity": "INSERT INTO entity (key, tenant_id, ordinal, id, doc) VALUES (?, ?, ?, ?, ?)",
    "entity_type": "INSERT INTO entity_type (tenant_id, type_id, ordinal, key) VALUES (?, ?, ?, ?)",
    "attr": "INSERT INTO attr (key, name_id, seq, tenant_id, kind, num, txt) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "history": "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "temporal_attr": "INSERT INTO temporal_attr (key, name_id, dataset_id, tenant_id, kind) "
    "VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key, name_id, dataset_id) DO UPDATE SET kind = excluded.kind",
}
_COUNTERS = "UPDATE counter SET value = ? WHERE name = ?"

TRAFFIC = "https://uri.etsi.org/ngsi-ld/default-context/"


def traffic_entity(number: int) -> dict[str, Any]:
    stamp = "2024-01-01T00:00:00Z"
    attribute = {"createdAt": stamp, "modifiedAt": stamp}
    return {
        "id": f"urn:ngsi-ld:TrafficFlowObserved:{number}",
        "type": [TRAFFIC + "TrafficFlowObserved"],
        TRAFFIC + "intensity": [{"type": "Property", "value": number % 1000, **attribute}],
        TRAFFIC + "averageVehicleSpeed": [{"type": "Property", "value": number % 90 + 0.5, **attribute}],
        TRAFFIC + "occupancy": [{"type": "Property", "value": (number % 10) / 10, **attribute}],
        "createdAt": stamp,
        "modifiedAt": stamp,
    }


def insert_rate(
    path: Path, total: int, batch: int, synchronous: str = "FULL", *, without: tuple[str, ...] = ()
) -> float:
    """Entities per second the raw driver writes, in batches of `batch`; `without` names indexes
    of the schema to leave out (to show what each costs)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    for _, script in _migrations():
        for statement in _statements(script):
            if not any(f"INDEX {name} " in statement for name in without):
                db.execute(statement)
    db.execute("INSERT INTO tenant (id, name) VALUES (1, '')")
    terms: dict[str, int] = {}

    def term(iri: str) -> int:
        if iri not in terms:
            terms[iri] = db.execute("INSERT INTO term (iri) VALUES (?) RETURNING id", (iri,)).fetchone()[0]
        return terms[iri]

    clock = Clock()
    batches = []
    number = 0
    for start in range(0, total, batch):
        rows: dict[str, list[Any]] = {table: [] for table in _STATEMENTS}
        for key in range(start + 1, min(start + batch, total) + 1):
            entity = traffic_entity(key)
            type_id = term(entity["type"][0])
            stamp = clock(entity["createdAt"])
            types = orjson.dumps(entity["type"]).decode()
            rows["entity_key"].append((1, entity["id"], key))
            rows["entity"].append((key, 1, key, entity["id"], orjson.dumps(entity)))
            rows["entity_type"].append((1, type_id, key, key))
            rows["attr"].extend(attribute_rows(1, key, entity, term))
            rows["temporal_entity"].append((key, 1, entity["id"], types, None, stamp, stamp, None))
            rows["temporal_type"].append((1, type_id, key))
            for name, instances in entity.items():
                if name.startswith("https://"):
                    number += 1
                    history = instance_row(key, term(name), 0, number, instances[0], stamp, clock, term)
                    rows["history"].append(history)
                    rows["temporal_attr"].append((key, term(name), 0, 1, history[7] & 15))
        hourly = rollup.summed(rows["history"], set())
        counters = [
            (number, "instance"),
            (min(start + batch, total), "key"),
            (min(start + batch, total), "ordinal"),
        ]
        batches.append((rows, hourly, counters))
    began = time.perf_counter()
    for rows, hourly, counters in batches:
        db.execute("BEGIN IMMEDIATE")
        for table, statement in _STATEMENTS.items():
            db.executemany(statement, rows[table])
        rollup.add(db, hourly)
        db.executemany(_COUNTERS, counters)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return total / elapsed


def update_rate(path: Path, pool: int, updates: int, batch: int) -> float:
    """Entities per second the raw driver updates (new values for 3 attributes of existing
    entities): the entity document, its attribute index rows and 3 history rows each."""
    insert_rate(path, pool, batch, "FULL")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = FULL")
    terms = dict(db.execute("SELECT iri, id FROM term").fetchall())
    number = int(db.execute("SELECT value FROM counter WHERE name = 'instance'").fetchone()[0])
    clock = Clock()
    batches = []
    for start in range(0, updates, batch):
        documents, cleared, attrs, history = [], [], [], []
        for offset in range(batch):
            key = (start + offset) % pool + 1
            entity = traffic_entity(key + start)
            entity["id"] = f"urn:ngsi-ld:TrafficFlowObserved:{key}"
            stamp = clock(entity["modifiedAt"])
            documents.append((orjson.dumps(entity), key))
            cleared.append(key)
            attrs.extend(attribute_rows(1, key, entity, terms.__getitem__))
            for name, instances in entity.items():
                if name.startswith("https://"):
                    number += 1
                    history.append(
                        instance_row(
                            key, terms[name], 0, number, instances[0], stamp, clock, terms.__getitem__
                        )
                    )
        batches.append((documents, cleared, attrs, history, rollup.summed(history, set()), number))
    began = time.perf_counter()
    for documents, cleared, attrs, history, hourly, last in batches:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("UPDATE entity SET doc = ? WHERE key = ?", documents)
        db.execute(f"DELETE FROM attr WHERE key IN ({','.join('?' * len(cleared))})", cleared)
        db.executemany(_STATEMENTS["attr"], attrs)
        db.executemany(_STATEMENTS["history"], history)
        rollup.add(db, hourly)
        db.execute(_COUNTERS, (last, "instance"))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return updates / elapsed
