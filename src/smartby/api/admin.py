"""The admin API of access control (docs/security.md): API keys, tenants and the audit log
(docs/audit.md), `/admin/v1/...`.

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
from smartby.ngsild.timestamps import parse_datetime
from smartby.records.audit import AuditFilter, AuditRecord, timestamp

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


AUDIT_FILTERS = ("actor", "tenant", "operation", "target", "outcome")
MOMENT = {"type": "string", "format": "date-time"}
AUDIT_PARAMETERS = [
    oa.query("since", "Records made at or after this moment (ISO 8601).", MOMENT),
    oa.query("until", "Records made before this moment (ISO 8601).", MOMENT),
    oa.query("actor", "Records of this actor (a key's owner, a token's subject, device:<id>, ...)."),
    oa.query(
        "tenant", "Records of this tenant (empty: the default tenant).", {"type": "string", "minLength": 0}
    ),
    oa.query("operation", "Records of this operation (e.g. `POST /ngsi-ld/v1/entities`, key.create)."),
    oa.query("target", "Records whose target names this entity id, key, tenant or path."),
    oa.query("outcome", "Records of this outcome (ok, partial, refused 401, 404 ResourceNotFound ...)."),
    oa.query("limit", "Records per page (default 100).", {"type": "integer", "minimum": 1, "maximum": 1000}),
    oa.query(
        "offset", "Records skipped (newest first).", {"type": "integer", "minimum": 0, "maximum": 10**12}
    ),
    oa.query("count", "true: the number of matching records in NGSILD-Results-Count.", {"type": "boolean"}),
]


def _number(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequestData(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _moment(request: Request, name: str) -> str | None:
    text = request.query_params.get(name)
    return None if text is None else timestamp(parse_datetime(text, name))


def audit_filter(request: Request) -> AuditFilter:
    """What a GET /admin/v1/audit asks for (400 for a malformed filter)."""
    unknown = set(request.query_params) - {"since", "until", "limit", "offset", "count", *AUDIT_FILTERS}
    if unknown:
        raise BadRequestData(f"Unknown parameters: {', '.join(sorted(unknown))}")
    return AuditFilter(
        since=_moment(request, "since"),
        until=_moment(request, "until"),
        limit=_number(request, "limit", 100, 1, 1000),
        offset=_number(request, "offset", 0, 0, 10**12),
        **{name: _filter(request, name) for name in AUDIT_FILTERS},
    )


def _filter(request: Request, name: str) -> str | None:
    """A filter's value; empty only for the tenant (the default tenant's name is empty)."""
    value = request.query_params.get(name)
    if value == "" and name != "tenant":
        raise BadRequestData(f"{name} is empty: leave it out to match any")
    return value


def record_view(record: AuditRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "at": record.at,
        "actor": record.actor,
        "tenant": record.tenant,
        "operation": record.operation,
        "target": record.target,
        "outcome": record.outcome,
        "detail": record.detail,
    }


@router.get(
    "/audit",
    summary="Read the audit log, newest first (this read is itself recorded)",
    openapi_extra=oa.operation(AUDIT_PARAMETERS),
)
async def read_audit(request: Request) -> Response:
    keyring_of(request)
    wanted = audit_filter(request)
    counted = request.query_params.get("count")
    if counted not in (None, "true", "false"):
        raise BadRequestData("count must be true or false")
    records, total = await broker_of(request).audit.records(wanted)
    response = _json([record_view(record) for record in records])
    if counted == "true":
        response.headers["NGSILD-Results-Count"] = str(total)
    return response
