"""Distributed writes (clause 4.3.6 with 5.6): a create, update, merge, replace or deletion of an
entity or attribute, and the batch operations, sent to the context sources whose registrations
hold what they write, as each registration's mode and operations say (`ngsild.distributed.
plan_write`): an inclusive source takes the attributes it registers and this broker writes them
too; an exclusive or redirect source takes them instead of this broker; an auxiliary one takes no
writes. The answers are merged: what a source refused or could not be asked about is reported
(UpdateResult's notUpdated, BatchOperationResult's errors, each with the registrationId) without
failing what the others did.

A request with `local=true`, one whose Via header names this broker already, and one for a tenant
without registrations, go to this broker alone, as if there were no federation.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from smartby.broker.batch_result import BatchResult
from smartby.broker.federation import Federation, SourceUnavailable
from smartby.ngsild.context import CORE_CONTEXT_URL, Context
from smartby.ngsild.distributed import SourceError, Target, WritePlan, plan_write
from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import BadRequestData, NgsiLdError, OperationNotSupported, ResourceNotFound
from smartby.ngsild.timestamps import now

ENTITY_KEYS = frozenset({"id", "type", "scope", "@context"})
BatchContexts = Context | Sequence[Context | NgsiLdError]


@dataclass(frozen=True)
class EntityWrite:
    """One write of one entity as the request gave it."""

    operation: str
    """Its name in clause 4.20 (createEntity, updateEntity, appendAttrs, updateAttrs, deleteAttrs,
    deleteEntity, replaceEntity, replaceAttrs, mergeEntity)."""
    method: str
    path: str
    """Below a source's endpoint: /ngsi-ld/v1/entities/..."""
    entity_id: str
    body: dict[str, Any] | None = None
    """As received (names as the request gave them, no @context); None for a deletion."""
    params: Mapping[str, str] = field(default_factory=dict)
    """The query parameters sources are sent (options, type, datasetId, deleteAll)."""
    attribute: str | None = None
    """The attribute (expanded) an attribute operation writes."""
    types: Sequence[str] | None = None
    """The entity's types (expanded) when the request says them."""


@dataclass
class WriteOutcome:
    """What one distributed write did: attributes written (expanded names), those that were not
    (None for the whole entity) with why, and what this broker's own part returned."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str | None, NgsiLdError]] = field(default_factory=list)
    result: Any = None
    distributed: bool = False
    """Whether context sources took part (else `result` is this broker's answer alone)."""

    @property
    def complete(self) -> bool:
        return not self.not_updated


def _document(body: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    return {**body, "@context": ctx.source if ctx.source is not None else CORE_CONTEXT_URL}


def _problem(content: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) and "type" in data else None


def _refused(plan: WritePlan, operation: str) -> list[tuple[str | None, NgsiLdError]]:
    return [
        (
            refusal.attribute,
            SourceError(
                f"The context source of registration {refusal.registration_id} holds this attribute"
                f" and does not take {operation}",
                refusal.registration_id,
                OperationNotSupported(f"{operation} is not forwarded to this context source").problem(),
            ),
        )
        for refusal in plan.refused
    ]


class ForwardedWrites:
    """Reached as `broker.federation_writes`."""

    def __init__(
        self, federation: Federation, entity_types: Callable[[str, str], Awaitable[list[str] | None]]
    ):
        self._federation = federation
        self._entity_types = entity_types

    async def _registrations(self, tenant: str, local_only: bool, via: str | None) -> list[dict[str, Any]]:
        if not self._federation.forwards(local_only, via):
            return []
        return await self._federation.unvisited(tenant, via)

    # -- one entity ------------------------------------------------------------------------------

    async def write(
        self,
        tenant: str,
        ctx: Context,
        write: EntityWrite,
        local: Callable[[dict[str, Any] | None], Awaitable[Any]],
        *,
        local_only: bool,
        via: str | None,
    ) -> WriteOutcome:
        """Write one entity here and at the sources its write concerns. `local` is this broker's
        own operation, given the part of the body this broker is to write."""
        registrations = await self._registrations(tenant, local_only, via)
        if not registrations:
            return WriteOutcome(result=await local(write.body))
        names = self._names(ctx, write)
        types = write.types
        if types is None and write.operation != "createEntity":
            types = await self._entity_types(tenant, write.entity_id)
        plan = plan_write(registrations, write.operation, write.entity_id, types, names, now())
        if not plan.targets and not plan.withheld and plan.local:
            return WriteOutcome(result=await local(write.body))
        if not plan.local and not plan.targets and not plan.refused:
            raise OperationNotSupported(
                f"Entity {write.entity_id} is registered to context sources that do not take"
                f" {write.operation}, and is not held here"
            )
        outcome = WriteOutcome(not_updated=_refused(plan, write.operation), distributed=True)
        own = self._own_part(ctx, write, plan)
        local_error: NgsiLdError | None = None

        async def run_local() -> None:
            nonlocal local_error
            try:
                outcome.result = await local(own)
            except NgsiLdError as error:
                local_error = error

        async def run_forwards() -> list[tuple[list[str], list[tuple[str | None, NgsiLdError]]]]:
            return await asyncio.gather(
                *(self._forward(tenant, ctx, write, target, names, via) for target in plan.targets)
            )

        answers, _ = await asyncio.gather(run_forwards(), run_local() if plan.local else asyncio.sleep(0))
        succeeded = False
        missing: list[tuple[str | None, NgsiLdError]] = []
        for updated, failed in answers:
            outcome.updated.extend(name for name in updated if name not in outcome.updated)
            for item in failed:
                held = isinstance(item[1], SourceError) and item[1].missing
                (missing if held else outcome.not_updated).append(item)
            succeeded = succeeded or bool(updated) or not failed
        if plan.local:
            if local_error is None:
                succeeded = True
                for name in self._local_updated(ctx, own, write, outcome.result):
                    if name not in outcome.updated:
                        outcome.updated.append(name)
            elif not succeeded:
                raise local_error
            elif not isinstance(local_error, ResourceNotFound):
                local_names = self._names(ctx, dataclasses.replace(write, body=own))
                shown: list[str | None] = [*sorted(local_names)] if local_names else [None]
                outcome.not_updated.extend((name, local_error) for name in shown)
            # What this broker did not update and no source did either (noOverwrite, not there).
            for name, reason in getattr(outcome.result, "not_updated", ()):
                if name not in outcome.updated:
                    outcome.not_updated.append((name, BadRequestData(reason)))
        if not succeeded:
            outcome.not_updated.extend(missing)  # No part held it: the sources' ResourceNotFound stands.
        return outcome

    def _names(self, ctx: Context, write: EntityWrite) -> frozenset[str] | None:
        """The attributes a write concerns (expanded); None for a deletion of the whole entity."""
        if write.attribute is not None:
            return frozenset({write.attribute})
        if write.body is None:
            return None
        return frozenset(ctx.expand(name) for name in write.body if name not in ENTITY_KEYS)

    def _own_part(self, ctx: Context, write: EntityWrite, plan: WritePlan) -> dict[str, Any] | None:
        if write.body is None or write.attribute is not None or not plan.withheld:
            return write.body
        return {
            name: value
            for name, value in write.body.items()
            if name in ENTITY_KEYS or ctx.expand(name) not in plan.withheld
        }

    def _local_updated(
        self, ctx: Context, own: dict[str, Any] | None, write: EntityWrite, result: Any
    ) -> list[str]:
        updated = getattr(result, "updated", None)
        if isinstance(updated, list):
            return [str(name) for name in updated]
        names = self._names(ctx, dataclasses.replace(write, body=own))
        return sorted(names or ())

    async def _forward(
        self,
        tenant: str,
        ctx: Context,
        write: EntityWrite,
        target: Target,
        names: frozenset[str] | None,
        via: str | None,
    ) -> tuple[list[str], list[tuple[str | None, NgsiLdError]]]:
        """Send a write's part to one source: the attributes written there, and those not."""
        registration = target.registration
        concerned: list[str | None] = [*sorted(target.attrs if target.attrs is not None else names or ())]
        if not concerned:
            concerned.append(None)
        document = None
        if write.body is not None:
            body = write.body
            if write.attribute is None and target.attrs is not None:
                body = {
                    name: value
                    for name, value in body.items()
                    if name in ENTITY_KEYS or ctx.expand(name) in target.attrs
                }
            document = _document(body, ctx)
        try:
            response = await self._federation.send(
                tenant, registration, write.method, write.path, write.params, ctx, via, document
            )
        except SourceUnavailable as error:
            failure = SourceError(f"The context source could not be asked: {error}", registration["id"])
            return [], [(name, failure) for name in concerned]
        status = response.status_code
        await self._federation.count(tenant, registration, status < 500)
        if status in (200, 201, 204):
            return [name for name in concerned if name is not None], []
        if status == 207:
            return self._update_result(ctx, response.content, registration["id"], concerned)
        problem = _problem(response.content)
        detail = str(problem.get("detail") or problem.get("title")) if problem else f"HTTP {status}"
        failure = SourceError(detail, registration["id"], problem)
        return [], [(name, failure) for name in concerned]

    def _update_result(
        self, ctx: Context, content: bytes, registration_id: str, concerned: list[str | None]
    ) -> tuple[list[str], list[tuple[str | None, NgsiLdError]]]:
        """A source's 207 UpdateResult (clause 5.2.18), its names read in the request's @context."""
        try:
            data = orjson.loads(content)
            updated = [ctx.expand(str(name)) for name in data.get("updated", ())]
            failed: list[tuple[str | None, NgsiLdError]] = [
                (
                    ctx.expand(str(item["attributeName"])),
                    SourceError(str(item.get("reason", "")), registration_id),
                )
                for item in data.get("notUpdated", ())
            ]
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            failure = SourceError("The context source answered 207 without an UpdateResult", registration_id)
            return [], [(name, failure) for name in concerned]
        return updated, failed

    # -- batches ---------------------------------------------------------------------------------

    async def batch(
        self,
        tenant: str,
        ctx: BatchContexts,
        operation: str,
        path: str,
        items: Any,
        params: Mapping[str, str],
        local: Callable[[list[Any], BatchContexts], Awaitable[BatchResult]],
        *,
        local_only: bool,
        via: str | None,
    ) -> BatchResult:
        """A batch (clause 5.6.7-5.6.10, 5.6.20): each entity planned as one write would be; this
        broker's parts go to `local` as one batch, each source's as one batch request to it. An
        entity is a success when every part of it succeeded; each part that failed is an error of
        it, with the registration of the source that refused it."""
        registrations = await self._registrations(tenant, local_only, via)
        if not registrations or not isinstance(items, list):
            return await local(items, ctx)
        own: list[Any] = []
        own_contexts: list[Context | NgsiLdError] = []
        sent: dict[str, tuple[Mapping[str, Any], list[Any], list[str]]] = {}
        refused: list[tuple[str, NgsiLdError]] = []
        for index, item in enumerate(items):
            item_ctx = ctx if isinstance(ctx, Context) else ctx[index]
            types = await self._entity_types(tenant, item) if _names_an_entity(item) else None
            planned = _plan_of(registrations, operation, item, item_ctx, types)
            if planned is None or (not planned[1].targets and not planned[1].withheld):
                own.append(item)
                own_contexts.append(item_ctx)
                continue
            entity_id, plan = planned
            refused.extend((entity_id, error) for _, error in _refused(plan, operation))
            if not plan.local and not plan.targets and not plan.refused:
                detail = f"Entity {entity_id} is registered to context sources that do not take {operation}"
                refused.append((entity_id, OperationNotSupported(detail)))
            for target in plan.targets:
                held = sent.setdefault(target.registration["id"], (target.registration, [], []))
                held[2].append(entity_id)
                part = _part(item, item_ctx, target.attrs, inside=True)
                if isinstance(part, dict) and isinstance(item_ctx, Context):
                    part = _document({k: v for k, v in part.items() if k != "@context"}, item_ctx)
                held[1].append(part)
            if plan.local:
                own.append(_part(item, item_ctx, frozenset(plan.withheld), inside=False))
                own_contexts.append(item_ctx)
        local_ctx: BatchContexts = ctx if isinstance(ctx, Context) else own_contexts
        runs = [local(own, local_ctx)] if own else []
        answers = await asyncio.gather(
            *runs,
            *(
                self._forward_batch(tenant, registration, path, params, parts, ids, via)
                for registration, parts, ids in sent.values()
            ),
        )
        result = BatchResult()
        succeeded: list[str] = []
        if own:
            mine = answers[0]
            assert isinstance(mine, BatchResult)
            succeeded.extend(mine.success)
            result.errors.extend(mine.errors)
            result.created.extend(mine.created)
        for answer in answers[len(runs) :]:
            assert isinstance(answer, tuple)
            ok, failed = answer
            succeeded.extend(ok)
            result.errors.extend(failed)
            if operation == "createBatch":
                result.created.extend(entity_id for entity_id in ok if entity_id not in result.created)
        result.errors.extend(refused)
        done = set(succeeded)
        result.errors = [
            (entity_id, error)
            for entity_id, error in result.errors
            if not (entity_id in done and isinstance(error, SourceError) and error.missing)
        ]
        failed_ids = {entity_id for entity_id, _ in result.errors}
        for entity_id in succeeded:
            if entity_id not in failed_ids and entity_id not in result.success:
                result.success.append(entity_id)
        return result

    async def _forward_batch(
        self,
        tenant: str,
        registration: Mapping[str, Any],
        path: str,
        params: Mapping[str, str],
        parts: list[Any],
        ids: list[str],
        via: str | None,
    ) -> tuple[list[str], list[tuple[str, NgsiLdError]]]:
        """One batch request to a source: the entity ids it took, and its errors."""
        json_ld = not all(isinstance(part, str) for part in parts)
        try:
            response = await self._federation.send(
                tenant, registration, "POST", path, params, None, via, parts, json_ld=json_ld
            )
        except SourceUnavailable as error:
            failure = SourceError(f"The context source could not be asked: {error}", registration["id"])
            return [], [(entity_id, failure) for entity_id in ids]
        status = response.status_code
        await self._federation.count(tenant, registration, status < 500)
        if status in (200, 201, 204):
            return list(ids), []
        if status == 207:
            try:
                data = orjson.loads(response.content)
                ok = [str(entity_id) for entity_id in data.get("success", ())]
                failed: list[tuple[str, NgsiLdError]] = [
                    (
                        str(item["entityId"]),
                        SourceError(
                            str(item.get("error", {}).get("detail", "")),
                            registration["id"],
                            item.get("error"),
                        ),
                    )
                    for item in data.get("errors", ())
                ]
                return ok, failed
            except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
                pass
        problem = _problem(response.content)
        detail = str(problem.get("detail") or problem.get("title")) if problem else f"HTTP {status}"
        failure = SourceError(detail, registration["id"], problem)
        return [], [(entity_id, failure) for entity_id in ids]


def _types(item: Mapping[str, Any], ctx: Context) -> list[str] | None:
    kind = item.get("type")
    if isinstance(kind, str):
        return [ctx.expand(kind)]
    if isinstance(kind, list) and all(isinstance(k, str) for k in kind):
        return [ctx.expand(k) for k in kind]
    return None


def _plan_of(
    registrations: Sequence[Mapping[str, Any]],
    operation: str,
    item: Any,
    ctx: Context | NgsiLdError | None,
    known_types: list[str] | None,
) -> tuple[str, WritePlan] | None:
    """Where one entity of a batch goes (None: this broker alone, as for an item it will refuse).
    An entity to delete is matched by the types this broker knows of it (by id alone if none)."""
    moment = now()
    if operation == "deleteBatch":
        if _names_an_entity(item):
            return item, plan_write(registrations, operation, item, known_types, None, moment)
        return None
    if not (isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(ctx, Context)):
        return None
    try:
        names = frozenset(ctx.expand(name) for name in item if name not in ENTITY_KEYS)
        types = _types(item, ctx)
    except NgsiLdError:
        return None
    return item["id"], plan_write(registrations, operation, item["id"], types, names, moment)


def _names_an_entity(item: Any) -> bool:
    """An entity id of a batch delete that is a URI: one that is not is, as when no context source
    is registered, that entity's error in the 207 (clauses 5.6.10 and 5.6.6), which this broker gives."""
    try:
        check_entity_id(item)
    except NgsiLdError:
        return False
    return True


def _part(item: Any, ctx: Context | NgsiLdError | None, names: frozenset[str] | None, *, inside: bool) -> Any:
    """A batch's entity with (`inside`) or without the attributes `names` names (None: all of
    them), and its id, type and scope."""
    if not isinstance(item, dict) or not isinstance(ctx, Context) or names is None:
        return item
    return {
        name: value
        for name, value in item.items()
        if name in ENTITY_KEYS or (ctx.expand(name) in names) == inside
    }
