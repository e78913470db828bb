"""/ngsi-ld/v1/jsonldContexts: hosting, listing, serving and deleting @context documents."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import openapi as oa
from smartby.api.negotiation import JSON, JSON_LD, choose_media_type
from smartby.api.render import json_response, no_content
from smartby.api.request import broker_of, check_params, flag, read_body, tenant_of
from smartby.broker.context_registry import KINDS
from smartby.ngsild.reads import StoredContext

router = APIRouter(prefix="/ngsi-ld/v1/jsonldContexts", tags=["@context"])
NO_PARAMS: frozenset[str] = frozenset()
LIST_PARAMS = frozenset({"details", "kind"})
GET_PARAMS = frozenset({"details"})
DELETE_PARAMS = frozenset({"reload"})
BOOLEAN = {"type": "string", "enum": ["true", "false"]}


def context_info(context: StoredContext) -> dict[str, Any]:
    """The JSON object of clause 5.13.3.5 for one stored @context."""
    info: dict[str, Any] = {
        "URL": context.url,
        "localId": context.id,
        "kind": context.kind,
        "createdAt": context.created_at,
        "numberOfHits": context.hits,
    }
    if context.last_used is not None:
        info["lastUsage"] = context.last_used
    if context.extra:
        info["extraInfo"] = context.extra
    return info


@router.post(
    "",
    status_code=201,
    response_class=Response,
    summary="Host an @context",
    openapi_extra=oa.operation(
        [], oa.json_body("An object with an @context member.", {"$ref": oa.SCHEMAS + "ContextDocument"})
    ),
)
async def add_context(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    broker = broker_of(request)
    body = await read_body(request, (JSON, JSON_LD), broker.settings.max_body_bytes, document=True)
    stored = await broker.jsonld_contexts.add(tenant_of(request), body.data, str(request.base_url))
    return Response(status_code=201, headers={"Location": stored.url})


@router.get(
    "",
    summary="List @contexts",
    openapi_extra=oa.operation(
        [
            oa.query("details", "true: a JSON object of metadata for each @context, not its URL.", BOOLEAN),
            oa.query("kind", "Only @contexts of this kind.", {"type": "string", "enum": list(KINDS)}),
        ]
    ),
)
async def list_contexts(request: Request) -> Response:
    check_params(request, LIST_PARAMS)
    media = choose_media_type(request.headers.get("accept"))
    registry = broker_of(request).jsonld_contexts
    contexts = await registry.listed(tenant_of(request), request.query_params.get("kind"))
    if flag(request, "details"):
        data: Any = [context_info(c) for c in contexts]
    else:
        data = [c.url for c in contexts]
    return json_response(request, None, data, JSON if media == JSON else media)


@router.get(
    "/{contextId:path}",
    summary="Serve an @context",
    openapi_extra=oa.operation(
        [
            oa.path("contextId", "Local id of the @context, or the URL of a Cached one."),
            oa.query("details", "true: its metadata; else its document (not for a Cached one).", BOOLEAN),
        ]
    ),
)
async def get_context(request: Request) -> Response:
    check_params(request, GET_PARAMS)
    choose_media_type(request.headers.get("accept"))
    registry = broker_of(request).jsonld_contexts
    key, tenant = request.path_params["contextId"], tenant_of(request)
    if flag(request, "details"):
        return json_response(request, None, context_info(await registry.info(tenant, key)), JSON)
    return json_response(request, None, await registry.serve(tenant, key), JSON)


@router.delete(
    "/{contextId:path}",
    status_code=204,
    summary="Delete (or reload) an @context",
    openapi_extra=oa.operation(
        [
            oa.path("contextId", "Local id of the @context, or the URL of a Cached one."),
            oa.query("reload", "true: fetch a Cached @context again and keep the new copy.", BOOLEAN),
        ]
    ),
)
async def delete_context(request: Request) -> Response:
    check_params(request, DELETE_PARAMS)
    registry = broker_of(request).jsonld_contexts
    await registry.delete(
        tenant_of(request), request.path_params["contextId"], reload=flag(request, "reload")
    )
    return no_content(request)


def context_url(base: str, local_id: str) -> str:
    return base.rstrip("/") + "/ngsi-ld/v1/jsonldContexts/" + quote(local_id, safe="")
