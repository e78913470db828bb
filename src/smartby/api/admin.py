"""The admin API of access control (docs/security.md): API keys and tenants, `/admin/v1/...`.

An operator's (an admin key for every tenant, `--tenant '*'`), and only where SMARTBY_AUTH=required:
with authentication off nobody is who they say, and keys are made with `smartby keys`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import openapi as oa
from smartby.api.access import Forbidden
from smartby.api.keyring import KEY_NAME as KEY_NAME_PATTERN
from smartby.api.keyring import TENANT_NAME, Keyring, key_view
from smartby.api.request import broker_of, read_body
from smartby.ngsild.errors import AlreadyExists, BadRequestData

router = APIRouter(prefix="/admin/v1", tags=["access"])
JSON = ("application/json",)
KEY_NAME = oa.path("name", "The key's name.")
KEY_BODY = oa.json_body(
    'The key: name, role (reader, writer or admin), tenants (names; "*" every tenant), owner, expiresAt.',
    {
        "type": "object",
        "required": ["name", "role"],
        "properties": {
            "name": {"type": "string", "pattern": KEY_NAME_PATTERN.pattern},
            "role": {"type": "string", "enum": ["reader", "writer", "admin"]},
            "tenants": {
                "type": "array",
                "items": {"type": "string", "pattern": rf"^(\*|{TENANT_NAME.pattern.strip('^$')})?$"},
            },
            "owner": {"type": "string"},
            "expiresAt": {"type": "string", "format": "date-time"},
        },
    },
    JSON,
)
TENANT_BODY = oa.json_body(
    "The tenant: its name.",
    {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": TENANT_NAME.pattern}},
    },
    JSON,
)


def keyring_of(request: Request) -> Keyring:
    if broker_of(request).settings.auth != "required":
        raise Forbidden("The admin API answers only with SMARTBY_AUTH=required; use `smartby keys`")
    keyring: Keyring = request.app.state.keyring
    return keyring


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


async def _object(request: Request) -> dict[str, Any]:
    data = (await read_body(request, JSON, broker_of(request).settings.max_body_bytes)).data
    if not isinstance(data, dict):
        raise BadRequestData("The body must be a JSON object")
    return data


def _text(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise BadRequestData(f"{name} must be a string")
    return value


@router.get("/keys", summary="List API keys", openapi_extra=oa.operation([]))
async def list_keys(request: Request) -> Response:
    return _json([key_view(key) for key in await keyring_of(request).list()])


@router.post(
    "/keys",
    status_code=201,
    summary="Create an API key (its secret shown this once)",
    openapi_extra=oa.operation([], KEY_BODY),
)
async def create_key(request: Request) -> Response:
    keyring = keyring_of(request)
    body = await _object(request)
    tenants = body.get("tenants", [""])
    if not isinstance(tenants, list) or not all(isinstance(tenant, str) for tenant in tenants):
        raise BadRequestData("tenants must be a list of tenant names")
    expires = body.get("expiresAt")
    key, secret = await keyring.create(
        _text(body, "name"),
        tenants,
        _text(body, "role"),
        owner=_text(body, "owner", ""),
        expires=None if expires is None else _text(body, "expiresAt"),
    )
    return _json({**key_view(key), "key": secret}, 201)


@router.get("/keys/{name}", summary="Show an API key", openapi_extra=oa.operation([KEY_NAME]))
async def get_key(request: Request) -> Response:
    return _json(key_view(await keyring_of(request).get(request.path_params["name"])))


@router.delete(
    "/keys/{name}", summary="Revoke an API key", status_code=204, openapi_extra=oa.operation([KEY_NAME])
)
async def revoke_key(request: Request) -> Response:
    await keyring_of(request).revoke(request.path_params["name"])
    return Response(status_code=204)


@router.post(
    "/keys/{name}/rotate",
    summary="Give an API key a new secret (shown this once; the old one stops working)",
    openapi_extra=oa.operation([KEY_NAME]),
)
async def rotate_key(request: Request) -> Response:
    key, secret = await keyring_of(request).rotate(request.path_params["name"])
    return _json({**key_view(key), "key": secret})


@router.get("/tenants", summary="List tenants", openapi_extra=oa.operation([]))
async def list_tenants(request: Request) -> Response:
    return _json(await keyring_of(request).records.tenants())


@router.post(
    "/tenants", summary="Create a tenant", status_code=201, openapi_extra=oa.operation([], TENANT_BODY)
)
async def create_tenant(request: Request) -> Response:
    keyring = keyring_of(request)
    name = _text(await _object(request), "name")
    if not TENANT_NAME.match(name):
        raise BadRequestData(f"Invalid tenant name {name!r}: 1 to 64 of A-Z a-z 0-9 _ . : / -")
    if not await keyring.records.create_tenant(name):
        raise AlreadyExists(f"Tenant {name!r} exists")
    return _json({"name": name}, 201)
