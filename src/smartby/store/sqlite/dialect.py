"""SQLite's SQL (see `smartby.store.sql.dialect` for what each member means)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from smartby.ngsild.regex import compiled
from smartby.store.sql.dialect import Dialect


class SQLiteDialect(Dialect):
    fixed_join = "CROSS JOIN"
    """SQLite's planner takes CROSS JOIN as the order to join in."""
    skip_locked = ""
    """One writer holds the database: nobody else claims rows meanwhile."""
    read_options: ClassVar[dict[str, Any]] = {}

    def sql(self, text: str) -> str:
        return text

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def none_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} NOT IN ({','.join('?' * len(values))})", list(values)

    def matches(self, column: str, pattern: str) -> tuple[str, list[Any]] | None:
        """The `regexp` function every connection of the store has: Python's own `re.search`."""
        return f"regexp(?, {column})", [pattern]

    def rows(
        self, name: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> tuple[str, list[Any]]:
        marks = "(" + ", ".join("?" * len(columns)) + ")"
        body = ", ".join(marks for _ in rows)
        return f"{name} ({', '.join(columns)}) AS (VALUES {body})", [value for row in rows for value in row]

    def unplanned(self, column: str) -> str:
        """A unary plus: SQLite has no statistics of attribute values, and would otherwise wander
        through a value index where looking rows up by the entity's key is cheaper."""
        return f"+{column}"

    def number(self, value: Any) -> Any:
        """`num` has no declared type: integers stay integers, floats floats."""
        return value

    def json_number(self, document: str, path: Sequence[str | int]) -> tuple[str, list[Any]]:
        """Documents are JSON text; SQLite's JSON functions read them where they lie."""
        where = _json_path(path)
        return (
            f"CASE WHEN json_type({document}, ?) IN ('integer', 'real') THEN json_extract({document}, ?) END",
            [where, where],
        )

    def json_text(self, document: str, path: Sequence[str | int]) -> tuple[str, list[Any]]:
        """SQLite compares text in byte order (BINARY) unless told otherwise."""
        where = _json_path(path)
        return f"CASE WHEN json_type({document}, ?) = 'text' THEN json_extract({document}, ?) END", [
            where,
            where,
        ]


def _json_path(path: Sequence[str | int]) -> str:
    """A JSON path as SQLite writes it: `$."name"[0]`; a name holding a double quote, which such a
    path cannot spell, makes a path that finds nothing."""
    steps = ["$"]
    for step in path:
        if isinstance(step, int):
            steps.append(f"[{step}]")
        elif '"' in step:
            return '$.""'
        else:
            steps.append(f'."{step}"')
    return "".join(steps)


def regexp(expression: str, value: object) -> bool:
    """The `regexp(pattern, value)` SQL function: `re.search`, false for a bad pattern or a non-text value."""
    pattern = compiled(expression)
    return isinstance(value, str) and pattern is not None and pattern.search(value) is not None


SQLITE = SQLiteDialect()
