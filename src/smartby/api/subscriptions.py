"""/ngsi-ld/v1/subscriptions: create, list, retrieve, update and delete subscriptions (clause 6.10, 6.11)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.convertors import Convertor, register_url_convertor
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
    read_body,
    tenant_of,
)
from smartby.broker import DEFAULT_TENANT


class SubscriptionIdConvertor(Convertor[str]):
    """A subscription id in a path: at least one character, so that `/subscriptions/` is the
    collection, where PATCH and DELETE are not allowed (405), not a subscription with an empty id."""

    regex = r".+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("subscription", SubscriptionIdConvertor())
router = APIRouter(prefix="/ngsi-ld/v1", tags=["Subscriptions"])
SUBSCRIPTIONS_PATH = "/ngsi-ld/v1/subscriptions"
NO_PARAMS: frozenset[str] = frozenset()
LIST_PARAMS = frozenset({"limit", "offset", "count"})
SUBSCRIPTION_ID = oa.path("subscriptionId", "The subscription id (a URI).")


async def _body(request: Request, media: tuple[str, ...] = (JSON, JSON_LD)) -> tuple[Any, Any, str | None]:
    """The body, the @context it was written with (Link header or @context member), and for an
    inline @context (an object, or an array other than one URL) the URL of the ImplicitlyCreated
    context it is kept as (clause 5.13.1), which JSON notifications link to."""
    broker = broker_of(request)
    body = await read_body(request, media, broker.settings.max_body_bytes)
    await broker.context(body.context)
    context = body.context
    link = None
    if context is not None and not _one_url(context):
        data = body.data if isinstance(body.data, dict) else {}
        created_for = data.get("id") if isinstance(data.get("id"), str) else None
        base = str(request.base_url)
        tenant = tenant_of(request)
        link = await broker.jsonld_contexts.keep_inline(tenant, context, base, created_for=created_for)
    return body.data, context, link


def _one_url(context: Any) -> bool:
    return isinstance(context, str) or (
        isinstance(context, list) and len(context) == 1 and isinstance(context[0], str)
    )


@router.post(
    "/subscriptions",
    status_code=201,
    response_class=Response,
    summary="Create a subscription",
    openapi_extra=oa.operation([oa.TENANT, oa.LINK], oa.ngsi_body("A Subscription.", "Subscription")),
)
async def create_subscription(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    data, context, link = await _body(request)
    subscription_id = await broker_of(request).subscriptions.create(tenant, context, data, link)
    headers = {"Location": f"{SUBSCRIPTIONS_PATH}/{quote(subscription_id, safe=':')}"}
    if tenant != DEFAULT_TENANT:
        headers["NGSILD-Tenant"] = tenant
    return Response(status_code=201, headers=headers)


@router.get(
    "/subscriptions",
    summary="List subscriptions",
    openapi_extra=oa.operation([*oa.PAGING, oa.TENANT, oa.LINK]),
)
async def list_subscriptions(request: Request) -> Response:
    check_params(request, LIST_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    broker = broker_of(request)
    settings = broker.settings
    limit = integer(request, "limit", settings.default_limit, high=settings.max_limit)
    offset = integer(request, "offset", 0)
    ctx = await broker.context(link_context(request))
    page, count = await broker.subscriptions.page(tenant, limit + 1, offset, flag(request, "count"))
    if not page and offset == 0:
        await broker.existing_tenant(tenant)
    headers = {}
    if count is not None:
        headers["NGSILD-Results-Count"] = str(count)
    data = [await broker.subscriptions.shown(item, ctx) for item in page[:limit]]
    response = json_response(request, ctx, data, media, headers=headers)
    for link in page_links(request, SUBSCRIPTIONS_PATH, offset, limit, len(page) > limit, media):
        response.headers.append("Link", link)
    return response


@router.get(
    "/subscriptions/{subscriptionId:subscription}",
    summary="Retrieve a subscription",
    openapi_extra=oa.operation([SUBSCRIPTION_ID, oa.TENANT, oa.LINK]),
)
async def get_subscription(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"))
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    stored = await broker.subscriptions.get(tenant, request.path_params["subscriptionId"])
    return json_response(request, ctx, await broker.subscriptions.shown(stored, ctx), media)


@router.patch(
    "/subscriptions/{subscriptionId:subscription}",
    status_code=204,
    summary="Update a subscription",
    openapi_extra=oa.operation(
        [SUBSCRIPTION_ID, oa.TENANT, oa.LINK],
        oa.ngsi_body("Subscription members to replace.", "SubscriptionPatch"),
    ),
)
async def update_subscription(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    data, context, link = await _body(request, (JSON, JSON_LD, MERGE_PATCH))
    await broker_of(request).subscriptions.update(
        tenant, request.path_params["subscriptionId"], context, data, link
    )
    return no_content(request)


@router.delete(
    "/subscriptions/{subscriptionId:subscription}",
    status_code=204,
    summary="Delete a subscription",
    openapi_extra=oa.operation([SUBSCRIPTION_ID, oa.TENANT]),
)
async def delete_subscription(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant = tenant_of(request)
    await broker_of(request).subscriptions.delete(tenant, request.path_params["subscriptionId"])
    return no_content(request)
