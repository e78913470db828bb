"""JSON decoders: paths, units and observedAt as declared; anything else is a DecodeError."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ingest.decoders import DecodeError, ProfileError, build
from smartby.ingest.decoders.json_fields import MAX_ARRAY, parse_path

AARHUS_TRAFFIC = {
    "kind": "json",
    "fields": [
        {"attribute": "intensity", "path": "vehicleCount", "required": True},
        {"attribute": "averageVehicleSpeed", "path": "avgSpeed", "unitCode": "KMH"},
        {"attribute": "averageTravelTime", "path": "avgMeasuredTime", "unitCode": "SEC"},
    ],
    "observedAt": {"path": "TIMESTAMP", "format": "iso8601", "zone": "Europe/Copenhagen"},
}


def test_an_aarhus_traffic_reading() -> None:
    payload = json.dumps(
        {
            "status": "OK",
            "avgMeasuredTime": 74,
            "avgSpeed": 50,
            "vehicleCount": 5,
            "TIMESTAMP": "2014-08-01T07:50:00",
        }
    ).encode()
    readings = build(AARHUS_TRAFFIC)(payload, {})
    assert [(r.name, r.value, r.unit_code, r.observed_at) for r in readings] == [
        ("intensity", 5, None, "2014-08-01T05:50:00Z"),
        ("averageVehicleSpeed", 50, "KMH", "2014-08-01T05:50:00Z"),
        ("averageTravelTime", 74, "SEC", "2014-08-01T05:50:00Z"),
    ]


def test_paths_with_indices_conversions_and_epoch_times() -> None:
    spec = {
        "kind": "json",
        "fields": [
            {"attribute": "temperature", "path": "$.sensors[1].t", "convert": "fahrenheit-celsius"},
            {"attribute": "atmosphericPressure", "path": "sensors[0].p", "convert": "mbar-hpa"},
            {"attribute": "energy", "path": "meter.wh", "scale": 1, "convert": "wh-kwh"},
            {"attribute": "level", "path": "level", "scale": 0.5, "add": -1},
        ],
        "observedAt": {"path": "ts", "format": "epoch_ms"},
    }
    payload = {"sensors": [{"p": 1013.2}, {"t": 212}], "meter": {"wh": 1500}, "level": 8, "ts": 1700000000000}
    readings = build(spec)(json.dumps(payload).encode(), {})
    assert [(r.name, r.value, r.unit_code) for r in readings] == [
        ("temperature", 100, "CEL"),
        ("atmosphericPressure", 1013.2, "A97"),
        ("energy", 1.5, "KWH"),
        ("level", 3, None),
    ]
    assert {r.observed_at for r in readings} == {"2023-11-14T22:13:20Z"}


def test_a_unit_without_a_code_is_a_unit_text() -> None:
    spec = {
        "kind": "json",
        "fields": [
            {"attribute": "price", "unitText": "DKK/MWh"},
            {"attribute": "energy", "path": "wh", "convert": "wh-kwh", "unitText": "kilowatt hours"},
            {"attribute": "level"},
        ],
    }
    readings = build(spec)(b'{"price": 612.5, "wh": 1500, "level": 3}', {})
    assert [(r.name, r.value, r.unit_code, r.unit_text) for r in readings] == [
        ("price", 612.5, None, "DKK/MWh"),
        ("energy", 1.5, "KWH", "kilowatt hours"),
        ("level", 3, None, None),
    ]


def test_strftime_times_and_the_decoded_object_of_a_network_server() -> None:
    spec = {
        "kind": "json",
        "fields": [{"attribute": "temperature"}],
        "observedAt": {"path": "at", "format": "%d/%m/%Y %H:%M"},
    }
    decoder = build(spec)
    readings = decoder(b"not json at all", {"decoded": {"temperature": 21.5, "at": "24/12/2024 18:30"}})
    assert readings[0].value == 21.5 and readings[0].observed_at == "2024-12-24T18:30:00Z"


def test_without_fields_every_member_that_can_be_an_attribute_is_one() -> None:
    readings = build({"kind": "json"})(
        b'{"temperature": 3, "id": "x", "bad name": 1, "on": true, "none": null}', {}
    )
    assert [(r.name, r.value) for r in readings] == [("temperature", 3), ("on", True)]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{", "not JSON"),
        (b'{"avgSpeed": 3}', "intensity"),
        (b'{"vehicleCount": "five", "TIMESTAMP": "2014-08-01T07:50:00"}', None),
        (b'{"vehicleCount": 1, "TIMESTAMP": "yesterday"}', "observedAt"),
        (b"[1, 2]", "intensity"),
    ],
)
def test_payloads_that_do_not_fit(payload: bytes, message: str | None) -> None:
    if message is None:
        assert build(AARHUS_TRAFFIC)(payload, {})[0].value == "five"
        return
    with pytest.raises(DecodeError, match=message):
        build(AARHUS_TRAFFIC)(payload, {})


def test_a_scaled_field_needs_a_number() -> None:
    with pytest.raises(DecodeError, match="not a number"):
        build({"kind": "json", "fields": [{"attribute": "t", "scale": 2}]})(b'{"t": "hot"}', {})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "json", "fields": []}, "non-empty"),
        ({"kind": "json", "fields": [{"attribute": "type"}]}, "not an attribute"),
        ({"kind": "json", "fields": [{"attribute": "t", "path": "a..b"}]}, "cannot read path"),
        ({"kind": "json", "fields": [{"attribute": "t", "scale": "x"}]}, "scale"),
        ({"kind": "json", "fields": [{"attribute": "t", "unitCode": ""}]}, "unitCode must be a non-empty"),
        ({"kind": "json", "fields": [{"attribute": "t", "unitText": ""}]}, "unitText must be a non-empty"),
        ({"kind": "json", "fields": [{"attribute": "t", "unitText": 7}]}, "unitText must be a non-empty"),
        ({"kind": "json", "observedAt": {"path": "t", "format": "whenever"}}, "format"),
        ({"kind": "json", "observedAt": {"path": "t", "zone": "Mars/Olympus"}}, "time zone"),
        ({"kind": "lua"}, "kind must be"),
        ({"kind": "plugin", "name": "nope"}, "no decoder plugin"),
        ("json", "object with a kind"),
    ],
)
def test_declarations_that_cannot_work(spec: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        build(spec)


def test_paths() -> None:
    assert parse_path("a.b[2].c", "x") == ("a", "b", 2, "c")
    assert parse_path("$.a", "x") == ("a",)
    assert parse_path("[0]", "x") == (0,)


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_only_a_decode_error(payload: bytes) -> None:
    for spec in (AARHUS_TRAFFIC, {"kind": "json"}):
        with contextlib.suppress(DecodeError):
            build(spec)(payload, {})


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=5,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(["vehicleCount", "avgSpeed", "TIMESTAMP", "x"]), JSON_VALUES, max_size=4)
)
def test_any_json_decodes_or_raises_only_a_decode_error(document: dict[str, Any]) -> None:
    spec = {
        **AARHUS_TRAFFIC,
        "fields": [*AARHUS_TRAFFIC["fields"], {"attribute": "s", "path": "avgSpeed", "scale": 2}],
    }
    try:
        readings = build(spec)(json.dumps(document).encode(), {})
    except DecodeError:
        return
    assert readings[0].name == "intensity"


def test_an_array_holds_several_readings_each_with_its_own_time() -> None:
    payload = orjson.dumps(
        [
            {"vehicleCount": 5, "avgSpeed": 50, "TIMESTAMP": "2014-08-01T07:50:00"},
            {"vehicleCount": 7, "TIMESTAMP": "2014-08-01T07:55:00"},
        ]
    )
    readings = build(AARHUS_TRAFFIC)(payload, {})
    assert [(r.name, r.value, r.observed_at) for r in readings] == [
        ("intensity", 5, "2014-08-01T05:50:00Z"),
        ("averageVehicleSpeed", 50, "2014-08-01T05:50:00Z"),
        ("intensity", 7, "2014-08-01T05:55:00Z"),
    ]
    flat = build({"kind": "json"})(b'[{"a": 1}, {"a": 2, "b": 3}]', {})
    assert [(r.name, r.value) for r in flat] == [("a", 1), ("a", 2), ("b", 3)]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[]", "empty array"),
        (b'[{"vehicleCount": 1}, {"avgSpeed": 3}]', "reading 1 of the array: intensity"),
        (b"[" + b",".join([b'{"vehicleCount": 1}'] * (MAX_ARRAY + 1)) + b"]", "at most"),
    ],
)
def test_an_array_decodes_whole_or_not_at_all(payload: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        build(AARHUS_TRAFFIC)(payload, {})
