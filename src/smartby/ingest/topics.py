"""The MQTT topics devices publish on, as pure functions: which tenant and device a topic names.

Two families (docs/mqtt.md):

- `smartby/{tenant}/{device}/up`: smartby's own. `-` is the default tenant. A tenant or device id
  holding `/`, `+`, `#` or `%` has those characters percent-encoded, so it stays one topic level and
  never reads as a wildcard; any other percent escape is decoded too.
- `application/{application id}/device/{DevEUI}/event/up`: ChirpStack v4's uplink events. The
  tenant comes from the application id (SMARTBY_CHIRPSTACK_TENANTS), the device from the DevEUI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

TopicFamily = Literal["smartby", "chirpstack"]
DEFAULT_TENANT_LEVEL = "-"
"""The topic level that names the default tenant ("")."""

FILTERS: dict[TopicFamily, str] = {
    "smartby": "smartby/+/+/up",
    "chirpstack": "application/+/device/+/event/up",
}
"""The subscription filter of each topic family."""

_ENCODED = {"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\x00": "%00"}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class DeviceTopic:
    """Where a topic says an uplink comes from."""

    family: TopicFamily
    tenant: str
    """The NGSI-LD tenant ("" is the default tenant)."""
    device_id: str
    """The device id of a `smartby/...` topic, or the DevEUI of a ChirpStack topic."""
    application_id: str | None = None
    """ChirpStack's application id (ChirpStack topics only)."""


def encode_level(text: str) -> str:
    """`text` as one topic level: `%`, `/`, `+`, `#` (and NUL, which MQTT forbids) percent-encoded."""
    return "".join(_ENCODED.get(character, character) for character in text)


def decode_level(level: str) -> str | None:
    """The text a topic level encodes; None if a `%` starts no escape or the bytes are not UTF-8."""
    if "%" not in level:
        return level
    if level.count("%") != len(_ESCAPE.findall(level)):
        return None
    parts = _ESCAPE.split(level)
    data = bytearray()
    for index, part in enumerate(parts):
        data += bytes([int(part, 16)]) if index % 2 else part.encode("utf-8", "surrogatepass")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def tenant_level(tenant: str) -> str:
    """The topic level that names a tenant."""
    if tenant == "":
        return DEFAULT_TENANT_LEVEL
    if tenant == DEFAULT_TENANT_LEVEL:
        return "%2D"
    return encode_level(tenant)


def device_topic(tenant: str, device_id: str) -> str:
    """The topic a device publishes its uplinks on (`smartby/{tenant}/{device}/up`)."""
    return f"smartby/{tenant_level(tenant)}/{encode_level(device_id)}/up"


DOWNLINK_TOPIC = "smartby/{tenant}/{device}/down"
"""Where a device's commands are published unless its downlink names another topic."""
ACK_FILTERS = ("smartby/+/+/ack", "application/+/device/+/event/ack")
"""Where devices (`smartby/{tenant}/{device}/ack`) and ChirpStack v4 acknowledge commands."""


def downlink_topic(template: str, tenant: str, device_id: str) -> str:
    """A device's command topic: `{tenant}` and `{device}` in the template filled in as topic levels."""
    return template.replace("{tenant}", tenant_level(tenant)).replace("{device}", encode_level(device_id))


def chirpstack_down_topic(application_id: str, dev_eui: str) -> str:
    """The topic ChirpStack v4 takes a device's downlinks on."""
    return f"application/{application_id}/device/{dev_eui}/command/down"


def parse_ack_topic(topic: str, tenants: Mapping[str, str] | None = None) -> DeviceTopic | None:
    """The device an acknowledgement topic names (`smartby/{tenant}/{device}/ack`, or ChirpStack's
    `application/{id}/device/{DevEUI}/event/ack`), or None."""
    levels = topic.split("/")
    if len(levels) == 4 and levels[3] == "ack":
        return parse_topic("/".join([*levels[:3], "up"]), tenants)
    if len(levels) == 6 and levels[4:] == ["event", "ack"]:
        return parse_topic("/".join([*levels[:4], "event", "up"]), tenants)
    return None


def chirpstack_topic(application_id: str, dev_eui: str) -> str:
    """The topic ChirpStack v4 publishes a device's uplink events on."""
    return f"application/{application_id}/device/{dev_eui}/event/up"


def parse_topic(topic: str, tenants: Mapping[str, str] | None = None) -> DeviceTopic | None:
    """The tenant and device a topic names, or None when it is not an uplink topic of either
    family (wrong shape, an empty level, a bad escape). `tenants` maps ChirpStack application ids
    to tenants; an application not named there is the default tenant's."""
    levels = topic.split("/")
    if len(levels) == 4 and levels[0] == "smartby" and levels[3] == "up":
        tenant = "" if levels[1] == DEFAULT_TENANT_LEVEL else decode_level(levels[1])
        device_id = decode_level(levels[2])
        if not levels[1] or tenant is None or not device_id:
            return None
        return DeviceTopic("smartby", tenant, device_id)
    if (
        len(levels) == 6
        and levels[0] == "application"
        and levels[2] == "device"
        and levels[4:] == ["event", "up"]
        and levels[1]
        and levels[3]
    ):
        application = levels[1]
        return DeviceTopic("chirpstack", (tenants or {}).get(application, ""), levels[3], application)
    return None


def subscriptions(families: Iterable[TopicFamily], shared_group: str) -> list[str]:
    """The filters to subscribe to: each family's, as an MQTT v5 shared subscription
    (`$share/{group}/{filter}`) unless `shared_group` is empty."""
    chosen = [FILTERS[family] for family in dict.fromkeys(families)]
    if not shared_group:
        return chosen
    return [f"$share/{shared_group}/{found}" for found in chosen]
