"""What the SQL written once needs of a backend: its dialect, and how it reads and writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from smartby.store.sql.dialect import Dialect

T = TypeVar("T")


class Tables:
    dialect: Dialect

    async def _read(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(connection)` on a connection that reads."""
        raise NotImplementedError

    async def _write(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(connection)` in a transaction of its own, and commit it."""
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return self.dialect.sql(text)
