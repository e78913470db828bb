"""The one place smartby is put together: the store a `Settings` names, the broker on it, device
ingestion into the broker, and the city services on the broker.

The parts above the store (ingest, services, api, web, sim) never import it: each declares what it
needs of a store as a protocol where it uses it, and gets the store from here. The CLI and the ASGI
entry (`smartby.api.asgi`) build through `assemble`.
"""

from __future__ import annotations

import gc
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
    keys: Store
    """The store as access control uses it (API keys, tenants, subscription owners): the api declares
    what it needs of it (`smartby.api.keyring.KeyStore`)."""

    @asynccontextmanager
    async def registry_only(self) -> AsyncIterator[Ingestion]:
        """Device ingestion with only the store open, for a command on the device registry or the
        dead letters: no notifier, no history retention, no batching of uplinks."""
        await self.store.open()
        try:
            yield self.ingestion
        finally:
            await self.store.close()

    @asynccontextmanager
    async def keys_only(self) -> AsyncIterator[Store]:
        """The store open for a command on API keys or tenants (`smartby keys`, `smartby tenants`)."""
        await self.store.open()
        try:
            yield self.keys
        finally:
            await self.store.close()

    async def pack_history(self, seconds: float) -> int | None:
        """With only the store open, pack the history of whole days older than `seconds` (None: the
        backend keeps history as it is)."""
        await self.store.open()
        try:
            return await self.store.pack_older_than(seconds)
        finally:
            await self.store.close()


def assemble(settings: Settings | None = None) -> Assembly:
    """smartby on the database `settings.database` names (settings from the environment if none)."""
    settings = settings or Settings()
    store = open_store(settings.database, settings)
    broker = Broker(store, settings)
    ingestion = Ingestion(broker, store, settings, commands=store)
    services = Runtime(broker, selected(settings), settings, commands=ingestion.commands, contacts=store)
    return Assembly(settings, store, broker, ingestion, services, store)


def tune_collector(settings: Settings) -> None:
    """Set a server process's garbage collector up for a stream of writes: what start-up made is
    moved out of its way (`gc.freeze`), and the youngest generation is collected every
    `gc_young_threshold` allocations instead of Python's 700.

    With Python's thresholds the objects of a batch of readings (instances, rows, pending uplinks)
    live through two young collections while the batch fills and commits, land in the oldest
    generation, and make full collections of the whole heap frequent: a fifth to a third of the
    CPU an MQTT reading cost. With a larger young generation they die young."""
    if settings.gc_young_threshold:
        gc.freeze()
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_young_threshold, middle, oldest)
