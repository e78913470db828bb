"""Property tests for services/reports/parameters.py: whatever text a client sends as a date, a
coordinate, a service code or a format, the parser answers a value or BadRequestData, never another
error; what it accepts it reads right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ngsild.errors import BadRequestData
from smartby.services.reports import parameters as p
from smartby.services.reports.catalogue import BY_CODE

CITY = p.Bounds.parse("12.45,55.61,12.65,55.73")
ZONES = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-14 * 60, 14 * 60))


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 1, 1), timezones=ZONES))
def test_a_w3c_date_time_with_its_zone_reads_as_itself(moment: datetime) -> None:
    assert p.w3c_datetime(moment.isoformat(), "start_date") == moment
    if moment.utcoffset() == timedelta(0):
        written = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        assert p.w3c_datetime(written, "start_date") == moment


@given(st.dates())
def test_a_date_is_its_midnight_utc(day: object) -> None:
    moment = p.w3c_datetime(str(day), "end_date")
    assert (moment.tzinfo, moment.hour, str(moment.date())) == (UTC, 0, str(day))


@given(st.text(max_size=40))
def test_any_text_is_a_date_or_refused(text: str) -> None:
    try:
        moment = p.w3c_datetime(text, "start_date")
    except BadRequestData as refused:
        assert "start_date" in refused.detail
    else:
        assert moment.tzinfo is not None


def test_naive_and_malformed_dates_are_refused() -> None:
    for text in (
        "2026-12-07T10:00:00",
        "2026-13-01",
        "2026-02-30T00:00:00Z",
        "07/12/2026",
        "",
        "2026-12-07T25:00Z",
    ):
        with pytest.raises(BadRequestData):
            p.w3c_datetime(text, "start_date")


@given(st.floats(55.61, 55.73), st.floats(12.45, 12.65))
def test_a_place_in_the_city_is_read(lat: float, lon: float) -> None:
    assert p.place(repr(lat), repr(lon), CITY) == (lon, lat)


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_a_place_outside_the_city_or_not_a_number_is_refused(lat: float, lon: float) -> None:
    inside = CITY.holds(lon, lat)
    try:
        assert p.place(repr(lat), repr(lon), CITY) == (lon, lat) and inside
    except BadRequestData as refused:
        assert not inside
        assert "outside the city" in refused.detail or "degrees" in refused.detail


@given(st.text(max_size=30), st.text(max_size=30))
def test_any_text_is_a_place_or_refused(lat: str, lon: str) -> None:
    try:
        lon_read, lat_read = p.place(lat, lon, CITY)
    except BadRequestData:
        return
    assert CITY.holds(lon_read, lat_read)


def test_no_place_is_refused() -> None:
    for lat, lon in ((None, "12.5"), ("55.6", None), ("", ""), (None, None)):
        with pytest.raises(BadRequestData, match="location is required"):
            p.place(lat, lon, CITY)


@given(st.lists(st.sampled_from(sorted(BY_CODE)), min_size=1))
def test_a_list_of_known_codes_is_read_in_order_without_repeats(codes: list[str]) -> None:
    assert p.listed(",".join(codes), "service_code", BY_CODE) == list(dict.fromkeys(codes))


@given(st.text(max_size=40))
def test_any_code_list_is_known_codes_or_refused(text: str) -> None:
    try:
        codes = p.listed(text, "service_code", BY_CODE)
    except BadRequestData:
        return
    assert codes and all(code in BY_CODE for code in codes)


@given(st.text(max_size=10))
def test_a_format_is_json_or_xml(suffix: str) -> None:
    try:
        assert p.format_of(suffix) in ("json", "xml")
    except BadRequestData as refused:
        assert suffix not in ("json", "xml") and "Unknown format" in refused.detail


@given(st.text(max_size=80))
def test_any_request_id_list_is_ids_or_refused(text: str) -> None:
    try:
        ids = p.request_ids(text)
    except BadRequestData:
        return
    assert all(p.REQUEST_ID.match(item) for item in ids)
