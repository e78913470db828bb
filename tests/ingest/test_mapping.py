"""Mappings: the shipped ones fit the published files; a mistake is named before any row is read."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from published_data import SHARED_DATA
from smartby.ingest.mapping import MappingError, load_mapping, parse_mapping, read_mapping, shipped_mappings

TRAFFIC = {
    "type": "TrafficFlowObserved",
    "id": "urn:ngsi-ld:TrafficFlowObserved:{REPORT_ID}",
    "time": {"column": "TIMESTAMP", "zone": "Europe/Copenhagen"},
    "attributes": [{"column": "vehicleCount", "name": "intensity", "type": "integer"}],
}


def header(path: Path, delimiter: str) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter))


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("aarhus-traffic", "aarhus-citypulse/AarhusTrafficData158324.csv"),
        ("aarhus-parking", "aarhus-citypulse/AarhusParkingDataSALLING.csv"),
        ("energinet-elspotprices", "energinet/Elspotprices_DK1_DK2_2024.csv"),
    ],
)
def test_the_shipped_mappings_fit_the_published_files(name: str, file: str) -> None:
    mapping = load_mapping(name)
    assert set(mapping.columns()) <= set(header(SHARED_DATA / file, mapping.delimiter))


def test_every_shipped_mapping_loads_and_describes_itself() -> None:
    shipped = shipped_mappings()
    assert {"aarhus-traffic", "aarhus-parking", "energinet-elspotprices", "energinet-co2emis"} <= set(shipped)
    for name, description in shipped.items():
        assert description, name
        load_mapping(name)


def test_the_defaults() -> None:
    mapping = parse_mapping(TRAFFIC, "test")
    assert (mapping.delimiter, mapping.decimal, mapping.encoding) == (",", ".", "utf-8-sig")
    assert mapping.time.format == "iso" and mapping.time.ambiguous == "raise"
    assert mapping.context is None and mapping.interval_delta is None
    assert mapping.attributes[0].unit_code is None and mapping.attributes[0].scale is None


def test_json_and_toml_say_the_same(tmp_path: Path) -> None:
    as_json = tmp_path / "traffic.json"
    as_json.write_text(json.dumps(TRAFFIC))
    as_toml = tmp_path / "traffic.toml"
    as_toml.write_text(
        'type = "TrafficFlowObserved"\n'
        'id = "urn:ngsi-ld:TrafficFlowObserved:{REPORT_ID}"\n'
        '[time]\ncolumn = "TIMESTAMP"\nzone = "Europe/Copenhagen"\n'
        '[[attributes]]\ncolumn = "vehicleCount"\nname = "intensity"\ntype = "integer"\n'
    )
    assert load_mapping(str(as_json)) == load_mapping(str(as_toml))


def test_a_tab_delimiter_can_be_named() -> None:
    assert parse_mapping({**TRAFFIC, "delimiter": "tab"}, "t").delimiter == "\t"
    assert parse_mapping({**TRAFFIC, "delimiter": "\t"}, "t").delimiter == "\t"


def with_time(**time: Any) -> dict[str, Any]:
    return {**TRAFFIC, "time": time}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"delimiter": "|"}, "delimiter"),
        ({"decimal": ","}, "decimal commas need another delimiter"),
        ({"encoding": "klingon"}, "encoding"),
        ({"colour": "red"}, "colour"),
        ({"id": "urn:ngsi-ld:X:{REPORT_ID"}, "unmatched brace"),
        ({"id": "urn:ngsi-ld:X:{}"}, "empty placeholder"),
        ({"id": "not an id {REPORT_ID}"}, "id"),
        ({"type": "Traffic Flow"}, "type"),
        ({"interval": "P1M"}, "fixed duration"),
        ({"interval": "five minutes"}, "ISO 8601 duration"),
        ({"attributes": []}, "attributes"),
        ({"context": "not a url"}, "context URL"),
        (with_time(column="TIMESTAMP"), "needs the `zone`"),
        (with_time(column="TIMESTAMP", zone="Europe/Aarhus"), "IANA time zone"),
        (with_time(column="TIMESTAMP", zone="UTC", ambiguous="guess"), "ambiguous"),
        (with_time(column="TIMESTAMP", zone="UTC", format="dd-mm-yyyy"), "strptime format"),
        (with_time(column="TIMESTAMP", zone="UTC", format="%Q"), "strptime format"),
        (with_time(zone="UTC"), "give the time `column`"),
    ],
)
def test_a_mistake_is_named(change: dict[str, Any], named: str) -> None:
    with pytest.raises(MappingError, match=r"^bad\.toml: ") as caught:
        parse_mapping({**TRAFFIC, **change}, "bad.toml")
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("attribute", "named"),
    [
        ({"column": "x", "name": "x", "type": "integer", "scale": 2}, "scale applies to number"),
        ({"column": "x", "name": "x", "type": "float"}, "attributes.0.type"),
        ({"column": "x", "name": "has space"}, "attributes.0.name"),
        ({"column": "x", "name": "x", "dataset_id": "nope"}, "attributes.0.dataset_id"),
        ({"column": "", "name": "x"}, "attributes.0.column"),
    ],
)
def test_a_mistake_in_an_attribute_is_named(attribute: dict[str, Any], named: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping({**TRAFFIC, "attributes": [attribute]}, "bad.toml")
    assert named in str(caught.value)


def test_one_attribute_twice_needs_dataset_ids() -> None:
    twice = [{"column": "a", "name": "price"}, {"column": "b", "name": "price"}]
    with pytest.raises(MappingError, match="mapped twice"):
        parse_mapping({**TRAFFIC, "attributes": twice}, "m")
    twice[1]["dataset_id"] = "urn:ngsi-ld:Dataset:b"
    assert len(parse_mapping({**TRAFFIC, "attributes": twice}, "m").attributes) == 2


def test_unreadable_text_and_unknown_names() -> None:
    with pytest.raises(MappingError, match="not valid TOML or JSON"):
        read_mapping("type = ", "broken.toml")
    with pytest.raises(MappingError, match="aarhus-traffic"):
        load_mapping("no-such-mapping")
