"""The one writer of an SQLite database: a thread fed by a queue, committing work in groups.

Every queued change runs inside its own savepoint; the changes waiting in the queue when the writer
wakes share one transaction and one commit (group commit), so a burst of small writes costs one
fsync instead of one each. A change that raises is rolled back alone; the others still commit.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

WriteFn = Callable[[sqlite3.Connection], Any]


class _Job:
    __slots__ = ("fn", "future")

    def __init__(self, fn: WriteFn) -> None:
        self.fn = fn
        self.future: Future[Any] = Future()


class Writer:
    """Owns the write connection; `submit` hands it work and returns a future of the result."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_group: int = 512,
        on_rollback: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._max_group = max_group
        self._on_rollback = on_rollback
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="smartby-sqlite-writer", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def submit(self, fn: WriteFn) -> Future[Any]:
        job = _Job(fn)
        self._queue.put(job)
        return job.future

    def _run(self) -> None:
        try:
            connection = self._connect()
        except BaseException as error:
            self._startup_error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                jobs = [first]
                stop = False
                while len(jobs) < self._max_group:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stop = True
                        break
                    jobs.append(job)
                self._commit_group(connection, jobs)
                if stop:
                    return
        finally:
            connection.close()

    def _commit_group(self, connection: sqlite3.Connection, jobs: list[_Job]) -> None:
        results: list[tuple[_Job, bool, Any]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            for job in jobs:
                job.future.set_exception(error)
            return
        rolled_back = False
        for job in jobs:
            connection.execute("SAVEPOINT job")
            try:
                result = job.fn(connection)
            except BaseException as error:
                connection.execute("ROLLBACK TO job")
                connection.execute("RELEASE job")
                rolled_back = True
                results.append((job, False, error))
            else:
                connection.execute("RELEASE job")
                results.append((job, True, result))
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            connection.execute("ROLLBACK") if connection.in_transaction else None
            if self._on_rollback is not None:
                self._on_rollback()
            for job, _, _ in results:
                job.future.set_exception(error)
            return
        if rolled_back and self._on_rollback is not None:
            self._on_rollback()
        for job, ok, value in results:
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)
