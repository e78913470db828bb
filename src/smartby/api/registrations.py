"""/ngsi-ld/v1/csourceRegistrations: register, query, retrieve, update and delete context source
registrations (clauses 5.9, 5.10, 6.8, 6.9)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import openapi as oa
from smartby.api.entities import page_links
from smartby.api.negotiation import JSON, JSON_LD, MERGE_PATCH, choose_media_type
from smartby.api.render import json_response, no_content
from smartby.api.request import (
    broker_of,
    check_params,
    flag,
    integer,
    link_context,
    names_param,
    options_of,
    read_body,
    tenant_of,
)
from smartby.broker import DEFAULT_TENANT
from smartby.broker.queries import check_pattern, geo_from_params, type_query
from smartby.broker.registrations import render_registration
from smartby.ngsild.context import Context
from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.query import parse_q
from smartby.ngsild.registration import GEO_MEMBERS, RegistrationFilter, compact_registration
from smartby.ngsild.scope import parse_scope_query
from smartby.ngsild.temporal import parse_temporal_query

router = APIRouter(prefix="/ngsi-ld/v1", tags=["Context Source Registrations"])
REGISTRATIONS_PATH = "/ngsi-ld/v1/csourceRegistrations"
NO_PARAMS: frozenset[str] = frozenset()
GET_PARAMS = frozenset({"options"})
QUERY_PARAMS = frozenset(
    {
        "id",
        "type",
        "idPattern",
        "attrs",
        "q",
        "csf",
        "georel",
        "geometry",
        "coordinates",
        "geoproperty",
        "limit",
        "offset",
        "count",
        "options",
        "scopeQ",
        "timerel",
        "timeAt",
        "endTimeAt",
        "timeproperty",
    }
)
OPTIONS = frozenset({"sysAttrs"})


async def _body(request: Request, media: tuple[str, ...]) -> tuple[Any, Context]:
    broker = broker_of(request)
    body = await read_body(request, media, broker.settings.max_body_bytes)
    ctx = await broker.context(body.context)
    return body.data, ctx


@router.post(
    "/csourceRegistrations",
    status_code=201,
    response_class=Response,
    summary="Register a context source",
    openapi_extra=oa.operation(
        [oa.TENANT, oa.LINK], oa.ngsi_body("A CSourceRegistration.", "CSourceRegistration")
    ),
)
async def create_registration(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    data, ctx = await _body(request, (JSON, JSON_LD))
    registration_id = await broker_of(request).registrations.create(tenant, ctx, data)
    headers = {"Location": f"{REGISTRATIONS_PATH}/{quote(registration_id, safe=':')}"}
    if tenant != DEFAULT_TENANT:
        headers["NGSILD-Tenant"] = tenant
    return Response(status_code=201, headers=headers)


def _filter(request: Request, ctx: Context) -> RegistrationFilter:
    params = request.query_params
    ids = (
        tuple(check_entity_id(i.strip()) for i in params["id"].split(",") if i.strip())
        if "id" in params
        else ()
    )
    geo = geo_from_params(
        params.get("georel"), params.get("geometry"), params.get("coordinates"), params.get("geoproperty")
    )
    temporal = parse_temporal_query(
        timerel=params.get("timerel"),
        time_at=params.get("timeAt"),
        end_time_at=params.get("endTimeAt"),
        timeproperty=params.get("timeproperty"),
    )
    if geo is not None and geo.geoproperty not in GEO_MEMBERS:
        raise BadRequestData(f"geoproperty of a registration query is one of {', '.join(GEO_MEMBERS)}")
    return RegistrationFilter(
        ids=ids,
        id_pattern=check_pattern(params["idPattern"]) if "idPattern" in params else None,
        types=type_query(ctx, params["type"]) if "type" in params else None,
        attrs=frozenset(ctx.expand(name) for name in names_param(request, "attrs") or ()),
        geo=geo,
        q=parse_q(params["q"]).map_names(ctx.expand) if "q" in params else None,
        csf=parse_q(params["csf"]).map_names(ctx.expand) if "csf" in params else None,
        scope=parse_scope_query(params["scopeQ"]) if "scopeQ" in params else None,
        temporal=temporal if temporal.timerel is not None else None,
    )


@router.get(
    "/csourceRegistrations",
    summary="Query context source registrations",
    openapi_extra=oa.operation(oa.REGISTRATION_QUERY_PARAMS),
)
async def query_registrations(request: Request) -> Response:
    check_params(request, QUERY_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    sys_attrs = "sysAttrs" in options_of(request, OPTIONS)
    settings = broker.settings
    limit = integer(request, "limit", settings.default_limit, high=settings.max_limit)
    offset = integer(request, "offset", 0)
    selection = _filter(request, ctx)
    found = await broker.registrations.query(tenant, selection)
    if not found:
        await broker.existing_tenant(tenant)
    headers = {}
    if flag(request, "count"):
        headers["NGSILD-Results-Count"] = str(len(found))
    page = found[offset : offset + limit]
    data = [compact_registration(render_registration(item, sys_attrs=sys_attrs), ctx) for item in page]
    response = json_response(request, ctx, data, media, headers=headers)
    for link in page_links(request, REGISTRATIONS_PATH, offset, limit, len(found) > offset + limit, media):
        response.headers.append("Link", link)
    return response


@router.get(
    "/csourceRegistrations/{registrationId:path}",
    summary="Retrieve a context source registration",
    openapi_extra=oa.operation([oa.REGISTRATION_ID, oa.SYS_ATTRS, oa.TENANT, oa.LINK]),
)
async def get_registration(request: Request) -> Response:
    check_params(request, GET_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    sys_attrs = "sysAttrs" in options_of(request, OPTIONS)
    stored = await broker.registrations.get(tenant, request.path_params["registrationId"])
    return json_response(
        request, ctx, compact_registration(render_registration(stored, sys_attrs=sys_attrs), ctx), media
    )


@router.patch(
    "/csourceRegistrations/{registrationId:path}",
    status_code=204,
    summary="Update a context source registration",
    openapi_extra=oa.operation(
        [oa.REGISTRATION_ID, oa.TENANT, oa.LINK],
        oa.ngsi_body("Registration members to replace (null removes).", "CSourceRegistrationPatch"),
    ),
)
async def update_registration(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    data, ctx = await _body(request, (JSON, JSON_LD, MERGE_PATCH))
    await broker_of(request).registrations.update(tenant, request.path_params["registrationId"], ctx, data)
    return no_content(request)


@router.delete(
    "/csourceRegistrations/{registrationId:path}",
    status_code=204,
    summary="Delete a context source registration",
    openapi_extra=oa.operation([oa.REGISTRATION_ID, oa.TENANT, oa.LINK]),
)
async def delete_registration(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    await broker.registrations.delete(tenant, request.path_params["registrationId"], ctx)
    return no_content(request)
