"""The embedded SQLite backend: WAL, one writer thread, readers that never wait behind a write."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson

from smartby.ngsild.entity import Entity
from smartby.ngsild.reads import (
    AggregatedEntity,
    AttributeInfo,
    Buckets,
    EntityQuery,
    HistoryQuery,
    QueryResult,
    TemporalEntity,
    TypeInfo,
)
from smartby.records.notifications import (
    ClaimedNotification,
    DeliveryOutcome,
    PendingNotification,
    StoredSubscription,
)
from smartby.store.base import Transaction
from smartby.store.context_tables import ContextTables
from smartby.store.device_tables import DeviceTables
from smartby.store.kinds import KIND_NAME
from smartby.store.sqlite import rollup, temporal
from smartby.store.sqlite.filters import SELECTIVE, compile_query
from smartby.store.sqlite.history import KnownSeries
from smartby.store.sqlite.terms import Terms
from smartby.store.sqlite.transaction import OUTBOX, SQLiteTransaction
from smartby.store.sqlite.writer import Writer

T = TypeVar("T")

_IN_CHUNK = 500
CHECKPOINT_BYTES = 16 * 1024 * 1024
"""WAL size that starts a checkpoint (SQLite's own default is about 4 MB, run inside a commit)."""
log = logging.getLogger("smartby.store")


@lru_cache(maxsize=256)
def _pattern(expression: str) -> re.Pattern[str] | None:
    try:
        return re.compile(expression)
    except re.error:
        return None


def _regexp(expression: str, value: object) -> bool:
    pattern = _pattern(expression)
    return isinstance(value, str) and pattern is not None and pattern.search(value) is not None


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("smartby.store.sqlite") / "migrations"
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            found.append((int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8")))
    return sorted(found)


class SQLiteStore(DeviceTables, ContextTables):
    """`sqlite:///path/to/city.db` (relative paths are relative to the working directory)."""

    def __init__(self, url: str, *, synchronous: str = "FULL", readers: int = 2) -> None:
        self.url = url
        path = url.removeprefix("sqlite://")
        if path.startswith("/"):
            path = path[1:]
        self.path = Path(path or "smartby.db")
        self._synchronous = synchronous
        self._terms = Terms()
        self._series = KnownSeries()
        self._tenants: dict[str, int] = {}
        self._writer = Writer(
            self._connect_writer,
            on_rollback=self._forget_cached_ids,
            after_commit=self._checkpoint_if_due,
            lock_path=f"{self.path}-writer.lock",
        )
        self.checkpoint_bytes = CHECKPOINT_BYTES
        self._checkpointing = False
        self._checkpointer: sqlite3.Connection | None = None
        self._reader_count = readers
        self._readers: ThreadPoolExecutor | None = None
        self._reader_connections: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._loop_reader: sqlite3.Connection | None = None
        self._opened = False

    # -- connections -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        connection.execute("PRAGMA busy_timeout = 10000")
        connection.execute("PRAGMA foreign_keys = OFF")
        # Page caches are per connection (the writer, the loop's reader, the reader threads): 16 MB
        # each keeps a server with a few hundred thousand entities well under 200 MB resident.
        connection.execute("PRAGMA cache_size = -16384")
        connection.execute("PRAGMA temp_store = MEMORY")
        connection.create_function("regexp", 2, _regexp, deterministic=True)
        return connection

    def _connect_writer(self) -> sqlite3.Connection:
        connection = self._connect()
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {self._synchronous}")
        # Checkpoints run in a thread of their own (below), not inside a commit on the event loop.
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        self._migrate(connection)
        return connection

    def _checkpoint_if_due(self) -> None:
        """After a commit: once the WAL has grown past CHECKPOINT_BYTES, copy it back into the
        database in a worker thread, so no request waits for it."""
        if self._checkpointing:
            return
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return
        if size < self.checkpoint_bytes:
            return
        self._checkpointing = True
        future = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
        future.add_done_callback(self._checkpoint_done)

    def _checkpoint(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = self._connect()
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _checkpoint_done(self, future: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not future.cancelled() and future.exception() is not None:
            log.warning("WAL checkpoint failed: %s", future.exception())

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA query_only = ON")
            self._local.connection = connection
            self._reader_connections.append(connection)
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migration (version INTEGER PRIMARY KEY, applied_at TEXT)"
            )
            applied = {row[0] for row in connection.execute("SELECT version FROM schema_migration")}
            for version, script in _migrations():
                if version in applied:
                    continue
                for statement in _statements(script):
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO schema_migration VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                    (version,),
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _forget_cached_ids(self) -> None:
        self._terms.forget()
        self._series.forget()
        self._tenants.clear()

    # -- life cycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        if not self._opened:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            await self._writer.start()
            self._readers = ThreadPoolExecutor(self._reader_count, thread_name_prefix="smartby-sqlite-reader")
            self._local = threading.local()
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self._writer.stop()
            while self._checkpointing:
                await asyncio.sleep(0.01)
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            if self._readers is not None:
                self._readers.shutdown(wait=True)
                self._readers = None
            for connection in self._reader_connections:
                connection.close()
            self._reader_connections.clear()
            if self._loop_reader is not None:
                self._loop_reader.close()
                self._loop_reader = None
            self._opened = False

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        if self._readers is None:
            raise RuntimeError("the store is not open")
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self._writer.submit(fn)
        return result

    # -- tenants -----------------------------------------------------------------------------------

    def _tenant_id(self, connection: sqlite3.Connection, tenant: str, *, create: bool) -> int | None:
        tenant_id = self._tenants.get(tenant)
        if tenant_id is None:
            row = connection.execute("SELECT id FROM tenant WHERE name = ?", (tenant,)).fetchone()
            if row is None:
                if not create:
                    return None
                row = connection.execute(
                    "INSERT INTO tenant (name) VALUES (?) RETURNING id", (tenant,)
                ).fetchone()
            tenant_id = int(row[0])
            self._tenants[tenant] = tenant_id
        return tenant_id

    async def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._tenants:
            return True
        return await self._read(lambda db: self._tenant_id(db, tenant, create=False) is not None)

    async def tenants(self) -> list[str]:
        return await self._read(
            lambda db: [row[0] for row in db.execute("SELECT name FROM tenant ORDER BY name")]
        )

    # -- writes ------------------------------------------------------------------------------------

    async def transact(self, tenant: str, change: Callable[[Transaction], T]) -> T:
        def run(connection: sqlite3.Connection) -> T:
            tenant_id = self._tenant_id(connection, tenant, create=True)
            assert tenant_id is not None
            transaction = SQLiteTransaction(connection, tenant_id, self._terms, self._series)
            result = change(transaction)
            transaction.flush()
            return result

        return await self._write(run)

    # -- reads -------------------------------------------------------------------------------------

    def _get_entity(self, db: sqlite3.Connection, tenant: str, entity_id: str) -> Entity | None:
        tenant_id = self._tenant_id(db, tenant, create=False)
        if tenant_id is None:
            return None
        row = db.execute(
            "SELECT doc FROM entity WHERE tenant_id = ? AND id = ?", (tenant_id, entity_id)
        ).fetchone()
        if row is None:
            return None
        entity: Entity = orjson.loads(row[0])
        return entity

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        # A primary-key read takes microseconds: run it on the event loop's own connection
        # rather than paying a thread hand-off.
        connection = self._loop_reader
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA query_only = ON")
            self._loop_reader = connection
        return self._get_entity(connection, tenant, entity_id)

    # -- history ---------------------------------------------------------------------------------

    def _current_ids(self, db: sqlite3.Connection, tenant: str, query: EntityQuery) -> set[str]:
        return {entity["id"] for entity in self._query(db, tenant, query).entities}

    async def history(self, tenant: str, query: HistoryQuery) -> tuple[list[TemporalEntity], int | None]:
        def run(db: sqlite3.Connection) -> tuple[list[TemporalEntity], int | None]:
            tenant_id = self._tenant_id(db, tenant, create=False)
            if tenant_id is None:
                return [], 0 if query.count else None
            page, count = temporal.select_entities(
                db, tenant_id, query, self._terms, lambda q: self._current_ids(db, tenant, q)
            )
            return temporal.read_history(db, query, page, self._terms), count

        return await self._read(run)

    async def aggregate(
        self, tenant: str, query: HistoryQuery, methods: tuple[str, ...], buckets: Buckets
    ) -> tuple[list[AggregatedEntity], int | None]:
        def run(db: sqlite3.Connection) -> tuple[list[AggregatedEntity], int | None]:
            tenant_id = self._tenant_id(db, tenant, create=False)
            if tenant_id is None:
                return [], 0 if query.count else None
            page, count = temporal.select_entities(
                db, tenant_id, query, self._terms, lambda q: self._current_ids(db, tenant, q)
            )
            return temporal.aggregate(db, query, page, self._terms, methods, buckets), count

        return await self._read(run)

    async def prune_history(self, tenant: str, entity_type: str, before: int) -> int:
        """Delete history of entities of `entity_type` (an IRI, or a bare type name that ends a type
        IRI after `/` or `#`) recorded before `before` (microseconds), one entity per write so that
        writers never wait long."""

        def entities(db: sqlite3.Connection) -> list[int]:
            tenant_id = self._tenant_id(db, tenant, create=False)
            if tenant_id is None:
                return []
            rows = db.execute(
                "SELECT DISTINCT tt.tentity FROM temporal_type tt JOIN term ON term.id = tt.type_id "
                "WHERE tt.tenant_id = ? AND (term.iri = ? OR substr(term.iri, -length(?) - 1) IN (?, ?))",
                (tenant_id, entity_type, entity_type, "/" + entity_type, "#" + entity_type),
            )
            return [int(row[0]) for row in rows]

        removed = 0
        for tentity in await self._read(entities):

            def prune(db: sqlite3.Connection, tentity: int = tentity) -> int:
                gone = db.execute(
                    "DELETE FROM history WHERE tentity = ? AND at < ?", (tentity, before)
                ).rowcount
                rollup.prune(db, tentity, before)
                return int(gone)

            removed += await self._write(prune)
        return removed

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        return await self._read(lambda db: self._query(db, tenant, query))

    def _query(self, db: sqlite3.Connection, tenant: str, query: EntityQuery) -> QueryResult:
        tenant_id = self._tenant_id(db, tenant, create=False)
        if tenant_id is None:
            return QueryResult([], 0 if query.count else None)
        compiled = compile_query(
            query,
            tenant_id,
            lambda iri: self._terms.lookup(db, iri),
            lambda sql, params: _probe(db, sql, params),
        )
        if compiled.exact:
            entities: list[Entity] = []
            if query.limit > 0:
                rows = db.execute(
                    f"{compiled.select('e.doc')} ORDER BY {compiled.order} LIMIT ? OFFSET ?",
                    (*compiled.params, query.limit, query.offset),
                )
                entities = [orjson.loads(doc) for (doc,) in rows]
            count = None
            if query.count:
                count = db.execute(compiled.select("count(*)"), compiled.params).fetchone()[0]
            return QueryResult(entities, count)
        page: list[Entity] = []
        matched = 0
        rows = db.execute(f"{compiled.select('e.doc')} ORDER BY {compiled.order}", compiled.params)
        for (doc,) in rows:
            entity = orjson.loads(doc)
            if not compiled.matches(entity):
                continue
            if query.offset <= matched < query.offset + query.limit:
                page.append(entity)
            matched += 1
            if not query.count and matched >= query.offset + query.limit:
                break
        return QueryResult(page, matched if query.count else None)

    def _iter_entities(self, db: sqlite3.Connection, tenant_id: int) -> Iterator[Entity]:
        for (doc,) in db.execute("SELECT doc FROM entity WHERE tenant_id = ?", (tenant_id,)):
            yield orjson.loads(doc)

    async def entity_types(self, tenant: str) -> list[TypeInfo]:
        def run(db: sqlite3.Connection) -> list[TypeInfo]:
            tenant_id = self._tenant_id(db, tenant, create=False)
            if tenant_id is None:
                return []
            counts = db.execute(
                "SELECT type_id, count(*) FROM entity_type WHERE tenant_id = ? GROUP BY type_id", (tenant_id,)
            ).fetchall()
            attributes: dict[int, dict[str, set[str]]] = {}
            for type_id, name_id, kind in db.execute(
                "SELECT DISTINCT t.type_id, a.name_id, a.kind FROM entity_type t JOIN attr a ON a.pk = t.pk "
                "WHERE t.tenant_id = ?",
                (tenant_id,),
            ):
                names = attributes.setdefault(type_id, {})
                names.setdefault(self._terms.iri(db, name_id), set()).add(KIND_NAME[kind])
            return sorted(
                (
                    TypeInfo(self._terms.iri(db, type_id), count, attributes.get(type_id, {}))
                    for type_id, count in counts
                ),
                key=lambda info: info.type,
            )

        return await self._read(run)

    async def attributes(self, tenant: str) -> list[AttributeInfo]:
        def run(db: sqlite3.Connection) -> list[AttributeInfo]:
            tenant_id = self._tenant_id(db, tenant, create=False)
            if tenant_id is None:
                return []
            found: dict[int, tuple[set[int], set[int], set[str]]] = {}
            for name_id, pk, kind, type_id in db.execute(
                "SELECT a.name_id, a.pk, a.kind, t.type_id FROM attr a JOIN entity_type t ON t.pk = a.pk "
                "WHERE t.tenant_id = ?",
                (tenant_id,),
            ):
                pks, types, kinds = found.setdefault(name_id, (set(), set(), set()))
                pks.add(pk)
                types.add(type_id)
                kinds.add(KIND_NAME[kind])
            return sorted(
                (
                    AttributeInfo(
                        self._terms.iri(db, name_id),
                        len(pks),
                        {self._terms.iri(db, t) for t in types},
                        kinds,
                    )
                    for name_id, (pks, types, kinds) in found.items()
                ),
                key=lambda info: info.name,
            )

        return await self._read(run)

    # -- subscriptions and the notification outbox --------------------------------------------------

    async def create_subscription(self, subscription: StoredSubscription) -> bool:
        return await self._write(lambda db: OUTBOX.create(db, subscription))

    async def get_subscription(self, tenant: str, subscription_id: str) -> StoredSubscription | None:
        return await self._read(lambda db: OUTBOX.get(db, tenant, subscription_id))

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]:
        return await self._read(lambda db: OUTBOX.page(db, tenant, limit, offset, count))

    async def replace_subscription(
        self, tenant: str, subscription_id: str, document: dict[str, Any], modified_at: str
    ) -> bool:
        return await self._write(
            lambda db: OUTBOX.replace(db, tenant, subscription_id, document, modified_at)
        )

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        return await self._write(lambda db: OUTBOX.delete(db, tenant, subscription_id))

    async def all_subscriptions(self) -> tuple[int, list[StoredSubscription]]:
        return await self._read(OUTBOX.everything)

    async def subscription_version(self) -> int:
        return await self._read(OUTBOX.version)

    async def enqueue_notifications(self, notifications: Sequence[PendingNotification]) -> None:
        rows = OUTBOX.enqueue_rows(notifications, time.time())

        def run(db: sqlite3.Connection) -> None:
            db.cursor().executemany(OUTBOX.insert_statement, rows)

        await self._write(run)

    async def claim_periodic(self, now: float) -> list[tuple[str, str]]:
        return await self._write(lambda db: OUTBOX.claim_periodic(db, now))

    async def claim_notifications(self, now: float, limit: int, lease: float) -> list[ClaimedNotification]:
        return await self._write(lambda db: OUTBOX.claim(db, now, limit, lease))

    async def settle_notifications(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        await self._write(lambda db: OUTBOX.settle(db, outcomes))

    def watch_outbox(self, wake: Callable[[], None]) -> None:
        """Nothing tells a process that another one queued notifications in the file: the notifier
        polls (SMARTBY_NOTIFICATION_POLL_INTERVAL)."""

    async def pending_notifications(self) -> int:
        return await self._read(OUTBOX.pending)


def _probe(db: sqlite3.Connection, condition: str, params: list[Any]) -> int:
    """How many attr rows meet `condition`, counting no further than the selectivity bound."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM attr a WHERE {condition} LIMIT {SELECTIVE})"
    return int(db.execute(sql, params).fetchone()[0])


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our SQL literals)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]
