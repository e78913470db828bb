"""Regular expressions a client writes (idPattern, the `~=` operator of q), compiled once each.

NGSI-LD leaves their dialect open; smartby reads them as RE2 does (`google-re2`, searched like
`re.search`): the syntax of Python's `re` less what needs backtracking (backreferences such as
`\\1`, look-around such as `(?=...)`, possessive quantifiers), which RE2 refuses, and one
difference: `$` matches only at the very end, not also before a final newline. RE2 runs in time
linear in the text, so no pattern can hold a process for long (`(a+)+$` against a long string
takes as long as `a+$`). A pattern RE2 cannot compile is a request smartby cannot read (400).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import re2

MAX_PATTERN_LENGTH = 1024
"""Characters of one pattern at most; a longer one is refused."""
_MAX_MEMORY = 8 << 20
"""Bytes RE2 may use for one compiled pattern (its own default); a bigger program is refused."""


class Regex(Protocol):
    """A compiled pattern: what smartby asks of one."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> object | None: ...


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEMORY
    return options


_OPTIONS = _options()


@lru_cache(maxsize=512)
def compiled(pattern: str) -> Regex | None:
    """The compiled pattern, or None if `pattern` is not a regular expression (`problem` says why)."""
    try:
        return _compile(pattern)
    except (re2.error, ValueError, TypeError):
        return None


def problem(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression smartby runs, or None if it is one."""
    try:
        _compile(pattern)
    except (re2.error, ValueError, TypeError) as error:
        return _reason(error)
    return None


def _compile(pattern: str) -> Regex:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"longer than {MAX_PATTERN_LENGTH} characters")
    regex: Regex = re2.compile(pattern, _OPTIONS)
    return regex


def _reason(error: Exception) -> str:
    text = error.args[0] if error.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    reason = str(text) or type(error).__name__
    if "escape sequence" in reason or "perl operator" in reason:
        reason += "; backreferences and look-around are not supported (smartby runs RE2 syntax)"
    return reason
