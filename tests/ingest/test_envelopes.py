"""LoRaWAN network servers' envelopes: the device's bytes, DevEUI, decoding and time, or EnvelopeError."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ingest.envelopes import EnvelopeError, unwrap
from smartby.ingest.uplinks import Envelope, Uplink


def uplink(envelope: Envelope, payload: bytes) -> Uplink:
    return Uplink("http", envelope, "", None, None, payload, "2024-01-01T00:00:00.000000Z")


def test_a_chirpstack_v4_event() -> None:
    event = {
        "time": "2024-05-01T21:00:00.123+02:00",
        "deviceInfo": {
            "tenantId": "t",
            "applicationId": "a",
            "deviceName": "n",
            "devEui": "0004a30b001c0042",
        },
        "fPort": 2,
        "data": base64.b64encode(b"\x01\x02").decode(),
        "object": {"temperature": 3},
        "rxInfo": [{"rssi": -90, "snr": 5.5}],
    }
    found = unwrap(uplink("chirpstack", orjson.dumps(event)))
    assert found.payload == b"\x01\x02" and found.dev_eui == "0004a30b001c0042"
    assert found.decoded == {"temperature": 3} and found.received_at == "2024-05-01T19:00:00.123Z"
    assert found.meta["f_port"] == 2 and found.meta["rssi"] == -90 and found.meta["application_id"] == "a"


def test_a_things_stack_uplink() -> None:
    message = {
        "end_device_ids": {
            "device_id": "d",
            "dev_eui": "A81758FFFE031234",
            "application_ids": {"application_id": "x"},
        },
        "received_at": "2024-05-01T10:00:01Z",
        "uplink_message": {"f_port": 5, "frm_payload": "AQI=", "rx_metadata": [{"rssi": -70}]},
    }
    found = unwrap(uplink("tts", orjson.dumps(message)))
    assert found.payload == b"\x01\x02" and found.dev_eui == "A81758FFFE031234"
    assert found.decoded is None and found.received_at == "2024-05-01T10:00:01Z" and found.meta["rssi"] == -70


def test_a_plain_uplink_is_its_bytes() -> None:
    assert unwrap(uplink("plain", b"\xff")).payload == b"\xff"


@pytest.mark.parametrize(
    ("envelope", "body", "message"),
    [
        ("chirpstack", b"{", "not JSON"),
        ("chirpstack", b"[]", "not a JSON object"),
        ("chirpstack", b'{"deviceInfo": {}}', "devEui"),
        *(
            ("chirpstack", orjson.dumps({"deviceInfo": {"devEui": "0" * 16}, **members}), message)
            for members, message in [
                ({"data": "!!"}, "base64"),
                ({"data": 5}, "base64"),
                ({"deviceInfo": {"devEui": "00"}}, "devEui: 16 hexadecimal digits"),
                ({"fPort": 256}, "fPort"),
                ({"fCnt": -1}, "fCnt"),
                ({"object": []}, "object"),
            ]
        ),
        ("tts", b'{"end_device_ids": {"dev_eui": "00"}}', "uplink_message"),
        ("tts", b'{"uplink_message": {}}', "dev_eui"),
    ],
)
def test_envelopes_that_are_not(envelope: Envelope, body: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        unwrap(uplink(envelope, body))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["deviceInfo", "devEui", "data", "object", "time", "end_device_ids", "dev_eui"])
            | st.sampled_from(["uplink_message", "frm_payload", "decoded_payload", "received_at", "rxInfo"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=8,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["chirpstack", "tts"]), st.one_of(st.binary(max_size=64), JSON.map(orjson.dumps)))
def test_any_body_unwraps_or_raises_only_an_envelope_error(envelope: Any, body: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        found = unwrap(uplink(envelope, body))
        assert isinstance(found.payload, bytes) and isinstance(found.dev_eui, str)
