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
from smartby.api.request import broker_of, check_params, flag, read_body
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.reads import StoredContext

router = APIRouter(prefix="/ngsi-ld/v1/jsonldContexts", tags=["@context"])
KINDS = ("Hosted", "Cached", "ImplicitlyCreated")
NO_PARAMS: frozenset[str] = frozenset()
LIST_PARAMS = frozenset({"details", "kind"})
GET_PARAMS = frozenset({"details"})
DELETE_PARAMS = frozenset({"reload"})


def context_info(context: StoredContext) -> dict[str, Any]:
    info: dict[str, Any] = {
        "URL": context.url,
        "localId": context.id,
        "kind": context.kind,
        "createdAt": context.created_at,
    }
    if context.kind == "Cached":
        info["lastUsage"] = context.last_used or context.created_at
        info["numberOfHits"] = context.hits
    return info


@router.post(
    "",
    status_code=201,
    summary="Host an @context",
    openapi_extra=oa.operation([], oa.json_body("An object with an @context member.")),
)
async def add_context(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    broker = broker_of(request)
    body = await read_body(request, (JSON, JSON_LD), broker.settings.max_body_bytes, document=True)
    stored = await broker.add_context(body.data, str(request.base_url))
    return Response(status_code=201, headers={"Location": stored.url})


@router.get(
    "",
    summary="List @contexts",
    openapi_extra=oa.operation(
        [
            oa.query("details", "true: ContextInfo objects.", {"type": "string", "enum": ["true", "false"]}),
            oa.query("kind", "Hosted, Cached or ImplicitlyCreated.", {"type": "string", "enum": list(KINDS)}),
        ]
    ),
)
async def list_contexts(request: Request) -> Response:
    check_params(request, LIST_PARAMS)
    media = choose_media_type(request.headers.get("accept"))
    kind = request.query_params.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequestData(f"kind must be one of {', '.join(KINDS)}")
    contexts = await broker_of(request).list_contexts(kind)
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
            oa.path("contextId", "Local id or URL of the context."),
            oa.query("details", "true: its ContextInfo.", {"type": "string", "enum": ["true", "false"]}),
        ]
    ),
)
async def get_context(request: Request) -> Response:
    check_params(request, GET_PARAMS)
    choose_media_type(request.headers.get("accept"))
    context = await broker_of(request).get_context(request.path_params["contextId"])
    if flag(request, "details"):
        return json_response(request, None, context_info(context), JSON)
    return json_response(request, None, context.document, JSON)


@router.delete(
    "/{contextId:path}",
    status_code=204,
    summary="Delete (or reload) an @context",
    openapi_extra=oa.operation(
        [
            oa.path("contextId", "Local id or URL of the context."),
            oa.query(
                "reload", "true: fetch a cached context again.", {"type": "string", "enum": ["true", "false"]}
            ),
        ]
    ),
)
async def delete_context(request: Request) -> Response:
    check_params(request, DELETE_PARAMS)
    await broker_of(request).delete_context(request.path_params["contextId"], reload=flag(request, "reload"))
    return no_content(request)


def context_url(base: str, local_id: str) -> str:
    return base.rstrip("/") + "/ngsi-ld/v1/jsonldContexts/" + quote(local_id, safe="")
