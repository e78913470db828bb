"""Date-times as NGSI-LD renders them (ngsild/timestamps.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from smartby.ngsild.timestamps import format_datetime, from_micros, micros_of, to_micros

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST = micros_of(datetime(1, 1, 1, tzinfo=UTC))
LAST = micros_of(datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))


@given(st.integers(FIRST, LAST))
def test_from_micros_renders_what_datetime_does(value: int) -> None:
    moment = _EPOCH + timedelta(microseconds=value)
    rendered = from_micros(value)
    whole = moment.replace(tzinfo=None).isoformat(timespec="seconds")
    assert rendered.startswith(whole) and rendered.endswith("Z")
    fraction = rendered[len(whole) : -1]
    expected = "" if not moment.microsecond else f".{moment.microsecond:06d}"
    if moment.microsecond and moment.microsecond % 1000 == 0:
        expected = expected[:4]
    assert fraction == expected
    assert to_micros(rendered) == value


def test_from_micros_shortens_the_fraction_it_does_not_need() -> None:
    noon = micros_of(datetime(2024, 2, 29, 12, tzinfo=UTC))
    assert from_micros(noon) == "2024-02-29T12:00:00Z"
    assert from_micros(noon + 123_000) == "2024-02-29T12:00:00.123Z"
    assert from_micros(noon + 123_456) == "2024-02-29T12:00:00.123456Z"
    assert from_micros(-1) == "1969-12-31T23:59:59.999999Z"
    assert from_micros(noon) == format_datetime(datetime(2024, 2, 29, 12, tzinfo=UTC))
