"""What device ingestion needs of a store: devices, payload profiles and dead letters.

Declared here, where it is used (the registry, the pipeline, and the device API and CLI through
`Ingestion.devices`); a store satisfies it structurally, without importing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from smartby.records.devices import DeadLetter, DeadLetterQuery, Device, PayloadProfile


class DeviceStore(Protocol):
    """Devices, payload profiles and dead letters of every tenant."""

    async def put_device(self, device: Device) -> None:
        """Register a device or replace its registration (created_at of the first one stays)."""
        ...

    async def get_device(self, tenant: str, device_id: str) -> Device | None: ...

    async def get_devices(self, tenant: str, device_ids: Sequence[str]) -> dict[str, Device]:
        """The devices of those ids that are registered, by id (one query for many uplinks)."""
        ...

    async def device_by_eui(self, tenant: str, dev_eui: str) -> Device | None: ...

    async def list_devices(self, tenant: str, limit: int, offset: int) -> list[Device]: ...

    async def delete_device(self, tenant: str, device_id: str) -> bool: ...

    async def put_profile(self, profile: PayloadProfile) -> None: ...

    async def get_profile(self, tenant: str, name: str) -> PayloadProfile | None: ...

    async def list_profiles(self, tenant: str) -> list[PayloadProfile]: ...

    async def delete_profile(self, tenant: str, name: str) -> bool: ...

    async def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...

    async def list_dead_letters(self, tenant: str, query: DeadLetterQuery) -> list[DeadLetter]:
        """Newest first."""
        ...

    async def count_dead_letters(self, tenant: str, query: DeadLetterQuery) -> int: ...

    async def get_dead_letter(self, tenant: str, letter_id: int) -> DeadLetter | None: ...

    async def delete_dead_letter(self, tenant: str, letter_id: int) -> bool: ...

    async def purge_dead_letters(self, tenant: str, query: DeadLetterQuery) -> int:
        """Delete the dead letters the filters select; how many went."""
