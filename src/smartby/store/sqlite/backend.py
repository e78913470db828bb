"""The embedded SQLite backend: WAL, one writer thread, readers that never wait behind a write."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from smartby.ngsild.entity import Entity
from smartby.ngsild.errors import QueryTimedOut
from smartby.store.base import Transaction
from smartby.store.sql.backend import ReadStop, ReadStopped, SQLStore, timed_out
from smartby.store.sql.migrations import scripts
from smartby.store.sqlite import rollup
from smartby.store.sqlite.dialect import SQLITE, regexp
from smartby.store.sqlite.geo import RTREE
from smartby.store.sqlite.terms import SQLiteTerms
from smartby.store.sqlite.transaction import SQLiteTransaction
from smartby.store.sqlite.writer import Writer

T = TypeVar("T")

_PROGRESS_STEPS = 10_000
"""SQLite virtual-machine steps between two looks at a read's deadline and stop (`_within`)."""
CHECKPOINT_BYTES = 16 * 1024 * 1024
"""WAL size that starts a checkpoint (SQLite's own default is about 4 MB, run inside a commit)."""
log = logging.getLogger("smartby.store")


def _migrations() -> list[tuple[int, str]]:
    return scripts("smartby.store.sqlite")


class SQLiteStore(SQLStore):
    """`sqlite:///path/to/city.db` (relative paths are relative to the working directory)."""

    terms: SQLiteTerms

    def __init__(self, url: str, *, synchronous: str = "FULL", readers: int = 2) -> None:
        self.url = url
        path = url.removeprefix("sqlite://")
        if path.startswith("/"):
            path = path[1:]
        self.path = Path(path or "smartby.db")
        self._synchronous = synchronous
        super().__init__(SQLITE, SQLiteTerms())
        self.geo = RTREE
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
        connection.create_function("regexp", 2, regexp, deterministic=True)
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
        self.terms.forget()
        self.series.forget()
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

    def _within(self, db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], stop: ReadStop) -> T:
        """SQLite's progress handler stops the read past `query_timeout` or once `stop` is asked."""
        budget = self.query_timeout
        deadline = time.monotonic() + budget if budget > 0 else math.inf
        asked = stop.asked.is_set
        db.set_progress_handler(lambda: asked() or time.monotonic() > deadline, _PROGRESS_STEPS)
        try:
            return fn(db)
        except sqlite3.OperationalError as error:
            if str(error) != "interrupted":
                raise
            if asked():
                raise ReadStopped() from None
            raise QueryTimedOut(timed_out(budget)) from None
        finally:
            db.set_progress_handler(None, 0)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self._writer.submit(fn)
        return result

    # -- writes ------------------------------------------------------------------------------------

    async def transact(self, tenant: str, change: Callable[[Transaction], T], ids: Sequence[str] = ()) -> T:
        """The writer groups the changes waiting for it in one SQLite transaction (`Writer`)."""

        def run(connection: sqlite3.Connection) -> T:
            tenant_id = self._tenant_for_write(connection, tenant)
            self._tenants[tenant] = tenant_id  # forgotten if the transaction rolls back
            transaction = SQLiteTransaction(connection, tenant_id, self.terms, self.series, self.outbox)
            result = change(transaction)
            transaction.finish()
            self.series.learn(transaction.learned, transaction.epoch)
            return result

        return await self._write(run)

    def _prune_rollup(self, db: Any, keys: list[int], before: int) -> None:
        rollup.prune(db, keys, before)

    # -- reads -------------------------------------------------------------------------------------

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        # A primary-key read takes microseconds: run it on the event loop's own connection
        # rather than paying a thread hand-off.
        connection = self._loop_reader
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA query_only = ON")
            self._loop_reader = connection
        return self._get_entity(connection, tenant, entity_id)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our SQL literals; a trigger's
    body, `BEGIN ...; END`, stays one statement)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    statements: list[str] = []
    for piece in "\n".join(lines).split(";"):
        statement = piece.strip()
        if statements and _open_trigger(statements[-1]):
            statements[-1] = f"{statements[-1]};\n{statement}" if statement else statements[-1]
        elif statement:
            statements.append(statement)
    return statements


def _open_trigger(statement: str) -> bool:
    """Whether a statement is a trigger whose body has not ended yet."""
    upper = statement.upper()
    return upper.startswith("CREATE TRIGGER") and not upper.endswith("END")
