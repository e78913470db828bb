"""The raw-driver baseline: sqlite3 writing exactly the rows smartby's store writes.

The rows (entity documents, type rows, attribute index rows, the temporal entity and the history of
every attribute) are computed before the clock starts;
what is timed is only the driver: executemany into the same schema, with the same pragmas, one
transaction per batch.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from smartby.store.history_rows import Clock, instance_row
from smartby.store.sqlite.backend import _migrations, _statements
from smartby.store.sqlite.rows import attribute_rows

_STATEMENTS = {
    "temporal_entity": "INSERT INTO temporal_entity "
    "(id, tenant_id, entity_id, types, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?)",
    "temporal_type": "INSERT INTO temporal_type (tenant_id, type_id, tentity) VALUES (?, ?, ?)",
    "entity": "INSERT INTO entity (pk, tenant_id, id, doc, temporal) VALUES (?, ?, ?, ?, ?)",
    "entity_type": "INSERT INTO entity_type (tenant_id, type_id, pk) VALUES (?, ?, ?)",
    "attr": "INSERT INTO attr (pk, name_id, seq, kind, num, txt) VALUES (?, ?, ?, ?, ?, ?)",
    "history": "INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "temporal_attr": "INSERT INTO temporal_attr (tentity, name_id, dataset_id, kind) VALUES (?, ?, ?, ?)",
}

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
        for pk in range(start + 1, min(start + batch, total) + 1):
            entity = traffic_entity(pk)
            type_id = term(entity["type"][0])
            stamp = clock(entity["createdAt"])
            rows["entity"].append((pk, 1, entity["id"], orjson.dumps(entity), pk))
            rows["entity_type"].append((1, type_id, pk))
            rows["attr"].extend(attribute_rows(pk, entity, term)[0])
            rows["temporal_entity"].append(
                (pk, 1, entity["id"], orjson.dumps(entity["type"]).decode(), stamp, stamp)
            )
            rows["temporal_type"].append((1, type_id, pk))
            for key, instances in entity.items():
                if key.startswith("https://"):
                    number += 1
                    history = instance_row(pk, term(key), 0, number, instances[0], stamp, clock, term)
                    rows["history"].append(history)
                    rows["temporal_attr"].append((pk, term(key), 0, history[7] & 15))
        batches.append(rows)
    began = time.perf_counter()
    for rows in batches:
        db.execute("BEGIN IMMEDIATE")
        for table, statement in _STATEMENTS.items():
            db.executemany(statement, rows[table])
        db.execute("UPDATE counter SET value = ? WHERE name = 'instance'", (number,))
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
            pk = (start + offset) % pool + 1
            entity = traffic_entity(pk + start)
            entity["id"] = f"urn:ngsi-ld:TrafficFlowObserved:{pk}"
            stamp = clock(entity["modifiedAt"])
            documents.append((orjson.dumps(entity), pk))
            cleared.append((pk,))
            attrs.extend(attribute_rows(pk, entity, terms.__getitem__)[0])
            for key, instances in entity.items():
                if key.startswith("https://"):
                    number += 1
                    history.append(
                        instance_row(pk, terms[key], 0, number, instances[0], stamp, clock, terms.__getitem__)
                    )
        batches.append((documents, cleared, attrs, history))
    began = time.perf_counter()
    for documents, cleared, attrs, history in batches:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("UPDATE entity SET doc = ? WHERE pk = ?", documents)
        db.executemany("DELETE FROM attr WHERE pk = ?", cleared)
        db.executemany(_STATEMENTS["attr"], attrs)
        db.executemany(_STATEMENTS["history"], history)
        db.execute("UPDATE counter SET value = ? WHERE name = 'instance'", (number,))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return updates / elapsed
