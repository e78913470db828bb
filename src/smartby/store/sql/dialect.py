"""The ways SQLite and PostgreSQL differ in the SQL smartby sends, each named once.

Everything under `smartby.store.sql` is written once, with `?` parameter marks, and runs on both
backends; a backend hands that code its `Dialect` (`store/sqlite/dialect.py`,
`store/postgres/dialect.py`). Each member here is a difference that exists. Where both databases
read one form the same way, the shared SQL uses it and no member is needed: `CASE WHEN` rather than
a boolean in arithmetic, `1 = 1` rather than `TRUE`, `INSERT ... ON CONFLICT ... DO UPDATE`,
`RETURNING`, a join against a grouped sub-query rather than a literal list of its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class Dialect:
    """One backend's SQL. The methods are the extension points; see each backend for its reasons."""

    fixed_join: ClassVar[str]
    """A join kept in the order it is written (the driving table first)."""
    skip_locked: ClassVar[str]
    """What a claim of outbox rows adds so that concurrent claimers pass each other's rows."""
    read_options: ClassVar[dict[str, Any]]
    """Keyword arguments of the driver's `execute` for reading stored documents."""

    def sql(self, text: str) -> str:
        """`text`, written with `?` marks, as the driver takes it."""
        raise NotImplementedError

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column` equals one of `values` (at least one)."""
        raise NotImplementedError

    def none_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column` equals none of `values` (at least one)."""
        raise NotImplementedError

    def matches(self, column: str, pattern: str) -> tuple[str, list[Any]] | None:
        """`column` matches the Python regular expression `pattern` (as `re.search` does), or None
        when the database cannot say so exactly (Python then decides)."""
        raise NotImplementedError

    def rows(
        self, name: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> tuple[str, list[Any]]:
        """A common table expression `name (columns) AS (...)` of literal rows (at least one);
        `types` are the columns' SQL types (bigint, integer, text)."""
        raise NotImplementedError

    def unplanned(self, column: str) -> str:
        """`column` in a condition that must not lead the planner to an index on it."""
        raise NotImplementedError

    def number(self, value: Any) -> Any:
        """A value of a history `num` column (or a sum of them) as Python holds it: int or float."""
        raise NotImplementedError

    def json_number(self, document: str, path: Sequence[str | int]) -> tuple[str, list[Any]]:
        """The JSON number at `path` (member names and array positions) in the stored entity
        document `document`, as a double; NULL where there is none or it is not a number."""
        raise NotImplementedError

    def json_text(self, document: str, path: Sequence[str | int]) -> tuple[str, list[Any]]:
        """The JSON string at `path` in `document`, compared in byte order (as `attr.txt` is); NULL
        where there is none or it is not a string."""
        raise NotImplementedError
