"""What commands to devices need of a store. Declared here, where it is used (`DeviceCommands`); a
store satisfies it structurally, without importing it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from smartby.records.commands import CommandRecord


class CommandStore(Protocol):
    async def add_command(self, command: CommandRecord) -> None: ...

    async def get_command(self, tenant: str, command_id: str) -> CommandRecord | None: ...

    async def list_commands(
        self, tenant: str, device_id: str, states: Sequence[str], limit: int, offset: int
    ) -> list[CommandRecord]:
        """Newest first."""
        ...

    async def open_commands(self, states: Sequence[str], limit: int) -> list[CommandRecord]:
        """Every tenant's commands in those states, oldest first."""
        ...

    async def claim_attempt(self, tenant: str, command_id: str, seen: float, until: float) -> bool: ...

    async def move_command(
        self,
        tenant: str,
        command_id: str,
        from_states: Sequence[str],
        state: str,
        *,
        at: str,
        info: str | None,
    ) -> bool: ...

    async def note_command(self, tenant: str, command_id: str, info: str) -> None: ...
