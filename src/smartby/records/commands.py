"""Commands to devices: the record smartby keeps of each, and the one call city services send them by.

The call (`CommandSender`) is declared here, below the layers that use it: device ingestion
implements it (it owns devices and their transports), the services runtime hands it to services in
their `ServiceContext`, and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

CommandState = Literal["pending", "sent", "confirmed", "failed", "expired"]
STATES: tuple[CommandState, ...] = ("pending", "sent", "confirmed", "failed", "expired")
FINAL: frozenset[str] = frozenset({"confirmed", "failed", "expired"})


@dataclass(frozen=True)
class CommandRecord:
    """One command to one device, and how far it got."""

    id: str
    tenant: str
    device: str
    name: str
    value: Any
    state: CommandState
    created_at: str
    expires_at: str
    payload: bytes
    """The encoded frame or message body, as the device's profile encodes the command."""
    f_port: int | None = None
    sent_at: str | None = None
    confirmed_at: str | None = None
    info: str | None = None
    """Why it waits, failed or expired; what the device answered."""
    attempts: int = 0
    next_attempt: float = 0.0
    """Wall-clock seconds since the epoch before which no process tries to send it again."""
    confirm_by: str | None = None
    """The attribute whose next reading confirms the command when it shows the value."""
    confirmed: bool = False
    """LoRaWAN: sent as a confirmed downlink (the device acknowledges it)."""


class CommandSender(Protocol):
    """What a city service sends commands to devices with (`ServiceContext.commands`)."""

    async def send(
        self,
        device_id: str,
        name: str,
        value: Any,
        *,
        expires_at: datetime | None = None,
        tenant: str = "",
    ) -> CommandRecord:
        """Encode the command with the device's profile, keep it (state pending) and send it over
        the device's transport (sent, or pending until the transport is there, retried until
        `expires_at`). ResourceNotFound when there is no such device, BadRequestData when the
        profile cannot encode the command."""
        ...
