"""The notification outbox's own way to PostgreSQL: connections and threads of its own, and a
LISTEN that tells the notifier when any process has queued notifications.

Entity writes keep the store's pool and threads busy under load; a claim queued behind them would
wait for a thread and a connection while notifications age. Claims and delivery outcomes go here
instead, and their commits do not wait for the disk (`synchronous_commit` off): a claim or an
outcome lost in a crash costs one more delivery attempt, which at-least-once delivery allows. The
rows themselves are written durably, in the transaction of the change that queued them, and an
AFTER INSERT trigger on `notification` (migration 0006) then NOTIFYs `smartby_outbox`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
from psycopg_pool import ConnectionPool

T = TypeVar("T")
log = logging.getLogger("smartby.store")
CHANNEL = "smartby_outbox"
CONNECTIONS = 2
"""One for claims, one for outcomes being recorded meanwhile."""


def _no_disk_wait(connection: psycopg.Connection) -> None:
    connection.execute("SET synchronous_commit TO off")


class OutboxConnections:
    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: ConnectionPool | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None

    def open(self) -> None:
        """Blocking: make the pool (called from a store thread while the store opens)."""
        pool: ConnectionPool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=CONNECTIONS,
            kwargs={"autocommit": True},
            configure=_no_disk_wait,
            open=False,
            name="smartby-outbox",
        )
        pool.open(wait=True, timeout=30)
        self._pool = pool
        self._executor = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="smartby-outbox")
        self._stopping.clear()

    def close(self) -> None:
        """Blocking: stop listening, close the pool and the threads."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
            self._listener = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def transact(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """Run `fn` in a transaction of its own on an outbox connection."""
        pool, executor = self._pool, self._executor
        if pool is None or executor is None:
            raise RuntimeError("the store is not open")

        def run() -> T:
            with pool.connection() as connection, connection.transaction():
                return fn(connection)

        return await asyncio.get_running_loop().run_in_executor(executor, run)

    def listen(self, wake: Callable[[], None]) -> None:
        """Call `wake` on the running event loop each time a transaction that queued notifications
        commits, in any process, until closed."""
        if self._listener is not None:
            return
        loop = asyncio.get_running_loop()
        self._listener = threading.Thread(
            target=self._listen, args=(loop, wake), name="smartby-outbox-listen", daemon=True
        )
        self._listener.start()

    def _listen(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    loop.call_soon_threadsafe(wake)  # Rows may have come while nobody listened.
                    while not self._stopping.is_set():
                        for _ in connection.notifies(timeout=0.5):
                            loop.call_soon_threadsafe(wake)
            except RuntimeError:
                return  # The event loop is closed: nobody to wake.
            except psycopg.Error as error:
                log.warning("Listening for queued notifications failed (%s); polling until back", error)
                self._stopping.wait(1.0)
