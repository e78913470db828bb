"""The ORDER BY of an entity query (`orderBy`, `smartby.ngsild.ordering`), written once for both
backends.

A key on an attribute orders by the value of the attribute's first instance (its first element, for
an array): numbers first, in numeric order, then strings, in byte order (code point order, as `q`
compares them), then everything else (a boolean, an object, no such attribute at all); descending
reverses the numbers and strings, and what has neither stays last. A plain attribute's value is
read from the `attr` index (its row `seq = 0` is the first instance's first value); a sub-attribute,
an instance member (`observedAt`, ...) or a key into a compound value is read from the stored
document, through the dialect's `json_number` and `json_text`. Date-times are UTC strings ending in
`Z`: with the `Z` taken away, their text order is their time order whatever the precision of their
fractions. The query's own order (creation) breaks the ties that remain, so that pages of one
ordering never overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartby.ngsild.ordering import OrderKey
from smartby.ngsild.query import AttrPath
from smartby.store.sql.dialect import Dialect

Fragment = tuple[str, list[Any]]
_TIMES = frozenset({"observedAt", "createdAt", "modifiedAt", "deletedAt"})


@dataclass(frozen=True)
class OrderColumns:
    """Where the statement being ordered holds what a key may name."""

    key: str
    """The entity's key (its `attr` rows hang off it)."""
    id: str
    created: str
    """A column whose order is createdAt's."""
    modified: str | None
    """A column whose order is modifiedAt's, or None to read modifiedAt from the document."""
    document: str
    """The stored entity document (NULL where there is none)."""
    default: str
    """The order without orderBy, which also breaks the ties of an ordering."""


ENTITY_COLUMNS = OrderColumns(
    key="e.key", id="e.id", created="e.ordinal", modified=None, document="e.doc", default="e.ordinal"
)


def order_clause(
    keys: tuple[OrderKey, ...], columns: OrderColumns, dialect: Dialect, term: Callable[[str], int]
) -> Fragment:
    """The ORDER BY list (without the words ORDER BY) and its parameters; `term` gives an
    attribute name's term id (one that matches nothing when the name is unknown)."""
    parts: list[str] = []
    params: list[Any] = []
    for key in keys:
        direction = "DESC" if key.descending else "ASC"
        target = key.target
        sql: str
        values: list[Any]
        if target == "id":
            sql, values = f"{columns.id} {direction}", []
        elif target == "createdAt":
            sql, values = f"{columns.created} {direction}", []
        elif target == "modifiedAt" and columns.modified is not None:
            sql, values = f"{columns.modified} {direction}", []
        elif isinstance(target, str):
            path: list[str | int] = [target] if target == "modifiedAt" else [target, 0]
            text = dialect.json_text(columns.document, path)
            sql, values = _ranked(None, _time(text) if target == "modifiedAt" else text, direction)
        elif _plain(target):
            name_id = term(target.attr)
            sql, values = _ranked(
                _indexed("num", columns.key, name_id), _indexed("txt", columns.key, name_id), direction
            )
        else:
            sql, values = _document_key(target, columns.document, dialect, direction)
        parts.append(sql)
        params.extend(values)
    parts.append(columns.default)
    return ", ".join(parts), params


def _plain(path: AttrPath) -> bool:
    return not path.subattrs and path.member is None and not path.keys


def _indexed(column: str, key: str, name_id: int) -> Fragment:
    return (
        f"(SELECT o.{column} FROM attr o WHERE o.key = {key} AND o.name_id = ? AND o.seq = 0)",
        [name_id],
    )


def _time(text: Fragment) -> Fragment:
    return f"replace({text[0]}, 'Z', '')", text[1]


def _document_key(path: AttrPath, document: str, dialect: Dialect, direction: str) -> Fragment:
    """A key read from the document: the first instance of the attribute, down its sub-attributes
    (each one instance), then an instance member or the value (`value`, else `object`) and keys."""
    base: list[str | int] = [path.attr, 0, *path.subattrs]
    if path.member is not None:
        text = dialect.json_text(document, [*base, path.member])
        if path.member in _TIMES:
            return _ranked(None, _time(text), direction)
        return _ranked(dialect.json_number(document, [*base, path.member]), text, direction)
    value: list[str | int] = [*base, "value", *path.keys]
    number = dialect.json_number(document, value)
    text = dialect.json_text(document, value)
    if not path.keys:
        target = dialect.json_text(document, [*base, "object"])
        text = (f"coalesce({text[0]}, {target[0]})", [*text[1], *target[1]])
    return _ranked(number, text, direction)


def _ranked(number: Fragment | None, text: Fragment, direction: str) -> Fragment:
    """Numbers, then strings (descending: strings, then numbers), then neither, last either way."""
    if number is None:
        return f"CASE WHEN {text[0]} IS NULL THEN 1 ELSE 0 END, {text[0]} {direction}", [*text[1], *text[1]]
    first, second = (1, 0) if direction == "DESC" else (0, 1)
    rank = (
        f"CASE WHEN {number[0]} IS NOT NULL THEN {first} WHEN {text[0]} IS NOT NULL THEN {second} ELSE 2 END"
    )
    return (
        f"{rank}, {number[0]} {direction}, {text[0]} {direction}",
        [*number[1], *text[1], *number[1], *text[1]],
    )
