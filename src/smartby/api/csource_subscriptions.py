"""/ngsi-ld/v1/csourceSubscriptions: create, list, retrieve, update and delete subscriptions to
context source registrations (clauses 5.11, 6.12, 6.13)."""

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
    options_of,
    read_body,
    tenant_of,
)
from smartby.broker import DEFAULT_TENANT
from smartby.broker.subscriptions import render_subscription
from smartby.records.notifications import StoredSubscription

router = APIRouter(prefix="/ngsi-ld/v1", tags=["Context Source Subscriptions"])
SUBSCRIPTIONS_PATH = "/ngsi-ld/v1/csourceSubscriptions"
NO_PARAMS: frozenset[str] = frozenset()
LIST_PARAMS = frozenset({"limit", "offset", "count", "options"})
GET_PARAMS = frozenset({"options"})
OPTIONS = frozenset({"sysAttrs"})
SUBSCRIPTION_ID = oa.path("subscriptionId", "The subscription id (a URI).")


def _render(stored: StoredSubscription, sys_attrs: bool) -> dict[str, Any]:
    document = render_subscription(stored)
    if sys_attrs:
        document["createdAt"] = stored.created_at
        document["modifiedAt"] = stored.modified_at
    return document


async def _body(request: Request, media: tuple[str, ...] = (JSON, JSON_LD)) -> tuple[Any, Any]:
    """The body and the @context it was written with (Link header or @context member)."""
    broker = broker_of(request)
    body = await read_body(request, media, broker.settings.max_body_bytes)
    await broker.context(body.context)
    return body.data, body.context


@router.post(
    "/csourceSubscriptions",
    status_code=201,
    response_class=Response,
    summary="Subscribe to context source registrations",
    openapi_extra=oa.operation([oa.TENANT, oa.LINK], oa.ngsi_body("A Subscription.", "CSourceSubscription")),
)
async def create_csource_subscription(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    data, context = await _body(request)
    subscription_id = await broker_of(request).csource_subscriptions.create(tenant, context, data)
    headers = {"Location": f"{SUBSCRIPTIONS_PATH}/{quote(subscription_id, safe=':')}"}
    if tenant != DEFAULT_TENANT:
        headers["NGSILD-Tenant"] = tenant
    return Response(status_code=201, headers=headers)


@router.get(
    "/csourceSubscriptions",
    summary="List csource subscriptions",
    openapi_extra=oa.operation([*oa.PAGING, oa.SYS_ATTRS, oa.TENANT, oa.LINK]),
)
async def list_csource_subscriptions(request: Request) -> Response:
    check_params(request, LIST_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    broker = broker_of(request)
    settings = broker.settings
    limit = integer(request, "limit", settings.default_limit, high=settings.max_limit)
    offset = integer(request, "offset", 0)
    ctx = await broker.context(link_context(request))
    page, count = await broker.csource_subscriptions.page(tenant, limit + 1, offset, flag(request, "count"))
    if not page and offset == 0:
        await broker.existing_tenant(tenant)
    headers = {}
    if count is not None:
        headers["NGSILD-Results-Count"] = str(count)
    sys_attrs = "sysAttrs" in options_of(request, OPTIONS)
    data = [_render(item, sys_attrs) for item in page[:limit]]
    response = json_response(request, ctx, data, media, headers=headers)
    for link in page_links(request, SUBSCRIPTIONS_PATH, offset, limit, len(page) > limit, media):
        response.headers.append("Link", link)
    return response


@router.get(
    "/csourceSubscriptions/{subscriptionId:path}",
    summary="Retrieve a csource subscription",
    openapi_extra=oa.operation([SUBSCRIPTION_ID, oa.SYS_ATTRS, oa.TENANT, oa.LINK]),
)
async def get_csource_subscription(request: Request) -> Response:
    check_params(request, GET_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    stored = await broker.csource_subscriptions.get(tenant, request.path_params["subscriptionId"])
    return json_response(request, ctx, _render(stored, "sysAttrs" in options_of(request, OPTIONS)), media)


@router.patch(
    "/csourceSubscriptions/{subscriptionId:path}",
    status_code=204,
    summary="Update a csource subscription",
    openapi_extra=oa.operation(
        [SUBSCRIPTION_ID, oa.TENANT, oa.LINK],
        oa.ngsi_body("Subscription members to replace.", "CSourceSubscriptionPatch"),
    ),
)
async def update_csource_subscription(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    data, context = await _body(request, (JSON, JSON_LD, MERGE_PATCH))
    await broker_of(request).csource_subscriptions.update(
        tenant, request.path_params["subscriptionId"], context, data
    )
    return no_content(request)


@router.delete(
    "/csourceSubscriptions/{subscriptionId:path}",
    status_code=204,
    summary="Delete a csource subscription",
    openapi_extra=oa.operation([SUBSCRIPTION_ID, oa.TENANT]),
)
async def delete_csource_subscription(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    await broker_of(request).csource_subscriptions.delete(tenant, request.path_params["subscriptionId"])
    return no_content(request)
