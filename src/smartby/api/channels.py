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
from smartby.broker.channels import CHANNEL_NAME, MEDIA_TYPE
from smartby.records.channels import KINDS

router = APIRouter(prefix="/admin/v1", tags=["Alert channels"])
NO_PARAMS: frozenset[str] = frozenset()
NAME = {
    **oa.path("name", "The channel's name."),
    "schema": {"type": "string", "pattern": CHANNEL_NAME.pattern},
}
TEXT = r"^[^{}]*[^{}\s][^{}]*$"
"""Template text the document promises is accepted: any without braces (a template of its own may have
them, checked by Jinja2; a syntax error is a 400 naming its line)."""
LINE = r"^[^{}\r\n\x00]*[^{}\s][^{}\r\n\x00]*$"
ADDRESS = r"^[a-z0-9._-]{1,32}@[a-z0-9-]{1,32}(\.[a-z0-9-]{1,32}){0,3}$"
COMMON: dict[str, Any] = {
    "name": {"type": "string", "pattern": CHANNEL_NAME.pattern},
    "kind": {"enum": list(KINDS)},
    "target": {
        "description": "The webhook's http(s) URL (not loopback or private unless "
        "SMARTBY_OUTBOUND_ALLOW allows it), or the e-mail addresses."
    },
    "template": {
        "type": "string",
        "maxLength": 32_768,
        "pattern": TEXT,
        "description": "Jinja2 (sandboxed) rendering one message's body from `alert`.",
    },
    "subject": {"type": "string", "maxLength": 256, "pattern": LINE, "description": "E-mail: the subject."},
    "headers": {
        "type": "object",
        "maxProperties": 32,
        "propertyNames": {"pattern": "^X-[A-Za-z0-9-]{1,32}$"},
        "additionalProperties": {"type": "string", "pattern": "^[!-~]([ -~]*[!-~])?$"},
        "description": "Webhook: headers sent with each message (not Content-Type, Host, Content-Length "
        "or hop-by-hop ones).",
    },
    "contentType": {
        "type": "string",
        "pattern": MEDIA_TYPE.pattern,
        "description": "Webhook: default application/json.",
    },
    "entityTypes": {
        "type": "array",
        "minItems": 1,
        "maxItems": 3,
        "items": {"type": "string", "pattern": oa.ATTRIBUTE_NAME},
        "description": 'Default ["Alert"].',
    },
    "q": {"type": "string", "format": "ngsi-ld-q"},
    "watchedAttributes": oa.NAMES,
    "throttling": {"type": "number", "minimum": 1, "maximum": 1e9},
    "description": {"type": "string", "maxLength": 64},
}
"""The members of a channel described here; geoQ and @context (as a subscription's) are read too."""
WEBHOOK = {
    "properties": {
        "kind": {"const": "webhook"},
        "target": {"type": "string", "pattern": f"^https?{oa.ENDPOINT_URI}"},
    },
    "not": {"required": ["subject"]},
}
EMAIL = {
    "properties": {
        "kind": {"const": "email"},
        "target": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {"type": "string", "pattern": ADDRESS},
        },
    },
    "not": {"anyOf": [{"required": ["headers"]}, {"required": ["contentType"]}]},
}


def channel_schema(required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": COMMON,
        "additionalProperties": False,
        "oneOf": [WEBHOOK, EMAIL],
    }


DESCRIBED = "A channel: name, kind (webhook or email), target, template, the filters (entityTypes, q, geoQ)."
CHANNEL_BODY = oa.json_body(DESCRIBED, channel_schema(["name", "kind", "target", "template"]), (JSON,))
REPLACEMENT_BODY = oa.json_body(DESCRIBED, channel_schema(["kind", "target", "template"]), (JSON,))
PATCH_BODY = oa.json_body(
    "Members to replace (a JSON Merge Patch: null removes one); the channel must stay whole.",
    {"type": "object", "minProperties": 1, "properties": COMMON, "additionalProperties": False},
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
