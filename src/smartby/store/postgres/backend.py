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
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from smartby.ngsild.errors import BadRequestData, QueryTimedOut
from smartby.store.base import Transaction
from smartby.store.postgres import pack, rollup
from smartby.store.postgres.dialect import POSTGRES
from smartby.store.postgres.geo import POSTGIS
from smartby.store.postgres.outbox import OutboxConnections
from smartby.store.postgres.partitions import Partitions, month_bounds
from smartby.store.postgres.temporal import PostgresHistoryReader
from smartby.store.postgres.terms import PostgresTerms
from smartby.store.postgres.transaction import PostgresTransaction
from smartby.store.sql.backend import ReadStop, ReadStopped, SQLStore, timed_out
from smartby.store.sql.migrations import scripts
from smartby.store.sql.transaction import Outcome, run_changes

T = TypeVar("T")
log = logging.getLogger("smartby.store")

MIGRATION_LOCK = 0x736D6D6967  # "smmig": taken while migrations run, so concurrent starts take turns


def migrations() -> list[tuple[int, str]]:
    return scripts("smartby.store.postgres")


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


class PostgresStore(SQLStore):
    """`postgresql://user@host:port/dbname` (or `postgres://...`), any libpq connection URL."""

    terms: PostgresTerms

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        wake_others: bool = False,
        pack_after: float = 86_400.0,
        pack_interval: float = 3600.0,
    ) -> None:
        """`wake_others`: this process does not deliver notifications, so the notifications its
        writes queue are announced to the processes that do (migration 0006, LISTEN/NOTIFY).
        `pack_after`, `pack_interval`: history older than `pack_after` seconds is packed every
        `pack_interval` seconds while the store is open (0: never; `pack.py`)."""
        self.url = url
        self._pack_after = pack_after
        self._pack_interval = pack_interval
        self._wake_others = wake_others
        self._pool_min = pool_min
        self._pool_max = max(pool_max, pool_min, 2)
        self._pool: ConnectionPool | None = None
        self._executor: ThreadPoolExecutor | None = None
        terms = PostgresTerms(self._connect)
        super().__init__(POSTGRES, terms)
        self.history_reader = PostgresHistoryReader(terms)
        self.geo = POSTGIS
        self._partitions = Partitions(self._connect)
        self._outbox_connections = OutboxConnections(url)
        self._waiting: list[_Waiting] = []
        """Changes waiting for a group transaction (`transact`)."""
        self._lanes = 0
        self._max_lanes = max(1, self._pool_max // 2)
        """Group transactions of this process at once."""
        self.groups = GroupCounts()
        self._packer: asyncio.Task[None] | None = None

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True)

    async def _write(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """Run `fn` in a transaction of its own."""

        def run(db: psycopg.Connection) -> T:
            with db.transaction():
                return fn(db)

        return await self._read(run)

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
        if self._pack_interval > 0:
            self._packer = asyncio.get_running_loop().create_task(self._keep_packed(), name="smartby-pack")

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
        self._outbox_connections.open()
        self._pool = pool

    async def close(self) -> None:
        if self._packer is not None:
            self._packer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._packer
            self._packer = None
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        await self._call(self._outbox_connections.close)
        await self._call(pool.close)
        self.terms.close()
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

    def _within(self, db: psycopg.Connection, fn: Callable[[psycopg.Connection], T], stop: ReadStop) -> T:
        """A read under `statement_timeout`, so the server stops it past `query_timeout`; asking
        `stop` cancels the statement running on the connection."""
        budget = self.query_timeout
        if budget > 0:
            db.execute(f"SET statement_timeout = {max(1, round(budget * 1000))}")
        stop.hold(db.cancel_safe)
        cancelled = False
        try:
            return fn(db)
        except psycopg.errors.QueryCanceled as error:
            if stop.asked.is_set():
                cancelled = "user request" in str(error)
                raise ReadStopped() from None
            raise QueryTimedOut(timed_out(budget)) from None
        except psycopg.errors.InvalidRegularExpression as error:
            raise BadRequestData(f"PostgreSQL cannot run this regular expression: {error}") from None
        finally:
            stop.release()
            if stop.asked.is_set() and not cancelled:
                # The cancel may reach the server after the read ended and stop whatever the
                # connection runs next: it serves no one else (the pool opens another).
                db.close()
            elif budget > 0:
                db.execute("RESET statement_timeout")

    # -- writes ------------------------------------------------------------------------------------

    async def transact(self, tenant: str, change: Callable[[Transaction], T], ids: Sequence[str] = ()) -> T:
        """Run `change` in a transaction. Changes that name the entities they touch (`ids`) and come
        while others wait are run together, several in one transaction (group commit, as SQLite's
        writer does): the entities of the group are locked first, in id order (so groups of several
        processes take turns rather than deadlock), then each change runs on what the ones before it
        left, one flush and one commit for all. A change that fails is undone alone."""
        if not ids:
            return await self._call(lambda: self._transact(tenant, change))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(tenant, change, tuple(ids), future))
        while self._lanes < self._max_lanes and self._waiting:
            self._lanes += 1
            asyncio.get_running_loop().create_task(self._lane())
        result: T = await future
        return result

    async def _lane(self) -> None:
        """Take the waiting changes of one tenant as a group and run them, until none waits."""
        try:
            while self._waiting:
                tenant = self._waiting[0].tenant
                group = [job for job in self._waiting if job.tenant == tenant][:MAX_GROUP]
                for job in group:
                    self._waiting.remove(job)
                try:
                    outcomes = await self._call(lambda group=group: self._run_group(group))  # type: ignore[misc]
                except BaseException as error:
                    for job in group:
                        if not job.future.done():
                            job.future.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for job, outcome in zip(group, outcomes, strict=True):
                    if job.future.done():
                        continue
                    if outcome.ok:
                        job.future.set_result(outcome.value)
                    else:
                        job.future.set_exception(outcome.value)
        finally:
            self._lanes -= 1

    def _run_group(self, group: list[_Waiting]) -> list[Outcome]:
        if len(group) == 1:
            return [self._alone(group[0].tenant, group[0].change)]
        ids = sorted({entity_id for job in group for entity_id in job.ids})
        try:
            outcomes = self._transact(group[0].tenant, lambda tx: _grouped(tx, ids, group))
        except (psycopg.Error, _Separately) as error:
            # A failure of the group as a whole (a change that failed after writing, a deadlock, a
            # constraint one change broke): each change in a transaction of its own tells whose.
            self.groups.split += 1
            log.info("a group of %d changes is run again one by one: %s", len(group), error)
            return [self._alone(job.tenant, job.change) for job in group]
        self.groups.shared += 1
        self.groups.changes += len(group)
        return outcomes

    def _alone(self, tenant: str, change: Callable[[Transaction], Any]) -> Outcome:
        try:
            return Outcome(True, self._transact(tenant, change))
        except Exception as error:
            return Outcome(False, error)

    def _transact(self, tenant: str, change: Callable[[PostgresTransaction], T]) -> T:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        with self._pool.connection() as connection:
            tenant_id = self._tenants.get(tenant)
            begun = tenant_id is None
            if begun:
                connection.execute("BEGIN")  # a new tenant is made in the transaction that needs it
            try:
                if tenant_id is None:
                    tenant_id = self._tenant_for_write(connection, tenant)
                transaction = PostgresTransaction(
                    connection, tenant_id, self.terms, self.series, self._partitions, self.outbox, begun=begun
                )
                result = change(transaction)
                transaction.commit()
            except BaseException:
                if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    connection.execute("ROLLBACK")
                raise
            self._tenants[tenant] = tenant_id
            self.series.learn(transaction.learned, transaction.epoch)
        return result

    def _stream(self, db: Any, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        """Candidates from a server-side cursor, so a scan that fills its page early stops."""
        with db.transaction(), db.cursor("candidates", binary=True) as cursor:
            cursor.itersize = 200
            cursor.execute(POSTGRES.sql(sql), params)
            yield from cursor

    def _lock_keys(self, db: Any, keys: list[int]) -> None:
        """Lock the entities as a write locks them (in id order)."""
        pack.lock_keys(db, keys)

    def _prune_rollup(self, db: Any, keys: list[int], before: int) -> None:
        rollup.prune(db, keys, before)

    def _prune_packed(self, db: Any, keys: list[int], before: int) -> int:
        return pack.prune(db, keys, before)

    # -- packed history ----------------------------------------------------------------------------

    async def pack_history(self, before: int) -> int:
        """Pack the history rows of whole UTC days before `before` (microseconds) into one row per
        series and day (`pack.py`): one transaction per entity and month at most, so a writer of an
        entity waits for little; how many instances were packed. Safe to run again, and beside
        writers and other packers."""
        found = await self._read(lambda db: pack.pending(db, before))
        packed = 0
        for key, first, last in found:
            for start, end in pack.windows(first, last, before):
                packed += await self._write(
                    lambda db, key=key, start=start, end=end: pack.pack_window(db, key, start, end)  # type: ignore[misc]
                )
        if packed:
            log.info("packed %d history instances before %s", packed, before)
        await self._read(lambda db: pack.reclaim(db, before))
        return packed

    async def pack_older_than(self, seconds: float) -> int:
        return await self.pack_history(pack.cutoff(int(time.time() * 1_000_000), int(seconds * 1_000_000)))

    async def _keep_packed(self) -> None:
        """Every `pack_interval` seconds (the first pass one interval after opening), pack the whole
        days older than `pack_after` seconds."""
        while True:
            await asyncio.sleep(self._pack_interval)
            try:
                await self.pack_older_than(self._pack_after)
            except Exception:
                log.exception("packing history failed; trying again in %s s", self._pack_interval)

    # -- the notification outbox ---------------------------------------------------------------------

    async def _outbox(self, fn: Callable[[Any], T]) -> T:
        return await self._outbox_connections.transact(fn)

    def watch_outbox(self, wake: Callable[[], None]) -> None:
        self._outbox_connections.listen(wake)


MAX_GROUP = 64
"""Changes one group transaction runs at the most."""


@dataclass(frozen=True)
class _Waiting:
    tenant: str
    change: Callable[[Any], Any]
    ids: tuple[str, ...]
    future: asyncio.Future[Any]


@dataclass
class GroupCounts:
    """How group commit went in this process: transactions several changes shared, the changes
    they held, and groups that had to be run again change by change."""

    shared: int = 0
    changes: int = 0
    split: int = 0


class _Separately(Exception):
    """A change of a group failed after it had sent writes: run the changes one by one."""


def _grouped(tx: PostgresTransaction, ids: list[str], group: list[_Waiting]) -> list[Outcome]:
    tx.get_many(ids)  # lock every entity of the group, in id order, before any change runs
    outcomes = run_changes(tx, [job.change for job in group])
    if outcomes is None:
        raise _Separately
    return outcomes


def _wake_others(connection: psycopg.Connection) -> None:
    connection.execute("SET smartby.wake_others TO on")
