"""Byte layouts: checked when declared, exact on frames packed with struct, DecodeError otherwise."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ingest.decoders import DecodeError, ProfileError, build
from smartby.ingest.decoders.byte_layout import TYPES

STREETLIGHT = {
    "kind": "bytes",
    "length": 7,
    "fields": [
        {"attribute": "powerState", "offset": 0, "type": "bool", "mask": 1},
        {"attribute": "dimmingLevel", "offset": 0, "type": "bits", "mask": 0x7F, "shift": 1},
        {"attribute": "powerConsumption", "offset": 1, "type": "u16", "scale": 0.1, "unitCode": "WTT"},
        {"attribute": "temperature", "offset": 3, "type": "i16", "endian": "little", "scale": 0.01},
        {"attribute": "energy", "offset": 5, "type": "u16", "convert": "wh-kwh"},
    ],
}


def test_a_street_light_frame() -> None:
    frame = (
        bytes([(40 << 1) | 1]) + struct.pack(">H", 1234) + struct.pack("<h", -512) + struct.pack(">H", 2500)
    )
    readings = build(STREETLIGHT)(frame, {})
    assert [(r.name, r.value, r.unit_code) for r in readings] == [
        ("powerState", True, None),
        ("dimmingLevel", 40, None),
        ("powerConsumption", 123.4, "WTT"),
        ("temperature", -5.12, None),
        ("energy", 2.5, "KWH"),
    ]


def test_a_field_may_give_its_unit_as_text() -> None:
    spec = {
        "kind": "bytes",
        "length": 2,
        "fields": [{"attribute": "price", "offset": 0, "type": "u16", "scale": 0.5, "unitText": "DKK/MWh"}],
    }
    assert [(r.name, r.value, r.unit_code, r.unit_text) for r in build(spec)(b"\x04\xc9", {})] == [
        ("price", 612.5, None, "DKK/MWh")
    ]


def test_a_short_frame_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="needs 7"):
        build(STREETLIGHT)(b"\x01\x02", {})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"offset": 6, "type": "u16"}, "outside the frame of 7 bytes"),
        ({"offset": 0, "type": "u64"}, "type must be one of"),
        ({"offset": -1, "type": "u8"}, "offset must be"),
        ({"offset": 0, "type": "u8", "endian": "middle"}, "endian"),
        ({"offset": 0, "type": "bits"}, "needs a mask"),
        ({"offset": 0, "type": "u8", "shift": 8}, "shift"),
        ({"offset": 0, "type": "f32", "mask": 1}, "integer fields only"),
        ({"offset": 0, "type": "u8", "convert": "furlongs"}, "unknown conversion"),
        ({"offset": 0, "type": "bool", "scale": 2}, "cannot be scaled"),
        ({"offset": 0, "type": "u8", "unitText": ["DKK"]}, "unitText must be a non-empty string"),
    ],
)
def test_a_layout_that_cannot_work_is_refused_with_the_reason(change: dict[str, Any], message: str) -> None:
    spec = {"kind": "bytes", "length": 7, "fields": [{"attribute": "x", **change}]}
    with pytest.raises(ProfileError, match=message):
        build(spec)


def test_a_layout_needs_a_length_and_fields() -> None:
    with pytest.raises(ProfileError, match="length"):
        build({"kind": "bytes", "fields": [{"attribute": "x", "offset": 0, "type": "u8"}]})
    with pytest.raises(ProfileError, match="fields"):
        build({"kind": "bytes", "length": 4, "fields": []})
    with pytest.raises(ProfileError, match="attribute"):
        build({"kind": "bytes", "length": 4, "fields": [{"attribute": "id", "offset": 0, "type": "u8"}]})


INTEGER_RANGES = {
    "u8": (0, 2**8 - 1),
    "u16": (0, 2**16 - 1),
    "u32": (0, 2**32 - 1),
    "i8": (-(2**7), 2**7 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "i32": (-(2**31), 2**31 - 1),
}


@st.composite
def frames(draw: st.DrawFn) -> tuple[dict[str, Any], bytes, list[Any]]:
    """A layout of consecutive fields, a frame packed with struct, and the values packed."""
    kinds = draw(st.lists(st.sampled_from([*INTEGER_RANGES, "f32", "bool"]), min_size=1, max_size=12))
    fields, chunks, values = [], [], []
    offset = 0
    for number, kind in enumerate(kinds):
        endian = draw(st.sampled_from(["big", "little"]))
        code, size = TYPES[kind]
        if kind == "f32":
            value: Any = draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
        elif kind == "bool":
            value = draw(st.booleans())
        else:
            value = draw(st.integers(*INTEGER_RANGES[kind]))
        chunks.append(struct.pack((">" if endian == "big" else "<") + code, value))
        fields.append({"attribute": f"field{number}", "offset": offset, "type": kind, "endian": endian})
        values.append(value)
        offset += size
    trailing = draw(st.binary(max_size=4))
    return {"kind": "bytes", "length": offset, "fields": fields}, b"".join(chunks) + trailing, values


@given(frames())
def test_packed_frames_decode_to_the_values_packed(case: tuple[dict[str, Any], bytes, list[Any]]) -> None:
    spec, frame, values = case
    readings = build(spec)(frame, {})
    assert [r.value for r in readings] == values
    assert [r.name for r in readings] == [f"field{n}" for n in range(len(values))]


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_only_a_decode_error(payload: bytes) -> None:
    spec = {
        **STREETLIGHT,
        "fields": [*STREETLIGHT["fields"], {"attribute": "ratio", "offset": 3, "type": "f32"}],
    }
    try:
        readings = build(spec)(payload, {})
    except DecodeError:
        assert len(payload) < 7 or not math.isfinite(struct.unpack_from(">f", payload, 3)[0])
    else:
        assert len(readings) == 6
