"""Responses: JSON with a Link to the @context, JSON-LD with an @context member, or GeoJSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from smartby.api.negotiation import GEO_JSON, JSON_LD, link_header
from smartby.api.request import TENANT_HEADER
from smartby.ngsild.context import CORE_CONTEXT_URL, Context
from smartby.ngsild.entity import ENTITY_MEMBERS, Entity, Renderer


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
    return Response(orjson.dumps(data), status_code=status, media_type=media, headers=out_headers)


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


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def linked_view(
    renderer: Renderer, entities: list[Entity], linked: dict[str, Entity], join: str | None, hops: int
) -> list[dict[str, Any]]:
    """Entities rendered with Linked Entity Retrieval (clause 4.5.23): `inline` puts each linked
    entity under its Relationship (as `entity`, or as the value when simplified), `flat` appends the
    linked entities to the list."""
    if join == "inline":
        return [_inlined(renderer, entity, linked, hops) for entity in entities]
    rendered = [renderer.entity(entity) for entity in entities]
    if join == "flat":
        shown = {entity["id"] for entity in entities}
        rendered += [renderer.entity(e) for e in linked.values() if e["id"] not in shown]
    return rendered


def _inlined(renderer: Renderer, entity: Entity, linked: dict[str, Entity], hops: int) -> dict[str, Any]:
    out = renderer.entity(entity)
    if hops <= 0:
        return out
    for iri, instances in entity.items():
        name = renderer.ctx.compact(iri) if iri not in ENTITY_MEMBERS else None
        if name is None or name not in out or len(instances) != 1:
            continue
        target = instances[0].get("object") if instances[0].get("type") == "Relationship" else None
        if not isinstance(target, str) or target not in linked:
            continue
        embedded = _inlined(renderer, linked[target], linked, hops - 1)
        if renderer.form == "keyValues":
            out[name] = embedded
        elif isinstance(out[name], dict):
            out[name] = {**out[name], "entity": embedded}
    return out
