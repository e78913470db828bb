"""Unwrapping what LoRaWAN network servers put around a device's bytes.

ChirpStack v4 uplink events (`deviceInfo.devEui`, base64 `data`, `object` when a ChirpStack codec
decoded the frame, `time`, `fPort`, `rxInfo`) and The Things Stack v3 uplink messages
(`end_device_ids.dev_eui`, `uplink_message.frm_payload`, `decoded_payload`, `received_at`) both
come down to: the device's bytes, its DevEUI, the network server's decoding if any, and when the
frame was received. A plain uplink is the device's bytes alone.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from smartby.ingest.uplinks import Uplink
from smartby.ngsild.errors import NgsiLdError
from smartby.ngsild.timestamps import normalize_datetime


class EnvelopeError(ValueError):
    """The envelope is not what its transport says it is."""


@dataclass(frozen=True)
class Unwrapped:
    payload: bytes
    dev_eui: str | None = None
    decoded: Any = None
    """What the network server's codec made of the frame (ChirpStack `object`, TTS `decoded_payload`)."""
    received_at: str | None = None
    """When the network received the frame (ISO 8601 UTC), if the envelope says."""
    meta: dict[str, Any] = field(default_factory=dict)


def unwrap(uplink: Uplink) -> Unwrapped:
    if uplink.envelope == "plain":
        return Unwrapped(uplink.payload)
    try:
        event = orjson.loads(uplink.payload)
    except orjson.JSONDecodeError as error:
        raise EnvelopeError(f"the {uplink.envelope} envelope is not JSON: {error}") from None
    if not isinstance(event, dict):
        raise EnvelopeError(f"the {uplink.envelope} envelope is not a JSON object")
    if uplink.envelope == "chirpstack":
        return _chirpstack(event)
    if uplink.envelope == "tts":
        return _tts(event)
    raise EnvelopeError(f"unknown envelope {uplink.envelope!r}")


def _member(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _base64(value: Any, name: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise EnvelopeError(f"{name} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"{name} is not valid base64") from None


def _time(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return normalize_datetime(value)
    except NgsiLdError:
        return None


DEV_EUI = re.compile(r"^[-:]*([0-9A-Fa-f][-:]*){16}$")
"""A DevEUI as a network server writes it: 16 hexadecimal digits, - and : between them ignored."""
BASE64 = re.compile(r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
"""Base64 as `base64.b64decode(..., validate=True)` reads it."""
CHIRPSTACK_MEMBERS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "deviceInfo": (
        lambda value: isinstance(value, dict) and _device_info(value),
        "an object naming the device (devEui: 16 hexadecimal digits)",
    ),
    "data": (lambda value: isinstance(value, str) and BASE64.match(value) is not None, "valid base64"),
    "fPort": (lambda value: _whole(value, 255), "a port 0 to 255"),
    "fCnt": (lambda value: _whole(value, 2**32 - 1), "a frame counter"),
    "time": (lambda value: isinstance(value, str), "a date-time string"),
    "object": (lambda value: isinstance(value, dict), "an object"),
}
"""What each member of a ChirpStack v4 event is (a check, and its words), when it is given (the
JSON marshaler omits the members an event has not)."""


def _whole(value: Any, most: int) -> bool:
    """A whole number 0..most (JSON's 5.0 is 5)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _device_info(info: dict[str, Any]) -> bool:
    eui = info.get("devEui", "0" * 16)
    names = ("deviceName", "applicationId", "tenantId")
    return (
        isinstance(eui, str)
        and DEV_EUI.match(eui) is not None
        and all(isinstance(info.get(name, ""), str) for name in names)
    )


def chirpstack_event(raw: bytes) -> dict[str, Any]:
    """A ChirpStack v4 event of any type: a JSON object whose members are what ChirpStack writes
    (EnvelopeError saying which is not)."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise EnvelopeError(f"the chirpstack envelope is not JSON: {error}") from None
    if not isinstance(event, dict):
        raise EnvelopeError("the chirpstack envelope is not a JSON object")
    return _checked(event)


def _checked(event: dict[str, Any]) -> dict[str, Any]:
    for name, (valid, what) in CHIRPSTACK_MEMBERS.items():
        if name in event and not valid(event[name]):
            raise EnvelopeError(f"{name} is not {what} in the ChirpStack event")
    return event


def _chirpstack(event: dict[str, Any]) -> Unwrapped:
    _checked(event)
    info = _member(event, "deviceInfo")
    dev_eui = info.get("devEui")
    if not isinstance(dev_eui, str):
        raise EnvelopeError("a ChirpStack uplink event names its device in deviceInfo.devEui")
    meta: dict[str, Any] = {
        "dev_eui": dev_eui,
        "f_port": event.get("fPort"),
        "f_cnt": event.get("fCnt"),
        "tenant_id": info.get("tenantId"),
        "application_id": info.get("applicationId"),
        "device_name": info.get("deviceName"),
    }
    rx = event.get("rxInfo")
    if isinstance(rx, list) and rx and isinstance(rx[0], dict):
        meta["rssi"], meta["snr"] = rx[0].get("rssi"), rx[0].get("snr")
    decoded = event.get("object")
    return Unwrapped(
        _base64(event.get("data"), "data"),
        dev_eui,
        decoded if isinstance(decoded, dict) and decoded else None,
        _time(event.get("time")),
        meta,
    )


def _tts(event: dict[str, Any]) -> Unwrapped:
    ids = _member(event, "end_device_ids")
    dev_eui = ids.get("dev_eui")
    if not isinstance(dev_eui, str):
        raise EnvelopeError("a The Things Stack uplink names its device in end_device_ids.dev_eui")
    message = _member(event, "uplink_message")
    if not message:
        raise EnvelopeError("not a The Things Stack uplink message (no uplink_message)")
    application = _member(ids, "application_ids")
    meta: dict[str, Any] = {
        "dev_eui": dev_eui,
        "f_port": message.get("f_port"),
        "f_cnt": message.get("f_cnt"),
        "application_id": application.get("application_id"),
        "device_name": ids.get("device_id"),
    }
    rx = message.get("rx_metadata")
    if isinstance(rx, list) and rx and isinstance(rx[0], dict):
        meta["rssi"], meta["snr"] = rx[0].get("rssi"), rx[0].get("snr")
    decoded = message.get("decoded_payload")
    return Unwrapped(
        _base64(message.get("frm_payload"), "uplink_message.frm_payload"),
        dev_eui,
        decoded if isinstance(decoded, dict) and decoded else None,
        _time(message.get("received_at")) or _time(event.get("received_at")),
        meta,
    )
