"""The one place smartby is put together: the store a `Settings` names, the broker on it, device
ingestion into the broker, and the city services on the broker.

The parts above the store (ingest, services, api, web, sim) never import it: each declares what it
needs of a store as a protocol where it uses it, and gets the store from here. The CLI and the ASGI
entry (`smartby.api.asgi`) build through `assemble`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from smartby.broker import Broker
from smartby.ingest.pipeline import Ingestion
from smartby.services.registry import selected
from smartby.services.runtime import Runtime
from smartby.settings import Settings
from smartby.store import Store, open_store


@dataclass(frozen=True)
class Assembly:
    """smartby's parts for one set of settings, built and not yet opened (`broker.open()` opens the
    store too; `ingestion.start()` starts batching uplinks)."""

    settings: Settings
    store: Store
    broker: Broker
    ingestion: Ingestion
    services: Runtime
    """The city services SMARTBY_SERVICES names: their changes are fed from every write of this
    process; `services.start()` runs their handlers and jobs here."""

    @asynccontextmanager
    async def registry_only(self) -> AsyncIterator[Ingestion]:
        """Device ingestion with only the store open, for a command on the device registry or the
        dead letters: no notifier, no history retention, no batching of uplinks."""
        await self.store.open()
        try:
            yield self.ingestion
        finally:
            await self.store.close()


def assemble(settings: Settings | None = None) -> Assembly:
    """smartby on the database `settings.database` names (settings from the environment if none)."""
    settings = settings or Settings()
    store = open_store(settings.database, settings)
    broker = Broker(store, settings)
    services = Runtime(broker, selected(settings), settings)
    return Assembly(settings, store, broker, Ingestion(broker, store, settings), services)
