"""/ngsi-ld/v1/types and /attributes: what kinds of entities and attributes a tenant holds."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import openapi as oa
from smartby.api.negotiation import choose_media_type
from smartby.api.render import json_response
from smartby.api.request import broker_of, check_params, flag, link_context, tenant_of
from smartby.broker.federation import Forwarded
from smartby.ngsild.entity import ENTITY_MEMBERS
from smartby.ngsild.errors import ResourceNotFound

router = APIRouter(prefix="/ngsi-ld/v1", tags=["Discovery"])
LIST_PARAMS = frozenset({"details", "local", "count"})
INFO_PARAMS = frozenset({"local"})
DETAILS = oa.query(
    "details", "true: full descriptions instead of names.", {"type": "string", "enum": ["true", "false"]}
)


def _warned(response: Response, forwarded: Forwarded) -> Response:
    """The answer with an NGSILD-Warning for each context source that could not contribute."""
    for failure in forwarded.failures:
        response.headers.append("NGSILD-Warning", failure.warning())
    return response


@router.get("/types", summary="Entity types", openapi_extra=oa.operation([DETAILS, oa.TENANT, oa.LINK]))
async def types(request: Request) -> Response:
    check_params(request, LIST_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    details = flag(request, "details")
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    infos, forwarded = await broker.federation.entity_types(
        tenant, ctx, local_only=flag(request, "local"), via=request.headers.get("via")
    )
    if details:
        data: object = [
            {
                "id": info.type,
                "type": "EntityType",
                "typeName": ctx.compact(info.type),
                "attributeNames": sorted(ctx.compact(name) for name in info.attributes),
            }
            for info in infos
        ]
    else:
        data = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": sorted(ctx.compact(info.type) for info in infos),
        }
    return _warned(json_response(request, ctx, data, media), forwarded)


@router.get(
    "/types/{type:path}",
    summary="One entity type",
    openapi_extra=oa.operation([oa.path("type", "The entity type."), oa.TENANT, oa.LINK]),
)
async def type_info(request: Request) -> Response:
    check_params(request, INFO_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    info, forwarded = await broker.federation.type_info(
        tenant,
        ctx,
        request.path_params["type"],
        local_only=flag(request, "local"),
        via=request.headers.get("via"),
    )
    if info is not None:
        data = {
            "id": info.type,
            "type": "EntityTypeInfo",
            "typeName": ctx.compact(info.type),
            "entityCount": info.count,
            "attributeDetails": [
                {
                    "id": name,
                    "type": "Attribute",
                    "attributeName": ctx.compact(name),
                    "attributeTypes": sorted(kinds),
                }
                for name, kinds in sorted(info.attributes.items())
            ],
        }
        return _warned(json_response(request, ctx, data, media), forwarded)
    raise ResourceNotFound(f"No entities of type {request.path_params['type']}")


@router.get("/attributes", summary="Attributes", openapi_extra=oa.operation([DETAILS, oa.TENANT, oa.LINK]))
async def attributes(request: Request) -> Response:
    check_params(request, LIST_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    details = flag(request, "details")
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    infos, forwarded = await broker.federation.attributes(
        tenant, ctx, local_only=flag(request, "local"), via=request.headers.get("via")
    )
    if details:
        data: object = [
            {
                "id": info.name,
                "type": "Attribute",
                "attributeName": ctx.compact(info.name),
                "typeNames": sorted(ctx.compact(t) for t in info.types),
            }
            for info in infos
        ]
    else:
        data = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}",
            "type": "AttributeList",
            "attributeList": sorted(ctx.compact(info.name) for info in infos),
        }
    return _warned(json_response(request, ctx, data, media), forwarded)


@router.get(
    "/attributes/{attrId:path}",
    summary="One attribute",
    openapi_extra=oa.operation([oa.path("attrId", "The attribute name."), oa.TENANT, oa.LINK]),
)
async def attribute_info(request: Request) -> Response:
    check_params(request, INFO_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    if request.path_params["attrId"] in ENTITY_MEMBERS:
        raise ResourceNotFound(f"{request.path_params['attrId']} is an entity member, not an attribute")
    info, forwarded = await broker.federation.attribute_info(
        tenant,
        ctx,
        request.path_params["attrId"],
        local_only=flag(request, "local"),
        via=request.headers.get("via"),
    )
    if info is not None:
        data = {
            "id": info.name,
            "type": "Attribute",
            "attributeName": ctx.compact(info.name),
            "attributeCount": info.count,
            "attributeTypes": sorted(info.attribute_types),
            "typeNames": sorted(ctx.compact(t) for t in info.types),
        }
        return _warned(json_response(request, ctx, data, media), forwarded)
    raise ResourceNotFound(f"No attribute {request.path_params['attrId']}")
