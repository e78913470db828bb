"""The PostgreSQL + PostGIS backend: a pool of connections used from worker threads.

Each operation runs in a thread of the store's own executor, as many threads as the pool has
connections, so a thread never waits for a connection and the event loop never waits for the
database. Writes and reads share that one synchronous code path: a write is `change(tx)` on a
connection in one transaction, with the rows it reads locked (`PostgresTransaction`); a read runs
its statements in autocommit on a pooled connection. Several smartby processes may share one
database: nothing here assumes it is the only one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg_pool import ConnectionPool

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
from smartby.store.history_rows import KIND_MASK
from smartby.store.kinds import KIND_NAME
from smartby.store.postgres import rollup, temporal
from smartby.store.postgres.filters import SELECTIVE, compile_query
from smartby.store.postgres.history import KnownSeries
from smartby.store.postgres.outbox import OutboxConnections
from smartby.store.postgres.partitions import Partitions, month_bounds
from smartby.store.postgres.rows import UNINDEXED
from smartby.store.postgres.terms import Terms
from smartby.store.postgres.transaction import OUTBOX, PostgresTransaction

T = TypeVar("T")
log = logging.getLogger("smartby.store")

MIGRATION_LOCK = 0x736D6D6967  # "smmig": taken while migrations run, so concurrent starts take turns
PRUNE_CHUNK = 200
"""Entities whose old history one prune statement deletes."""


def migrations() -> list[tuple[int, str]]:
    folder = resources.files("smartby.store.postgres") / "migrations"
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            found.append((int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(connection: psycopg.Connection) -> list[int]:
    """Apply the migrations this database lacks, each in its own transaction; the versions applied.

    An advisory lock makes concurrent starts take turns; `connection` must be in autocommit."""
    applied_now: list[int] = []
    connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in connection.execute("SELECT version FROM schema_migration")}
        for version, script in migrations():
            if version in applied:
                continue
            with connection.transaction():
                connection.execute(script.encode())
                connection.execute("INSERT INTO schema_migration (version) VALUES (%s)", (version,))
            applied_now.append(version)
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied_now


class PostgresStore(DeviceTables, ContextTables):
    """`postgresql://user@host:port/dbname` (or `postgres://...`), any libpq connection URL."""

    mark = "%s"

    def __init__(self, url: str, *, pool_min: int = 1, pool_max: int = 10, wake_others: bool = False) -> None:
        """`wake_others`: this process does not deliver notifications, so the notifications its
        writes queue are announced to the processes that do (migration 0006, LISTEN/NOTIFY)."""
        self.url = url
        self._wake_others = wake_others
        self._pool_min = pool_min
        self._pool_max = max(pool_max, pool_min, 2)
        self._pool: ConnectionPool | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._terms = Terms(self._connect)
        self._series = KnownSeries()
        self._partitions = Partitions(self._connect)
        self._tenants: dict[str, int] = {}
        self._outbox = OutboxConnections(url)

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True)

    async def _write(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """A change of the plain tables (devices, dead letters): one autocommitted statement."""
        return await self._read(fn)

    # -- life cycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._executor = ThreadPoolExecutor(self._pool_max, thread_name_prefix="smartby-postgres")
        try:
            await self._call(self._start)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _start(self) -> None:
        with self._connect() as connection:
            migrate(connection)
            self._partitions.load(connection)
        # This month's and next month's partitions, so live data never waits for one to be made.
        now = datetime.now(UTC)
        this_month = month_bounds(now.year, now.month)
        self._partitions.ensure(this_month)
        pool: ConnectionPool = ConnectionPool(
            self.url,
            min_size=self._pool_min,
            max_size=self._pool_max,
            kwargs={"autocommit": True},
            configure=_wake_others if self._wake_others else None,
            open=False,
            name="smartby",
        )
        pool.open(wait=True, timeout=30)
        self._outbox.open()
        self._pool = pool

    async def close(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        await self._call(self._outbox.close)
        await self._call(pool.close)
        self._terms.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("the store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _read(self, fn: Callable[[psycopg.Connection], T]) -> T:
        def run() -> T:
            if self._pool is None:
                raise RuntimeError("the store is not open")
            with self._pool.connection() as connection:
                return fn(connection)

        return await self._call(run)

    # -- tenants -----------------------------------------------------------------------------------

    def _tenant_id(self, connection: psycopg.Connection, tenant: str) -> int | None:
        tenant_id = self._tenants.get(tenant)
        if tenant_id is None:
            row = connection.execute("SELECT id FROM tenant WHERE name = %s", (tenant,)).fetchone()
            if row is None:
                return None
            tenant_id = self._tenants[tenant] = int(row[0])
        return tenant_id

    async def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._tenants:
            return True
        return await self._read(lambda db: self._tenant_id(db, tenant) is not None)

    async def tenants(self) -> list[str]:
        return await self._read(
            lambda db: [str(row[0]) for row in db.execute("SELECT name FROM tenant ORDER BY name")]
        )

    # -- writes ------------------------------------------------------------------------------------

    async def transact(self, tenant: str, change: Callable[[Transaction], T]) -> T:
        return await self._call(lambda: self._transact(tenant, change))

    def _transact(self, tenant: str, change: Callable[[Transaction], T]) -> T:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        with self._pool.connection() as connection:
            with connection.transaction():
                tenant_id = self._tenant_id(connection, tenant)
                if tenant_id is None:
                    row = connection.execute(
                        "INSERT INTO tenant (name) VALUES (%s) ON CONFLICT (name) DO NOTHING RETURNING id",
                        (tenant,),
                    ).fetchone()
                    if row is None:
                        row = connection.execute(
                            "SELECT id FROM tenant WHERE name = %s", (tenant,)
                        ).fetchone()
                    assert row is not None
                    tenant_id = int(row[0])
                transaction = PostgresTransaction(
                    connection, tenant_id, self._terms, self._series, self._partitions
                )
                result = change(transaction)
                transaction.finish()
            self._tenants[tenant] = tenant_id
            self._series.learn(transaction.learned, transaction.epoch)
        return result

    # -- reads -------------------------------------------------------------------------------------

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        def run(db: psycopg.Connection) -> Entity | None:
            tenant_id = self._tenant_id(db, tenant)
            if tenant_id is None:
                return None
            row = db.execute(
                "SELECT e.doc FROM entity_key k JOIN entity e ON e.key = k.key "
                "WHERE k.tenant_id = %s AND k.id = %s",
                (tenant_id, entity_id),
                binary=True,
            ).fetchone()
            if row is None:
                return None
            entity: Entity = orjson.loads(row[0])
            return entity

        return await self._read(run)

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        return await self._read(lambda db: self._query(db, tenant, query))

    def _query(self, db: psycopg.Connection, tenant: str, query: EntityQuery) -> QueryResult:
        tenant_id = self._tenant_id(db, tenant)
        if tenant_id is None:
            return QueryResult([], 0 if query.count else None)
        compiled = compile_query(
            query,
            tenant_id,
            lambda iri: self._terms.lookup(db, iri),
            lambda sql, params: _probe(db, sql, params),
            lambda name_id: _has_unindexed(db, tenant_id, name_id),
            lambda name_id: _worst_shape(db, tenant_id, name_id),
        )
        if compiled.exact:
            entities: list[Entity] = []
            if query.limit > 0:
                rows = db.execute(
                    f"{compiled.select('e.doc')} ORDER BY {compiled.order} LIMIT %s OFFSET %s",
                    (*compiled.params, query.limit, query.offset),
                    binary=True,
                )
                entities = [orjson.loads(doc) for (doc,) in rows]
            count = None
            if query.count:
                found = db.execute(compiled.select("count(*)"), compiled.params).fetchone()
                count = int(found[0]) if found is not None else 0
            return QueryResult(entities, count)
        page: list[Entity] = []
        matched = 0
        # Candidates stream from a server-side cursor, so a scan that fills its page early stops.
        with db.transaction(), db.cursor("candidates", binary=True) as cursor:
            cursor.itersize = 200
            cursor.execute(f"{compiled.select('e.doc')} ORDER BY {compiled.order}", compiled.params)
            for (doc,) in cursor:
                entity = orjson.loads(doc)
                if not compiled.matches(entity):
                    continue
                if query.offset <= matched < query.offset + query.limit:
                    page.append(entity)
                matched += 1
                if not query.count and matched >= query.offset + query.limit:
                    break
        return QueryResult(page, matched if query.count else None)

    # -- history ---------------------------------------------------------------------------------

    def _current_ids(self, db: psycopg.Connection, tenant: str, query: EntityQuery) -> set[str]:
        return {entity["id"] for entity in self._query(db, tenant, query).entities}

    async def history(self, tenant: str, query: HistoryQuery) -> tuple[list[TemporalEntity], int | None]:
        def run(db: psycopg.Connection) -> tuple[list[TemporalEntity], int | None]:
            tenant_id = self._tenant_id(db, tenant)
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
        def run(db: psycopg.Connection) -> tuple[list[AggregatedEntity], int | None]:
            tenant_id = self._tenant_id(db, tenant)
            if tenant_id is None:
                return [], 0 if query.count else None
            page, count = temporal.select_entities(
                db, tenant_id, query, self._terms, lambda q: self._current_ids(db, tenant, q)
            )
            return temporal.aggregate(db, query, page, self._terms, methods, buckets), count

        return await self._read(run)

    async def prune_history(self, tenant: str, entity_type: str, before: int) -> int:
        """Delete history of entities of `entity_type` (an IRI, or a bare type name that ends a type
        IRI after `/` or `#`) recorded before `before` (microseconds), a chunk of entities per
        statement so that no transaction runs long."""

        def entities(db: psycopg.Connection) -> list[int]:
            tenant_id = self._tenant_id(db, tenant)
            if tenant_id is None:
                return []
            rows = db.execute(
                "SELECT DISTINCT tt.key FROM temporal_type tt JOIN term ON term.id = tt.type_id "
                "WHERE tt.tenant_id = %s AND (term.iri = %s OR right(term.iri, length(%s) + 1) IN (%s, %s)) "
                "ORDER BY tt.key",
                (tenant_id, entity_type, entity_type, "/" + entity_type, "#" + entity_type),
            )
            return [int(row[0]) for row in rows]

        keys = await self._read(entities)
        removed = 0
        for start in range(0, len(keys), PRUNE_CHUNK):
            chunk = keys[start : start + PRUNE_CHUNK]
            removed += await self._read(lambda db, chunk=chunk: _prune(db, chunk, before))  # type: ignore[misc]
        return removed

    # -- discovery -------------------------------------------------------------------------------

    async def entity_types(self, tenant: str) -> list[TypeInfo]:
        def run(db: psycopg.Connection) -> list[TypeInfo]:
            tenant_id = self._tenant_id(db, tenant)
            if tenant_id is None:
                return []
            counts = db.execute(
                "SELECT type_id, count(*) FROM entity_type WHERE tenant_id = %s GROUP BY type_id",
                (tenant_id,),
            ).fetchall()
            attributes: dict[int, dict[str, set[str]]] = {}
            for type_id, name_id, kind in db.execute(
                "SELECT DISTINCT t.type_id, a.name_id, a.kind FROM entity_type t "
                "JOIN attr a ON a.key = t.key WHERE t.tenant_id = %s",
                (tenant_id,),
            ):
                names = attributes.setdefault(type_id, {})
                names.setdefault(self._terms.iri(db, name_id), set()).add(KIND_NAME[kind & KIND_MASK])
            return sorted(
                (
                    TypeInfo(self._terms.iri(db, type_id), count, attributes.get(type_id, {}))
                    for type_id, count in counts
                ),
                key=lambda info: info.type,
            )

        return await self._read(run)

    async def attributes(self, tenant: str) -> list[AttributeInfo]:
        def run(db: psycopg.Connection) -> list[AttributeInfo]:
            tenant_id = self._tenant_id(db, tenant)
            if tenant_id is None:
                return []
            found: dict[int, tuple[set[int], set[int], set[str]]] = {}
            for name_id, key, kind, type_id in db.execute(
                "SELECT a.name_id, a.key, a.kind, t.type_id FROM attr a JOIN entity_type t ON t.key = a.key "
                "WHERE t.tenant_id = %s",
                (tenant_id,),
            ):
                keys, types, kinds = found.setdefault(name_id, (set(), set(), set()))
                keys.add(key)
                types.add(type_id)
                kinds.add(KIND_NAME[kind & KIND_MASK])
            return sorted(
                (
                    AttributeInfo(
                        self._terms.iri(db, name_id),
                        len(keys),
                        {self._terms.iri(db, t) for t in types},
                        kinds,
                    )
                    for name_id, (keys, types, kinds) in found.items()
                ),
                key=lambda info: info.name,
            )

        return await self._read(run)

    async def _write_tx(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """Run `fn` in a transaction of its own."""

        def run(db: psycopg.Connection) -> T:
            with db.transaction():
                return fn(db)

        return await self._read(run)

    # -- subscriptions and the notification outbox --------------------------------------------------

    async def create_subscription(self, subscription: StoredSubscription) -> bool:
        return await self._write_tx(lambda db: OUTBOX.create(db, subscription))

    async def get_subscription(self, tenant: str, subscription_id: str) -> StoredSubscription | None:
        return await self._read(lambda db: OUTBOX.get(db, tenant, subscription_id))

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]:
        return await self._read(lambda db: OUTBOX.page(db, tenant, limit, offset, count))

    async def replace_subscription(
        self, tenant: str, subscription_id: str, document: dict[str, Any], modified_at: str
    ) -> bool:
        return await self._write_tx(
            lambda db: OUTBOX.replace(db, tenant, subscription_id, document, modified_at)
        )

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        return await self._write_tx(lambda db: OUTBOX.delete(db, tenant, subscription_id))

    async def all_subscriptions(self) -> tuple[int, list[StoredSubscription]]:
        return await self._read(OUTBOX.everything)

    async def subscription_version(self) -> int:
        return await self._read(OUTBOX.version)

    async def enqueue_notifications(self, notifications: Sequence[PendingNotification]) -> None:
        rows = OUTBOX.enqueue_rows(notifications, time.time())

        def run(db: psycopg.Connection) -> None:
            db.cursor().executemany(OUTBOX.insert_statement, rows)

        await self._write_tx(run)

    async def claim_periodic(self, now: float) -> list[tuple[str, str]]:
        return await self._write_tx(lambda db: OUTBOX.claim_periodic(db, now))

    async def claim_notifications(self, now: float, limit: int, lease: float) -> list[ClaimedNotification]:
        return await self._outbox.transact(lambda db: OUTBOX.claim(db, now, limit, lease))

    async def settle_notifications(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        await self._outbox.transact(lambda db: OUTBOX.settle(db, outcomes))

    def watch_outbox(self, wake: Callable[[], None]) -> None:
        self._outbox.listen(wake)

    async def pending_notifications(self) -> int:
        return await self._read(OUTBOX.pending)


def _wake_others(connection: psycopg.Connection) -> None:
    connection.execute("SET smartby.wake_others TO on")


def _probe(db: psycopg.Connection, condition: str, params: list[Any]) -> int:
    """How many attr rows meet `condition`, counting no further than the selectivity bound."""
    row = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM attr a WHERE {condition} LIMIT {SELECTIVE}) AS found", params
    ).fetchone()
    return int(row[0]) if row is not None else 0


def _has_unindexed(db: psycopg.Connection, tenant_id: int, name_id: int) -> bool:
    row = db.execute(
        f"SELECT EXISTS (SELECT 1 FROM attr WHERE tenant_id = %s AND name_id = %s AND kind >= {UNINDEXED})",
        (tenant_id, name_id),
    ).fetchone()
    return bool(row and row[0])


def _worst_shape(db: psycopg.Connection, tenant_id: int, name_id: int) -> int | None:
    row = db.execute(
        "SELECT max(shape) FROM geo WHERE tenant_id = %s AND name_id = %s", (tenant_id, name_id)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _prune(db: psycopg.Connection, keys: list[int], before: int) -> int:
    """Delete these entities' instances before `before`, and their rollup with them; how many went.
    The entities are locked as a write locks them (in id order), so that no write adds to an hour
    between the rollup's and history's deletions."""
    with db.transaction():
        db.execute(
            "SELECT 1 FROM entity_key k JOIN temporal_entity t ON t.tenant_id = k.tenant_id "
            "AND t.entity_id = k.id WHERE t.key = ANY(%s) ORDER BY k.id FOR UPDATE OF k",
            (keys,),
        )
        removed = db.execute("DELETE FROM history WHERE key = ANY(%s) AND at < %s", (keys, before)).rowcount
        rollup.prune(db, keys, before)
    return removed
