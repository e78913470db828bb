"""The broker: the one way to read and change context. Framework-free; the HTTP API, device
ingestion, city services and the simulator all call it."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal, Protocol, TypeVar

import orjson

from smartby.broker import changes
from smartby.broker.audit import AuditedHistory, AuditLog, AuditStore, change_record
from smartby.broker.batch_result import BatchResult
from smartby.broker.channels import Channels
from smartby.broker.context_registry import ContextRegistry
from smartby.broker.contexts import CONTEXT_TENANT, ContextLoader, ContextStore, resolve
from smartby.broker.csource_subscriptions import CSourceSubscriptions, CSourceSubscriptionStore
from smartby.broker.federation import Federation, LocalReads, SourceUseStore
from smartby.broker.feed import ChangeFeed, FeedStore
from smartby.broker.forwarded_writes import ForwardedWrites
from smartby.broker.history import History, HistoryStore
from smartby.broker.notifier import Notifier, OutboxStore
from smartby.broker.outbound import OutboundPolicy
from smartby.broker.queries import relationship_targets
from smartby.broker.readings import EntityReadings, write_readings
from smartby.broker.registrations import Registrations, RegistrationStore
from smartby.broker.subscriptions import Subscriptions, SubscriptionStore
from smartby.broker.transaction import Transaction
from smartby.ngsild.context import Context, ContextResolver
from smartby.ngsild.entity import (
    Entity,
    Instance,
    check_entity_id,
    holds_null,
    parse_attribute,
    parse_attributes,
    parse_entity,
    parse_instance,
    parse_scopes,
    parse_types,
)
from smartby.ngsild.errors import (
    AlreadyExists,
    BadRequestData,
    NgsiLdError,
    NonexistentTenant,
    ResourceNotFound,
)
from smartby.ngsild.reads import (
    AttributeInfo,
    EntityQuery,
    EntitySelector,
    QueryResult,
    TypeInfo,
)
from smartby.ngsild.timestamps import format_datetime, micros_of, now
from smartby.ngsild.typequery import TypeExpr
from smartby.records import audit
from smartby.settings import Settings

T = TypeVar("T")
log = logging.getLogger("smartby.broker")
DEFAULT_TENANT = ""
SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"
PURGE_CHUNK = 500
"""Entities one transaction of Purge Entities deletes or changes."""
PARSE_SLICE = 200
"""Entities of a batch parsed between two chances for other requests to run."""
UpsertMode = Literal["replace", "update"]
BatchContext = Context | Sequence[Context | NgsiLdError]
"""One @context for a whole batch, or one per entity (JSON-LD bodies; a failed one is that entity's error)."""


def _timestamp() -> str:
    return format_datetime(now())


class EntityStore(HistoryStore, Protocol):
    """What the broker needs of a store for entities and their history. Reads are coroutines. Every
    change runs as a function inside one transaction (`transact`), so a read-modify-write (PATCH,
    merge, batch upsert) is atomic even with several smartby processes on one database, and a
    failed change writes nothing."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def transact(self, tenant: str, change: Callable[[Transaction], T], ids: Sequence[str] = ()) -> T:
        """Run `change` in one transaction on `tenant` (created on first write) and commit it.
        `ids`, when given, are the entities the change touches, and promise that it may be run
        again (it keeps nothing outside the transaction): the store may then run it in a
        transaction it shares with other changes, and again alone if that one fails.

        If `change` raises, nothing it did is kept and the exception reaches the caller.
        """
        ...

    async def tenant_exists(self, tenant: str) -> bool: ...

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None: ...

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult: ...

    async def prune_history(self, tenant: str, entity_type: str, before: int) -> int:
        """Delete the history of entities of a type older than `before`; how many instances went."""
        ...

    async def tenants(self) -> list[str]: ...

    async def ping(self) -> None:
        """Run a trivial query: raises when the database cannot answer."""
        ...

    async def entity_types(self, tenant: str) -> list[TypeInfo]: ...

    async def attributes(self, tenant: str) -> list[AttributeInfo]: ...


class BrokerStore(
    EntityStore,
    ContextStore,
    SubscriptionStore,
    OutboxStore,
    RegistrationStore,
    CSourceSubscriptionStore,
    SourceUseStore,
    FeedStore,
    AuditStore,
    Protocol,
):
    """The one store the broker keeps everything in; each of its parts declares its share."""


class Broker:
    """NGSI-LD semantics over a store."""

    def __init__(self, store: BrokerStore, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store
        self.loader = ContextLoader(
            store,
            context_dir=self.settings.context_dir,
            remote=self.settings.remote_contexts,
            timeout=self.settings.context_timeout,
            max_bytes=self.settings.context_max_bytes,
            outbound=OutboundPolicy.from_settings(self.settings),
        )
        self.contexts = ContextResolver(self.loader, scope=CONTEXT_TENANT.get)
        self.jsonld_contexts = ContextRegistry(
            store, self.loader, self.contexts, self.settings.context_sync_interval
        )
        self.audit = AuditLog(store, self.settings)
        self.history = History(
            AuditedHistory(store, self.audit), self.change, self.existing_tenant, self.settings
        )
        self.subscriptions = Subscriptions(store, self.contexts, self.loader.outbound)
        self.notifier = Notifier(store, self.subscriptions, self.linked_entities, self.settings)
        self.channels = Channels(self.subscriptions, self.notifier.channels)
        self.registrations = Registrations(store, self.loader.outbound)
        self.csource_subscriptions = CSourceSubscriptions(store, self.contexts, self.settings)
        self.registrations.notifications = self.csource_subscriptions.notifications_for
        self.registrations.listeners.append(self.csource_subscriptions.registration_changed)
        local = LocalReads(self._entity_or_none, self.query_entities, self.entity_types, self.attributes)
        self.federation = Federation(self.registrations, store, self.contexts, local, self.settings)
        self.federation_writes = ForwardedWrites(self.federation, self._entity_types)
        self.feed = ChangeFeed(store)
        self._retention: asyncio.Task[None] | None = None
        self._notifying = False

    async def open(self) -> None:
        self.loader.bind(asyncio.get_running_loop())
        await self.store.open()
        self.audit.start()
        await self.subscriptions.load()
        self.jsonld_contexts.start()
        if self.settings.notifications:
            self.notifier.start()
            self.csource_subscriptions.start()
            self._notifying = True
        if self.settings.history_retention or self.settings.audit_retention_days:
            self._retention = asyncio.create_task(self._keep_retention(), name="smartby-retention")

    async def close(self) -> None:
        if self._notifying:
            await self.notifier.stop()
            self._notifying = False
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None
        await self.notifier.channels.close()
        await self.audit.stop()
        await self.csource_subscriptions.close()
        await self.federation.close()
        try:
            await self.jsonld_contexts.stop()
        except Exception:
            log.exception("Writing @context use counts failed at shutdown")
        await self.store.close()

    async def enforce_retention(self) -> int:
        """Delete raw history older than SMARTBY_HISTORY_RETENTION allows; how many instances went."""
        removed = 0
        moment = now()
        for tenant in await self.store.tenants():
            for entity_type, days in self.settings.history_retention.items():
                cutoff = micros_of(moment - timedelta(days=days))
                removed += await self.store.prune_history(tenant, entity_type, cutoff)
        return removed

    async def _keep_retention(self) -> None:
        while True:
            try:
                removed = await self.enforce_retention()
                if removed:
                    log.info("Retention removed %d history instances", removed)
                removed = await self.audit.enforce_retention()
                if removed:
                    log.info("Retention removed %d audit records", removed)
            except Exception:
                log.exception("Enforcing history retention failed; trying again later")
            await asyncio.sleep(self.settings.retention_interval)

    # -- @context ------------------------------------------------------------------------------

    async def context(self, source: Any, tenant: str | None = None) -> Context:
        """The processed @context for a request (None: the core context alone), with the stored
        contexts of `tenant` (by default the tenant of the request under way, `CONTEXT_TENANT`)."""
        context = await resolve(self.contexts, source, tenant)
        if source is not None:
            self.jsonld_contexts.usage.record(source, CONTEXT_TENANT.get() if tenant is None else tenant)
        return context

    async def batch_context(self, source: Any, per_entity: Sequence[Any] | None) -> BatchContext:
        """The @context of a batch: one for all, or each entity's own (an error stays that entity's)."""
        if per_entity is None:
            return await self.context(source)
        contexts: list[Context | NgsiLdError] = []
        seen: dict[str, Context | NgsiLdError] = {}
        for item in per_entity:
            if isinstance(item, NgsiLdError):
                contexts.append(item)
                continue
            if item is None:
                contexts.append(BadRequestData("This entity of a JSON-LD batch has no @context"))
                continue
            key = orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()
            if key not in seen:
                try:
                    seen[key] = await self.context(item)
                except NgsiLdError as error:
                    seen[key] = error
            contexts.append(seen[key])
        return contexts

    # -- tenants -------------------------------------------------------------------------------

    async def tenants(self) -> list[str]:
        """The tenants that hold context (the default one when it was written to)."""
        return await self.store.tenants()

    async def ping(self) -> None:
        """Ask the database a trivial question (readiness): raises when it cannot answer."""
        await self.store.ping()

    async def outbox_depth(self) -> int:
        """Notifications waiting in the outbox, of every process on the database."""
        return await self.store.pending_notifications()

    async def existing_tenant(self, tenant: str) -> None:
        if tenant != DEFAULT_TENANT and not await self.store.tenant_exists(tenant):
            raise NonexistentTenant(f"Tenant {tenant!r} does not exist")

    async def change(
        self,
        tenant: str,
        change: Callable[[Transaction], T],
        ids: Sequence[str] = (),
        operation: str = "context.change",
    ) -> T:
        """Run `change` in one transaction, and in the same transaction queue the notifications of
        the subscriptions its changes concern and write its audit record (the current action's
        operation, else `operation`); every write of context goes through here. `ids`: the
        entities a change that may be run again touches (`EntityStore.transact`)."""
        subscriptions = self.subscriptions
        feed = self.feed
        await subscriptions.refresh()
        notify = subscriptions.watches(tenant)
        action = audit.current()

        def audited(tx: Transaction) -> T:
            result = change(tx)
            changed = ids or [entry.entity["id"] for entry in tx.changes()]
            tx.audit(change_record(tenant, action, operation, changed, result))
            return result

        if not notify and not feed.watching:
            result = await self.store.transact(tenant, audited, ids)
            action.recorded = True
            return result
        queued = False
        fed_services: set[str] = set()

        def run(tx: Transaction) -> T:
            nonlocal queued
            result = audited(tx)
            changed = tx.changes()
            pending = subscriptions.match(tenant, changed) if notify else []
            if pending:
                tx.enqueue(pending)
                queued = True
            fed = feed.match(tenant, changed)
            fed_services.clear()  # a transaction run again feeds what its last run fed
            if fed:
                tx.feed(fed)
                fed_services.update(change.service for change in fed)
            return result

        result = await self.store.transact(tenant, run, ids)
        action.recorded = True
        if queued:
            self.notifier.wake()
        if fed_services:
            feed.fed(fed_services)
        return result

    # -- entities ------------------------------------------------------------------------------

    async def create_entity(self, tenant: str, ctx: Context, body: Any, *, key_values: bool = False) -> str:
        entity = parse_entity(body, ctx, key_values=key_values)
        stamp = _timestamp()

        def run(tx: Transaction) -> str:
            if tx.get(entity["id"]) is not None:
                raise AlreadyExists(f"Entity {entity['id']} already exists")
            tx.insert(changes.new_entity(entity, stamp))
            return str(entity["id"])

        return await self.change(tenant, run, (entity["id"],), "entity.create")

    async def retrieve_entity(self, tenant: str, entity_id: str) -> Entity:
        check_entity_id(entity_id)
        entity = await self.store.get_entity(tenant, entity_id)
        if entity is None:
            await self.existing_tenant(tenant)
            raise ResourceNotFound(f"Entity {entity_id} does not exist")
        if self.audit.sensitive:
            self.audit.read_entities(tenant, "entity.read", (entity,))
        return entity

    async def _entity_types(self, tenant: str, entity_id: str) -> list[str] | None:
        entity = await self._entity_or_none(tenant, entity_id)
        return None if entity is None else list(entity["type"])

    async def _entity_or_none(self, tenant: str, entity_id: str) -> Entity | None:
        """The entity, or None if this broker has none such (NonexistentTenant still raised)."""
        try:
            return await self.retrieve_entity(tenant, entity_id)
        except ResourceNotFound:
            return None

    async def linked_entities(self, tenant: str, entities: Sequence[Entity], hops: int) -> dict[str, Entity]:
        """The entities the Relationships of `entities` point at, `hops` deep (clause 4.5.23), by id;
        `entities` themselves are included, as one of them may be another's linked entity."""
        found: dict[str, Entity] = {entity["id"]: entity for entity in entities}
        seen = set(found)
        frontier = list(entities)
        for _ in range(hops):
            wanted = sorted({t for e in frontier for t in relationship_targets(e)} - seen)
            if not wanted:
                break
            seen.update(wanted)
            query = EntityQuery(selectors=(EntitySelector(ids=tuple(wanted)),), limit=len(wanted))
            frontier = (await self.store.query_entities(tenant, query)).entities
            found.update((entity["id"], entity) for entity in frontier)
        return found

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        await self.existing_tenant(tenant)
        result = await self.store.query_entities(tenant, query)
        if self.audit.sensitive:
            self.audit.read_entities(tenant, "entity.query", result.entities)
        return result

    async def _modify(
        self,
        tenant: str,
        entity_id: str,
        change: Callable[[Entity], T],
        of_type: TypeExpr | None = None,
    ) -> T:
        """Read, change and write back one entity in one transaction; with `of_type` (the `type`
        selector of clause 4.17) an entity of other types counts as absent."""
        check_entity_id(entity_id)

        def run(tx: Transaction) -> T:
            entity = tx.get(entity_id)
            if entity is None or (of_type is not None and not of_type.matches(entity["type"])):
                raise ResourceNotFound(f"Entity {entity_id} does not exist")
            result = change(entity)
            tx.replace(entity)
            return result

        if tenant != DEFAULT_TENANT:
            await self.existing_tenant(tenant)
        return await self.change(tenant, run, (entity_id,), "entity.update")

    async def replace_entity(
        self, tenant: str, entity_id: str, ctx: Context, body: Any, *, key_values: bool = False
    ) -> None:
        if isinstance(body, dict) and "id" not in body and "@id" not in body:
            body = {**body, "id": entity_id}
        new = parse_entity(body, ctx, key_values=key_values)
        if new["id"] != entity_id:
            raise BadRequestData("The id in the body differs from the id in the URL")
        stamp = _timestamp()

        def change(entity: Entity) -> None:
            replaced = changes.replace_entity(entity, new, stamp)
            entity.clear()
            entity.update(replaced)

        await self._modify(tenant, entity_id, change)

    async def merge_entity(
        self, tenant: str, entity_id: str, ctx: Context, body: Any, *, key_values: bool = False
    ) -> None:
        if not isinstance(body, dict):
            raise BadRequestData("A merge body must be a JSON object")
        if body.get("id", entity_id) != entity_id:
            raise BadRequestData("The id in the body differs from the id in the URL")
        types = parse_types(body["type"], ctx) if "type" in body else None
        attributes = parse_attributes(body, ctx, key_values=key_values, allow_null=True, partial=True)
        scopes = body.get("scope")
        stamp = _timestamp()

        def change(entity: Entity) -> None:
            changes.merge_entity(entity, attributes, stamp, types)
            if scopes is not None:
                entity["scope"] = parse_scopes(scopes)

        await self._modify(tenant, entity_id, change)

    async def update_attributes(
        self,
        tenant: str,
        entity_id: str,
        ctx: Context,
        body: Any,
        *,
        key_values: bool = False,
        of_type: TypeExpr | None = None,
    ) -> changes.AttributeOutcome:
        attributes = parse_attributes(_attributes_object(body), ctx, key_values=key_values, allow_null=True)
        scopes = parse_scopes(body["scope"]) if "scope" in body else None
        raw_type = body.get("type", body.get("@type"))
        types = parse_types(raw_type, ctx) if raw_type is not None else None
        stamp = _timestamp()

        def change(entity: Entity) -> changes.AttributeOutcome:
            if types is not None:
                changes.add_types(entity, types, stamp)
            outcome = changes.update_attributes(entity, attributes, stamp)
            if scopes is not None:
                changes.update_scopes(entity, scopes, stamp, outcome)
            return outcome

        return await self._modify(tenant, entity_id, change, of_type)

    async def append_attributes(
        self,
        tenant: str,
        entity_id: str,
        ctx: Context,
        body: Any,
        *,
        overwrite: bool = True,
        key_values: bool = False,
        of_type: TypeExpr | None = None,
    ) -> changes.AttributeOutcome:
        attributes = parse_attributes(_attributes_object(body), ctx, key_values=key_values)
        scopes = parse_scopes(body["scope"]) if "scope" in body else None
        stamp = _timestamp()

        def change(entity: Entity) -> changes.AttributeOutcome:
            if scopes is not None:
                changes.append_scopes(entity, scopes, stamp, overwrite=overwrite)
            return changes.append_attributes(entity, attributes, stamp, overwrite=overwrite)

        return await self._modify(tenant, entity_id, change, of_type)

    async def partial_update_attribute(
        self,
        tenant: str,
        entity_id: str,
        ctx: Context,
        attr: str,
        body: Any,
        *,
        of_type: TypeExpr | None = None,
    ) -> None:
        if attr == "scope":
            raise BadRequestData("scope cannot be partially updated (clause 5.6.4.4)")
        iri = ctx.expand(attr)
        if not isinstance(body, dict) or not body:
            raise BadRequestData("An attribute fragment must be a non-empty JSON object")
        if isinstance(body.get("value"), dict | list) and holds_null(body["value"]):
            raise BadRequestData("Only a merge may place the NGSI-LD Null inside a value (clause 5.5.4)")
        fragment = parse_instance(attr, body, ctx, allow_null=True, partial=True)
        stamp = _timestamp()
        given = body.get("type") if isinstance(body.get("type"), str) else None
        await self._modify(
            tenant,
            entity_id,
            lambda entity: changes.partial_update(entity, iri, fragment, stamp, given_type=given),
            of_type,
        )

    async def replace_attribute(
        self, tenant: str, entity_id: str, ctx: Context, attr: str, body: Any
    ) -> None:
        if attr == "scope" or ctx.expand(attr) == SCOPE_IRI:
            raise BadRequestData("scope is an entity member, not an attribute to replace (clause 5.6.19)")
        iri = ctx.expand(attr)
        instances = parse_attribute(attr, body, ctx)
        if len(instances) != 1:
            raise BadRequestData("Replace one attribute instance at a time")
        stamp = _timestamp()
        await self._modify(
            tenant, entity_id, lambda entity: changes.replace_attribute(entity, iri, instances[0], stamp)
        )

    async def delete_entity(self, tenant: str, entity_id: str, *, of_type: TypeExpr | None = None) -> None:
        check_entity_id(entity_id)
        await self.existing_tenant(tenant)

        def run(tx: Transaction) -> None:
            if of_type is not None:
                entity = tx.get(entity_id)
                if entity is None or not of_type.matches(entity["type"]):
                    raise ResourceNotFound(f"Entity {entity_id} of that type does not exist")
            if not tx.delete(entity_id, _timestamp()):
                raise ResourceNotFound(f"Entity {entity_id} does not exist")

        await self.change(tenant, run, (entity_id,), "entity.delete")

    async def purge_entities(
        self,
        tenant: str,
        query: EntityQuery,
        *,
        keep: Sequence[str] | None = None,
        drop: Sequence[str] | None = None,
    ) -> int:
        """Purge Entities (clause 5.6.21 of V1.9.1): delete every entity the query selects, or with
        `drop` only the attributes named, with `keep` all attributes but those named (expanded
        names). The matches are found first, then changed `PURGE_CHUNK` entities a transaction,
        each through `change` as a single deletion or update is (history and subscriptions see
        it); an entity gone meanwhile, or changed so that the query no longer selects it, is passed
        over. How many entities were deleted or changed."""
        if keep is not None and drop is not None:
            raise BadRequestData("keep and drop cannot be used together")
        await self.existing_tenant(tenant)
        found: list[str] = []
        while True:
            page = await self.store.query_entities(
                tenant, dataclasses.replace(query, limit=PURGE_CHUNK, offset=len(found), count=False)
            )
            found.extend(entity["id"] for entity in page.entities)
            if len(page.entities) < PURGE_CHUNK:
                break
        stamp = _timestamp()
        kept = None if keep is None else frozenset(keep)
        dropped = frozenset(drop or ())

        def run(chunk: list[str], tx: Transaction) -> int:
            changed = 0
            for entity_id, current in tx.get_many(chunk).items():
                if not query.matches(current):
                    continue  # Changed since it was found: it is no longer one to purge.
                if keep is None and drop is None:
                    changed += tx.delete(entity_id)
                    continue
                entity = copy.deepcopy(current)
                if changes.purge_attributes(entity, kept, dropped, stamp):
                    tx.replace(entity)
                    changed += 1
            return changed

        purged = 0
        for start in range(0, len(found), PURGE_CHUNK):
            chunk = found[start : start + PURGE_CHUNK]
            purged += await self.change(tenant, functools.partial(run, chunk), chunk, "entity.purge")
        return purged

    async def delete_attribute(
        self,
        tenant: str,
        entity_id: str,
        ctx: Context,
        attr: str,
        *,
        dataset_id: str | None = None,
        delete_all: bool = False,
        of_type: TypeExpr | None = None,
    ) -> None:
        stamp = _timestamp()
        if attr == "scope":
            await self._modify(tenant, entity_id, lambda entity: changes.delete_scope(entity, stamp), of_type)
            return
        iri = ctx.expand(attr)
        if dataset_id is not None:
            check_entity_id(dataset_id, "datasetId")
        await self._modify(
            tenant,
            entity_id,
            lambda entity: changes.delete_attribute(entity, iri, dataset_id, delete_all, stamp),
            of_type,
        )

    # -- batch operations ----------------------------------------------------------------------

    @staticmethod
    async def _parse_batch(
        ctx: BatchContext,
        bodies: Any,
        key_values: bool,
        result: BatchResult,
        parse: Callable[[Any, Context], Entity],
    ) -> list[Entity]:
        """The batch's entities, parsed; one that cannot be is that entity's error in `result`.
        A large batch lets other requests run every `PARSE_SLICE` entities: parsing 10,000 of them
        takes about a second, which no liveness probe should wait for."""
        _check_batch(bodies)
        if not isinstance(ctx, Context) and len(ctx) != len(bodies):
            raise BadRequestData("Every entity of a JSON-LD batch needs its @context")
        parsed: list[Entity] = []
        for position, body in enumerate(bodies):
            if position and position % PARSE_SLICE == 0:
                await asyncio.sleep(0)
            try:
                own = ctx if isinstance(ctx, Context) else ctx[position]
                if isinstance(own, NgsiLdError):
                    raise own
                parsed.append(parse(body, own))
            except NgsiLdError as error:
                entity_id = body.get("id", "") if isinstance(body, dict) else ""
                result.fail(entity_id if isinstance(entity_id, str) else "", error)
        return parsed

    async def batch_create(
        self, tenant: str, ctx: BatchContext, bodies: Any, *, key_values: bool = False
    ) -> BatchResult:
        result = BatchResult()
        entities = await self._parse_batch(
            ctx, bodies, key_values, result, lambda b, c: parse_entity(b, c, key_values=key_values)
        )
        stamp = _timestamp()

        def run(tx: Transaction) -> BatchResult:
            existing = tx.get_many([e["id"] for e in entities])
            for entity in entities:
                if entity["id"] in existing:
                    result.fail(entity["id"], AlreadyExists(f"Entity {entity['id']} already exists"))
                    continue
                tx.insert(changes.new_entity(entity, stamp))
                existing[entity["id"]] = entity
                result.success.append(entity["id"])
                result.created.append(entity["id"])
            return result

        return await self.change(tenant, run, (), "batch.create") if entities else result

    async def batch_upsert(
        self,
        tenant: str,
        ctx: BatchContext,
        bodies: Any,
        *,
        mode: UpsertMode = "replace",
        key_values: bool = False,
    ) -> BatchResult:
        result = BatchResult()
        entities = await self._parse_batch(
            ctx, bodies, key_values, result, lambda b, c: parse_entity(b, c, key_values=key_values)
        )
        stamp = _timestamp()

        def run(tx: Transaction) -> BatchResult:
            existing = tx.get_many([e["id"] for e in entities])
            new: set[str] = set()
            succeeded: set[str] = set()
            final: dict[str, Entity] = {}
            for entity in entities:
                entity_id = entity["id"]
                try:
                    current = existing.get(entity_id)
                    if current is None:
                        stored = changes.new_entity(entity, stamp)
                        new.add(entity_id)
                        result.created.append(entity_id)
                    elif mode == "replace":
                        stored = changes.replace_entity(current, entity, stamp)
                    else:
                        # The transaction hands out copies the broker may change; only an entity
                        # changed earlier in this batch (its id given twice) is this batch's own.
                        stored = copy.deepcopy(current) if entity_id in final else current
                        changes.upsert_update(stored, entity, stamp)
                    existing[entity_id] = final[entity_id] = stored
                    if entity_id not in succeeded:
                        succeeded.add(entity_id)
                        result.success.append(entity_id)
                except NgsiLdError as error:
                    result.fail(entity_id, error)
                    if entity_id in existing and entity_id not in final:
                        # upsert_update may have changed the copy halfway: take a fresh one
                        existing[entity_id] = tx.get_many([entity_id])[entity_id]
            # The same id may come more than once (clause 4.6.6): each is written once, last state.
            for entity_id, stored in final.items():
                (tx.insert if entity_id in new else tx.replace)(stored)
            return result

        return await self.change(tenant, run, (), "batch.upsert") if entities else result

    async def batch_update(
        self,
        tenant: str,
        ctx: BatchContext,
        bodies: Any,
        *,
        overwrite: bool = True,
        key_values: bool = False,
    ) -> BatchResult:

        def update(current: Entity, entity: Entity, stamp: str) -> changes.AttributeOutcome:
            # The types named are added, as Update Attributes adds them (clause 5.6.2): an entity of
            # several types keeps all of them, and gains those it lacked.
            changes.add_types(current, entity["type"], stamp)
            return changes.append_attributes(current, _attributes_of(entity), stamp, overwrite=overwrite)

        return await self._batch_modify(tenant, ctx, bodies, key_values, update)

    async def batch_merge(
        self, tenant: str, ctx: BatchContext, bodies: Any, *, key_values: bool = False
    ) -> BatchResult:
        def merge(current: Entity, entity: Entity, stamp: str) -> changes.AttributeOutcome:
            changes.merge_entity(current, _attributes_of(entity), stamp, entity["type"])
            return changes.AttributeOutcome()

        return await self._batch_modify(tenant, ctx, bodies, key_values, merge, partial=True)

    async def _batch_modify(
        self,
        tenant: str,
        ctx: BatchContext,
        bodies: Any,
        key_values: bool,
        apply: Callable[[Entity, Entity, str], changes.AttributeOutcome],
        *,
        partial: bool = False,
    ) -> BatchResult:
        result = BatchResult()

        def parse(body: Any, ctx: Context) -> Entity:
            if not isinstance(body, dict):
                raise BadRequestData("Each entity must be a JSON object")
            entity_id = check_entity_id(body.get("id", body.get("@id")))
            raw_type = body.get("type", body.get("@type"))
            entity: Entity = {"id": entity_id, "type": parse_types(raw_type, ctx) if raw_type else []}
            entity.update(
                parse_attributes(body, ctx, key_values=key_values, allow_null=partial, partial=partial)
            )
            return entity

        entities = await self._parse_batch(ctx, bodies, key_values, result, parse)
        stamp = _timestamp()

        def run(tx: Transaction) -> BatchResult:
            existing = tx.get_many([e["id"] for e in entities])
            final: dict[str, Entity] = {}
            for entity in entities:
                entity_id = entity["id"]
                current = existing.get(entity_id)
                if current is None:
                    result.fail(entity_id, ResourceNotFound(f"Entity {entity_id} does not exist"))
                    continue
                changed = copy.deepcopy(current)
                try:
                    outcome = apply(changed, entity, stamp)
                except NgsiLdError as error:
                    result.fail(entity_id, error)
                    continue
                existing[entity_id] = final[entity_id] = changed
                if outcome.complete:
                    result.success.append(entity_id)
                else:
                    names = ", ".join(name for name, _ in outcome.not_updated)
                    result.fail(entity_id, BadRequestData(f"Not updated: {names}"))
            for stored in final.values():
                tx.replace(stored)
            return result

        return await self.change(tenant, run, (), "batch.update") if entities else result

    async def batch_delete(self, tenant: str, ids: Any) -> BatchResult:
        _check_batch(ids)
        if not all(isinstance(entity_id, str) for entity_id in ids):
            # not an array of entity ids (clause 5.6.10): the whole request; a string that is not
            # a URI is that entity's error
            raise BadRequestData("A batch delete needs a JSON array of entity ids (strings)")
        result = BatchResult()
        valid: list[str] = []
        for entity_id in ids:
            try:
                valid.append(check_entity_id(entity_id))
            except NgsiLdError as error:
                result.fail(entity_id if isinstance(entity_id, str) else "", error)
        await self.existing_tenant(tenant)

        def run(tx: Transaction) -> BatchResult:
            stamp = _timestamp()
            for entity_id in valid:
                if tx.delete(entity_id, stamp):
                    result.success.append(entity_id)
                else:
                    result.fail(entity_id, ResourceNotFound(f"Entity {entity_id} does not exist"))
            return result

        return await self.change(tenant, run, (), "batch.delete") if valid else result

    async def record_readings(self, tenant: str, batch: Sequence[EntityReadings]) -> None:
        """Device readings, one EntityReadings per entity, in one transaction (broker.readings)."""
        if batch:
            stamp = _timestamp()
            ids = [readings.id for readings in batch]
            with audit.acting(audit.Action(actor="ingest", tenant=tenant)):
                await self.change(tenant, lambda tx: write_readings(tx, batch, stamp), ids, "readings.record")

    # -- history ---------------------------------------------------------------------------------

    async def add_history(
        self,
        tenant: str,
        header: Entity,
        attributes: dict[str, list[Instance]],
        *,
        skip_existing: bool = False,
    ) -> int:
        """Append instances (internal form, expanded names) to an entity's history; the current
        state is not touched. With `skip_existing`, instances equal in time and value to recorded
        ones are left out (imports can run again). Returns how many were added."""
        stamp = _timestamp()
        return await self.change(
            tenant,
            lambda tx: tx.add_history(header, attributes, stamp, skip_existing=skip_existing),
            (header["id"],),
            "history.import",
        )

    # -- discovery -----------------------------------------------------------------------------

    async def entity_types(self, tenant: str) -> list[TypeInfo]:
        await self.existing_tenant(tenant)
        return await self.store.entity_types(tenant)

    async def attributes(self, tenant: str) -> list[AttributeInfo]:
        await self.existing_tenant(tenant)
        return await self.store.attributes(tenant)


def _check_batch(items: Any) -> None:
    """A batch is a non-empty JSON array without nulls (clause 5.6.7.4); else the whole request fails."""
    if not isinstance(items, list):
        raise BadRequestData("A batch operation needs a JSON array")
    if not items or any(item is None for item in items):
        raise BadRequestData("A batch operation needs a non-empty array without null items")


def _attributes_object(body: Any) -> dict[str, Any]:
    """The body of an attribute update or append: a JSON object (its entity members are skipped when
    its attributes are parsed)."""
    if not isinstance(body, dict):
        raise BadRequestData("Attributes must be given as a JSON object")
    return body


def _attributes_of(entity: Entity) -> changes.Attributes:
    return {k: v for k, v in entity.items() if k not in ("id", "type", "scope", "createdAt", "modifiedAt")}
