"""What device ingestion keeps in the store: devices, payload profiles and dead letters.

Records only; the rules (key hashing, which decoder a device uses) live in `smartby.ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Device:
    """A device registered to feed one entity of a tenant."""

    id: str
    tenant: str
    entity_id: str
    entity_type: str
    key_hash: str
    """`scrypt$<salt hex>$<hash hex>` (a chosen key) or `sha256$...` (a generated one): the key itself
    is never stored."""
    created_at: str
    modified_at: str
    profile: str | None = None
    """The payload profile (a named decoder) the device's uplinks are decoded with."""
    decoder: dict[str, Any] | None = None
    """Or a decoder declared on the device itself."""
    dev_eui: str | None = None
    """The LoRaWAN DevEUI (16 lower-case hex digits) ChirpStack and The Things Stack name it by."""
    location: dict[str, Any] | None = None
    """A GeoJSON Point, written to the entity's `location` when the entity is created."""
    organisation: str | None = None
    context: str | None = None
    """The @context URL the device's attribute names are expanded with (None: the core context)."""
    commands: dict[str, Any] | None = None
    """How commands to it are encoded, by command name, when it has no profile (docs/commands.md)."""
    downlink: dict[str, Any] | None = None
    """How commands reach it: transport (mqtt, chirpstack, tts) and what that transport needs
    (topic, applicationId, fPort, confirmed, webhookId, deviceId)."""
    reporting_interval: float | None = None
    """How often it reports, in seconds (None: its profile's, if that says)."""


@dataclass(frozen=True)
class PayloadProfile:
    """A named decoder declaration, shared by the devices of one tenant that send the same frames."""

    tenant: str
    name: str
    decoder: dict[str, Any]
    description: str | None
    created_at: str
    modified_at: str
    commands: dict[str, Any] | None = None
    """How commands to its devices are encoded, by command name (the mirror of `decoder`)."""
    downlink: dict[str, Any] | None = None
    """How commands reach its devices, unless a device says otherwise (docs/commands.md)."""
    reporting_interval: float | None = None
    """How often its devices report, in seconds, unless a device says otherwise."""


@dataclass(frozen=True)
class DeadLetter:
    """An uplink ingestion could not use, kept with the reason and the bytes as they arrived."""

    tenant: str
    received_at: str
    transport: str
    reason: str
    payload: bytes
    device_id: str | None = None
    topic: str | None = None
    id: int | None = None
    """Assigned by the store."""


@dataclass(frozen=True)
class DeadLetterQuery:
    """Which dead letters of a tenant: all given filters must hold; newest first."""

    device_id: str | None = None
    transport: str | None = None
    since: str | None = None
    """Received at or after this ISO 8601 UTC time."""
    until: str | None = None
    """Received before this time."""
    limit: int = 100
    offset: int = 0
