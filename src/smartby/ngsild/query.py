"""The NGSI-LD query language `q` (ETSI GS CIM 009, clause 4.9).

`parse_q` reads a query into a small immutable syntax tree. The tree serialises back with `to_q`,
renames its attributes with `map_names` (the broker expands short names against the @context before
evaluating) and is evaluated with `matches` against an entity in the internal form of
`smartby.ngsild.entity`:

    (temperature>=20;temperature<=25)|brand=="Seat","Mercedes"|speed.observedAt>=2018-12-04T12:00:00Z

`;` is AND, `|` is OR and binds weaker; parentheses nest. A term is an attribute path alone (it
exists), `!path` (it does not exist), `path op value` with `==` `!=` `>` `>=` `<` `<=`, a value list
`a,b,c` or range `low..high` after `==`/`!=`, or `path~=regex` / `path!~=regex`. A path is
`attr.sub.sub[key][key]`; a final `.observedAt` (or another member in `MEMBERS`) addresses that
member of the attribute instance. Every syntax error is a `BadRequestData`.
"""

from __future__ import annotations

import abc
import math
import operator
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from smartby.ngsild.entity import Entity, Instance
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.regex import compiled, problem

MEMBERS = frozenset({"observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId", "deletedAt"})
"""Names that, after a dot, address a member of the attribute instance instead of a sub-attribute."""

COMPARE_OPS = ("==", "!=", ">", ">=", "<", "<=")
"""The operators of `Compare`; `==` and `!=` also take a value list or a range."""
PATTERN_OPS = ("~=", "!~=")
"""The operators of `Pattern` (matches, does not match a regular expression)."""
MAX_DEPTH = 32
"""How deeply parentheses may nest."""
MAX_TERMS = 5000
"""Terms one query may hold at most."""

LiteralKind = typing.Literal["number", "string", "bool", "datetime", "date", "time", "uri"]
"""How a value was written: `uri` is an unquoted IRI, `string` a quoted (or other unquoted) text."""
LiteralValue = int | float | str | bool | datetime | date | time
"""The Python value of a literal."""

_OPERATORS = frozenset(COMPARE_OPS + PATTERN_OPS)
_OPERATOR_CHARS = frozenset("=<>~!")
_STRUCTURE = frozenset("();|")
_VALUE_STOP = frozenset(',;|()"')
_FORBIDDEN_IN_NAME = frozenset("<>\"'=;(),[]{}|\\^`!~")
_RANGE_KINDS = frozenset({"number", "string", "datetime", "date", "time"})
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_RELATIONSHIP_TYPES = frozenset({"Relationship", "ListRelationship"})

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_ZONE = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
_CLOCK = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T" + _CLOCK + _ZONE)
_TIME = re.compile(_CLOCK + _ZONE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_Moment = TypeVar("_Moment", datetime, time)


def is_valid_name(name: str) -> bool:
    """True for an attribute name, a compact IRI or an absolute IRI usable in `q`/`attrs`/`pick`."""
    return bool(name) and all(
        ch.isprintable() and not ch.isspace() and ch not in _FORBIDDEN_IN_NAME for ch in name
    )


def parse_attrs_list(text: str) -> list[str]:
    """Split a comma-separated `attrs`/`pick`/`omit` value into names (duplicates dropped, order kept)."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData("The attribute list is empty")
    names: list[str] = []
    for item in re.split(r"[,|]", text):
        name = item.strip()
        if not name:
            raise BadRequestData(f"The attribute list {text!r} has an empty item")
        if not is_valid_name(name):
            raise BadRequestData(f"{name!r} in the attribute list is not a valid attribute name")
        if name not in names:
            names.append(name)
    return names


def _is_atom_char(ch: str) -> bool:
    return not ch.isspace() and ch not in _VALUE_STOP


def _is_uri(text: str) -> bool:
    return (
        _SCHEME.match(text) is not None
        and ".." not in text
        and all(_is_atom_char(ch) and ch.isprintable() for ch in text)
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_moment(moment: datetime | time) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _whole_minutes(offset: timedelta | None) -> bool:
    return offset is not None and offset % timedelta(minutes=1) == timedelta(0)


@dataclass(frozen=True)
class Literal:
    """A value in a query term; `kind` records how it was written so `to_q` reproduces it.

    Date-times and times are timezone-aware (a value written without a zone is taken as UTC).
    Constructing a literal whose value does not fit its kind raises ValueError.
    """

    kind: LiteralKind
    value: LiteralValue

    def __post_init__(self) -> None:
        value = self.value
        valid = {
            "number": isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
            "datetime": isinstance(value, datetime) and _whole_minutes(value.utcoffset()),
            "date": type(value) is date,
            "time": isinstance(value, time) and _whole_minutes(value.utcoffset()),
            "uri": isinstance(value, str) and _is_uri(value),
        }.get(self.kind, False)
        if not valid:
            raise ValueError(f"{value!r} is not a valid {self.kind} literal")

    def to_q(self) -> str:
        """The literal as written in a query."""
        value = self.value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime | time):
            return _format_moment(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, int):
            return str(value)
        return _quote(value) if self.kind == "string" else value


@dataclass(frozen=True)
class AttrPath:
    """`attr.sub.sub.member[key][key]`: an attribute, sub-attributes, an instance member, value keys."""

    attr: str
    subattrs: tuple[str, ...] = ()
    member: str | None = None
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.member is not None and self.member not in MEMBERS:
            raise ValueError(f"{self.member!r} is not an attribute instance member")

    def to_q(self) -> str:
        """The path as written in a query."""
        names = (self.attr, *self.subattrs, *((self.member,) if self.member else ()))
        return ".".join(names) + "".join(f"[{key}]" for key in self.keys)

    def map_names(self, f: Callable[[str], str]) -> AttrPath:
        """The path with the attribute and sub-attribute names passed through `f`."""
        return AttrPath(f(self.attr), tuple(f(name) for name in self.subattrs), self.member, self.keys)


_PLAIN = AttrPath("value")


class Expr(abc.ABC):
    """A parsed `q` expression."""

    @abc.abstractmethod
    def to_q(self) -> str:
        """Canonical query text; `parse_q(e.to_q()) == e`."""

    @abc.abstractmethod
    def map_names(self, f: Callable[[str], str]) -> Expr:
        """The same tree with every attribute and sub-attribute name passed through `f`."""

    @abc.abstractmethod
    def attributes(self) -> set[str]:
        """The attribute names the expression mentions."""

    @abc.abstractmethod
    def matches(self, entity: Entity) -> bool:
        """Whether an entity in the internal form satisfies the expression."""


class Term(Expr):
    """A query term on one attribute path."""

    path: AttrPath

    def attributes(self) -> set[str]:
        """The attribute the term's path starts at."""
        return {self.path.attr}

    def matches(self, entity: Entity) -> bool:
        """True when any instance of the attribute satisfies the term."""
        return any(
            self.matches_instance(instance, values) for instance, values in _candidates(entity, self.path)
        )

    @abc.abstractmethod
    def matches_instance(self, instance: Instance, values: list[Any]) -> bool:
        """Whether one instance, with the values its path selects, satisfies the term."""


@dataclass(frozen=True)
class Exists(Term):
    """`path`: the attribute (or the addressed member or key) is present."""

    path: AttrPath

    def to_q(self) -> str:
        """`path`."""
        return self.path.to_q()

    def map_names(self, f: Callable[[str], str]) -> Exists:
        """See `Expr.map_names`."""
        return Exists(self.path.map_names(f))

    def matches_instance(self, instance: Instance, values: list[Any]) -> bool:
        """True when the path selects something in this instance."""
        return bool(values) or (self.path.member is None and not self.path.keys)


@dataclass(frozen=True)
class NotExists(Expr):
    """`!path`: the attribute (or the addressed member or key) is absent."""

    path: AttrPath

    def to_q(self) -> str:
        """`!path`."""
        return "!" + self.path.to_q()

    def map_names(self, f: Callable[[str], str]) -> NotExists:
        """See `Expr.map_names`."""
        return NotExists(self.path.map_names(f))

    def attributes(self) -> set[str]:
        """The attribute the path starts at."""
        return {self.path.attr}

    def matches(self, entity: Entity) -> bool:
        """True when `Exists` on the same path does not match."""
        return not Exists(self.path).matches(entity)


@dataclass(frozen=True)
class Compare(Term):
    """`path op value` with op one of `== != > >= < <=`."""

    path: AttrPath
    op: str
    value: Literal

    def __post_init__(self) -> None:
        if self.op not in COMPARE_OPS:
            raise ValueError(f"{self.op!r} is not a comparison operator")

    def to_q(self) -> str:
        """`path op value`."""
        return self.path.to_q() + self.op + self.value.to_q()

    def map_names(self, f: Callable[[str], str]) -> Compare:
        """See `Expr.map_names`."""
        return Compare(self.path.map_names(f), self.op, self.value)

    def matches_instance(self, instance: Instance, values: list[Any]) -> bool:
        """`==` any value equals; `!=` values exist and none equals; ordering: any value satisfies."""
        if self.op in ("==", "!="):
            equal = any(_equals(value, self.value) for value in values)
            return equal if self.op == "==" else bool(values) and not equal
        if _is_relationship(instance, self.path):
            return False
        compare = _ORDERING[self.op]
        return any(_holds(compare, value, self.value) for value in values)


@dataclass(frozen=True)
class InList(Term):
    """`path==a,b,c` (any equals) or, negated, `path!=a,b,c` (values exist and none equals)."""

    path: AttrPath
    values: tuple[Literal, ...]
    negated: bool = False

    def __post_init__(self) -> None:
        if len(self.values) < 2:
            raise ValueError("a value list has at least two values")

    def to_q(self) -> str:
        """`path==a,b` or `path!=a,b`."""
        op = "!=" if self.negated else "=="
        return self.path.to_q() + op + ",".join(value.to_q() for value in self.values)

    def map_names(self, f: Callable[[str], str]) -> InList:
        """See `Expr.map_names`."""
        return InList(self.path.map_names(f), self.values, self.negated)

    def matches_instance(self, instance: Instance, values: list[Any]) -> bool:
        """See the class docstring."""
        equal = any(_equals(value, literal) for value in values for literal in self.values)
        return bool(values) and not equal if self.negated else equal


@dataclass(frozen=True)
class InRange(Term):
    """`path==low..high` (any value within, inclusive) or, negated, `path!=low..high`."""

    path: AttrPath
    low: Literal
    high: Literal
    negated: bool = False

    def __post_init__(self) -> None:
        if self.low.kind != self.high.kind or self.low.kind not in _RANGE_KINDS:
            raise ValueError(f"a range cannot run from a {self.low.kind} to a {self.high.kind}")

    def to_q(self) -> str:
        """`path==low..high` or `path!=low..high`."""
        op = "!=" if self.negated else "=="
        return self.path.to_q() + op + self.low.to_q() + ".." + self.high.to_q()

    def map_names(self, f: Callable[[str], str]) -> InRange:
        """See `Expr.map_names`."""
        return InRange(self.path.map_names(f), self.low, self.high, self.negated)

    def matches_instance(self, instance: Instance, values: list[Any]) -> bool:
        """See the class docstring."""
        within = any(
            _holds(operator.ge, value, self.low) and _holds(operator.le, value, self.high) for value in values
        )
        return bool(values) and not within if self.negated else within


@dataclass(frozen=True)
class Pattern(Term):
    """`path~=regex` (a string value contains a match, `re.search`) or, negated, `path!~=regex`."""

    path: AttrPath
    regex: str
    negated: bool = False

    def to_q(self) -> str:
        """`path~="regex"` or `path!~="regex"`."""
        return self.path.to_q() + ("!~=" if self.negated else "~=") + _quote(self.regex)

    def map_names(self, f: Callable[[str], str]) -> Pattern:
        """See `Expr.map_names`."""
        return Pattern(self.path.map_names(f), self.regex, self.negated)

    def matches_instance(self, instance: Instance, values: list[Any]) -> bool:
        """Only string values take part; relationships never match a pattern (clause 4.9)."""
        if _is_relationship(instance, self.path):
            return False
        texts = [value for value in values if isinstance(value, str)]
        pattern = compiled(self.regex)
        found = pattern is not None and any(pattern.search(text) for text in texts)
        return bool(texts) and not found if self.negated else found


def _flatten(kind: type[And] | type[Or], terms: tuple[Expr, ...]) -> tuple[Expr, ...]:
    flat: list[Expr] = []
    for term in terms:
        flat.extend(term.terms if isinstance(term, kind) else (term,))
    if len(flat) < 2:
        raise ValueError(f"{kind.__name__} joins at least two terms")
    return tuple(flat)


@dataclass(frozen=True)
class And(Expr):
    """`a;b;c`: every term matches. Nested `And` terms are flattened."""

    terms: tuple[Expr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", _flatten(And, self.terms))

    def to_q(self) -> str:
        """Terms joined by `;`, OR terms in parentheses."""
        return ";".join(f"({term.to_q()})" if isinstance(term, Or) else term.to_q() for term in self.terms)

    def map_names(self, f: Callable[[str], str]) -> And:
        """See `Expr.map_names`."""
        return And(tuple(term.map_names(f) for term in self.terms))

    def attributes(self) -> set[str]:
        """See `Expr.attributes`."""
        return set().union(*(term.attributes() for term in self.terms))

    def matches(self, entity: Entity) -> bool:
        """See `Expr.matches`."""
        return all(term.matches(entity) for term in self.terms)


@dataclass(frozen=True)
class Or(Expr):
    """`a|b|c`: some term matches. Nested `Or` terms are flattened."""

    terms: tuple[Expr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", _flatten(Or, self.terms))

    def to_q(self) -> str:
        """Terms joined by `|`, AND terms in parentheses for the reader's sake."""
        return "|".join(f"({term.to_q()})" if isinstance(term, And) else term.to_q() for term in self.terms)

    def map_names(self, f: Callable[[str], str]) -> Or:
        """See `Expr.map_names`."""
        return Or(tuple(term.map_names(f) for term in self.terms))

    def attributes(self) -> set[str]:
        """See `Expr.attributes`."""
        return set().union(*(term.attributes() for term in self.terms))

    def matches(self, entity: Entity) -> bool:
        """See `Expr.matches`."""
        return any(term.matches(entity) for term in self.terms)


def _as_instances(raw: Any) -> list[Instance]:
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list):
        return [item for item in raw if isinstance(item, dict)]
    return []


def _candidates(entity: Entity, path: AttrPath) -> Iterator[tuple[Instance, list[Any]]]:
    instances = _as_instances(entity.get(path.attr))
    for name in path.subattrs:
        instances = [sub for instance in instances for sub in _as_instances(instance.get(name))]
    for instance in instances:
        yield instance, _leaves(_selected(instance, path))


def instance_values(instance: Instance) -> list[Any]:
    """The values a term on an attribute's plain path compares against, for one instance.

    Stores that index attribute values index exactly these, so their filters agree with `matches`.
    """
    return _leaves(_selected(instance, _PLAIN))


def _selected(instance: Instance, path: AttrPath) -> list[Any]:
    if path.member is not None:
        return [instance[path.member]] if path.member in instance else []
    if instance.get("type") == "LanguageProperty":
        language_map = instance.get("languageMap")
        if not isinstance(language_map, dict):
            return []
        if not path.keys:
            return list(language_map.values())
        language, rest = path.keys[0], path.keys[1:]
        if language == "*":
            return _descend(list(language_map.values()), rest)
        return _descend([language_map[language]], rest) if language in language_map else []
    return _descend(_attribute_value(instance), path.keys)


_VALUE_MEMBER = {
    "Relationship": "object",
    "ListRelationship": "objectList",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
    "JsonProperty": "json",
}
"""The member holding an instance's value, by instance type (else `value`)."""


def _attribute_value(instance: Instance) -> list[Any]:
    member = _VALUE_MEMBER.get(instance.get("type", ""), "value")
    if member not in instance:
        return [instance["object"]] if member == "value" and "object" in instance else []
    value = instance[member]
    if member == "objectList" and isinstance(value, list):
        return [item.get("object") if isinstance(item, dict) else item for item in value]
    return [value]


def _descend(values: list[Any], keys: tuple[str, ...]) -> list[Any]:
    for key in keys:
        found: list[Any] = []
        pending = list(values)
        while pending:
            value = pending.pop()
            if isinstance(value, list):
                pending.extend(value)
            elif isinstance(value, dict):
                if "@value" in value and key not in value:
                    pending.append(value["@value"])
                elif key in value:
                    found.append(value[key])
        values = found
    return values


def _leaves(values: list[Any]) -> list[Any]:
    if len(values) == 1 and not isinstance(values[0], list | dict):
        return values  # One plain value, the usual case: nothing to flatten.
    leaves: list[Any] = []
    pending = list(reversed(values))
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(reversed(value))
        elif isinstance(value, dict) and "@value" in value:
            pending.append(value["@value"])
        else:
            leaves.append(value)
    return leaves


def _is_relationship(instance: Instance, path: AttrPath) -> bool:
    return path.member is None and instance.get("type") in _RELATIONSHIP_TYPES


def _moment(text: str, parse: Callable[[str], Any]) -> Any:
    try:
        moment = parse(text)
    except (ValueError, OverflowError):
        return None
    if isinstance(moment, datetime | time) and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _coerce(value: Any, kind: str) -> Any:
    """The entity value as a Python object comparable with a literal of `kind`, or None."""
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if not isinstance(value, str):
        return None
    if kind == "datetime":
        return _moment(value, datetime.fromisoformat)
    if kind == "date":
        return _moment(value, date.fromisoformat)
    if kind == "time":
        return _moment(value, time.fromisoformat)
    return value


def _holds(compare: Callable[[Any, Any], bool], value: Any, literal: Literal) -> bool:
    if literal.kind == "bool":
        return False
    coerced = _coerce(value, literal.kind)
    if coerced is None:
        return False
    try:
        return compare(coerced, literal.value)
    except (TypeError, ValueError, OverflowError):
        return False


def _equals(value: Any, literal: Literal) -> bool:
    if literal.kind == "bool":
        return isinstance(value, bool) and value is literal.value
    return _holds(operator.eq, value, literal)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _error(text: str, position: int, detail: str) -> BadRequestData:
    shown = text if len(text) <= 200 else text[:200] + "..."
    return BadRequestData(f"Invalid q {shown!r}: {detail} at position {position}")


class _Lexer:
    """Splits a query into tokens. What a character means depends on the place in the term, so the
    lexer reads in three modes: structure and paths, values after a comparison, a pattern."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.tokens: list[_Token] = []

    def run(self) -> list[_Token]:
        mode = self._structure
        while self._skip_space():
            mode = mode()
        self.tokens.append(_Token("end", "", len(self.text)))
        return self.tokens

    def _skip_space(self) -> bool:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1
        return self.position < len(self.text)

    def _emit(self, kind: str, text: str, start: int) -> None:
        self.tokens.append(_Token(kind, text, start))

    def _fail(self, detail: str, position: int | None = None) -> BadRequestData:
        return _error(self.text, self.position if position is None else position, detail)

    def _structure(self) -> Callable[[], Any]:
        text, start = self.text, self.position
        char = text[start]
        if char in _STRUCTURE:
            self.position += 1
            self._emit(char, char, start)
            return self._structure
        if char in _OPERATOR_CHARS:
            end = start
            while end < len(text) and text[end] in _OPERATOR_CHARS:
                end += 1
            op = text[start:end]
            self.position = end
            if op == "!":
                self._emit("!", op, start)
                return self._structure
            if op not in _OPERATORS:
                raise self._fail(f"unknown operator {op!r}", start)
            self._emit("op", op, start)
            return self._pattern if op in PATTERN_OPS else self._value
        if char == "[":
            end = text.find("]", start + 1)
            if end < 0:
                raise self._fail("unclosed '['", start)
            key = text[start + 1 : end]
            if not key or "[" in key:
                raise self._fail(f"invalid key [{key}]", start)
            self.position = end + 1
            self._emit("key", key, start)
            return self._structure
        if char == "." or is_valid_name(char):
            end = start
            while end < len(text) and (text[end] == "." or is_valid_name(text[end])):
                end += 1
            self.position = end
            self._emit("path", text[start:end], start)
            return self._structure
        raise self._fail(f"unexpected character {char!r}")

    def _value(self) -> Callable[[], Any]:
        text, start = self.text, self.position
        char = text[start]
        if char in _STRUCTURE:
            return self._structure
        if char == ",":
            self.position += 1
            self._emit(",", char, start)
        elif text.startswith("..", start):
            self.position += 2
            self._emit("..", "..", start)
        elif char == '"':
            self._emit("string", self._quoted(), start)
        elif char in _OPERATOR_CHARS:
            raise self._fail(f"unexpected operator character {char!r}")
        else:
            end = start
            while end < len(text) and _is_atom_char(text[end]) and not text.startswith("..", end):
                end += 1
            self.position = end
            self._emit("atom", text[start:end], start)
        return self._value

    def _pattern(self) -> Callable[[], Any]:
        text, start = self.text, self.position
        if text[start] == '"':
            self._emit("regex", self._quoted(), start)
            return self._structure
        depth, end = 0, start
        while end < len(text):
            char = text[end]
            if char == "\\":
                end += 2
                continue
            if char in ";|" or (char == ")" and depth == 0):
                break
            depth += {"(": 1, ")": -1}.get(char, 0)
            end += 1
        end = min(end, len(text))
        self.position = end
        regex = text[start:end].rstrip()
        if regex:
            self._emit("regex", regex, start)
        return self._structure

    def _quoted(self) -> str:
        text, start = self.text, self.position
        chars: list[str] = []
        position = start + 1
        while position < len(text):
            char = text[position]
            if char == '"':
                self.position = position + 1
                return "".join(chars)
            if char == "\\" and position + 1 < len(text):
                following = text[position + 1]
                chars.append(following if following in '"\\' else char + following)
                position += 2
                continue
            chars.append(char)
            position += 1
        raise self._fail("unterminated string", start)


def _split_path(raw: str) -> list[str]:
    """Split `attr.sub.member` at dots, keeping the dots inside absolute IRIs (`https://a.org/x`)."""
    parts = raw.split(".")
    segments: list[str] = []
    for part in parts:
        if segments and part and _continues_iri(segments[-1], part):
            segments[-1] += "." + part
        else:
            segments.append(part)
    return segments


def _continues_iri(current: str, part: str) -> bool:
    if "://" in current and not any(ch in current.split("://", 1)[1] for ch in "/?#"):
        return True
    return "/" in part and "://" not in part


def _classify(text: str, position: int, query: str) -> Literal:
    """The literal an unquoted value denotes."""
    if text in ("true", "false"):
        return Literal("bool", text == "true")
    try:
        if _NUMBER.fullmatch(text):
            if text.lstrip("-").isdigit():
                return Literal("number", int(text))
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return Literal("number", number)
        if _DATETIME.fullmatch(text):
            return Literal("datetime", _moment_literal(datetime.fromisoformat(text)))
        if _DATE.fullmatch(text):
            return Literal("date", date.fromisoformat(text))
        if _TIME.fullmatch(text):
            return Literal("time", _moment_literal(time.fromisoformat(text)))
    except (ValueError, OverflowError):
        raise _error(query, position, f"{text!r} is not a valid number, date or time") from None
    unsigned = text.removeprefix("-")
    if unsigned[:1].isdigit() or (unsigned[:1] == "." and unsigned[1:2].isdigit()):
        raise _error(query, position, f"{text!r} is not a valid number, date or time")
    if _is_uri(text):
        return Literal("uri", text)
    return Literal("string", text)


def _moment_literal(moment: _Moment) -> _Moment:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if not _whole_minutes(moment.utcoffset()):
        raise ValueError
    return moment


class _Parser:
    """Recursive descent over the tokens: or := and ('|' and)* ; and := factor (';' factor)* ;
    factor := '(' or ')' | term ; term := '!' path | path [op values | patternop regex]."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _Lexer(text).run()
        self.index = 0
        self.terms = 0

    def parse(self) -> Expr:
        expr = self._or(0)
        token = self._peek()
        if token.kind == ")":
            raise self._fail(token, "unbalanced ')'")
        if token.kind != "end":
            raise self._fail(token, f"expected ';', '|' or the end, found {self._found(token)}")
        return expr

    def _peek(self) -> _Token:
        return self.tokens[self.index]

    def _next(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def _fail(self, token: _Token, detail: str) -> BadRequestData:
        return _error(self.text, token.position, detail)

    def _found(self, token: _Token) -> str:
        if token.kind == "key":
            return repr(f"[{token.text}]")
        return "the end" if token.kind == "end" else repr(token.text)

    def _or(self, depth: int) -> Expr:
        terms = [self._and(depth)]
        while self._peek().kind == "|":
            self._next()
            terms.append(self._and(depth))
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def _and(self, depth: int) -> Expr:
        terms = [self._factor(depth)]
        while self._peek().kind == ";":
            self._next()
            terms.append(self._factor(depth))
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def _factor(self, depth: int) -> Expr:
        token = self._peek()
        if token.kind != "(":
            return self._term()
        if depth >= MAX_DEPTH:
            raise self._fail(token, f"parentheses nest deeper than {MAX_DEPTH}")
        self._next()
        expr = self._or(depth + 1)
        closing = self._next()
        if closing.kind != ")":
            raise self._fail(
                closing,
                f"missing ')' for the '(' at position {token.position}, found " + self._found(closing),
            )
        return expr

    def _term(self) -> Expr:
        token = self._next()
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self._fail(token, f"a query holds at most {MAX_TERMS} terms")
        if token.kind == "!":
            target = self._next()
            if target.kind != "path":
                raise self._fail(target, f"expected an attribute after '!', found {self._found(target)}")
            path = self._path(target)
            following = self._peek()
            if following.kind == "op":
                raise self._fail(following, "'!' tests absence and takes no operator")
            return NotExists(path)
        if token.kind != "path":
            raise self._fail(token, f"expected a query term, found {self._found(token)}")
        path = self._path(token)
        if self._peek().kind != "op":
            return Exists(path)
        op = self._next()
        if op.text in PATTERN_OPS:
            regex = self._next()
            if regex.kind != "regex":
                raise self._fail(regex, f"missing regular expression after {op.text!r}")
            why = problem(regex.text)
            if why is not None:
                raise self._fail(regex, f"invalid regular expression ({why})")
            return Pattern(path, regex.text, op.text == "!~=")
        return self._comparison(path, op)

    def _comparison(self, path: AttrPath, op: _Token) -> Expr:
        first = self._literal(op)
        separator = self._peek()
        equality = op.text in ("==", "!=")
        if separator.kind == "..":
            self._next()
            second = self._literal(separator)
            if self._peek().kind in (",", ".."):
                raise self._fail(self._peek(), "a range has exactly two ends")
            if not equality:
                raise self._fail(op, f"a range needs '==' or '!=', not {op.text!r}")
            if first.kind != second.kind or first.kind not in _RANGE_KINDS:
                raise self._fail(separator, f"a range cannot run from a {first.kind} to a {second.kind}")
            return InRange(path, first, second, op.text == "!=")
        if separator.kind == ",":
            values = [first]
            while self._peek().kind == ",":
                values.append(self._literal(self._next()))
            if self._peek().kind == "..":
                raise self._fail(self._peek(), "a value list cannot contain a range")
            if not equality:
                raise self._fail(op, f"a value list needs '==' or '!=', not {op.text!r}")
            return InList(path, tuple(values), op.text == "!=")
        if not equality and first.kind == "bool":
            raise self._fail(op, f"true and false compare only with '==' or '!=', not {op.text!r}")
        return Compare(path, op.text, first)

    def _literal(self, after: _Token) -> Literal:
        token = self._next()
        if token.kind == "string":
            return Literal("string", token.text)
        if token.kind == "atom":
            return _classify(token.text, token.position, self.text)
        raise self._fail(token, f"missing value after {after.text!r}, found {self._found(token)}")

    def _path(self, token: _Token) -> AttrPath:
        segments = _split_path(token.text)
        if "" in segments:
            raise self._fail(token, f"empty name in attribute path {token.text!r}")
        keys: list[str] = []
        while self._peek().kind == "key":
            keys.append(self._next().text)
        member = None
        names = segments[1:]
        for index, name in enumerate(names):
            if name in MEMBERS:
                if index != len(names) - 1:
                    raise self._fail(token, f"{name!r} ends an attribute path")
                member = name
                names = names[:-1]
        if member is not None and keys:
            raise self._fail(token, f"the member {member!r} has no keys to index")
        return AttrPath(segments[0], tuple(names), member, tuple(keys))


def parse_q(text: str) -> Expr:
    """Parse an NGSI-LD query (clause 4.9); raises BadRequestData when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestData("The query q is empty")
    return _Parser(text).parse()
