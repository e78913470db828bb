"""/admin/v1/channels: a tenant's alert channels, templated webhooks and e-mail
(docs/alert-channels.md). An admin's of the tenant (NGSILD-Tenant); each handler parses, calls
`broker.channels` once, and renders."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import openapi as oa
from smartby.api.negotiation import JSON, MERGE_PATCH
from smartby.api.request import broker_of, check_params, read_body, tenant_of
from smartby.broker.channels import CHANNEL_NAME
from smartby.records.channels import KINDS

router = APIRouter(prefix="/admin/v1", tags=["Alert channels"])
NO_PARAMS: frozenset[str] = frozenset()
NAME = {
    **oa.path("name", "The channel's name."),
    "schema": {"type": "string", "pattern": CHANNEL_NAME.pattern},
}
STRING = {"type": "string", "minLength": 1}
CHANNEL_MEMBERS: dict[str, Any] = {
    "name": {"type": "string", "pattern": CHANNEL_NAME.pattern},
    "kind": {"type": "string", "enum": list(KINDS)},
    "target": {
        "description": "The webhook's http(s) URL, or the e-mail addresses.",
        "oneOf": [STRING, {"type": "array", "items": STRING, "minItems": 1, "maxItems": 50}],
    },
    "template": {**STRING, "description": "Jinja2 (sandboxed) rendering the body from `alert`."},
    "subject": {**STRING, "description": "E-mail only: Jinja2 rendering the subject."},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "contentType": {"type": "string", "default": "application/json"},
    "entityTypes": {"type": "array", "items": STRING, "minItems": 1, "default": ["Alert"]},
    "q": {"type": "string", "description": "NGSI-LD query language, as a subscription's q."},
    "geoQ": {"type": "object", "description": "As a subscription's geoQ."},
    "watchedAttributes": {"type": "array", "items": STRING, "minItems": 1},
    "throttling": {"type": "number", "minimum": 1},
    "description": {"type": "string"},
    "@context": {"oneOf": [STRING, {"type": "array", "items": STRING, "minItems": 1}]},
}
CHANNEL = {
    "type": "object",
    "required": ["name", "kind", "target", "template"],
    "properties": CHANNEL_MEMBERS,
}
DESCRIBED = "A channel: name, kind (webhook or email), target, template, the filters (entityTypes, q, geoQ)."
CHANNEL_BODY = oa.json_body(DESCRIBED, CHANNEL, (JSON,))
REPLACEMENT_BODY = oa.json_body(DESCRIBED, {**CHANNEL, "required": ["kind", "target", "template"]}, (JSON,))
PATCH_BODY = oa.json_body(
    "Members to replace (a JSON Merge Patch: null removes one).",
    {"type": "object", "minProperties": 1, "properties": CHANNEL_MEMBERS},
    (JSON, MERGE_PATCH),
)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


async def _body(request: Request, media: tuple[str, ...] = (JSON,)) -> Any:
    check_params(request, NO_PARAMS)
    return (await read_body(request, media, broker_of(request).settings.max_body_bytes)).data


@router.get("/channels", summary="List alert channels", openapi_extra=oa.operation([oa.TENANT]))
async def list_channels(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    return _json(await broker_of(request).channels.list(tenant_of(request)))


@router.post(
    "/channels",
    status_code=201,
    summary="Create an alert channel",
    openapi_extra=oa.operation([oa.TENANT], CHANNEL_BODY),
)
async def create_channel(request: Request) -> Response:
    tenant = tenant_of(request)
    view = await broker_of(request).channels.create(tenant, await _body(request))
    response = _json(view, 201)
    response.headers["Location"] = f"/admin/v1/channels/{view['name']}"
    return response


@router.get(
    "/channels/{name}", summary="Show an alert channel", openapi_extra=oa.operation([NAME, oa.TENANT])
)
async def get_channel(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    return _json(await broker_of(request).channels.get(tenant_of(request), request.path_params["name"]))


@router.put(
    "/channels/{name}",
    summary="Replace an alert channel",
    openapi_extra=oa.operation([NAME, oa.TENANT], REPLACEMENT_BODY),
)
async def replace_channel(request: Request) -> Response:
    body = await _body(request)
    return _json(
        await broker_of(request).channels.replace(tenant_of(request), request.path_params["name"], body)
    )


@router.patch(
    "/channels/{name}",
    summary="Change members of an alert channel",
    openapi_extra=oa.operation([NAME, oa.TENANT], PATCH_BODY),
)
async def update_channel(request: Request) -> Response:
    body = await _body(request, (JSON, MERGE_PATCH))
    return _json(
        await broker_of(request).channels.update(tenant_of(request), request.path_params["name"], body)
    )


@router.delete(
    "/channels/{name}",
    status_code=204,
    summary="Delete an alert channel",
    openapi_extra=oa.operation([NAME, oa.TENANT]),
)
async def delete_channel(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    await broker_of(request).channels.delete(tenant_of(request), request.path_params["name"])
    return Response(status_code=204)


@router.post(
    "/channels/{name}/test",
    summary="Send a sample Alert through a channel and say what happened",
    openapi_extra=oa.operation([NAME, oa.TENANT]),
)
async def test_channel(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    return _json(await broker_of(request).channels.test(tenant_of(request), request.path_params["name"]))
