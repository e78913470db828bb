"""The temporal_attr series a process knows to exist, so that appending to one writes one row."""

from __future__ import annotations

import threading


class KnownSeries:
    """The (entity key, attribute, dataset) series known to be in temporal_attr with their attribute
    type, so that appending to a known series writes one row, not two. Bounded.

    Only series whose rows are in the table are learnt (after the transaction that wrote them
    commits, or, with one writer, as it writes them and forgotten if it rolls back), and only by a
    transaction that began after the last time series were deleted (`epoch`), so the cache never
    holds a series that is not in the table.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self.kinds: dict[tuple[int, int, int], int] = {}
        """Series -> attribute type code; read it, change it through `learn` and `forget`."""
        self._limit = limit
        self._lock = threading.Lock()
        self.epoch = 0

    def learn(self, series: dict[tuple[int, int, int], int], epoch: int) -> None:
        with self._lock:
            if epoch != self.epoch:
                return
            if len(self.kinds) + len(series) >= self._limit:
                self.kinds.clear()
            self.kinds.update(series)

    def forget(self) -> None:
        with self._lock:
            self.epoch += 1
            self.kinds.clear()
