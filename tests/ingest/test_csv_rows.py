"""CSV rows to readings: values, times, ids, filters, and the reasons a row is refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ingest.csv_rows import (
    Reading,
    RowError,
    RowParser,
    csv_records,
    parse_boolean,
    parse_integer,
    parse_number,
)
from smartby.ingest.mapping import MappingError, load_mapping, parse_mapping

PRICES = load_mapping("energinet-elspotprices")
PRICE_HEADER = ["HourUTC", "HourDK", "PriceArea", "SpotPriceDKK", "SpotPriceEUR"]

EVERY_KIND = parse_mapping(
    {
        "delimiter": ";",
        "decimal": ",",
        "type": "Sensor",
        "id": "urn:ngsi-ld:Sensor:{site}:{number}",
        "filter": {"kind": ["a", "b"]},
        "time": {
            "column": "local",
            "format": "%d.%m.%Y %H:%M",
            "zone": "Europe/Copenhagen",
            "ambiguous": "raise",
            "utc_column": "utc",
        },
        "attributes": [
            {"column": "level", "name": "level", "scale": 0.001, "unit_code": "MTR"},
            {"column": "count", "name": "count", "type": "integer"},
            {"column": "on", "name": "on", "type": "boolean"},
            {"column": "note", "name": "note", "type": "string", "dataset_id": "urn:ngsi-ld:Dataset:x"},
        ],
    },
    "every-kind",
)
EVERY_HEADER = ["site", "number", "kind", "local", "utc", "level", "count", "on", "note"]


def prices(*fields: str, line: int = 2) -> Reading | None:
    return RowParser(PRICES, PRICE_HEADER).parse(list(fields), line)


def test_a_price_row() -> None:
    reading = prices("2024-12-31 22:00:00", "2024-12-31 23:00:00", "DK1", "3,880000", "0,520000")
    assert reading == Reading(
        "urn:ngsi-ld:ElectricityPrice:DK1",
        1735682400000000,
        {
            "spotPriceDKK": {"type": "Property", "value": 3.88, "observedAt": "2024-12-31T22:00:00Z"},
            "spotPriceEUR": {"type": "Property", "value": 0.52, "observedAt": "2024-12-31T22:00:00Z"},
        },
    )


def test_the_utc_column_wins_and_the_local_one_stands_in() -> None:
    both = prices("2024-10-27 01:00:00", "2024-10-27 02:00:00", "DK1", "1", "2")
    assert both is not None and both.attributes["spotPriceDKK"]["observedAt"] == "2024-10-27T01:00:00Z"
    local = prices("", "2024-10-27 03:00:00", "DK1", "1", "2")
    assert local is not None and local.attributes["spotPriceDKK"]["observedAt"] == "2024-10-27T02:00:00Z"
    with pytest.raises(RowError, match="HourDK: 2024-10-27T02:00:00 happens twice"):
        prices("", "2024-10-27 02:00:00", "DK1", "1", "2", line=7)
    with pytest.raises(RowError, match="does not exist"):
        prices("", "2024-03-31 02:00:00", "DK1", "1", "2")


def test_an_empty_value_is_no_reading_but_a_row_needs_one() -> None:
    reading = prices("2024-01-01 00:00:00", "", "DK2", "", "7,5")
    assert reading is not None and list(reading.attributes) == ["spotPriceEUR"]
    with pytest.raises(RowError, match="no value in any attribute column"):
        prices("2024-01-01 00:00:00", "", "DK2", " ", "")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["2024-01-01 00:00:00", "", "DK1", "abc", "1"], "SpotPriceDKK: 'abc' is not a number"),
        (["2024-01-01 00:00:00", "", "DK1", "1.234,5", "1"], "not a number with a decimal comma"),
        (["2024-01-01 00:00:00", "", "DK1", "nan", "1"], "'nan' is not a number"),
        (["2024-13-01 00:00:00", "", "DK1", "1", "1"], "HourUTC: '2024-13-01 00:00:00' is not a time"),
        (["", "", "DK1", "1", "1"], "HourDK: no time"),
        (["2024-01-01 00:00:00", "", "", "1", "1"], "PriceArea is empty and the entity id needs it"),
        (["2024-01-01 00:00:00", "", "DK1"], "3 fields where the header has 5: missing column SpotPriceDKK"),
        (["2024-01-01 00:00:00", "", "DK1", "1", "2", "3"], "6 fields where the header has 5"),
    ],
)
def test_a_bad_row_says_why_and_where(fields: list[str], reason: str) -> None:
    with pytest.raises(RowError) as caught:
        prices(*fields, line=41)
    assert caught.value.line == 41
    assert reason in caught.value.reason
    assert str(caught.value).startswith("line 41: ")


def every_kind(**values: str) -> Reading | None:
    row = {"site": "Aarhus C", "number": "7", "kind": "a", "local": "", "utc": "", "level": "", "count": ""}
    row.update({"on": "", "note": "", **values})
    return RowParser(EVERY_KIND, EVERY_HEADER).parse([row[column] for column in EVERY_HEADER], 3)


def test_every_value_type_with_units_scale_and_dataset() -> None:
    reading = every_kind(local="27.10.2024 03:15", level="1234,5", count="12,0", on="Ja", note=" ok ")
    assert reading is not None
    assert reading.entity_id == "urn:ngsi-ld:Sensor:Aarhus%20C:7"
    at = "2024-10-27T02:15:00Z"
    assert reading.attributes == {
        "level": {"type": "Property", "value": pytest.approx(1.2345), "observedAt": at, "unitCode": "MTR"},
        "count": {"type": "Property", "value": 12, "observedAt": at},
        "on": {"type": "Property", "value": True, "observedAt": at},
        "note": {"type": "Property", "value": "ok", "observedAt": at, "datasetId": "urn:ngsi-ld:Dataset:x"},
    }
    assert every_kind(kind="c", count="1") is None
    with pytest.raises(RowError, match="count: '1,5' is not a whole number"):
        every_kind(local="27.10.2024 03:15", count="1,5")
    with pytest.raises(RowError, match="on: 'maybe' is not a boolean"):
        every_kind(local="27.10.2024 03:15", on="maybe")
    with pytest.raises(RowError, match=re.escape("in the format %d.%m.%Y %H:%M")):
        every_kind(local="2024-10-27 03:15", count="1")
    with pytest.raises(RowError, match="happens twice"):
        every_kind(local="27.10.2024 02:15", count="1")


def test_numbers() -> None:
    assert parse_number("50", ".") == 50 and isinstance(parse_number("50", "."), int)
    assert parse_number("-3,880000", ",") == -3.88
    assert parse_number("1e3", ".") == 1000.0
    assert parse_number("+.5", ".") == 0.5
    for text, decimal in [
        ("1,5", "."),
        ("1.5", ","),
        ("inf", "."),
        ("1e999", "."),
        ("1_000", "."),
        ("٣", "."),
    ]:
        with pytest.raises(ValueError):
            parse_number(text, decimal)
    assert parse_integer("-7", ".") == -7 and parse_integer("7,0", ",") == 7
    with pytest.raises(ValueError, match="out of range"):
        parse_integer("9223372036854775808", ".")
    assert parse_boolean("NEJ") is False and parse_boolean("1") is True


def test_the_header_must_hold_every_mapped_column() -> None:
    with pytest.raises(MappingError, match=r"no column 'SpotPriceEUR'.*is the delimiter ';' right"):
        RowParser(PRICES, ["HourUTC", "HourDK", "PriceArea", "SpotPriceDKK"])


def test_records_know_their_lines() -> None:
    text = 'a,b\n1,2\n\n"multi\nline",3\n4,5\n'
    assert list(csv_records(text.splitlines(keepends=True), ",")) == [
        (1, ["a", "b"]),
        (2, ["1", "2"]),
        (4, ["multi\nline", "3"]),
        (6, ["4", "5"]),
    ]
    broken = list(csv_records(["a,b\n", "1,2\r3\n", "3,4\n"], ","))
    assert broken[0] == (1, ["a", "b"]) and broken[2] == (3, ["3", "4"])
    assert broken[1][0] == 2 and "not readable as CSV" in str(broken[1][1])


def parses_or_row_error(parser: RowParser, fields: list[str]) -> None:
    try:
        reading = parser.parse(fields, 9)
    except RowError as error:
        assert error.line == 9 and error.reason
        return
    if reading is not None:
        assert reading.entity_id.startswith("urn:ngsi-ld:")
        assert reading.attributes
        for instance in reading.attributes.values():
            assert instance["observedAt"].endswith("Z")


texts = st.text() | st.sampled_from(["", "DK1", "a", "27.10.2024 02:30", "2024-10-27 02:00:00", "1,5", "ja"])


@given(st.lists(texts, min_size=4, max_size=6))
def test_a_price_row_of_any_strings_parses_or_is_a_row_error(fields: list[str]) -> None:
    parses_or_row_error(RowParser(PRICES, PRICE_HEADER), fields)


@given(st.lists(texts, min_size=8, max_size=10))
def test_a_row_of_any_strings_parses_or_is_a_row_error(fields: list[str]) -> None:
    parses_or_row_error(RowParser(EVERY_KIND, EVERY_HEADER), fields)


@given(st.text(), st.sampled_from([",", ";", "\t"]))
def test_any_text_splits_into_records_or_reasons(text: str, delimiter: str) -> None:
    previous = 0
    for line, record in csv_records(text.splitlines(keepends=True), delimiter):
        assert line > previous
        previous = line
        assert isinstance(record, list | str)


def test_a_fixed_id_needs_no_column() -> None:
    mapping: dict[str, Any] = {
        "type": "Weather",
        "id": "urn:ngsi-ld:WeatherObserved:aarhus",
        "time": {"utc_column": "time"},
        "attributes": [{"column": "t", "name": "temperature", "unit_code": "CEL"}],
    }
    reading = RowParser(parse_mapping(mapping, "m"), ["time", "t"]).parse(
        ["2024-01-01T00:00:00+01:00", "-2.5"], 2
    )
    assert reading is not None and reading.entity_id == "urn:ngsi-ld:WeatherObserved:aarhus"
    assert reading.attributes["temperature"]["observedAt"] == "2023-12-31T23:00:00Z"
