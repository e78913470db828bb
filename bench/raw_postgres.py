"""The raw-driver baseline on PostgreSQL: psycopg writing the rows smartby's store writes for a
telemetry batch upsert.

The rows are taken from a database smartby has just written (entity documents, attribute index rows,
history rows of the same entities), copied with new times before the clock starts; what is timed is
only the driver: per batch one transaction with the document updates, the attribute index rows
replaced, the history rows sent with COPY and the temporal entities touched.
"""

from __future__ import annotations

import time

import psycopg

HISTORY_COLUMNS = (
    "key, at, created_at, modified_at, tenant_id, name_id, dataset_id, unit_id, kind, num, value, extra"
)
ATTR_COLUMNS = "key, name_id, seq, tenant_id, kind, num, txt"


def update_rate(url: str, batch: int, batches: int) -> float:
    """Entities per second psycopg updates (3 attributes each, with 3 history rows), in batches of
    `batch` entities, on the database at `url` that smartby filled with the same kind of entities."""
    with psycopg.connect(url) as db:
        keys = [row[0] for row in db.execute("SELECT key FROM entity ORDER BY key LIMIT %s", (batch,))]
        documents = db.execute("SELECT doc, key FROM entity WHERE key = ANY(%s)", (keys,)).fetchall()
        attrs = db.execute(f"SELECT {ATTR_COLUMNS} FROM attr WHERE key = ANY(%s)", (keys,)).fetchall()
        latest = db.execute(
            f"SELECT DISTINCT ON (key, name_id) {HISTORY_COLUMNS} FROM history WHERE key = ANY(%s) "
            "ORDER BY key, name_id, at DESC",
            (keys,),
        ).fetchall()
        db.rollback()
        step = 1_000_000  # one second later each round, as new readings would be
        rounds = []
        for number in range(1, batches + 1):
            history = [(row[0], row[1] + number * step, row[2] + number * step, *row[3:]) for row in latest]
            rounds.append(history)
        began = time.perf_counter()
        for history in rounds:
            with db.transaction(), db.cursor() as cursor:
                cursor.executemany("UPDATE entity SET doc = %s WHERE key = %s", documents)
                cursor.execute("DELETE FROM attr WHERE key = ANY(%s)", (keys,))
                with cursor.copy(f"COPY attr ({ATTR_COLUMNS}) FROM STDIN") as copy:
                    for row in attrs:
                        copy.write_row(row)
                with cursor.copy(f"COPY history ({HISTORY_COLUMNS}) FROM STDIN") as copy:
                    for row in history:
                        copy.write_row(row)
                cursor.execute(
                    "UPDATE temporal_entity SET modified_at = %s WHERE key = ANY(%s)",
                    (history[0][2], keys),
                )
        elapsed = time.perf_counter() - began
    return len(keys) * batches / elapsed


def patch_rate(url: str, seconds: float, clients: int) -> float:
    """PATCHes per second of one entity that `clients` psycopg connections make at once, each the
    least a broker that keeps history writes (a peer's rows, not smartby's): lock the entity, update
    its document, append one history row per changed attribute (2), commit. On the database at `url`,
    which holds the entity smartby made (its key and document are read first)."""
    import threading

    with psycopg.connect(url) as db:
        key, document = db.execute("SELECT key, doc FROM entity ORDER BY key LIMIT 1").fetchone()  # type: ignore[misc]
        rows = db.execute(
            f"SELECT DISTINCT ON (name_id) {HISTORY_COLUMNS} FROM history WHERE key = %s "
            "ORDER BY name_id, at DESC",
            (key,),
        ).fetchall()
    stop = time.perf_counter() + seconds
    counts = [0] * clients

    def client(number: int) -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            at = 0
            while time.perf_counter() < stop:
                at += 1
                with connection.transaction():
                    connection.execute("SELECT 1 FROM entity WHERE key = %s FOR UPDATE", (key,))
                    connection.execute("UPDATE entity SET doc = %s WHERE key = %s", (document, key))
                    connection.cursor().executemany(
                        f"INSERT INTO history ({HISTORY_COLUMNS}) VALUES ({', '.join(['%s'] * 12)})",
                        [(row[0], row[1] + number * 10**9 + at, *row[2:]) for row in rows],
                    )
                counts[number] += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)
