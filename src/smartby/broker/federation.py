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
from smartby.broker.outbound import UNREACHABLE, OutboundPolicy, async_client
from smartby.broker.registrations import Registrations
from smartby.ngsild.context import CORE_CONTEXT_URL, Context, ContextResolver
from smartby.ngsild.distributed import Part, merge_entities, passed, via_with
from smartby.ngsild.entity import ENTITY_MEMBERS, Entity, Instance, check_entity_id, parse_entity
from smartby.ngsild.errors import NgsiLdError, ResourceNotFound
from smartby.ngsild.reads import AttributeInfo, EntityQuery, QueryResult, TemporalEntity, TypeInfo
from smartby.ngsild.registration import RegistrationFilter, exclusive_attributes
from smartby.ngsild.timestamps import format_datetime, now
from smartby.settings import Settings

log = logging.getLogger("smartby.federation")
FORWARD_MODES = frozenset({"inclusive", "auxiliary", "exclusive", "redirect"})
CACHE_SECONDS = 1.0
DETAILS = {"details": "true"}
TEMPORAL_SYSTEM = frozenset({"instanceId", "createdAt", "modifiedAt", "deletedAt"})
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
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    """Per registration id, the NGSILD-Results-Count its source answered with."""


@dataclass(frozen=True)
class _Asked:
    """Who asks, in which @context, and whether the request may be forwarded."""

    tenant: str
    ctx: Context
    local_only: bool
    via: str | None


@dataclass
class _Source:
    semaphore: asyncio.Semaphore
    cool_until: float = 0.0


class _Failed(Exception):
    pass


class SourceUnavailable(Exception):
    """A context source that could not be asked: unreachable, timed out, or cooling down."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(reason)
        self.endpoint = endpoint


def _part(registration: dict[str, Any], entity: Entity) -> Part:
    """A source's entity as its registration's mode lets it count in a merged answer."""
    mode = registration.get("mode", "inclusive")
    if mode == "exclusive":
        return Part(entity, exclusive=exclusive_attributes(registration, entity["id"]))
    return Part(entity, auxiliary=mode == "auxiliary")


def identity_of(settings: Settings) -> str:
    """The name this deployment gives itself in Via headers: SMARTBY_FEDERATION_ALIAS, else one the
    same for every process on one host and database (so a request that comes back to another
    worker is still recognised), different for another city's broker."""
    if settings.federation_alias:
        return settings.federation_alias
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
        self._outbound = OutboundPolicy.from_settings(settings)
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

    async def forwarding(self, tenant: str) -> list[dict[str, Any]]:
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
        return bool(await self.forwarding(tenant))

    def forwards(self, local_only: bool, via: str | None) -> bool:
        """Whether a request may be forwarded: not local=true, and not come round through Via."""
        return not local_only and not passed(via, self.identity)

    async def unvisited(self, tenant: str, via: str | None) -> list[dict[str, Any]]:
        """The tenant's registrations, less those whose `contextSourceAlias` the Via header names:
        a source the request has passed already is not asked again (clause 6.3.18)."""
        found = await self.forwarding(tenant)
        if not via:
            return found
        return [
            document
            for document in found
            if "contextSourceAlias" not in document or not passed(via, document["contextSourceAlias"])
        ]

    async def _matching(
        self, tenant: str, filters: Sequence[RegistrationFilter], via: str | None
    ) -> list[dict[str, Any]]:
        moment = now()
        return [
            document
            for document in await self.unvisited(tenant, via)
            if any(selection.matches(document, moment) for selection in filters)
        ]

    # -- retrieve --------------------------------------------------------------------------------

    async def retrieve(
        self, tenant: str, ctx: Context, entity_id: str, *, local_only: bool, via: str | None
    ) -> tuple[Entity, Forwarded]:
        """GET /entities/{id}: this broker's entity merged with what matching sources hold of it."""
        check_entity_id(entity_id)
        outcome = Forwarded()
        sources: list[dict[str, Any]] = []
        if self.forwards(local_only, via):
            wanted = RegistrationFilter(ids=(entity_id,), operations=frozenset({"retrieveEntity"}))
            sources = await self._matching(tenant, [wanted], via)
        path = f"/ngsi-ld/v1/entities/{quote(entity_id, safe=':')}"

        async def ask_sources() -> list[list[Entity]]:
            return await asyncio.gather(
                *(self._ask(tenant, source, path, {}, ctx, via, outcome) for source in sources)
            )

        local, answers = await asyncio.gather(self._local.entity(tenant, entity_id), ask_sources())
        parts = [Part(local)] if local is not None else []
        for source, answer in zip(sources, answers, strict=True):
            parts.extend(_part(source, entity) for entity in answer if entity["id"] == entity_id)
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
        if not self.forwards(local_only, via):
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
        sources = await self._matching(tenant, filters, via)
        if not sources:
            return await self._local.query(tenant, query), outcome
        window = query.offset + query.limit
        limit = min(window, self._max_limit)
        asked = {**params, "limit": str(limit), "count": "true" if query.count else "false"}

        async def ask_sources() -> list[list[Entity]]:
            return await asyncio.gather(
                *(self._ask(tenant, source, path, asked, ctx, via, outcome, body) for source in sources)
            )

        # This broker's part is read while the sources are asked.
        local, answers = await asyncio.gather(
            self._local.query(tenant, dataclasses.replace(query, offset=0, limit=window)), ask_sources()
        )
        parts: dict[str, list[Part]] = {entity["id"]: [Part(entity)] for entity in local.entities}
        count = local.count or 0
        for source, answer in zip(sources, answers, strict=True):
            known = outcome.counts.get(source["id"])
            new = 0
            for entity in answer:
                new += entity["id"] not in parts
                parts.setdefault(entity["id"], []).append(_part(source, entity))
            # A source's own count, less the entities fetched from it that were held already (an
            # overlap beyond the fetched window is not seen); without one, the new entities fetched.
            count += new if known is None else known - (len(answer) - new)
        merged = [merge_entities(found) for found in parts.values()]
        return QueryResult(merged[query.offset : window], count if query.count else None), outcome

    # -- temporal --------------------------------------------------------------------------------

    async def temporal(
        self,
        tenant: str,
        ctx: Context,
        params: Mapping[str, str],
        filters: Sequence[RegistrationFilter],
        *,
        entity_id: str | None,
        local_only: bool,
        via: str | None,
        body: dict[str, Any] | None = None,
    ) -> tuple[list[TemporalEntity], Forwarded]:
        """GET /temporal/entities[/{id}] (clauses 5.7.3, 5.7.4 with 4.3.6): the temporal entities
        the matching sources supporting retrieveTemporal (a retrieve) or queryTemporal (a query)
        answer with, in the normalized temporal representation; this broker's own are merged in by
        the caller (`merge_temporal`). With a temporal Query `body`, POST
        /temporal/entityOperations/query is forwarded instead."""
        outcome = Forwarded()
        if not self.forwards(local_only, via):
            return [], outcome
        operation = "retrieveTemporal" if entity_id is not None else "queryTemporal"
        wanted = [dataclasses.replace(selection, operations=frozenset({operation})) for selection in filters]
        sources = await self._matching(tenant, wanted, via)
        if not sources:
            return [], outcome
        path = "/ngsi-ld/v1/temporal/entities"
        if entity_id is not None:
            path += f"/{quote(entity_id, safe=':')}"
        if body is not None:
            path = "/ngsi-ld/v1/temporal/entityOperations/query"
        asked = {name: value for name, value in params.items() if name not in ("local", "options", "format")}

        async def read(answer: Any) -> list[TemporalEntity]:
            items = answer if isinstance(answer, list) else [answer]
            return [await self._temporal_entity(item, ctx) for item in items]

        found: list[TemporalEntity] = []
        for answer in await asyncio.gather(
            *(self._fetch(tenant, source, path, asked, ctx, via, outcome, read, body) for source in sources)
        ):
            found.extend(answer or ())
        return found, outcome

    async def _temporal_entity(self, item: Any, ctx: Context) -> TemporalEntity:
        """A source's temporal entity (normalized: each attribute an array of instances)."""
        if not isinstance(item, dict):
            raise _Failed("the source answered something other than temporal entities")
        own = await resolve(self._contexts, item["@context"]) if "@context" in item else ctx
        head = {k: v for k, v in item.items() if k in ("id", "type", "scope")}
        entity = parse_entity(head, own)
        attributes: dict[str, list[Instance]] = {}
        for name, value in item.items():
            if name in ("id", "type", "scope", "@context", "createdAt", "modifiedAt", "deletedAt"):
                continue
            for instance in value if isinstance(value, list) else [value]:
                if not isinstance(instance, dict):
                    raise _Failed(f"attribute {name} is not an array of instances")
                shown = {k: v for k, v in instance.items() if k not in TEMPORAL_SYSTEM}
                parsed = parse_entity({**head, name: shown}, own)
                for iri, instances in parsed.items():
                    if iri in ENTITY_MEMBERS:
                        continue
                    for kept in instances:
                        if isinstance(instance.get("instanceId"), str):
                            kept["instanceId"] = instance["instanceId"]
                        attributes.setdefault(iri, []).append(kept)
        return TemporalEntity(entity["id"], list(entity["type"]), entity.get("scope"), attributes)

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

    async def type_info(
        self, tenant: str, ctx: Context, name: str, *, local_only: bool, via: str | None
    ) -> tuple[TypeInfo | None, Forwarded]:
        """GET /types/{type} (clause 5.7.7 with 4.3.6): this broker's EntityTypeInfo and those of
        the sources supporting retrieveEntityTypeInfo, united: entity counts added (an entity
        several hold is counted by each), attributes and their attribute types united."""
        wanted = ctx.expand(name)
        local = next((info for info in await self._local.types(tenant) if info.type == wanted), None)

        async def read(answer: Any) -> TypeInfo:
            return TypeInfo(
                wanted,
                int(answer.get("entityCount", 0)),
                {
                    ctx.expand(item["attributeName"]): set(item.get("attributeTypes", ()))
                    for item in answer.get("attributeDetails", ())
                },
            )

        def unite(held: TypeInfo, found: TypeInfo) -> TypeInfo:
            attributes = {key: set(kinds) for key, kinds in held.attributes.items()}
            for key, kinds in found.attributes.items():
                attributes.setdefault(key, set()).update(kinds)
            return TypeInfo(wanted, held.count + found.count, attributes)

        asked = _Asked(tenant, ctx, local_only, via)
        path = f"/ngsi-ld/v1/types/{quote(name, safe=':')}"
        return await self._united(asked, local, "retrieveEntityTypeInfo", path, read, unite)

    async def attribute_info(
        self, tenant: str, ctx: Context, name: str, *, local_only: bool, via: str | None
    ) -> tuple[AttributeInfo | None, Forwarded]:
        """GET /attributes/{attr} (clause 5.7.10 with 4.3.6): this broker's Attribute and those of
        the sources supporting retrieveAttrTypeInfo, united: counts added, attribute types and
        entity types united."""
        wanted = ctx.expand(name)
        local = next((info for info in await self._local.attributes(tenant) if info.name == wanted), None)

        async def read(answer: Any) -> AttributeInfo:
            return AttributeInfo(
                wanted,
                int(answer.get("attributeCount", 0)),
                {ctx.expand(kind) for kind in answer.get("typeNames", ())},
                set(answer.get("attributeTypes", ())),
            )

        def unite(held: AttributeInfo, found: AttributeInfo) -> AttributeInfo:
            return AttributeInfo(
                wanted,
                held.count + found.count,
                held.types | found.types,
                held.attribute_types | found.attribute_types,
            )

        asked = _Asked(tenant, ctx, local_only, via)
        path = f"/ngsi-ld/v1/attributes/{quote(name, safe=':')}"
        return await self._united(asked, local, "retrieveAttrTypeInfo", path, read, unite)

    async def _united(
        self,
        asked: _Asked,
        local: T | None,
        operation: str,
        path: str,
        read: Callable[[Any], Awaitable[T]],
        unite: Callable[[T, T], T],
    ) -> tuple[T | None, Forwarded]:
        """This broker's description of one type or attribute united with the sources' (a source
        without it answers 404, which is no failure)."""
        outcome = Forwarded()
        tenant, ctx, via = asked.tenant, asked.ctx, asked.via
        sources = await self._discovery_sources(tenant, operation, asked.local_only, via)
        merged = local
        for found in await asyncio.gather(
            *(self._fetch(tenant, s, path, {}, ctx, via, outcome, read, missing=True) for s in sources)
        ):
            if found is not None:
                merged = found if merged is None else unite(merged, found)
        return merged, outcome

    async def _discovery_sources(
        self, tenant: str, operation: str, local_only: bool, via: str | None
    ) -> list[dict[str, Any]]:
        if not self.forwards(local_only, via):
            return []
        return await self._matching(tenant, [RegistrationFilter(operations=frozenset({operation}))], via)

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
        *,
        missing: bool = False,
    ) -> T | None:
        """Ask a source, and `read` its JSON answer; None when the source fails (noted in `outcome`,
        counted in the registration's status) or holds no such entity (a 404 of a retrieve)."""
        document = None
        if body is not None:
            document = {**body, "@context": ctx.source if ctx.source is not None else CORE_CONTEXT_URL}
        method = "GET" if body is None else "POST"
        try:
            response = await self.send(tenant, registration, method, path, params, ctx, via, document)
        except SourceUnavailable as error:
            outcome.failures.append(SourceFailure(registration["id"], error.endpoint, str(error)))
            return None
        if response.status_code == 404 and (missing or path.startswith("/ngsi-ld/v1/entities/")):
            await self.count(tenant, registration, True)
            return None  # The source holds no such entity (type, attribute): no failure.
        failure: str | None = None
        result: T | None = None
        try:
            if response.status_code != 200:
                raise _Failed(f"HTTP {response.status_code}")
            result = await read(orjson.loads(response.content))
            counted = response.headers.get("NGSILD-Results-Count", "")
            if counted.isdigit():
                outcome.counts[registration["id"]] = int(counted)
        except (orjson.JSONDecodeError, NgsiLdError, _Failed, TypeError, KeyError, AttributeError) as error:
            failure = str(error) or type(error).__name__
        if failure is not None:
            endpoint = str(registration["endpoint"]).rstrip("/")
            self._failed(registration, endpoint, failure)
            outcome.failures.append(SourceFailure(registration["id"], endpoint, failure))
        await self.count(tenant, registration, failure is None)
        return result

    async def send(
        self,
        tenant: str,
        registration: Mapping[str, Any],
        method: str,
        path: str,
        params: Mapping[str, str],
        ctx: Context | None,
        via: str | None,
        document: Any = None,
        *,
        json_ld: bool = True,
    ) -> httpx.Response:
        """One request to a source, as its registration says to ask it (tenant, contextSourceInfo,
        localOnly, timeout), with a Via header naming this broker. `document` goes as JSON-LD (it
        carries its @context); without one the @context goes in a Link header. A source that
        cannot be reached, or is cooling down after a failure, raises SourceUnavailable (and the
        attempt is counted); any answer is returned, and the caller counts it."""
        endpoint = str(registration["endpoint"]).rstrip("/")
        management = registration.get("management", {})
        source = self._sources.get(endpoint)
        if source is None:
            source = self._sources[endpoint] = _Source(asyncio.Semaphore(self._concurrency))
        if time.monotonic() < source.cool_until:
            raise SourceUnavailable(endpoint, "cooling down after a failure")
        headers = {"Accept": "application/ld+json", "Via": via_with(via, self.identity)}
        if document is not None:
            headers["Content-Type"] = "application/ld+json" if json_ld else "application/json"
        elif ctx is not None and not ctx.is_core:
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
            self._http = async_client(self._outbound)
        try:
            async with source.semaphore:
                return await self._http.request(
                    method,
                    endpoint + path,
                    params=query,
                    content=None if document is None else orjson.dumps(document),
                    headers=headers,
                    timeout=timeout,
                )
        except httpx.HTTPError as error:
            # A failed connection reads alike whatever the port (docs/outbound.md).
            reason = UNREACHABLE if isinstance(error, httpx.TransportError) else type(error).__name__
            self._failed(registration, endpoint, reason)
            await self.count(tenant, registration, False)
            raise SourceUnavailable(endpoint, reason) from None

    def _failed(self, registration: Mapping[str, Any], endpoint: str, reason: str) -> None:
        log.info("Context source %s failed: %s", endpoint, reason)
        cooldown = registration.get("management", {}).get("cooldown")
        if cooldown:
            self._sources[endpoint].cool_until = time.monotonic() + cooldown / 1000

    async def count(self, tenant: str, registration: Mapping[str, Any], success: bool) -> None:
        try:
            await self._store.record_registration_use(
                tenant, registration["id"], format_datetime(now()), success
            )
        except Exception:
            log.exception("Counting a use of registration %s failed", registration["id"])

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
