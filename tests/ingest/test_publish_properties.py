"""Tests for smartby.ingest.publish_properties: PUBLISH properties read as paho reads them, cheaper."""

from __future__ import annotations

from collections.abc import Iterator

import paho.mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from smartby.ingest import publish_properties
from smartby.ingest.publish_properties import PublishProperties

TOPIC = b"smartby/-/meter-1/up"
MQTT_V5 = 5
PUBLISH_QOS_1 = 0x32


@pytest.fixture
def paho_alone() -> Iterator[None]:
    """paho's `_packet` as paho ships it for the test, as the test found it afterwards."""
    found = _packet.Properties  # type: ignore[attr-defined]
    _packet.Properties = Properties  # type: ignore[attr-defined]
    yield
    _packet.Properties = found  # type: ignore[attr-defined]


def publish(properties: Properties | None, payload: bytes) -> bytes:
    """A PUBLISH packet after its fixed header (topic, packet id 7, properties, payload)."""
    packed = properties.pack() if properties is not None else b"\x00"  # type: ignore[no-untyped-call]
    return len(TOPIC).to_bytes(2, "big") + TOPIC + (7).to_bytes(2, "big") + packed + payload


def read(packet: bytes) -> _packet.PublishPacket:
    return _packet.decode_publish(PUBLISH_QOS_1, packet, MQTT_V5)  # type: ignore[arg-type]


def test_a_publish_without_properties_reads_as_paho_reads_it(paho_alone: None) -> None:
    packet = publish(None, b'{"temperature": 21.5}')
    by_paho = read(packet)
    assert publish_properties.install()
    quick = read(packet)
    assert type(quick.properties) is PublishProperties
    assert by_paho.properties is not None
    assert (quick.topic, quick.mid, quick.payload) == (by_paho.topic, by_paho.mid, by_paho.payload)
    assert quick.properties.json() == by_paho.properties.json() == {}  # type: ignore[no-untyped-call]
    assert getattr(quick.properties, "UserProperty", None) is None


pairs = st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), min_size=1, max_size=4)


def outcome(packet: bytes) -> tuple[str, object, bytes]:
    """What reading `packet` gives: its properties (as JSON) and payload, or paho's refusal."""
    try:
        read_out = read(packet)
    except MalformedPacket as error:
        return "refused", str(error), b""
    assert read_out.properties is not None
    found = read_out.properties.json()  # type: ignore[no-untyped-call]
    return type(read_out.properties).__name__, found, bytes(read_out.payload)


@given(users=pairs, content_type=st.none() | st.text(max_size=30), payload=st.binary(max_size=64))
def test_a_publish_with_properties_reads_as_paho_reads_it(
    users: list[tuple[str, str]], content_type: str | None, payload: bytes
) -> None:
    """Property names and values as a device may send them, NUL and all (which paho refuses)."""
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.UserProperty = users
    if content_type is not None:
        properties.ContentType = content_type
    packet = publish(properties, payload)
    found = _packet.Properties  # type: ignore[attr-defined]
    _packet.Properties = Properties  # type: ignore[attr-defined]
    try:
        kind, by_paho, body = outcome(packet)
        assert publish_properties.install()
        quick_kind, quick, quick_body = outcome(packet)
    finally:
        _packet.Properties = found  # type: ignore[attr-defined]
    assert (quick, quick_body) == (by_paho, body)
    if kind != "refused":
        assert (kind, quick_kind) == ("Properties", "PublishProperties")
        assert isinstance(quick, dict) and quick["UserProperty"] == users
        assert body == payload


def test_instances_keep_their_own_properties(paho_alone: None) -> None:
    assert publish_properties.install()
    with_key = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    with_key.UserProperty = ("api-key", "0123456789abcdef")
    first = read(publish(with_key, b"1"))
    second = read(publish(None, b"2"))
    assert getattr(first.properties, "UserProperty", None) == [("api-key", "0123456789abcdef")]
    assert not hasattr(second.properties, "UserProperty")


def test_an_untested_paho_is_left_alone(paho_alone: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paho.mqtt, "__version__", "3.0.0")
    assert not publish_properties.install()
    assert _packet.Properties is Properties  # type: ignore[attr-defined]
    packet = read(publish(None, b"{}"))
    assert type(packet.properties) is Properties
