"""Scopes and the scope query language `scopeQ` (ETSI GS CIM 009, clauses 4.18 and 4.19).

A scope is a path of levels, `/Madrid/Gardens/ParqueNorte`. A scope query term is a scope in which
a level may be `+` (any one level) and the last level may be `#` (that scope and everything below
it; `/#` is any scope). Terms join with `;` (AND) and `|` or `,` (OR, binding weaker), and
parentheses group: `(/Madrid/Districts;/CompanyA)|/CompanyB`. An entity matches a term when any of
its scopes does.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Collection
from dataclasses import dataclass

from smartby.ngsild.errors import BadRequestData

MAX_DEPTH = 32
"""How deeply parentheses may nest in a scope query."""

_STRUCTURE = frozenset("();|,")
_SCOPE_LEVEL = re.compile(r"[^\W\d_]\w*")
"""ScopeLevel (clause 4.18): a Unicode letter, then letters, digits and underscores."""
_FORBIDDEN_IN_LEVEL = frozenset("/#+();|,")


def _valid_level(level: str) -> bool:
    return bool(level) and all(
        ch.isprintable() and not ch.isspace() and ch not in _FORBIDDEN_IN_LEVEL for ch in level
    )


def _levels(scope: str) -> tuple[str, ...] | None:
    if not scope.startswith("/"):
        return None
    return tuple(scope[1:].split("/"))


def validate_scope(scope: str) -> str:
    """Return `scope` when it is a valid scope (`/level/level`); raise BadRequestData otherwise."""
    if not isinstance(scope, str):
        raise BadRequestData(f"A scope is a string, not {scope!r}")
    levels = _levels(scope)
    if levels is None or not all(_SCOPE_LEVEL.fullmatch(level) for level in levels):
        raise BadRequestData(
            f"Invalid scope {scope!r}: a scope is '/' followed by levels separated by '/', each a letter"
            " followed by letters, digits and _ (clause 4.18)"
        )
    return scope


class ScopeExpr(abc.ABC):
    """A parsed scope query."""

    @abc.abstractmethod
    def matches(self, scopes: Collection[str]) -> bool:
        """Whether an entity with these scopes satisfies the query."""

    @abc.abstractmethod
    def to_q(self) -> str:
        """Canonical query text; `parse_scope_query(e.to_q()) == e`."""


@dataclass(frozen=True)
class ScopeTerm(ScopeExpr):
    """One scope pattern; `levels` may hold `+` anywhere and `#` as the last level."""

    levels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("a scope term has at least one level")
        for index, level in enumerate(self.levels):
            last = index == len(self.levels) - 1
            if not (level == "+" or (level == "#" and last) or _valid_level(level)):
                raise ValueError(f"invalid scope level {level!r}")

    def matches(self, scopes: Collection[str]) -> bool:
        """True when any of the scopes matches the pattern."""
        return any(self._matches_one(scope) for scope in scopes)

    def _matches_one(self, scope: str) -> bool:
        levels = _levels(scope)
        if levels is None:
            return False
        pattern = self.levels
        if pattern[-1] == "#":
            pattern = pattern[:-1]
            if len(levels) < len(pattern):
                return False
            levels = levels[: len(pattern)]
        elif len(levels) != len(pattern):
            return False
        return all(want in ("+", level) for want, level in zip(pattern, levels, strict=True))

    def to_q(self) -> str:
        """`/level/level`."""
        return "/" + "/".join(self.levels)


def _flatten(kind: type[ScopeAnd] | type[ScopeOr], terms: tuple[ScopeExpr, ...]) -> tuple[ScopeExpr, ...]:
    flat: list[ScopeExpr] = []
    for term in terms:
        flat.extend(term.terms if isinstance(term, kind) else (term,))
    if len(flat) < 2:
        raise ValueError(f"{kind.__name__} joins at least two terms")
    return tuple(flat)


@dataclass(frozen=True)
class ScopeAnd(ScopeExpr):
    """`a;b`: every term matches. Nested `ScopeAnd` terms are flattened."""

    terms: tuple[ScopeExpr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", _flatten(ScopeAnd, self.terms))

    def matches(self, scopes: Collection[str]) -> bool:
        """See `ScopeExpr.matches`."""
        return all(term.matches(scopes) for term in self.terms)

    def to_q(self) -> str:
        """Terms joined by `;`, OR terms in parentheses."""
        return ";".join(
            f"({term.to_q()})" if isinstance(term, ScopeOr) else term.to_q() for term in self.terms
        )


@dataclass(frozen=True)
class ScopeOr(ScopeExpr):
    """`a|b` (or `a,b`): some term matches. Nested `ScopeOr` terms are flattened."""

    terms: tuple[ScopeExpr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", _flatten(ScopeOr, self.terms))

    def matches(self, scopes: Collection[str]) -> bool:
        """See `ScopeExpr.matches`."""
        return any(term.matches(scopes) for term in self.terms)

    def to_q(self) -> str:
        """Terms joined by `|`, AND terms in parentheses."""
        return "|".join(
            f"({term.to_q()})" if isinstance(term, ScopeAnd) else term.to_q() for term in self.terms
        )


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
        elif char in _STRUCTURE:
            tokens.append(_Token("|" if char == "," else char, char, position))
            position += 1
        else:
            start = position
            while position < len(text) and not text[position].isspace() and text[position] not in _STRUCTURE:
                position += 1
            tokens.append(_Token("scope", text[start:position], start))
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent: or := and (('|' | ',') and)* ; and := factor (';' factor)* ;
    factor := '(' or ')' | scope."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def parse(self) -> ScopeExpr:
        expr = self._or(0)
        token = self.tokens[self.index]
        if token.kind == ")":
            raise self._fail(token, "unbalanced ')'")
        if token.kind != "end":
            raise self._fail(token, f"expected ';', '|' or the end, found {token.text!r}")
        return expr

    def _next(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def _fail(self, token: _Token, detail: str) -> BadRequestData:
        shown = self.text if len(self.text) <= 200 else self.text[:200] + "..."
        return BadRequestData(f"Invalid scopeQ {shown!r}: {detail} at position {token.position}")

    def _or(self, depth: int) -> ScopeExpr:
        terms = [self._and(depth)]
        while self.tokens[self.index].kind == "|":
            self._next()
            terms.append(self._and(depth))
        return terms[0] if len(terms) == 1 else ScopeOr(tuple(terms))

    def _and(self, depth: int) -> ScopeExpr:
        terms = [self._factor(depth)]
        while self.tokens[self.index].kind == ";":
            self._next()
            terms.append(self._factor(depth))
        return terms[0] if len(terms) == 1 else ScopeAnd(tuple(terms))

    def _factor(self, depth: int) -> ScopeExpr:
        token = self._next()
        if token.kind == "(":
            if depth >= MAX_DEPTH:
                raise self._fail(token, f"parentheses nest deeper than {MAX_DEPTH}")
            expr = self._or(depth + 1)
            closing = self._next()
            if closing.kind != ")":
                found = "the end" if closing.kind == "end" else repr(closing.text)
                raise self._fail(
                    closing, f"missing ')' for the '(' at position {token.position}, found {found}"
                )
            return expr
        if token.kind != "scope":
            found = "the end" if token.kind == "end" else repr(token.text)
            raise self._fail(token, f"expected a scope, found {found}")
        return self._term(token)

    def _term(self, token: _Token) -> ScopeTerm:
        levels = _levels(token.text)
        if levels is None:
            raise self._fail(token, f"a scope starts with '/', not {token.text!r}")
        for index, level in enumerate(levels):
            last = index == len(levels) - 1
            if not (level == "+" or (level == "#" and last) or _valid_level(level)):
                raise self._fail(token, f"invalid scope level {level!r} in {token.text!r}")
        return ScopeTerm(levels)


def parse_scope_query(text: str) -> ScopeExpr:
    """Parse a scopeQ (clause 4.19); raises BadRequestData when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData("The scope query is empty")
    return _Parser(text).parse()
