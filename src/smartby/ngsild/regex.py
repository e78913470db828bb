"""Regular expressions a client writes (idPattern, the `~=` operator of q), compiled once each.

NGSI-LD leaves their dialect open; smartby reads them as Python's `re` does (`re.search`). Python
warns (FutureWarning) about patterns whose meaning a later release may change, such as a `[` or
`--` inside a bracket expression; today it reads them as literal characters, as ECMAScript does,
so smartby accepts them quietly rather than let a warning escape from a request.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or None if `pattern` is not a regular expression (`problem` says why)."""
    try:
        return _compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def problem(pattern: str) -> str | None:
    """Why `pattern` is not a regular expression, or None if it is one."""
    try:
        _compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as error:
        return str(error) or type(error).__name__
    return None


def _compile(pattern: str) -> re.Pattern[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(pattern)
