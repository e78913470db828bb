"""Entity ordering: the `orderBy` query parameter.

`orderBy` came with Entity Ordering (clause 4.23 and the OrderingParams data type of clause 5.2.43
of ETSI GS CIM 009 V1.9.1; V1.8.1 has no ordering and pages in an order of the broker's choosing).
It is a comma separated list of keys, the first deciding and each further one breaking the ties
left by those before it:

    orderBy=temperature;desc,id
    orderBy=speed.observedAt,brandName[en];asc

A key is an attribute path as `q` writes it (clause 4.9: `attr`, `attr.subAttr`, `attr.observedAt`,
`attr[key]`), or one of the entity's own members `id`, `type`, `scope`, `createdAt`, `modifiedAt`;
`;asc` (the default) or `;desc` follows. The distance orderings `dist-asc`/`dist-desc` are known
but not offered. Entities that lack the value a key names come after those that have it, in
either direction. Every syntax error is a `BadRequestData`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from smartby.ngsild.errors import BadRequestData, OperationNotSupported
from smartby.ngsild.query import AttrPath, Exists, parse_q

ENTITY_KEYS = ("id", "type", "scope", "createdAt", "modifiedAt")
"""Members of the entity itself that a key may name instead of an attribute."""
DIRECTIONS = ("asc", "desc")
DISTANCE_DIRECTIONS = ("dist-asc", "dist-desc")
MAX_KEYS = 16
"""How many keys one orderBy may give."""


@dataclass(frozen=True)
class OrderKey:
    """One key of an ordering: an entity member (`id`, ...) or an attribute path."""

    target: str | AttrPath
    descending: bool = False

    def to_text(self) -> str:
        """The key as `orderBy` writes it."""
        path = self.target if isinstance(self.target, str) else self.target.to_q()
        return f"{path};{'desc' if self.descending else 'asc'}"

    def map_names(self, f: Callable[[str], str]) -> OrderKey:
        """The key with its attribute and sub-attribute names passed through `f` (expansion)."""
        if isinstance(self.target, str):
            return self
        return OrderKey(self.target.map_names(f), self.descending)


def parse_order_by(text: str) -> tuple[OrderKey, ...]:
    """Read an `orderBy` value; raises BadRequestData when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData("orderBy is empty")
    items = text.split(",")
    if len(items) > MAX_KEYS:
        raise BadRequestData(f"orderBy gives more than {MAX_KEYS} keys")
    return tuple(_key(item.strip(), text) for item in items)


def _key(item: str, text: str) -> OrderKey:
    if not item:
        raise BadRequestData(f"orderBy {text!r} has an empty key")
    path, separator, direction = item.partition(";")
    path = path.strip()
    direction = direction.strip()
    if separator and direction in DISTANCE_DIRECTIONS:
        raise OperationNotSupported(f"orderBy by distance ({direction}) is not supported")
    if separator and direction not in DIRECTIONS:
        raise BadRequestData(f"orderBy direction must be asc or desc, not {direction!r}")
    descending = direction == "desc"
    if path in ENTITY_KEYS:
        return OrderKey(path, descending)
    if not path or any(char in path for char in ";|()!=<>~\"'"):
        raise BadRequestData(f"orderBy key {path!r} is not an attribute path")
    try:
        parsed = parse_q(path)
    except BadRequestData:
        raise BadRequestData(f"orderBy key {path!r} is not an attribute path") from None
    if not isinstance(parsed, Exists):
        raise BadRequestData(f"orderBy key {path!r} is not an attribute path")
    return OrderKey(parsed.path, descending)


def order_by_text(keys: tuple[OrderKey, ...]) -> str:
    """Keys as one `orderBy` value (what `parse_order_by` reads back)."""
    return ",".join(key.to_text() for key in keys)
