"""Where JSON-LD context documents come from, and the /jsonldContexts registry.

Look-up order for a URL: the contexts shipped with smartby (the NGSI-LD core context and the common
Smart Data Models contexts), the folder named by SMARTBY_CONTEXT_DIR, contexts stored in the database
(hosted ones POSTed to /jsonldContexts and remote ones fetched before), and last the web (fetched
once, then stored as "Cached"). The loader runs in a worker thread because PyLD calls it
synchronously; it reaches the async store through the event loop.

Stored contexts belong to a tenant (the shipped ones and those of SMARTBY_CONTEXT_DIR to all): the
loader looks in, and fetches into, the tenant of `CONTEXT_TENANT`, which the API sets for each
request and `resolve` for work done on a tenant's behalf (a subscription's @context).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

import httpx
import orjson

from smartby.broker.outbound import UNREACHABLE, OutboundPolicy, async_client
from smartby.ngsild.context import Context, ContextResolver, LoaderFailed
from smartby.ngsild.entity import check_nesting
from smartby.ngsild.errors import BadRequestData, InvalidRequest
from smartby.ngsild.reads import StoredContext
from smartby.ngsild.timestamps import format_datetime, now

HOSTED_PATH = "/ngsi-ld/v1/jsonldContexts/"
CONTEXT_TENANT: contextvars.ContextVar[str] = contextvars.ContextVar("smartby_context_tenant", default="")
"""The tenant whose stored @contexts a resolution may use (the default tenant unless set)."""
ACCEPT = "application/ld+json, application/json;q=0.9"


class ContextStore(Protocol):
    """What the broker needs of a store for @contexts: the Hosted, Cached and ImplicitlyCreated ones."""

    async def put_context(self, tenant: str, context: StoredContext, operation: str | None = None) -> None:
        """Store a context of `tenant`, or replace the document of its one with that URL; with
        `operation`, the change's audit record in the same transaction."""
        ...

    async def keep_context(self, tenant: str, context: StoredContext) -> StoredContext:
        """Store a context of `tenant` unless it has one with its id or URL; the stored one."""
        ...

    async def get_context(self, tenant: str, key: str) -> StoredContext | None:
        """A stored context of `tenant` by its local id or its URL."""
        ...

    async def list_contexts(self, tenant: str, kind: str | None = None) -> list[StoredContext]: ...

    async def delete_context(self, tenant: str, key: str) -> bool: ...

    async def record_context_use(self, uses: Sequence[tuple[str, str, int, str]]) -> None:
        """Add (tenant, local id or URL, hits, last used) to the stored contexts."""
        ...


class ContextUsage:
    """How often, and when last, each stored @context was used, counted in memory.

    A request whose @context names a stored context (by URL) counts one hit for it (clause 5.13.3.5,
    numberOfHits and lastUsage). Counting costs a dictionary update; the counts reach the database
    in one batch when the broker flushes them (periodically and at shutdown), and answers of this
    process add what it has not flushed yet. The contexts shipped with smartby or read from its
    context folder have no row: their counts stay in memory, since this process started.
    """

    def __init__(self, builtin: Mapping[str, str]) -> None:
        self._builtin = builtin
        self._hits: dict[tuple[str, str], int] = {}
        self._last: dict[tuple[str, str], float] = {}
        self._builtin_hits: dict[tuple[str, str], int] = {}
        self._builtin_last: dict[tuple[str, str], float] = {}

    def record(self, source: Any, tenant: str = "") -> None:
        """Count the stored contexts a request's @context (URL, object or array) names."""
        if isinstance(source, str):
            self._count(source, tenant)
        elif isinstance(source, list):
            for item in source:
                if isinstance(item, str):
                    self._count(item, tenant)

    def _count(self, url: str, tenant: str) -> None:
        builtin = self._builtin.get(url)
        if builtin is not None:
            hits, last, key = self._builtin_hits, self._builtin_last, ("", builtin)
        else:
            hits, last, key = self._hits, self._last, (tenant, hosted_id(url) or url)
        hits[key] = hits.get(key, 0) + 1
        last[key] = time.time()

    def pending(self, context: StoredContext, tenant: str = "") -> StoredContext:
        """`context` (of `tenant`) with the uses this process counted and has not flushed yet."""
        for hits, last, owner in (
            (self._hits, self._last, tenant),
            (self._builtin_hits, self._builtin_last, ""),
        ):
            for key in ((owner, context.id), (owner, context.url)):
                if key in hits:
                    used_at = format_datetime(datetime.fromtimestamp(last[key], UTC))
                    return dataclasses.replace(context, hits=context.hits + hits[key], last_used=used_at)
        return context

    def take(self) -> list[tuple[str, str, int, str]]:
        """The counts of stored contexts so far, as (tenant, key, hits, last used), forgetting them."""
        hits, last = self._hits, self._last
        self._hits, self._last = {}, {}
        return [
            (tenant, key, n, format_datetime(datetime.fromtimestamp(last[tenant, key], UTC)))
            for (tenant, key), n in hits.items()
        ]

    def give_back(self, uses: Sequence[tuple[str, str, int, str]]) -> None:
        """Counts a flush could not write, kept for the next one."""
        for tenant, key, hits, _ in uses:
            self._hits[tenant, key] = self._hits.get((tenant, key), 0) + hits
            self._last.setdefault((tenant, key), time.time())


def hosted_id(url: str) -> str | None:
    """The local id in a URL of this broker's /jsonldContexts, whatever host it names."""
    if HOSTED_PATH not in url:
        return None
    return unquote(url.rsplit(HOSTED_PATH, 1)[1])


async def resolve(resolver: ContextResolver, source: Any, tenant: str | None = None) -> Context:
    """The processed @context for `source` (None: the core context alone): from memory, or worked
    out in a thread, as PyLD loads documents synchronously (through the loader below). Stored
    contexts are those of `tenant`, or of the `CONTEXT_TENANT` set for the request."""
    token = CONTEXT_TENANT.set(tenant) if tenant is not None else None
    try:
        found = resolver.cached(source)
        if found is not None:
            return found
        return await asyncio.to_thread(resolver.resolve, source)
    finally:
        if token is not None:
            CONTEXT_TENANT.reset(token)


def read_context_dir(folder: Path | Any) -> dict[str, Any]:
    """The documents of a context folder, keyed by URL, as its index.json maps them."""
    index_file = folder / "index.json"
    try:
        index = orjson.loads(index_file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise ValueError(f"{index_file}: cannot read the context index: {error}") from None
    if not isinstance(index, dict):
        raise ValueError(f"{index_file}: must map each URL to a file name")
    documents: dict[str, Any] = {}
    for url, name in index.items():
        if not isinstance(name, str) or "/" in name or "\\" in name:
            raise ValueError(f"{index_file}: {url} must map to a file name in that folder")
        try:
            documents[url] = orjson.loads((folder / name).read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            raise ValueError(f"{folder / name}: cannot read the context for {url}: {error}") from None
    return documents


def builtin_contexts() -> dict[str, Any]:
    return read_context_dir(resources.files("smartby.data") / "contexts")


class ContextLoader:
    """The DocumentLoader the broker's ContextResolver uses."""

    def __init__(
        self,
        store: ContextStore,
        *,
        context_dir: Path | None = None,
        remote: bool = True,
        timeout: float = 10.0,
        max_bytes: int = 1_048_576,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self._store = store
        self._local: dict[str, Any] = builtin_contexts()
        self.builtin_urls = frozenset(self._local)
        if context_dir is not None:
            self._local.update(read_context_dir(Path(context_dir)))
        self._remote = remote
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._outbound = outbound or OutboundPolicy()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stored: dict[tuple[str, str], Any] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def outbound(self) -> OutboundPolicy:
        return self._outbound

    @property
    def local(self) -> Mapping[str, Any]:
        return self._local

    def remembered(self) -> dict[tuple[str, str], Any]:
        """The documents of stored contexts this loader keeps in memory, by tenant and the URL they
        were asked by."""
        return dict(self._stored)

    def forget(self, tenant: str, url: str, *, local_id: str | None = None) -> None:
        """Drop the remembered document of `url` of `tenant` (and of any URL naming its hosted
        `local_id`)."""
        self._stored.pop((tenant, url), None)
        if local_id is not None:
            for key in [
                key for key in list(self._stored) if key[0] == tenant and hosted_id(key[1]) == local_id
            ]:
                self._stored.pop(key, None)

    def __call__(self, url: str) -> Any:
        if url in self._local:
            return self._local[url]
        tenant = CONTEXT_TENANT.get()
        if (tenant, url) in self._stored:
            return self._stored[tenant, url]
        stored: StoredContext | None = self._call(self._store.get_context(tenant, hosted_id(url) or url))
        if stored is not None:
            self._stored[tenant, url] = stored.document
            return stored.document
        if HOSTED_PATH in url:
            raise LoaderFailed(f"no hosted context {url}")
        if not url.startswith(("http://", "https://")):
            # No scheme but http(s) can ever be fetched: the request is wrong, not the network.
            raise BadRequestData(f"The @context {url} is neither a known context nor an http(s) URL")
        cached = self.fetch(url)
        self._call(self._store.put_context(tenant, cached))
        self._stored[tenant, url] = cached.document
        return cached.document

    def _call(self, coroutine: Any) -> Any:
        if self._loop is None:
            coroutine.close()
            raise LoaderFailed("the context loader is not bound to an event loop")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=self._timeout + 5)

    def fetch(self, url: str) -> StoredContext:
        """Download the @context at `url` as a new Cached context (blocking: run it in a thread).

        Only addresses the outbound policy allows are reached, redirects included; the whole fetch
        takes at most SMARTBY_CONTEXT_TIMEOUT seconds and SMARTBY_CONTEXT_MAX_BYTES bytes, the body
        read as it streams in. Only the document's @context member is kept: nothing else of it is
        ever served back."""
        if not self._remote:
            raise LoaderFailed("fetching remote contexts is turned off (SMARTBY_REMOTE_CONTEXTS)")
        content, content_type, final_url = self._call(self._download(url))
        # Retrieved but not a JSON-LD context: the @context is invalid, not unavailable (5.5.6).
        try:
            document = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise BadRequestData(f"The @context at {url} is not valid JSON") from None
        if not isinstance(document, dict) or "@context" not in document:
            raise BadRequestData(f"The document at {url} holds no @context")
        extra: dict[str, Any] = {"contentType": content_type}
        if final_url != url:
            extra["retrievedFrom"] = final_url
        stamp = format_datetime(now())
        return StoredContext(
            uuid.uuid4().urn, url, "Cached", {"@context": document["@context"]}, stamp, extra=extra
        )

    async def _download(self, url: str) -> tuple[bytes, str, str]:
        """The body, content type and final URL of `url`, within the time and size limits."""
        limit = self._max_bytes
        too_large = BadRequestData(f"The @context at {url} is larger than {limit} bytes")
        try:
            async with (
                asyncio.timeout(self._timeout),
                async_client(self._outbound, timeout=self._timeout, follow_redirects=True) as http,
                http.stream("GET", url, headers={"Accept": ACCEPT}) as response,
            ):
                response.raise_for_status()
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise too_large
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("content-type", ""), str(response.url)
        except httpx.HTTPStatusError as error:
            raise LoaderFailed(f"{url} answered HTTP {error.response.status_code}") from None
        except (httpx.HTTPError, TimeoutError):
            # One reason whatever went wrong: the answer must not tell an open port from a closed one.
            raise LoaderFailed(f"{url} {UNREACHABLE}") from None


def check_context_document(document: Any) -> Any:
    """A body POSTed to /jsonldContexts: an object with an @context that is an object or array."""
    if not isinstance(document, dict) or "@context" not in document:
        raise InvalidRequest("A context document must be a JSON object with an @context member")
    check_nesting("A context document", document)
    context = document["@context"]
    items = context if isinstance(context, list) else [context]
    if not isinstance(context, dict | list) or not all(isinstance(item, dict | str) for item in items):
        raise BadRequestData(
            "The @context of a hosted context must be an object or an array of objects and URLs"
        )
    return document
