"""Monthly partitions of the history table, made as rows for a month arrive.

A partition is made on a connection of its own, in a short transaction: a table is created and
attached (ATTACH takes a lock that lets reads and writes of other months go on), after moving into
it any rows of its month that waited in the default partition. When that cannot be done at once (a
lock is held too long), the rows go to the default partition and a later attempt moves them.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import psycopg

log = logging.getLogger("smartby.store")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOCK_TIMEOUT = "2s"
RETRY_SECONDS = 30.0
_LOCK_ID = 0x736D61727462  # "smartb": one advisory lock for partition changes


def month_of(at: int) -> tuple[int, int]:
    moment = _EPOCH + timedelta(microseconds=at)
    return moment.year, moment.month


def month_bounds(year: int, month: int) -> tuple[int, int]:
    """[start, end) of a month in microseconds since the epoch."""
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return _micros(start), _micros(end)


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def partition_name(year: int, month: int) -> str:
    return f"history_{year:04d}_{month:02d}"


class Partitions:
    """The months that have a partition, and making the missing ones."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self._connect = connect
        self._bounds: tuple[list[int], list[int]] = ([], [])
        """Starts and ends of the months that have a partition, replaced as a whole."""
        self._lock = threading.Lock()
        self._failed: dict[tuple[int, int], float] = {}

    def load(self, connection: psycopg.Connection) -> None:
        rows = connection.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'history'::regclass"
        ).fetchall()
        months = []
        for (name,) in rows:
            parts = str(name).split("_")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                months.append((int(parts[1]), int(parts[2])))
        with self._lock:
            self._set(months)

    def _set(self, months: Iterable[tuple[int, int]]) -> None:
        bounds = sorted(month_bounds(*month) for month in set(months))
        self._bounds = ([start for start, _ in bounds], [end for _, end in bounds])

    def covers(self, at: int) -> bool:
        starts, ends = self._bounds
        index = bisect_right(starts, at) - 1
        return index >= 0 and at < ends[index]

    def ensure(self, times: Iterable[int]) -> None:
        """Make the partitions of the months of `times` that have none yet (best effort)."""
        missing = {month_of(at) for at in times if not self.covers(at)}
        for month in sorted(missing):
            if month < (9999, 12):
                self._make(month)

    def _make(self, month: tuple[int, int]) -> None:
        with self._lock:
            start, _ = month_bounds(*month)
            if self.covers(start):
                return
            failed = self._failed.get(month)
            if failed is not None and time.monotonic() - failed < RETRY_SECONDS:
                return
            try:
                with self._connect() as connection:
                    made = create_partition(connection, *month)
            except psycopg.Error as error:
                self._failed[month] = time.monotonic()
                log.warning("history partition %s not made yet (%s)", partition_name(*month), error)
                return
            self._failed.pop(month, None)
            self._set([*(month_of(start) for start in self._bounds[0]), month])
            if made:
                log.info("made history partition %s", partition_name(*month))


def create_partition(connection: psycopg.Connection, year: int, month: int) -> bool:
    """Make the partition of one month (if there is none), moving its rows out of the default
    partition; True if it was made. `connection` must not be in a transaction."""
    name = partition_name(year, month)
    start, end = month_bounds(year, month)
    with connection.transaction():
        connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        exists = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        if exists is not None and exists[0]:
            return False
        bounds = f"at >= {start} AND at < {end}"
        connection.execute(f"CREATE TABLE {name} (LIKE history INCLUDING DEFAULTS)")
        connection.execute(f"ALTER TABLE {name} ADD CONSTRAINT {name}_at CHECK ({bounds})")
        moved = connection.execute(
            f"WITH moved AS (DELETE FROM history_default WHERE {bounds} RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        ).rowcount
        connection.execute(
            f"ALTER TABLE history ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})"
        )
        connection.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_at")
        if moved:
            log.info("moved %d history rows from the default partition to %s", moved, name)
    return True
