"""Plugin decoders come through the `smartby.decoders` entry points; Elsys frames are the example."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ingest.decoders import DecodeError, Reading, build
from smartby.ingest.decoders.elsys import decode
from smartby.ingest.decoders.plugins import PluginDecoder, installed


def test_the_elsys_plugin_is_installed_through_its_entry_point() -> None:
    assert installed()["elsys"].value == "smartby.ingest.decoders.elsys:decode"
    decoder = build({"kind": "plugin", "name": "elsys"})
    assert isinstance(decoder, PluginDecoder) and decoder.plugin is decode


def test_an_ers_co2_frame() -> None:
    # Elsys' example: temperature 22.6 °C, humidity 41 %, light 39 lux, motion 6, CO2 776 ppm, VDD 3.6 V.
    frame = bytes.fromhex("0100e202290400270506060308070e10")
    readings = build({"kind": "plugin", "name": "elsys"})(frame, {})
    assert [(r.name, r.value, r.unit_code) for r in readings] == [
        ("temperature", 22.6, "CEL"),
        ("relativeHumidity", 41, "P1"),
        ("illuminance", 39, "LUX"),
        ("motion", 6, None),
        ("co2", 776, "59"),
        ("batteryVoltage", 3.6, "VLT"),
    ]


@pytest.mark.parametrize(
    ("frame", "message"), [(b"\x01\x00", "cut off"), (b"\xff", "unknown"), (b"", "empty")]
)
def test_frames_that_do_not_fit(frame: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        build({"kind": "plugin", "name": "elsys"})(frame, {})


def test_a_failing_or_misbehaving_plugin_is_a_decode_error(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = build({"kind": "plugin", "name": "elsys"})

    def broken(payload: bytes, meta: Any) -> Any:
        return 1 / 0

    monkeypatch.setattr(decoder, "plugin", broken)
    with pytest.raises(DecodeError, match="ZeroDivisionError"):
        decoder(b"", {})
    monkeypatch.setattr(decoder, "plugin", lambda payload, meta: "readings")
    with pytest.raises(DecodeError, match="did not return"):
        decoder(b"", {})
    monkeypatch.setattr(decoder, "plugin", lambda payload, meta: [("price", 1, None)])
    with pytest.raises(DecodeError, match="did not return"):
        decoder(b"", {})


def test_a_plugin_returns_readings_with_or_without_a_unit_text(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = build({"kind": "plugin", "name": "elsys"})
    found = [("level", 3, "MTR", None), Reading("price", 612.5, None, None, "DKK/MWh")]
    monkeypatch.setattr(decoder, "plugin", lambda payload, meta: found)
    assert decoder(b"", {}) == [Reading("level", 3, "MTR"), Reading("price", 612.5, unit_text="DKK/MWh")]


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_only_a_decode_error(payload: bytes) -> None:
    try:
        readings = build({"kind": "plugin", "name": "elsys"})(payload, {})
    except DecodeError:
        return
    assert readings
