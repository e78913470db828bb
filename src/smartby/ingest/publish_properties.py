"""The MQTT v5 properties of a received PUBLISH, read by paho-mqtt at a seventh of its own cost.

paho-mqtt (2.2) gives every PUBLISH it reads a `Properties` object, and building one rebuilds
its tables of the 27 property names and types and then probes each name with `hasattr`, although
nearly every device publishes without any property: that cost 14 to 20 µs a message, a tenth of
what an MQTT reading costs smartby from socket to committed history. `PublishProperties` is the
same object with those tables shared by every instance and an empty property list read without
probing anything; a PUBLISH that carries properties (an `api-key` user property) is read by
paho's own code, unchanged.

paho builds these objects in its private `_packet.decode_publish`, so `install` puts the class
there only in the paho versions it was measured and tested with, and only while that module still
names paho's own `Properties`; in any other version it leaves paho alone, and messages are read as
before, only slower.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TESTED_VERSIONS = ("2.2.",)
"""paho-mqtt versions whose `_packet.decode_publish` builds `Properties` as this module expects."""
NO_PROPERTIES = b"\x00"
"""A property list of length 0 (a Variable Byte Integer)."""

_TABLES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class PublishProperties(Properties):
    """paho's `Properties`, its name and type tables shared (paho only reads them)."""

    def __init__(self, packetType: int) -> None:
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", _TABLES.types)
        object.__setattr__(self, "names", _TABLES.names)
        object.__setattr__(self, "properties", _TABLES.properties)

    def unpack(self, buffer: bytes | bytearray) -> tuple[Any, int]:
        if buffer[:1] == NO_PROPERTIES:
            return self, 1
        result: tuple[Any, int] = super().unpack(buffer)  # type: ignore[no-untyped-call]
        return result


def install() -> bool:
    """Have paho read PUBLISH properties with `PublishProperties`, when its version is one this was
    tested with; whether paho does so now."""
    try:
        from paho.mqtt import _packet
    except ImportError:
        return False
    current = getattr(_packet, "Properties", None)
    if current is PublishProperties:
        return True
    if current is not Properties or not paho.mqtt.__version__.startswith(TESTED_VERSIONS):
        return False
    _packet.Properties = PublishProperties  # type: ignore[attr-defined]
    return True
