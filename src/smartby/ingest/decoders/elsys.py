"""Elsys ERS environment sensor frames (ERS, ERS CO2, ERS Sound; the ELT's common part).

Shipped as a plugin decoder, registered through the `smartby.decoders` entry point in smartby's
own pyproject, so the plugin mechanism is exercised by a real plugin. The frame is a sequence of
(type byte, value) items, big-endian, as Elsys' payload specification lays out; a profile uses it
as `{"kind": "plugin", "name": "elsys"}`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from smartby.ingest.decoders.reading import DecodeError, Reading

_ITEMS: dict[int, tuple[str, int]] = {
    0x01: ("temperature", 2),
    0x02: ("relativeHumidity", 1),
    0x03: ("acceleration", 3),
    0x04: ("illuminance", 2),
    0x05: ("motion", 1),
    0x06: ("co2", 2),
    0x07: ("batteryVoltage", 2),
    0x11: ("occupancy", 1),
    0x12: ("waterLeak", 1),
    0x14: ("atmosphericPressure", 4),
    0x15: ("sound", 2),
}


def decode(payload: bytes, meta: Mapping[str, Any]) -> list[Reading]:
    """An ERS frame to readings; an unknown item type or a cut-off value is a DecodeError."""
    readings: list[Reading] = []
    position = 0
    while position < len(payload):
        item = payload[position]
        if item not in _ITEMS:
            raise DecodeError(f"unknown Elsys item type 0x{item:02x} at byte {position}")
        name, size = _ITEMS[item]
        value = payload[position + 1 : position + 1 + size]
        if len(value) < size:
            raise DecodeError(f"Elsys item {name} at byte {position} is cut off")
        position += 1 + size
        readings.extend(_readings(item, name, value))
    if not readings:
        raise DecodeError("an empty Elsys frame")
    return readings


def _readings(item: int, name: str, value: bytes) -> list[Reading]:
    if item == 0x01:
        return [Reading(name, struct.unpack(">h", value)[0] / 10, "CEL")]
    if item == 0x02:
        return [Reading(name, value[0], "P1")]
    if item == 0x03:
        x, y, z = struct.unpack(">bbb", value)
        return [Reading(name, [x / 63, y / 63, z / 63], "C81")]
    if item == 0x04:
        return [Reading(name, struct.unpack(">H", value)[0], "LUX")]
    if item == 0x06:
        return [Reading(name, struct.unpack(">H", value)[0], "59")]
    if item == 0x07:
        return [Reading(name, struct.unpack(">H", value)[0] / 1000, "VLT")]
    if item == 0x14:
        return [Reading(name, struct.unpack(">I", value)[0] / 1000, "A97")]
    if item == 0x15:
        return [Reading("soundPeak", value[0], "2N"), Reading("soundAverage", value[1], "2N")]
    if item in (0x11, 0x12):
        return [Reading(name, value[0], None)]
    return [Reading(name, value[0], None)]
