"""Regular expressions as smartby reads them (RE2, searched: what `~=` and idPattern mean, see
`smartby.ngsild.regex`) as PostgreSQL regular expressions (`~`), for the part of the syntax where
both find the same matches.

Covered: literal characters, escaped punctuation, `.`, `^`, `$`, bracket expressions of literal
characters and ASCII letter/digit ranges, groups, alternation and the quantifiers `* + ? {m,n}`
(greedy or lazy). `.` becomes `[^\n]`, which is what it means in RE2. Anything else (classes such as
`\\d`, flags, named groups, ...) is left to RE2 in Python.

PostgreSQL's engine (Spencer's, a DFA where no backreference asks for backtracking) takes linear
time on what this module translates: `(a+)+$` against a million characters took 12 ms (measured
for docs/limits.md), so these stay in SQL.
"""

from __future__ import annotations

import re
from functools import lru_cache

from smartby.ngsild.regex import compiled

_LITERAL = frozenset(" -_:/,;@#%&='\"<>!~`")
_ESCAPABLE = frozenset(".^$*+?()[]{}|\\/-")
_QUANTIFIER = re.compile(r"\*|\+|\?|\{(\d{1,3})(,(\d{0,3}))?\}")
_MAX_REPEAT = 255
_SET_OPERATORS = frozenset({"--", "&&", "~~", "||"})
"""Pairs Python may one day read as set operations inside brackets (it warns about them now)."""


def _literal(ch: str) -> bool:
    return ch.isalnum() or ch in _LITERAL


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


@lru_cache(maxsize=512)
def to_postgres(pattern: str) -> str | None:
    """The PostgreSQL regular expression that matches where `re.search(pattern, ...)` does, or
    None when this module cannot promise that."""
    translated = _translate(pattern)
    if translated is None or compiled(pattern) is None:
        return None
    return translated


def _translate(pattern: str) -> str | None:
    out: list[str] = []
    i = 0
    quantifiable = False
    depth = 0
    empty_branch = True
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] not in _ESCAPABLE:
                return None
            out.append(pattern[i : i + 2])
            i, quantifiable, empty_branch = i + 2, True, False
            continue
        if ch == "[":
            end = _bracket_end(pattern, i)
            if end is None:
                return None
            out.append(pattern[i : end + 1])
            i, quantifiable, empty_branch = end + 1, True, False
            continue
        quantifier = _QUANTIFIER.match(pattern, i)
        if quantifier is not None and ch in "*+?{":
            if not quantifiable or not _bounds_ok(quantifier):
                return None
            end = quantifier.end()
            if end < len(pattern) and pattern[end] == "?":
                end += 1
            if end < len(pattern) and pattern[end] in "*+?{":
                return None
            out.append(pattern[i:end])
            i, quantifiable = end, False
            continue
        if ch == ".":
            out.append("[^\\n]")
            quantifiable = True
        elif ch == "^":
            out.append("^")
            quantifiable = False
        elif ch == "$":
            out.append("$")
            quantifiable = False
        elif ch == "(":
            if pattern.startswith("(?", i):
                return None
            out.append("(")
            depth += 1
            quantifiable, empty_branch = False, True
            i += 1
            continue
        elif ch == ")":
            if depth == 0 or empty_branch:
                return None
            out.append(")")
            depth -= 1
            quantifiable = True
        elif ch == "|":
            if empty_branch:
                return None
            out.append("|")
            quantifiable, empty_branch = False, True
            i += 1
            continue
        elif _literal(ch):
            out.append(ch)
            quantifiable = True
        else:
            return None
        empty_branch = False
        i += 1
    if depth != 0 or (empty_branch and out):
        return None
    return "".join(out)


def _bounds_ok(quantifier: re.Match[str]) -> bool:
    if quantifier.group(1) is None:
        return True
    low = int(quantifier.group(1))
    high = quantifier.group(3)
    if high is None or high == "":
        return low <= _MAX_REPEAT
    return low <= int(high) <= _MAX_REPEAT


def _bracket_end(pattern: str, start: int) -> int | None:
    """The index of the `]` closing a plain bracket expression that opens at `start`, or None."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    first = i
    while i < len(pattern) and pattern[i] != "]":
        ch = pattern[i]
        if ch in "[\\":
            return None
        if ch == "-" and first < i and i + 1 < len(pattern) and pattern[i + 1] != "]":
            low, high = pattern[i - 1], pattern[i + 1]
            if not (_ascii_alnum(low) and _ascii_alnum(high) and low <= high):
                return None
            if i + 2 < len(pattern) and pattern[i + 2] == "-":
                return None
            i += 2
            continue
        if not (_literal(ch) or ch in ".^$*+?(){}|") or pattern[i : i + 2] in _SET_OPERATORS:
            return None
        i += 1
    if i >= len(pattern) or i == first:
        return None
    return i
