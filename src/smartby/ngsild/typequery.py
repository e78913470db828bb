"""Entity type selection (clause 4.17): `type=Building`, `type=Building,Vehicle`, `type=(A;B)|C`.

`,` and `|` mean "or", `;` means "and" (an entity may have several types); parentheses group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from smartby.ngsild.errors import BadRequestData

_SPECIAL = frozenset(",;|()")
MAX_DEPTH = 32
"""How deeply parentheses may nest in a type selection."""
MAX_TYPES = 256
"""Type names one selection may name at most."""


@dataclass(frozen=True)
class TypeName:
    name: str

    def matches(self, types: frozenset[str] | set[str] | list[str]) -> bool:
        return self.name in types

    def map_names(self, f: Callable[[str], str]) -> TypeName:
        return TypeName(f(self.name))

    def names(self) -> set[str]:
        return {self.name}

    def to_text(self) -> str:
        return self.name


@dataclass(frozen=True)
class TypeAll:
    terms: tuple[TypeExpr, ...]

    def matches(self, types: frozenset[str] | set[str] | list[str]) -> bool:
        return all(term.matches(types) for term in self.terms)

    def map_names(self, f: Callable[[str], str]) -> TypeAll:
        return TypeAll(tuple(term.map_names(f) for term in self.terms))

    def names(self) -> set[str]:
        return set().union(*(term.names() for term in self.terms))

    def to_text(self) -> str:
        return ";".join(_grouped(term) for term in self.terms)


@dataclass(frozen=True)
class TypeAny:
    terms: tuple[TypeExpr, ...]

    def matches(self, types: frozenset[str] | set[str] | list[str]) -> bool:
        return any(term.matches(types) for term in self.terms)

    def map_names(self, f: Callable[[str], str]) -> TypeAny:
        return TypeAny(tuple(term.map_names(f) for term in self.terms))

    def names(self) -> set[str]:
        return set().union(*(term.names() for term in self.terms))

    def to_text(self) -> str:
        return "|".join(term.to_text() for term in self.terms)


TypeExpr = TypeName | TypeAll | TypeAny


def _grouped(term: TypeExpr) -> str:
    return f"({term.to_text()})" if isinstance(term, TypeAny) else term.to_text()


def parse_type_query(text: str) -> TypeExpr:
    """Parse a type selection; raises BadRequestData when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData("The type selection is empty")
    tokens = _tokenize(text)
    names = sum(1 for token in tokens if token not in _SPECIAL)
    if names > MAX_TYPES:
        raise BadRequestData(f"A type selection names at most {MAX_TYPES} types, this one {names}")
    expr, position = _parse_any(tokens, 0, text)
    if position != len(tokens):
        raise BadRequestData(f"Unexpected {tokens[position]!r} in type selection {text!r}")
    return expr


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    name: list[str] = []
    for char in text:
        if char in _SPECIAL:
            if name:
                tokens.append("".join(name).strip())
                name = []
            tokens.append(char)
        else:
            name.append(char)
    if name:
        tokens.append("".join(name).strip())
    return [t for t in tokens if t]


def _parse_any(tokens: list[str], position: int, text: str, depth: int = 0) -> tuple[TypeExpr, int]:
    terms: list[TypeExpr] = []
    while True:
        term, position = _parse_all(tokens, position, text, depth)
        terms.append(term)
        if position < len(tokens) and tokens[position] in ",|":
            position += 1
            continue
        break
    flat: list[TypeExpr] = []
    for term in terms:
        flat.extend(term.terms if isinstance(term, TypeAny) else (term,))
    return (flat[0] if len(flat) == 1 else TypeAny(tuple(flat))), position


def _parse_all(tokens: list[str], position: int, text: str, depth: int) -> tuple[TypeExpr, int]:
    terms: list[TypeExpr] = []
    while True:
        term, position = _parse_atom(tokens, position, text, depth)
        terms.append(term)
        if position < len(tokens) and tokens[position] == ";":
            position += 1
            continue
        break
    flat: list[TypeExpr] = []
    for term in terms:
        flat.extend(term.terms if isinstance(term, TypeAll) else (term,))
    return (flat[0] if len(flat) == 1 else TypeAll(tuple(flat))), position


def _parse_atom(tokens: list[str], position: int, text: str, depth: int) -> tuple[TypeExpr, int]:
    if position >= len(tokens):
        raise BadRequestData(f"Type selection {text!r} ends where a type name is expected")
    token = tokens[position]
    if token == "(":
        if depth >= MAX_DEPTH:
            raise BadRequestData(f"Parentheses nest deeper than {MAX_DEPTH} in a type selection")
        expr, position = _parse_any(tokens, position + 1, text, depth + 1)
        if position >= len(tokens) or tokens[position] != ")":
            raise BadRequestData(f"Unbalanced parentheses in type selection {text!r}")
        return expr, position + 1
    if token in _SPECIAL:
        raise BadRequestData(f"Unexpected {token!r} in type selection {text!r}")
    if any(c in token for c in "<>\"'= \t\n\\"):
        raise BadRequestData(f"Invalid entity type {token!r}")
    return TypeName(token), position + 1
