"""PostgreSQL's SQL (see `smartby.store.sql.dialect` for what each member means)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar

from smartby.store.postgres.history import from_numeric
from smartby.store.postgres.patterns import to_postgres
from smartby.store.sql.dialect import Dialect


class PostgresDialect(Dialect):
    fixed_join = "JOIN"
    """PostgreSQL keeps statistics and plans the join order well (and reads CROSS JOIN as having no
    ON clause)."""
    skip_locked = " FOR UPDATE SKIP LOCKED"
    """Several processes claim outbox rows at once: each passes over the rows another holds."""
    read_options: ClassVar[dict[str, Any]] = {"binary": True}
    """Documents are `bytea`: the binary protocol sends them as they are, not as hex text."""

    def sql(self, text: str) -> str:
        return _percent_marks(text)

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """One array parameter: one statement text, however many values (a prepared plan serves all)."""
        return f"{column} = ANY(?)", [list(values)]

    def none_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} <> ALL(?)", [list(values)]

    def matches(self, column: str, pattern: str) -> tuple[str, list[Any]] | None:
        """PostgreSQL's own regular expressions, where they find what Python's do (`patterns`)."""
        translated = to_postgres(pattern)
        return None if translated is None else (f"{column} ~ ?", [translated])

    def rows(
        self, name: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> tuple[str, list[Any]]:
        """Arrays unnested: one parameter per column, not one per value."""
        arrays = ", ".join(f"?::{kind}[]" for kind in types)
        return (
            f"{name} ({', '.join(columns)}) AS (SELECT * FROM unnest({arrays}))",
            [list(column) for column in zip(*rows, strict=True)],
        )

    def unplanned(self, column: str) -> str:
        return column

    def number(self, value: Any) -> Any:
        """`num` is an exact `numeric`; its scale tells an integer from a float."""
        return None if value is None else from_numeric(value)

    def json_number(self, document: str, path: Sequence[str | int]) -> tuple[str, list[Any]]:
        """Documents are `bytea` holding JSON: read as `jsonb`, the path an array of text."""
        value = f"convert_from({document}, 'UTF8')::jsonb #> ?::text[]"
        steps = [str(step) for step in path]
        return f"CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value})::text::float8 END", [steps, steps]

    def json_text(self, document: str, path: Sequence[str | int]) -> tuple[str, list[Any]]:
        """Collated "C" (byte order), as `attr.txt` is, whatever the database's own collation."""
        value = f"convert_from({document}, 'UTF8')::jsonb #> ?::text[]"
        steps = [str(step) for step in path]
        return (
            f"CASE WHEN jsonb_typeof({value}) = 'string' THEN ({value} #>> '{{}}') COLLATE \"C\" END",
            [steps, steps],
        )


@lru_cache(maxsize=1024)
def _percent_marks(text: str) -> str:
    """psycopg's marks: `%s` for `?`, and a literal `%` doubled."""
    return text.replace("%", "%%").replace("?", "%s")


POSTGRES = PostgresDialect()
