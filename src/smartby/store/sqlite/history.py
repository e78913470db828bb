"""The temporal_attr series SQLite's writer knows to exist, so appending to one writes one row."""

from __future__ import annotations


class KnownSeries:
    """The (temporal entity, attribute, dataset) series known to be in temporal_attr with their
    attribute type, so that appending to a known series writes one row, not two. Bounded; emptied
    when a transaction rolls back."""

    def __init__(self, limit: int = 200_000) -> None:
        self._kinds: dict[tuple[int, int, int], int] = {}
        self._limit = limit

    def needs(self, key: tuple[int, int, int], kind: int) -> bool:
        return self._kinds.get(key) != kind

    def remember(self, key: tuple[int, int, int], kind: int) -> None:
        if len(self._kinds) >= self._limit:
            self._kinds.clear()
        self._kinds[key] = kind

    def forget(self) -> None:
        self._kinds.clear()
