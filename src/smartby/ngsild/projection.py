"""The Attribute projection language of `pick` and `omit` (ETSI GS CIM 009 V1.8.1 clause 4.21), with
the projections of linked entities that Linked Entity Retrieval (clause 4.5.23) returns.

    projection = member *( ( "," / "|" ) member )
    member     = name [ "{" projection "}" ]

`name` is an attribute name (or `id`, `type`, `scope`); braces after a Relationship's name project
the entities it links to, one level of braces per hop (`pick=name,locatedAt{name,owner{name}}`).
Blanks around names are ignored. A name given twice counts once, with the braces it had first.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.query import is_valid_name

SEPARATORS = frozenset(",|")


@dataclass(frozen=True)
class Projection:
    """One level of a pick or omit: member names in order, each with the projection of the
    entities its Relationship links to (None: no braces)."""

    members: tuple[tuple[str, Projection | None], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.members]

    def nested(self, name: str) -> Projection | None:
        for member, inner in self.members:
            if member == name:
                return inner
        return None

    @property
    def depth(self) -> int:
        """How many hops of linked entities the projection reaches (0: none)."""
        return max((1 + inner.depth for _, inner in self.members if inner is not None), default=0)

    def text(self) -> str:
        parts = [name if inner is None else f"{name}{{{inner.text()}}}" for name, inner in self.members]
        return ",".join(parts)

    def joined(self, other: Projection) -> Projection:
        """The members of both (those of `self` first), as for a parameter given twice."""
        return _unique([*self.members, *other.members])


def parse_projection(text: str) -> Projection:
    """Read a `pick` or `omit` value; anything that is not the grammar above is a BadRequestData."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData("The attribute projection is empty")
    projection, end = _list(text, 0, text)
    if end != len(text):
        raise BadRequestData(f"Unexpected {text[end]!r} at {end} in the attribute projection {text!r}")
    return projection


def _list(text: str, start: int, whole: str) -> tuple[Projection, int]:
    members: list[tuple[str, Projection | None]] = []
    position = start
    while True:
        name, position = _name(text, position, whole)
        inner: Projection | None = None
        if position < len(text) and text[position] == "{":
            inner, position = _list(text, position + 1, whole)
            if position >= len(text) or text[position] != "}":
                raise BadRequestData(f"An unclosed brace in the attribute projection {whole!r}")
            position = _blanks(text, position + 1)
        members.append((name, inner))
        if position < len(text) and text[position] in SEPARATORS:
            position += 1
            continue
        return _unique(members), position


def _name(text: str, start: int, whole: str) -> tuple[str, int]:
    position = _blanks(text, start)
    end = position
    while end < len(text) and text[end] not in SEPARATORS and text[end] not in "{}":
        end += 1
    name = text[position:end].strip()
    if not name:
        raise BadRequestData(f"An empty member in the attribute projection {whole!r}")
    if not is_valid_name(name):
        raise BadRequestData(f"{name!r} in the attribute projection {whole!r} is not a valid attribute name")
    return name, end


def _blanks(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def _unique(members: list[tuple[str, Projection | None]]) -> Projection:
    seen: dict[str, Projection | None] = {}
    for name, inner in members:
        seen.setdefault(name, inner)
    return Projection(tuple(seen.items()))
