"""The raw-driver baseline: sqlite3 writing exactly the rows smartby's store writes.

The rows (entity documents, type rows, attribute index rows) are computed before the clock starts;
what is timed is only the driver: executemany into the same schema, with the same pragmas, one
transaction per batch.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson

from smartby.store.sqlite.backend import _migrations, _statements
from smartby.store.sqlite.rows import attribute_rows

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

    batches = []
    for start in range(0, total, batch):
        entities, types, attrs = [], [], []
        for pk in range(start + 1, min(start + batch, total) + 1):
            entity = traffic_entity(pk)
            entities.append((pk, 1, entity["id"], orjson.dumps(entity)))
            types.append((1, term(entity["type"][0]), pk))
            attrs.extend(attribute_rows(pk, entity, term)[0])
        batches.append((entities, types, attrs))
    began = time.perf_counter()
    for entities, types, attrs in batches:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO entity (pk, tenant_id, id, doc) VALUES (?, ?, ?, ?)", entities)
        db.executemany("INSERT INTO entity_type (tenant_id, type_id, pk) VALUES (?, ?, ?)", types)
        db.executemany("INSERT INTO attr (pk, name_id, seq, kind, num, txt) VALUES (?, ?, ?, ?, ?, ?)", attrs)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return total / elapsed
