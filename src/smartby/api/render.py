"""Responses: JSON with a Link to the @context, JSON-LD with an @context member, or GeoJSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from smartby.api.negotiation import GEO_JSON, JSON_LD, link_header
from smartby.api.request import TENANT_HEADER
from smartby.ngsild.context import CORE_CONTEXT_URL, Context


def context_value(ctx: Context) -> Any:
    """The @context to put in a JSON-LD response for the requester's context."""
    if ctx.source is None:
        return CORE_CONTEXT_URL
    return ctx.source


def json_response(
    request: Request,
    ctx: Context | None,
    data: Any,
    media: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    out_headers = dict(headers or {})
    tenant = request.headers.get(TENANT_HEADER)
    if tenant:
        out_headers["NGSILD-Tenant"] = tenant
    if ctx is not None:
        if media == JSON_LD:
            value = context_value(ctx)
            if isinstance(data, list):
                data = [{**item, "@context": value} if isinstance(item, dict) else item for item in data]
            elif isinstance(data, dict):
                data = {**data, "@context": value}
        elif media == GEO_JSON and isinstance(data, dict) and not prefers_json_body(request):
            data = {**data, "@context": context_value(ctx)}
        else:
            out_headers["Link"] = link_header(ctx.link_url)
    return Response(json_bytes(data), status_code=status, media_type=media, headers=out_headers)


def json_bytes(data: Any) -> bytes:
    """`data` as JSON; an integer beyond 64 bits (a sum of big values on PostgreSQL, whose numeric
    holds it exactly) is written as the nearest float, as JSON readers take numbers anyway."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return orjson.dumps(_wide_as_float(data))


def _wide_as_float(data: Any) -> Any:
    if type(data) is int and not -(2**63) <= data < 2**64:
        return float(data)
    if isinstance(data, dict):
        return {key: _wide_as_float(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_wide_as_float(item) for item in data]
    return data


def prefers_json_body(request: Request) -> bool:
    """`Prefer: body=json` (clause 6.3.6): a GeoJSON body without @context, which goes in a Link."""
    prefer = request.headers.get("prefer", "")
    return any(part.strip().replace(" ", "") == "body=json" for part in prefer.split(","))


def no_content(request: Request, headers: dict[str, str] | None = None) -> Response:
    out_headers = dict(headers or {})
    tenant = request.headers.get(TENANT_HEADER)
    if tenant:
        out_headers["NGSILD-Tenant"] = tenant
    return Response(status_code=204, headers=out_headers)
