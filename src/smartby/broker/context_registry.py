"""The @context management API (clause 5.13): the contexts the broker stores, of three kinds.

- `Hosted`: a client POSTed it to /jsonldContexts (5.13.2).
- `Cached`: a request named its URL and the broker fetched it; the stored copy is used from then on,
  also when the server it came from is gone. `reload` fetches it again (5.13.5).
- `ImplicitlyCreated`: an inline @context the broker had to keep (a subscription's, whose
  notifications link to it); served from a URL of the broker's own, like a hosted one.

The contexts shipped with smartby and those of SMARTBY_CONTEXT_DIR are listed as `Cached` too (they
are copies of published contexts); they cannot be deleted, and reloading them changes nothing.

Stored contexts belong to a tenant: the one that POSTed, fetched or needed it. Another tenant does
not see it listed, cannot read, delete or reload it, and resolves its URL among its own contexts
(fetching a remote one again for itself). The shipped contexts are every tenant's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from typing import Any

import orjson

from smartby.broker.contexts import (
    CONTEXT_TENANT,
    HOSTED_PATH,
    ContextLoader,
    ContextStore,
    ContextUsage,
    check_context_document,
    hosted_id,
    resolve,
)
from smartby.ngsild.context import CORE_CONTEXT_ALIASES, CORE_CONTEXT_URL, ContextResolver, LoaderFailed
from smartby.ngsild.errors import (
    BadRequestData,
    LdContextNotAvailable,
    NgsiLdError,
    OperationNotSupported,
    ResourceNotFound,
)
from smartby.ngsild.reads import StoredContext
from smartby.ngsild.timestamps import format_datetime, now

KINDS = ("Hosted", "Cached", "ImplicitlyCreated")
IMPLICIT_NAMESPACE = uuid.UUID("5b0d4cf4-6a0e-4d43-9a59-43a1c4b7f0a1")
log = logging.getLogger("smartby.broker")


class ContextRegistry:
    """Add, list, serve, delete and reload stored @contexts; count their use."""

    def __init__(
        self, store: ContextStore, loader: ContextLoader, resolver: ContextResolver, sync_interval: float
    ) -> None:
        self._store = store
        self._loader = loader
        self._resolver = resolver
        self._sync_interval = sync_interval
        self._started = format_datetime(now())
        builtin = {alias: CORE_CONTEXT_URL for alias in CORE_CONTEXT_ALIASES} | {
            url: url for url in loader.local
        }
        self.usage = ContextUsage(builtin)
        self._syncer: asyncio.Task[None] | None = None

    # -- use counts and other processes' changes ------------------------------------------------

    def start(self) -> None:
        self._syncer = asyncio.create_task(self._sync_periodically(), name="smartby-context-sync")

    async def stop(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncer
            self._syncer = None
        await self.flush()

    async def flush(self) -> None:
        """Write the use counts gathered in memory (one statement for all)."""
        uses = self.usage.take()
        try:
            await self._store.record_context_use(uses)
        except Exception:
            self.usage.give_back(uses)
            raise

    async def sync(self) -> None:
        """Write the use counts, and drop the copies of contexts that another process deleted or
        reloaded since this one read them."""
        await self.flush()
        remembered = self._loader.remembered()
        by_key: dict[tuple[str, str], StoredContext] = {}
        for tenant in {tenant for tenant, _ in remembered}:
            for c in await self._store.list_contexts(tenant):
                by_key[tenant, c.url] = by_key[tenant, c.id] = c
        for (tenant, url), document in remembered.items():
            found = by_key.get((tenant, hosted_id(url) or url))
            if found is None or found.document != document:
                self._loader.forget(tenant, url)
                self._resolver.forget(url)

    async def _sync_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._sync_interval)
            try:
                await self.sync()
            except Exception:
                log.exception("Syncing stored @contexts failed; trying again later")

    # -- the operations of clause 5.13 --------------------------------------------------------

    async def add(self, tenant: str, document: Any, base_url: str) -> StoredContext:
        """Add @context (5.13.2): keep the @context member of `document` as a Hosted context of
        `tenant`, under a new locally unique URI (`urn:uuid:...`)."""
        check_context_document(document)
        await resolve(self._resolver, document["@context"], tenant)
        local_id = uuid.uuid4().urn
        stored = StoredContext(
            local_id, _url(base_url, local_id), "Hosted", {"@context": document["@context"]}, _stamp()
        )
        await self._store.put_context(tenant, stored, "context.add")
        return stored

    async def keep_inline(
        self, tenant: str, context: Any, base_url: str, *, created_for: str | None = None
    ) -> str:
        """A URL for an @context value that must be kept, e.g. the inline @context of a subscription
        whose notifications are to link to it: a URL stays as it is; an object or an array is
        stored as an ImplicitlyCreated context (once per distinct content) and its URL served by
        the broker is given back."""
        if isinstance(context, str):
            return context
        document = check_context_document({"@context": context})
        await resolve(self._resolver, context, tenant)
        canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()
        local_id = uuid.uuid5(IMPLICIT_NAMESPACE, canonical).urn
        extra = {"createdFor": created_for} if created_for else None
        stored = await self._store.keep_context(
            tenant,
            StoredContext(
                local_id, _url(base_url, local_id), "ImplicitlyCreated", document, _stamp(), extra=extra
            ),
        )
        return stored.url

    async def listed(self, tenant: str, kind: str | None = None) -> list[StoredContext]:
        """List @contexts (5.13.3) of `tenant`, those of one kind if `kind` is given."""
        if kind is not None and kind not in KINDS:
            raise BadRequestData(f"kind must be one of {', '.join(KINDS)}")
        found: list[StoredContext] = []
        if kind in (None, "Cached"):
            found = [self._builtin(url) for url in sorted(self._loader.local)]
        found += [self.usage.pending(c, tenant) for c in await self._store.list_contexts(tenant, kind)]
        return found

    async def info(self, tenant: str, key: str) -> StoredContext:
        """A stored context of `tenant` by its local id or URL (its details, 5.13.4 with details=true)."""
        if key in self._loader.local:
            return self._builtin(key)
        found = await self._store.get_context(tenant, key)
        if found is None:
            raise ResourceNotFound(f"No @context {key}")
        return self.usage.pending(found, tenant)

    async def serve(self, tenant: str, key: str) -> Any:
        """Serve @context (5.13.4): the stored document of a Hosted or ImplicitlyCreated context."""
        found = await self.info(tenant, key)
        if found.kind == "Cached":
            raise OperationNotSupported(
                f"{found.url} is a cached copy of a context published elsewhere: get it from its URL, "
                "or ask for details=true"
            )
        return found.document

    async def delete(self, tenant: str, key: str, *, reload: bool = False) -> None:
        """Delete and Reload @context (5.13.5)."""
        if not key.strip():
            raise BadRequestData("No @context identifier was given")
        if key in self._loader.local:
            if reload:
                return  # shipped with smartby or read from SMARTBY_CONTEXT_DIR: nothing to fetch
            what = "the NGSI-LD core context" if key in CORE_CONTEXT_ALIASES else "built in"
            raise BadRequestData(f"{key} is {what} and cannot be deleted")
        found = await self._store.get_context(tenant, key)
        if found is None and reload:
            raise BadRequestData(f"No cached @context {key} to reload")
        if found is None:
            raise ResourceNotFound(f"No @context {key}")
        if reload:
            if found.kind != "Cached":
                raise BadRequestData(f"Only a Cached context can be reloaded; {key} is {found.kind}")
            await self._reload(tenant, found)
            return
        await self._store.delete_context(tenant, found.id)
        self._forget(tenant, found)

    async def _reload(self, tenant: str, cached: StoredContext) -> None:
        """Fetch a Cached context again and check it before it replaces the stored copy; on any
        failure the stored copy stays (5.13.5.4)."""
        try:
            fresh = await asyncio.to_thread(self._loader.fetch, cached.url)
            await asyncio.to_thread(_check_processable, self._loader, tenant, cached.url, fresh.document)
        except (LoaderFailed, NgsiLdError) as error:
            detail = error.detail if isinstance(error, NgsiLdError) else str(error)
            raise LdContextNotAvailable(
                f"The @context {cached.url} could not be reloaded: {detail}"
            ) from None
        await self._store.put_context(tenant, dataclasses.replace(fresh, id=cached.id), "context.reload")
        self._forget(tenant, cached)

    def _forget(self, tenant: str, context: StoredContext) -> None:
        """Drop what this process remembers of a deleted or reloaded context: its document and every
        processed @context built from it (a hosted one by whatever host its URL named)."""
        if context.kind == "Cached":
            self._loader.forget(tenant, context.url)
            self._resolver.forget(context.url)
        else:
            self._loader.forget(tenant, context.url, local_id=context.id)
            self._resolver.forget(HOSTED_PATH + context.id)

    def _builtin(self, url: str) -> StoredContext:
        origin = "smartby" if url in self._loader.builtin_urls else "SMARTBY_CONTEXT_DIR"
        stored = StoredContext(
            url, url, "Cached", self._loader.local[url], self._started, extra={"shippedWith": origin}
        )
        return self.usage.pending(stored)


def _check_processable(loader: ContextLoader, tenant: str, url: str, document: Any) -> None:
    """Process `document` as the context at `url` (JSON-LD validation, clause 5.5.4), with the
    other documents it names loaded as usual (those of `tenant`)."""
    CONTEXT_TENANT.set(tenant)  # a thread of its own: the setting ends with it

    def load(target: str) -> Any:
        return document if target == url else loader(target)

    ContextResolver(load, cache_size=1).resolve(url)


def _url(base_url: str, local_id: str) -> str:
    return base_url.rstrip("/") + HOSTED_PATH + local_id


def _stamp() -> str:
    return format_datetime(now())
