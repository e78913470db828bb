"""Distributed retrieve and query (clauses 4.3.6, 5.7.1, 5.7.2 with context sources): GET of an
entity and queries of entities are also sent to the context sources whose registrations match them
(inclusive, auxiliary, exclusive and redirect alike: for reads a redirect source counts as an
inclusive one), and the answers are merged with smartby's own: an auxiliary source only fills gaps,
an exclusive one alone provides the attributes it registers.

A source is asked over HTTP with httpx, in the requester's @context (a `Link` header), for the
normalized form with system attributes (so instances can be compared by observedAt or modifiedAt),
with the registration's `tenant` and `contextSourceInfo`, within `management.timeout` (at most
SMARTBY_FORWARD_TIMEOUT) and with at most SMARTBY_FORWARD_CONCURRENCY requests in flight to it. A
source that fails is reported (`SourceFailure`) and left out of the answer; after a failure it is
not asked again for its `management.cooldown`. Every forwarded request carries a `Via` header naming
this broker; a request that has passed it already is answered from its own data alone, so brokers
that register each other do not loop. `local=true` is never forwarded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import orjson

from smartby.broker.contexts import resolve
from smartby.broker.registrations import Registrations
from smartby.ngsild.context import CORE_CONTEXT_URL, Context, ContextResolver
from smartby.ngsild.distributed import Part, merge_entities, passed, via_with
from smartby.ngsild.entity import Entity, check_entity_id, parse_entity
from smartby.ngsild.errors import NgsiLdError, ResourceNotFound
from smartby.ngsild.reads import AttributeInfo, EntityQuery, QueryResult, TypeInfo
from smartby.ngsild.registration import RegistrationFilter, exclusive_attributes
from smartby.ngsild.timestamps import format_datetime, now
from smartby.settings import Settings

log = logging.getLogger("smartby.federation")
FORWARD_MODES = frozenset({"inclusive", "auxiliary", "exclusive", "redirect"})
CACHE_SECONDS = 1.0
DETAILS = {"details": "true"}
JSON_LD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
T = TypeVar("T")


@dataclass(frozen=True)
class LocalReads:
    """How forwarding reads this broker's own data (the broker's methods)."""

    entity: Callable[[str, str], Awaitable[Entity | None]]
    query: Callable[[str, EntityQuery], Awaitable[QueryResult]]
    types: Callable[[str], Awaitable[list[TypeInfo]]]
    attributes: Callable[[str], Awaitable[list[AttributeInfo]]]


class SourceUseStore(Protocol):
    """What forwarding needs of a store: the counters behind a registration's status members."""

    async def record_registration_use(
        self, tenant: str, registration_id: str, at: str, success: bool
    ) -> None: ...


@dataclass(frozen=True)
class SourceFailure:
    """A context source that could not answer: which registration, where, and why."""

    registration_id: str
    endpoint: str
    reason: str

    def warning(self) -> str:
        """As an NGSILD-Warning header value."""
        return f'199 {self.endpoint} "{self.reason} (registration {self.registration_id})"'


@dataclass
class Forwarded:
    """An answer with the sources that failed to contribute to it."""

    failures: list[SourceFailure] = dataclasses.field(default_factory=list)


@dataclass
class _Source:
    semaphore: asyncio.Semaphore
    cool_until: float = 0.0


class _Failed(Exception):
    pass


def _part(registration: dict[str, Any], entity: Entity) -> Part:
    """A source's entity as its registration's mode lets it count in a merged answer."""
    mode = registration.get("mode", "inclusive")
    if mode == "exclusive":
        return Part(entity, exclusive=exclusive_attributes(registration, entity["id"]))
    return Part(entity, auxiliary=mode == "auxiliary")


def identity_of(settings: Settings) -> str:
    """The name this deployment gives itself in Via headers: the same for every process on one host
    and database (so a request that comes back to another worker is still recognised), different
    for another city's broker."""
    digest = hashlib.sha256(f"{socket.gethostname()} {settings.database}".encode()).hexdigest()
    return f"smartby-{digest[:16]}"


class Federation:
    """Reached as `broker.federation`."""

    def __init__(
        self,
        registrations: Registrations,
        store: SourceUseStore,
        contexts: ContextResolver,
        local: LocalReads,
        settings: Settings,
    ) -> None:
        self.identity = identity_of(settings)
        """How this broker names itself in the Via header of the requests it forwards."""
        self._registrations = registrations
        self._store = store
        self._contexts = contexts
        self._local = local
        self._timeout = settings.forward_timeout
        self._concurrency = settings.forward_concurrency
        self._max_limit = settings.max_limit
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._sources: dict[str, _Source] = {}
        self._http: httpx.AsyncClient | None = None
        registrations.listeners.append(self._forget)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _forget(self, tenant: str, ctx: Context, before: Any, after: Any) -> None:
        self._cache.pop(tenant, None)

    async def _forwarding(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's registrations that reads may be forwarded to (cached for a second)."""
        held = self._cache.get(tenant)
        moment = time.monotonic()
        if held is not None and moment - held[0] < CACHE_SECONDS:
            return held[1]
        found = [
            item.document
            for item in await self._registrations.of_tenant(tenant)
            if item.document.get("mode", "inclusive") in FORWARD_MODES
        ]
        self._cache[tenant] = (moment, found)
        return found

    async def has_sources(self, tenant: str) -> bool:
        """Whether any registration of the tenant may take forwarded reads."""
        return bool(await self._forwarding(tenant))

    def _forwards(self, local_only: bool, via: str | None) -> bool:
        return not local_only and not passed(via, self.identity)

    async def _matching(self, tenant: str, filters: Sequence[RegistrationFilter]) -> list[dict[str, Any]]:
        moment = now()
        return [
            document
            for document in await self._forwarding(tenant)
            if any(selection.matches(document, moment) for selection in filters)
        ]

    # -- retrieve --------------------------------------------------------------------------------

    async def retrieve(
        self, tenant: str, ctx: Context, entity_id: str, *, local_only: bool, via: str | None
    ) -> tuple[Entity, Forwarded]:
        """GET /entities/{id}: this broker's entity merged with what matching sources hold of it."""
        check_entity_id(entity_id)
        local = await self._local.entity(tenant, entity_id)
        outcome = Forwarded()
        parts = [Part(local)] if local is not None else []
        if self._forwards(local_only, via):
            wanted = RegistrationFilter(ids=(entity_id,), operations=frozenset({"retrieveEntity"}))
            sources = await self._matching(tenant, [wanted])
            path = f"/ngsi-ld/v1/entities/{quote(entity_id, safe=':')}"
            answers = await asyncio.gather(
                *(self._ask(tenant, source, path, {}, ctx, via, outcome) for source in sources)
            )
            for source, answer in zip(sources, answers, strict=True):
                for entity in answer:
                    if entity["id"] == entity_id:
                        parts.append(_part(source, entity))
        if not parts:
            failed = "; ".join(failure.warning() for failure in outcome.failures)
            unasked = f" (context sources that could not be asked: {failed})" if failed else ""
            raise ResourceNotFound(f"Entity {entity_id} does not exist{unasked}")
        return merge_entities(parts), outcome

    # -- query -----------------------------------------------------------------------------------

    async def query(
        self,
        tenant: str,
        ctx: Context,
        query: EntityQuery,
        params: Mapping[str, str],
        *,
        local_only: bool,
        via: str | None,
        body: dict[str, Any] | None = None,
    ) -> tuple[QueryResult, Forwarded]:
        """GET /entities (or, with the Query `body`, POST /entityOperations/query): this broker's
        entities and those of matching sources, merged by id (local ones first, in their order, then
        each source's new ones), paged over the merged list. `params` (or `body`) are the request's
        selection, sent on to the sources as they came."""
        outcome = Forwarded()
        if not self._forwards(local_only, via):
            return await self._local.query(tenant, query), outcome
        operation = frozenset({"queryBatch" if body is not None else "queryEntity"})
        path = "/ngsi-ld/v1/entityOperations/query" if body is not None else "/ngsi-ld/v1/entities"
        filters = [
            RegistrationFilter(
                ids=selector.ids,
                id_pattern=selector.id_pattern,
                types=selector.types,
                attrs=frozenset(query.attrs),
                operations=operation,
            )
            for selector in query.selectors
        ] or [RegistrationFilter(attrs=frozenset(query.attrs), operations=operation)]
        sources = await self._matching(tenant, filters)
        if not sources:
            return await self._local.query(tenant, query), outcome
        window = query.offset + query.limit
        local = await self._local.query(tenant, dataclasses.replace(query, offset=0, limit=window))
        limit = min(window, self._max_limit)
        asked = {**params, "limit": str(limit), "count": "true" if query.count else "false"}
        answers = await asyncio.gather(
            *(self._ask(tenant, source, path, asked, ctx, via, outcome, body) for source in sources)
        )
        parts: dict[str, list[Part]] = {entity["id"]: [Part(entity)] for entity in local.entities}
        for source, answer in zip(sources, answers, strict=True):
            for entity in answer:
                parts.setdefault(entity["id"], []).append(_part(source, entity))
        merged = [merge_entities(found) for found in parts.values()]
        count = None
        if query.count:
            # This broker's count, and the entities only sources hold among those fetched.
            count = (local.count or 0) + len(parts) - len(local.entities)
        return QueryResult(merged[query.offset : window], count), outcome

    # -- discovery -------------------------------------------------------------------------------

    async def entity_types(
        self, tenant: str, ctx: Context, *, local_only: bool, via: str | None
    ) -> tuple[list[TypeInfo], Forwarded]:
        """GET /types: this broker's entity types and those of the sources that support
        retrieveEntityTypes, united (attribute names too; a source's counts are not known)."""
        local = await self._local.types(tenant)
        outcome = Forwarded()
        sources = await self._discovery_sources(tenant, "retrieveEntityTypes", local_only, via)
        if not sources:
            return local, outcome

        async def read(answer: Any) -> list[TypeInfo]:
            return [
                TypeInfo(item["id"], 0, {ctx.expand(name): set() for name in item.get("attributeNames", ())})
                for item in answer
            ]

        merged = {info.type: TypeInfo(info.type, info.count, dict(info.attributes)) for info in local}
        for answer in await asyncio.gather(
            *(self._fetch(tenant, s, "/ngsi-ld/v1/types", DETAILS, ctx, via, outcome, read) for s in sources)
        ):
            for info in answer or ():
                held = merged.setdefault(info.type, TypeInfo(info.type, 0, {}))
                for name in info.attributes:
                    held.attributes.setdefault(name, set())
        return list(merged.values()), outcome

    async def attributes(
        self, tenant: str, ctx: Context, *, local_only: bool, via: str | None
    ) -> tuple[list[AttributeInfo], Forwarded]:
        """GET /attributes: this broker's attributes and those of the sources that support
        retrieveAttrTypes, united (with the entity types that have them)."""
        local = await self._local.attributes(tenant)
        outcome = Forwarded()
        sources = await self._discovery_sources(tenant, "retrieveAttrTypes", local_only, via)
        if not sources:
            return local, outcome

        async def read(answer: Any) -> list[AttributeInfo]:
            return [
                AttributeInfo(item["id"], 0, {ctx.expand(name) for name in item.get("typeNames", ())})
                for item in answer
            ]

        merged = {
            info.name: AttributeInfo(info.name, info.count, set(info.types), set(info.attribute_types))
            for info in local
        }
        for answer in await asyncio.gather(
            *(
                self._fetch(tenant, s, "/ngsi-ld/v1/attributes", DETAILS, ctx, via, outcome, read)
                for s in sources
            )
        ):
            for info in answer or ():
                merged.setdefault(info.name, AttributeInfo(info.name, 0)).types.update(info.types)
        return list(merged.values()), outcome

    async def _discovery_sources(
        self, tenant: str, operation: str, local_only: bool, via: str | None
    ) -> list[dict[str, Any]]:
        if not self._forwards(local_only, via):
            return []
        return await self._matching(tenant, [RegistrationFilter(operations=frozenset({operation}))])

    # -- one source ------------------------------------------------------------------------------

    async def _ask(
        self,
        tenant: str,
        registration: dict[str, Any],
        path: str,
        params: Mapping[str, str],
        ctx: Context,
        via: str | None,
        outcome: Forwarded,
        body: dict[str, Any] | None = None,
    ) -> list[Entity]:
        """The entities a source answers with ([] when it fails, the failure noted in `outcome`)."""

        async def entities(answer: Any) -> list[Entity]:
            items = answer if isinstance(answer, list) else [answer]
            return [await self._entity(item, ctx) for item in items]

        asked = {**params, "options": "sysAttrs"}
        found = await self._fetch(tenant, registration, path, asked, ctx, via, outcome, entities, body)
        return found or []

    async def _fetch(
        self,
        tenant: str,
        registration: dict[str, Any],
        path: str,
        params: Mapping[str, str],
        ctx: Context,
        via: str | None,
        outcome: Forwarded,
        read: Callable[[Any], Awaitable[T]],
        body: dict[str, Any] | None = None,
    ) -> T | None:
        """Ask a source, and `read` its JSON answer; None when the source fails (noted in `outcome`,
        counted in the registration's status) or holds no such entity (a 404 of a retrieve)."""
        endpoint = str(registration["endpoint"]).rstrip("/")
        management = registration.get("management", {})
        source = self._sources.get(endpoint)
        if source is None:
            source = self._sources[endpoint] = _Source(asyncio.Semaphore(self._concurrency))
        failure: str | None = None
        if time.monotonic() < source.cool_until:
            outcome.failures.append(
                SourceFailure(registration["id"], endpoint, "cooling down after a failure")
            )
            return None
        headers = {"Accept": "application/ld+json", "Via": via_with(via, self.identity)}
        if not ctx.is_core:
            headers["Link"] = f'<{ctx.link_url}>; rel="{JSON_LD_CONTEXT_REL}"; type="application/ld+json"'
        if "tenant" in registration:
            headers["NGSILD-Tenant"] = registration["tenant"]
        for pair in registration.get("contextSourceInfo", ()):
            headers[pair["key"]] = pair["value"]
        query = dict(params)
        if management.get("localOnly"):
            query["local"] = "true"
        asked = management.get("timeout")
        timeout = min(self._timeout, asked / 1000) if asked else self._timeout
        if self._http is None:
            self._http = httpx.AsyncClient()
        result: T | None = None
        try:
            async with source.semaphore:
                if body is None:
                    response = await self._http.get(
                        endpoint + path, params=query, headers=headers, timeout=timeout
                    )
                else:
                    # The Query goes as JSON-LD with the requester's @context in it.
                    headers.pop("Link", None)
                    headers["Content-Type"] = "application/ld+json"
                    document = {
                        **body,
                        "@context": ctx.source if ctx.source is not None else CORE_CONTEXT_URL,
                    }
                    response = await self._http.post(
                        endpoint + path,
                        params=query,
                        content=orjson.dumps(document),
                        headers=headers,
                        timeout=timeout,
                    )
            if response.status_code == 404 and path.startswith("/ngsi-ld/v1/entities/"):
                return None  # The source holds no such entity: no failure.
            if response.status_code != 200:
                raise _Failed(f"HTTP {response.status_code}")
            result = await read(orjson.loads(response.content))
        except (
            httpx.HTTPError,
            orjson.JSONDecodeError,
            NgsiLdError,
            _Failed,
            TypeError,
            KeyError,
            AttributeError,
        ) as error:
            failure = str(error) or type(error).__name__
        stamp = format_datetime(now())
        if failure is not None:
            log.info("Context source %s failed: %s", endpoint, failure)
            cooldown = management.get("cooldown")
            if cooldown:
                source.cool_until = time.monotonic() + cooldown / 1000
            outcome.failures.append(SourceFailure(registration["id"], endpoint, failure))
            result = None
        try:
            await self._store.record_registration_use(tenant, registration["id"], stamp, failure is None)
        except Exception:
            log.exception("Counting a use of registration %s failed", registration["id"])
        return result

    async def _entity(self, item: Any, ctx: Context) -> Entity:
        """A source's entity in the internal form, with the modifiedAt of its instances kept."""
        if not isinstance(item, dict):
            raise _Failed("the source answered something other than entities")
        own = await resolve(self._contexts, item["@context"]) if "@context" in item else ctx
        raw = {k: v for k, v in item.items() if k != "@context"}
        entity = parse_entity(raw, own)
        for name, value in raw.items():
            iri = own.expand(name) if name not in ("id", "type", "scope") else None
            if iri is None or iri not in entity:
                continue
            stamps = {
                instance.get("datasetId"): instance.get("modifiedAt")
                for instance in (value if isinstance(value, list) else [value])
                if isinstance(instance, dict)
            }
            for instance in entity[iri]:
                stamp = stamps.get(instance.get("datasetId"))
                if isinstance(stamp, str):
                    instance["modifiedAt"] = stamp
        for member in ("createdAt", "modifiedAt"):
            if isinstance(raw.get(member), str):
                entity[member] = raw[member]
        return entity
