"""The one writer of an SQLite database: a task on the event loop fed by a queue, committing work
in groups.

The changes waiting in the queue when the writer wakes share one transaction and one commit (group
commit), so a burst of small writes costs one fsync instead of one each. A change that raises is
rolled back alone; the others still commit.

The writer runs on the event loop's own thread. Each statement takes microseconds, and a writer
thread would spend more than that handing the interpreter lock back and forth with the loop.
Several processes on one database take turns through an flock on a lock file beside it: a waiting
process wakes as soon as the lock is free (SQLite's own busy handler sleeps and polls).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable
from typing import Any

WriteFn = Callable[[sqlite3.Connection], Any]
_Job = tuple[WriteFn, "asyncio.Future[Any]"]


class Writer:
    """Owns the write connection; `submit` hands it work and returns the result."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_group: int = 512,
        on_rollback: Callable[[], None] | None = None,
        after_commit: Callable[[], None] | None = None,
        lock_path: str | None = None,
    ) -> None:
        self._connect = connect
        self._max_group = max_group
        self._on_rollback = on_rollback
        self._after_commit = after_commit
        self._lock_path = lock_path
        self._lock: int | None = None
        self._connection: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._lock_path is not None:
            self._lock = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        await self._acquire()
        try:
            self._connection = self._connect()
        finally:
            self._release()
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="smartby-sqlite-writer")

    async def stop(self) -> None:
        if self._task is not None and self._queue is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    async def submit(self, fn: WriteFn) -> Any:
        if self._queue is None:
            raise RuntimeError("the writer is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((fn, future))
        return await future

    async def _acquire(self) -> None:
        if self._lock is None:
            return
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await asyncio.to_thread(fcntl.flock, self._lock, fcntl.LOCK_EX)

    def _release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    async def _run(self) -> None:
        assert self._queue is not None and self._connection is not None
        queue = self._queue
        while True:
            first = await queue.get()
            if first is None:
                return
            await asyncio.sleep(0)
            jobs = [first]
            stop = False
            while len(jobs) < self._max_group and not queue.empty():
                job = queue.get_nowait()
                if job is None:
                    stop = True
                    break
                jobs.append(job)
            await self._acquire()
            try:
                self._commit_group(self._connection, jobs)
            finally:
                self._release()
            if stop:
                return

    def _commit_group(self, connection: sqlite3.Connection, jobs: list[_Job]) -> None:
        """Run the jobs in one transaction. A job that fails before writing anything (the usual
        case: changes are buffered until the end of a job) is simply left out; if a failed job
        had written rows, the group is rolled back and run again with a savepoint per job."""
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            for _, future in jobs:
                _settle(future, False, error)
            return
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        for fn, future in jobs:
            before = connection.total_changes
            try:
                result = fn(connection)
            except Exception as error:
                if connection.total_changes != before:
                    connection.execute("ROLLBACK")
                    if self._on_rollback is not None:
                        self._on_rollback()
                    self._commit_with_savepoints(connection, jobs)
                    return
                results.append((future, False, error))
            else:
                results.append((future, True, result))
        self._commit(connection, results)

    def _commit_with_savepoints(self, connection: sqlite3.Connection, jobs: list[_Job]) -> None:
        connection.execute("BEGIN IMMEDIATE")
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        for fn, future in jobs:
            connection.execute("SAVEPOINT job")
            try:
                result = fn(connection)
            except Exception as error:
                connection.execute("ROLLBACK TO job")
                connection.execute("RELEASE job")
                if self._on_rollback is not None:
                    self._on_rollback()
                results.append((future, False, error))
            else:
                connection.execute("RELEASE job")
                results.append((future, True, result))
        self._commit(connection, results)

    def _commit(
        self, connection: sqlite3.Connection, results: list[tuple[asyncio.Future[Any], bool, Any]]
    ) -> None:
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            if self._on_rollback is not None:
                self._on_rollback()
            for future, _, _ in results:
                _settle(future, False, error)
            return
        for future, ok, value in results:
            _settle(future, ok, value)
        if self._after_commit is not None:
            self._after_commit()


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
