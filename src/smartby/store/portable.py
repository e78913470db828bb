"""Store methods written once in SQL that SQLite and PostgreSQL both run as it is.

A backend mixes such tables in and says how it reads, writes and marks parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

T = TypeVar("T")


class PortableTables:
    mark: ClassVar[str] = "?"
    """The parameter marker of the backend's driver."""

    async def _read(self, fn: Callable[[Any], T]) -> T:
        raise NotImplementedError

    async def _write(self, fn: Callable[[Any], T]) -> T:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text if self.mark == "?" else text.replace("?", self.mark)
