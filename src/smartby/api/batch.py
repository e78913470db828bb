"""/ngsi-ld/v1/entityOperations: batch create, upsert, update, merge, delete and query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import openapi as oa
from smartby.api.entities import RETRIEVE_OPTIONS, WRITE_OPTIONS, entity_error, linked_for, render_entities
from smartby.api.negotiation import ENTITY_OFFERS, JSON, JSON_LD, choose_media_type
from smartby.api.projections import Projections
from smartby.api.render import json_response, no_content
from smartby.api.request import (
    BatchWrite,
    batch_request,
    broker_of,
    check_params,
    flag,
    integer,
    options_of,
    read_body,
    representation,
    tenant_of,
)
from smartby.broker import BatchResult
from smartby.broker.broker import BatchContext
from smartby.broker.queries import entity_query, join_of, query_body, selection, text_member
from smartby.ngsild.entity import LanguagePreference, Renderer
from smartby.ngsild.errors import BadRequestData

router = APIRouter(prefix="/ngsi-ld/v1/entityOperations", tags=["Batch operations"])
ARRAY = {"type": "array", "items": {"type": "object"}}
WRITE_PARAMS = frozenset({"options", "local"})
DELETE_PARAMS = frozenset({"local"})
BATCH_QUERY_PARAMS = frozenset({"limit", "offset", "count", "options", "format", "local", "lang", "orderBy"})
FORWARDED_MEMBERS = frozenset({"type", "entities", "attrs", "q", "geoQ", "scopeQ", "csf"})
"""What of a Query body goes on to the context sources it is forwarded to (docs/federation.md)."""


def _batch_body(description: str) -> dict[str, Any]:
    return oa.json_body(description, ARRAY)


async def _distributed(
    request: Request,
    call: BatchWrite,
    operation: str,
    suffix: str,
    local: Callable[[list[Any], BatchContext], Awaitable[BatchResult]],
) -> BatchResult:
    """A batch here and at the context sources holding its entities (docs/federation.md)."""
    return await call.broker.federation_writes.batch(
        call.tenant,
        call.ctx,
        operation,
        f"/ngsi-ld/v1/entityOperations{suffix}",
        call.data,
        {name: value for name, value in request.query_params.items() if name != "local"},
        local,
        local_only=flag(request, "local"),
        via=request.headers.get("via"),
    )


def batch_response(
    request: Request, result: BatchResult, *, all_ok_status: int, created_body: bool
) -> Response:
    if result.errors:
        body = {
            "success": result.success,
            "errors": [entity_error(entity_id, error) for entity_id, error in result.errors],
        }
        return json_response(request, None, body, JSON, status=207)
    if created_body and result.created:
        return json_response(request, None, result.created, JSON, status=201)
    return (
        no_content(request)
        if all_ok_status == 204
        else json_response(request, None, result.success, JSON, status=201)
    )


@router.post(
    "/create",
    responses=oa.answers(201, 207),
    summary="Create entities",
    openapi_extra=oa.operation([oa.TENANT, oa.LINK], _batch_body("Entities.")),
)
async def batch_create(request: Request) -> Response:
    call = await batch_request(request, WRITE_PARAMS, WRITE_OPTIONS)

    async def local(items: list[Any], ctx: BatchContext) -> BatchResult:
        return await call.broker.batch_create(call.tenant, ctx, items, key_values=call.key_values)

    result = await _distributed(request, call, "createBatch", "/create", local)
    return batch_response(request, result, all_ok_status=201, created_body=True)


@router.post(
    "/upsert",
    responses=oa.answers(201, 204, 207),
    summary="Create or update entities",
    openapi_extra=oa.operation(
        [
            oa.options(["replace", "update"], formats=("replace", "update")),
            oa.TENANT,
            oa.LINK,
        ],
        oa.ngsi_body("Entities.", "Entities"),
    ),
)
async def batch_upsert(request: Request) -> Response:
    call = await batch_request(request, WRITE_PARAMS, WRITE_OPTIONS | {"replace", "update"})
    if {"replace", "update"} <= call.options:
        raise BadRequestData("options=replace and options=update cannot be combined")

    async def local(items: list[Any], ctx: BatchContext) -> BatchResult:
        return await call.broker.batch_upsert(
            call.tenant,
            ctx,
            items,
            mode="update" if "update" in call.options else "replace",
            key_values=call.key_values,
        )

    result = await _distributed(request, call, "upsertBatch", "/upsert", local)
    return batch_response(request, result, all_ok_status=204, created_body=True)


@router.post(
    "/update",
    responses=oa.answers(204, 207),
    summary="Update entities",
    openapi_extra=oa.operation(
        [oa.options(["noOverwrite"], formats=()), oa.TENANT, oa.LINK],
        oa.ngsi_body("Entities.", "Entities"),
    ),
)
async def batch_update(request: Request) -> Response:
    call = await batch_request(request, WRITE_PARAMS, WRITE_OPTIONS | {"noOverwrite"})

    async def local(items: list[Any], ctx: BatchContext) -> BatchResult:
        return await call.broker.batch_update(
            call.tenant,
            ctx,
            items,
            overwrite="noOverwrite" not in call.options,
            key_values=call.key_values,
        )

    result = await _distributed(request, call, "updateBatch", "/update", local)
    return batch_response(request, result, all_ok_status=204, created_body=False)


@router.post(
    "/merge",
    responses=oa.answers(204, 207),
    summary="Merge entities",
    openapi_extra=oa.operation([oa.TENANT, oa.LINK], _batch_body("Entities.")),
)
async def batch_merge(request: Request) -> Response:
    call = await batch_request(request, WRITE_PARAMS, WRITE_OPTIONS)

    async def local(items: list[Any], ctx: BatchContext) -> BatchResult:
        return await call.broker.batch_merge(call.tenant, ctx, items, key_values=call.key_values)

    result = await _distributed(request, call, "mergeBatch", "/merge", local)
    return batch_response(request, result, all_ok_status=204, created_body=False)


@router.post(
    "/delete",
    responses=oa.answers(204, 207),
    summary="Delete entities",
    openapi_extra=oa.operation(
        [oa.TENANT, oa.LINK],
        oa.json_body(
            "Entity ids (one that is not a URI is that entity's error in the 207).",
            {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        ),
    ),
)
async def batch_delete(request: Request) -> Response:
    check_params(request, DELETE_PARAMS)
    tenant = tenant_of(request)
    broker = broker_of(request)
    body = await read_body(request, (JSON, JSON_LD), broker.settings.max_body_bytes)
    ctx = await broker.context(body.context)

    async def local(items: list[Any], _: BatchContext) -> BatchResult:
        return await broker.batch_delete(tenant, items)

    call = BatchWrite(broker, tenant, body.data, set(), ctx)
    result = await _distributed(request, call, "deleteBatch", "/delete", local)
    return batch_response(request, result, all_ok_status=204, created_body=False)


@router.post(
    "/query",
    summary="Query entities (POST)",
    openapi_extra=oa.operation(
        [
            *oa.PAGING,
            oa.ORDER_BY,
            oa.OPTIONS,
            oa.FORMAT,
            oa.TENANT,
            oa.LINK,
        ],
        oa.ngsi_body("A Query.", "Query"),
    ),
)
async def batch_query(request: Request) -> Response:
    check_params(request, BATCH_QUERY_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"), ENTITY_OFFERS)
    broker = broker_of(request)
    body = await read_body(request, (JSON, JSON_LD), broker.settings.max_body_bytes)
    options = options_of(request, RETRIEVE_OPTIONS)
    data = body.data
    ctx = await broker.context(body.context)
    parsed = query_body(ctx, data, linked=True)
    if "temporalQ" in data:
        raise BadRequestData("temporalQ is only for the temporal query operation")
    level = data.get("joinLevel")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int) or level < 1):
        raise BadRequestData("joinLevel must be a positive integer")
    parsed.check_narrows()
    selectors, attrs = parsed.selectors, parsed.attrs
    geo, q, scope_q = parsed.geo, parsed.q, parsed.scope_q
    settings = broker.settings
    query = entity_query(
        ctx,
        selectors=selectors,
        q=q,
        geo=geo,
        scope_q=scope_q,
        attrs=attrs,
        limit=integer(request, "limit", settings.default_limit, high=settings.max_limit),
        offset=integer(request, "offset", 0),
        count=flag(request, "count"),
        order_by=request.query_params.get("orderBy"),
    )
    chosen = selection(ctx, attrs=attrs, pick=parsed.pick, omit=parsed.omit)
    lang = parsed.lang or request.query_params.get("lang")
    renderer = Renderer(
        ctx,
        form=representation(options),  # type: ignore[arg-type]
        sys_attrs="sysAttrs" in options,
        pick=chosen.pick,
        omit=chosen.omit,
        lang=LanguagePreference(lang) if lang else None,
    )
    join, hops = join_of(text_member(data.get("join"), "join"), data.get("joinLevel"))
    view = Projections(parsed.pick_projection, parsed.omit_projection).view(renderer, join, hops)
    result, forwarded = await broker.federation.query(
        tenant,
        ctx,
        query,
        {},
        local_only=flag(request, "local"),
        via=request.headers.get("via"),
        body={name: value for name, value in data.items() if name in FORWARDED_MEMBERS},
    )
    headers = {"NGSILD-Results-Count": str(result.count)} if result.count is not None else {}
    linked = await linked_for(broker, tenant, result.entities, join, hops, view)
    response = render_entities(request, ctx, renderer, media, result.entities, headers, linked)
    for failure in forwarded.failures:
        response.headers.append("NGSILD-Warning", failure.warning())
    return response
