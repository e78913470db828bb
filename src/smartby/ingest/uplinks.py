"""What a device transport hands to ingestion: one uplink as it arrived, before anything is trusted.

Every transport (MQTT, HTTP POST with a device key, ChirpStack v4 events, The Things Stack v3
webhooks) turns what it received into an `Uplink` and passes it to an `UplinkSink`. The sink
authenticates the device, decodes the payload, batches the readings into broker transactions, and
keeps whatever it cannot use in the dead-letter store with the reason and the raw bytes; it never
raises for bad input, so a transport keeps running whatever a device sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Envelope = Literal["plain", "chirpstack", "tts"]
"""How the payload is wrapped: `plain` is the device's own bytes; `chirpstack` a ChirpStack v4
uplink event (JSON, `deviceInfo.devEui`, base64 `data`, or `object` when ChirpStack decoded it);
`tts` a The Things Stack v3 uplink message (JSON, `end_device_ids.dev_eui`,
`uplink_message.frm_payload`, `decoded_payload`)."""


@dataclass(frozen=True)
class Uplink:
    transport: str
    """Where it came in: `mqtt`, `http`, `chirpstack-mqtt`, `chirpstack-http`, `tts-http`."""
    envelope: Envelope
    tenant: str
    """The NGSI-LD tenant it is for ("" is the default tenant)."""
    device_id: str | None
    """The device as the transport names it (a topic level, a path segment); None when only the
    envelope names it (ChirpStack's and The Things Stack's DevEUI)."""
    credential: str | None
    """The key or token the sender presented, if any."""
    payload: bytes
    received_at: str
    """When smartby received it, ISO 8601 UTC with microseconds."""
    topic: str | None = None
    """The MQTT topic, for MQTT transports."""


class UplinkSink(Protocol):
    async def accept(self, uplink: Uplink) -> None:
        """Take one uplink; return once it is queued for the next broker transaction (or
        dead-lettered). Never raises for bad input."""
