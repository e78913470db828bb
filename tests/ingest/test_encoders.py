"""Command encoders: declared as data like decoders, the byte layouts the exact inverse of the
`bytes` decoder's (a property: what the encoder writes, the decoder of the same layout reads back)."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ingest.decoders import ProfileError, build
from smartby.ingest.encoders import EncodeError, build_commands

RANGES = {"u8": (0, 255), "u16": (0, 65535), "i8": (-128, 127), "i16": (-32768, 32767), "u32": (0, 2**32 - 1)}


@st.composite
def layouts(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, float], int]:
    """Fields laid one after another, each with a scale and an addend, and a value each can carry."""
    fields, values, offset = [], {}, 0
    for number in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(sorted(RANGES)))
        size = {"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4}[kind]
        scale = draw(st.sampled_from([1, 0.5, 0.1, 0.01, 2, 10]))
        add = draw(st.sampled_from([0, -40, 100]))
        endian = draw(st.sampled_from(["big", "little"]))
        name = f"v{number}"
        fields.append(
            {
                "attribute": name,
                "member": name,
                "offset": offset,
                "type": kind,
                "scale": scale,
                "add": add,
                "endian": endian,
            }
        )
        low, high = RANGES[kind]
        values[name] = round(draw(st.integers(low, high)) * scale + add, 9)
        offset += size
    return fields, values, offset


@given(layouts())
def test_a_byte_layout_encodes_what_its_decoder_reads_back(
    layout: tuple[list[dict[str, Any]], dict[str, float], int],
) -> None:
    fields, values, length = layout
    encoder = build_commands(
        {
            "set": {
                "kind": "bytes",
                "length": length,
                "fields": [{k: v for k, v in f.items() if k != "attribute"} for f in fields],
            }
        }
    )
    decoder = build(
        {
            "kind": "bytes",
            "length": length,
            "fields": [{k: v for k, v in f.items() if k != "member"} for f in fields],
        }
    )
    encoded = encoder("set", values)
    assert len(encoded.payload) == length
    decoded = {reading.name: reading.value for reading in decoder(encoded.payload, {})}
    assert decoded == pytest.approx(values, abs=1e-6)


@given(st.floats(0, 1))
def test_a_dim_level_in_percent_in_one_byte_after_a_command_byte(level: float) -> None:
    encoder = build_commands(
        {
            "dim": {
                "kind": "bytes",
                "length": 2,
                "fPort": 10,
                "confirmed": True,
                "fields": [
                    {"offset": 0, "type": "u8", "const": 1},
                    {"offset": 1, "type": "u8", "scale": 0.01},
                ],
            }
        }
    )
    encoded = encoder("dim", level)
    assert encoded.payload == bytes([1, round(level * 100)])
    assert encoded.f_port == 10 and encoded.confirmed


def test_bits_of_one_byte_are_combined() -> None:
    encoder = build_commands(
        {
            "mode": {
                "kind": "bytes",
                "length": 1,
                "fields": [
                    {"offset": 0, "type": "bits", "mask": 15, "shift": 4, "member": "high"},
                    {"offset": 0, "type": "bits", "mask": 15, "member": "low"},
                ],
            }
        }
    )
    assert encoder("mode", {"high": 10, "low": 3}).payload == bytes([0xA3])
    with pytest.raises(EncodeError):
        encoder("mode", {"high": 16, "low": 0})


def test_json_encodings() -> None:
    encoder = build_commands(
        {
            "dim": {"fields": [{"path": "light.level", "scale": 0.01}, {"path": "cmd", "const": "dim"}]},
            "switch": {"kind": "json"},
        }
    )
    assert orjson.loads(encoder("dim", 0.4).payload) == {"light": {"level": 40}, "cmd": "dim"}
    assert orjson.loads(encoder("switch", "on").payload) == {"switch": "on"}
    with pytest.raises(EncodeError, match="no command 'reboot'"):
        encoder("reboot", True)
    with pytest.raises(EncodeError, match="not a number"):
        encoder("dim", "bright")
    assert orjson.loads(build_commands(None)("anything", {"a": [1]}).payload) == {"anything": {"a": [1]}}


@pytest.mark.parametrize(
    "spec",
    [
        [],
        {"dim": []},
        {"dim": {"kind": "xml"}},
        {"dim": {"kind": "bytes", "length": 0, "fields": [{"offset": 0, "type": "u8"}]}},
        {"dim": {"kind": "bytes", "length": 1, "fields": [{"offset": 1, "type": "u8"}]}},
        {"dim": {"kind": "bytes", "length": 2, "fields": [{"offset": 0, "type": "u16", "scale": 0}]}},
        {"dim": {"kind": "bytes", "length": 1, "fields": [{"offset": 0, "type": "i8", "mask": 3}]}},
        {"dim": {"fPort": 0}},
        {"dim": {"fPort": 224}},
        {"dim": {"confirmBy": "id"}},
        {"dim": {"unknown": 1}},
        {"bad name": {}},
        {"dim": {"fields": [{"path": "a..b"}]}},
    ],
)
def test_declarations_that_cannot_work_are_refused(spec: Any) -> None:
    with pytest.raises(ProfileError):
        build_commands(spec)


@given(st.from_type(object).filter(lambda v: not isinstance(v, (int, float))) | st.floats() | st.integers())
def test_a_byte_encoder_raises_only_encode_errors(value: Any) -> None:
    encoder = build_commands(
        {"set": {"kind": "bytes", "length": 2, "fields": [{"offset": 0, "type": "i16", "scale": 0.1}]}}
    )
    with contextlib.suppress(EncodeError):
        encoder("set", value)
