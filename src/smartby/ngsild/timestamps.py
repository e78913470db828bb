"""ISO 8601 date-times as NGSI-LD uses them (always rendered in UTC with a `Z`)."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

from smartby.ngsild.errors import BadRequestData

_FRACTION = re.compile(r"[0-9]{2}:?[0-9]{2}:?[0-9]{2}[.,]([0-9]+)")
"""The fraction of a second in a date-time's time part (before any UTC offset)."""


def parse_datetime(text: str, what: str = "date-time") -> datetime:
    """Parse an ISO 8601 date-time; a time without zone is taken as UTC."""
    if not isinstance(text, str) or len(text) < 10:
        raise BadRequestData(f"{what} is not an ISO 8601 date-time: {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"{what} is not an ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def format_datetime(moment: datetime) -> str:
    """Render as `2024-01-31T12:00:00.123456Z` (microseconds only when present)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is C and several times faster than strftime (aggregated answers format thousands of
    # period bounds); in UTC it ends in "+00:00", and leaves out a zero microsecond as we do.
    return moment.isoformat()[:-6] + "Z"


def normalize_datetime(text: str, what: str = "date-time") -> str:
    """Validate and re-render a date-time in UTC with a `Z`, keeping the precision it was given:
    `2020-02-24T23:00:00.173+01:00` becomes `2020-02-24T22:00:00.173Z` (at most microseconds).
    """
    try:
        moment = parse_datetime(text, what).astimezone(UTC)
    except OverflowError:
        raise BadRequestData(f"{what} is out of range: {text!r}") from None
    fraction = _FRACTION.search(text)
    digits = min(len(fraction.group(1)), 6) if fraction else 0
    whole = moment.replace(tzinfo=None).isoformat(timespec="seconds")
    if digits:
        return f"{whole}.{moment.microsecond:06d}"[: len(whole) + 1 + digits] + "Z"
    return whole + "Z"


_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z")


@functools.lru_cache(maxsize=4096)
def canonical_datetime(text: str, what: str = "date-time") -> str:
    """`normalize_datetime`, quick for a string already in the form it renders (what our own
    decoders produce for every device reading): such a string is only checked, not rebuilt, and
    the values of one reading, which share their time, check it once."""
    if _CANONICAL.fullmatch(text):
        try:
            datetime.fromisoformat(text[:-1])
        except ValueError:
            pass
        else:
            return text
    return normalize_datetime(text, what)


def now() -> datetime:
    return datetime.now(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(text: str) -> int:
    """Microseconds since the epoch of a date-time string (UTC when it names no zone)."""
    return (parse_datetime(text) - _EPOCH) // _MICROSECOND


_DAY = 86_400_000_000
_dates: dict[int, str] = {}
_clocks: dict[int, str] = {}


def from_micros(value: int) -> str:
    """Render microseconds since the epoch as `...T12:00:00Z`, `....123Z` or `....123456Z`.

    History and aggregations render many thousands of moments per response, most of them on few
    days and at whole seconds: the date of each day and the clock of each second of the day are
    built once and remembered."""
    day, rest = divmod(value, _DAY)
    date = _dates.get(day)
    if date is None:
        if len(_dates) > 100_000:
            _dates.clear()
        date = _dates[day] = (_EPOCH + timedelta(days=day)).date().isoformat()
    second, fraction = divmod(rest, 1_000_000)
    clock = _clocks.get(second)
    if clock is None:
        hours, minutes = divmod(second // 60, 60)
        clock = _clocks[second] = f"T{hours:02d}:{minutes:02d}:{second % 60:02d}"
    if not fraction:
        return f"{date}{clock}Z"
    if fraction % 1000 == 0:
        return f"{date}{clock}.{fraction // 1000:03d}Z"
    return f"{date}{clock}.{fraction:06d}Z"


def micros_of(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND
