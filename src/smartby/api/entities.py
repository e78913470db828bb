"""/ngsi-ld/v1/entities: create, retrieve, query, replace, merge and the attribute operations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import openapi as oa
from smartby.api.negotiation import (
    ENTITY_OFFERS,
    GEO_JSON,
    JSON,
    JSON_LD,
    MERGE_PATCH,
    choose_media_type,
)
from smartby.api.projections import request_projections
from smartby.api.render import json_response, no_content
from smartby.api.request import (
    Write,
    broker_of,
    check_params,
    flag,
    integer,
    link_context,
    names_param,
    options_of,
    representation,
    tenant_of,
    write_request,
)
from smartby.broker import Broker
from smartby.broker.changes import AttributeOutcome
from smartby.broker.forwarded_writes import EntityWrite, WriteOutcome
from smartby.broker.queries import (
    TYPE_WILDCARD,
    check_csf,
    entity_query,
    geo_from_params,
    holds_any,
    join_of,
    narrows,
    selection,
    selector,
    type_query,
)
from smartby.ngsild.context import Context
from smartby.ngsild.distributed import SourceError
from smartby.ngsild.entity import Entity, LanguagePreference, Renderer
from smartby.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound
from smartby.ngsild.linked import LinkedView, feature_collection, linked_view
from smartby.ngsild.typequery import TypeExpr


class EntityIdConvertor(Convertor[str]):
    """An entity id in a path: anything but a path that goes on to `/attrs`, so that `DELETE
    .../attrs/` is the attribute resource without a name (405), not an entity `<id>/attrs`."""

    regex = r"(?:(?!/attrs(?:/|$)).)*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("entity", EntityIdConvertor())
router = APIRouter(prefix="/ngsi-ld/v1", tags=["Entities"])
ENTITIES_PATH = "/ngsi-ld/v1/entities"
_LINK_SAFE = ":/*,;|()[]{}!<>=~'$^+@"

RETRIEVE_OPTIONS = frozenset({"keyValues", "simplified", "concise", "normalized", "sysAttrs"})
WRITE_OPTIONS = frozenset({"keyValues", "simplified", "concise", "normalized"})

# The query parameters each operation defines (clause 6.3.20: anything else is InvalidRequest).
WRITE_PARAMS = frozenset({"options", "local", "type"})
CREATE_PARAMS = WRITE_PARAMS
DELETE_PARAMS = frozenset({"local", "type"})
DELETE_ATTRIBUTE_PARAMS = frozenset({"datasetId", "deleteAll", "local", "type"})
RETRIEVE_PARAMS = frozenset(
    {"attrs", "pick", "omit", "geometryProperty", "lang", "datasetId", "options", "format", "local"}
    | {"type", "join", "joinLevel"}
)
SELECTION_PARAMS = frozenset(
    {
        "id",
        "idPattern",
        "q",
        "scopeQ",
        "georel",
        "geometry",
        "coordinates",
        "geoproperty",
        "limit",
        "offset",
        "count",
        "csf",
        "expandValues",
        "orderBy",
    }
)
"""What selects entities in a query, for the temporal query too."""
FORWARDED_PARAMS = frozenset(
    {
        "id",
        "type",
        "idPattern",
        "attrs",
        "q",
        "scopeQ",
        "georel",
        "geometry",
        "coordinates",
        "geoproperty",
        "csf",
    }
)
"""What a query sends on to the context sources it is forwarded to (docs/federation.md)."""
QUERY_PARAMS = RETRIEVE_PARAMS | SELECTION_PARAMS


async def _context(request: Request) -> Context:
    return await broker_of(request).context(link_context(request))


def renderer_for(request: Request, ctx: Context, options: set[str]) -> Renderer:
    """A Renderer from attrs/pick/omit/lang/datasetId and the representation options."""
    projected = request_projections(request)
    chosen = selection(
        ctx, attrs=names_param(request, "attrs"), pick=projected.pick_names, omit=projected.omit_names
    )
    lang = request.query_params.get("lang")
    datasets = request.query_params.get("datasetId")
    dataset_ids: set[str | None] | None = None
    if datasets is not None:
        dataset_ids = {None if d.strip() == "@none" else d.strip() for d in datasets.split(",") if d.strip()}
    return Renderer(
        ctx,
        form=representation(options),  # type: ignore[arg-type]
        sys_attrs="sysAttrs" in options,
        pick=chosen.pick,
        omit=chosen.omit,
        lang=LanguagePreference(lang) if lang else None,
        dataset_ids=dataset_ids,
    )


def _type_selector(request: Request, ctx: Context) -> TypeExpr | None:
    wanted = request.query_params.get("type")
    return type_query(ctx, wanted) if wanted not in (None, TYPE_WILDCARD) else None


def _check_geometry_property(request: Request, media: str) -> None:
    if "geometryProperty" in request.query_params and media != GEO_JSON:
        raise BadRequestData("geometryProperty needs Accept: application/geo+json")


def _geometry_property(request: Request, ctx: Context) -> str:
    return ctx.expand(request.query_params.get("geometryProperty") or "location")


def _entity_path(entity_id: str, suffix: str = "") -> str:
    return f"{ENTITIES_PATH}/{quote(entity_id, safe=':')}{suffix}"


def _sent_params(request: Request) -> dict[str, str]:
    """The query parameters a write sends on to context sources (never `local`)."""
    return {name: value for name, value in request.query_params.items() if name != "local"}


async def _distributed(
    request: Request,
    call: Write,
    write: EntityWrite,
    local: Callable[[dict[str, Any] | None], Awaitable[Any]],
) -> WriteOutcome:
    """A write to one entity, here and at the context sources it concerns (docs/federation.md)."""
    return await call.broker.federation_writes.write(
        call.tenant,
        call.ctx,
        write,
        local,
        local_only=flag(request, "local"),
        via=request.headers.get("via"),
    )


def _attribute_write(request: Request, call: Write, operation: str, method: str) -> EntityWrite:
    """A write of one attribute (its path's entity and attribute) as context sources are sent it."""
    entity_id, attr = request.path_params["entityId"], request.path_params["attrId"]
    return EntityWrite(
        operation,
        method,
        _entity_path(entity_id, f"/attrs/{quote(attr, safe=':')}"),
        entity_id,
        call.data if isinstance(call.data, dict) else None,
        _sent_params(request),
        attribute=call.ctx.expand(attr),
    )


def _update_result(request: Request, ctx: Context, outcome: WriteOutcome, entity_id: str) -> Response:
    """207 with the UpdateResult of clause 5.2.18, each notUpdated naming the registration of the
    context source that did not write it (or, for a deleted entity, a BatchOperationResult)."""
    if any(name is None for name, _ in outcome.not_updated):
        errors = [entity_error(entity_id, error) for _, error in outcome.not_updated]
        success = [entity_id] if outcome.updated or outcome.result is not None else []
        return json_response(request, None, {"success": success, "errors": errors}, JSON, status=207)
    not_updated = []
    for name, error in outcome.not_updated:
        item = {"attributeName": ctx.compact(str(name)), "reason": error.detail}
        if isinstance(error, SourceError):
            item["registrationId"] = error.registration_id
        not_updated.append(item)
    body = {"updated": [ctx.compact(name) for name in outcome.updated], "notUpdated": not_updated}
    return json_response(request, None, body, JSON, status=207)


def entity_error(entity_id: str, error: NgsiLdError) -> dict[str, Any]:
    """A BatchEntityError (clause 5.2.17), with the registrationId of a context source's error."""
    item: dict[str, Any] = {"entityId": entity_id, "error": error.problem()}
    if isinstance(error, SourceError):
        item["registrationId"] = error.registration_id
    return item


def _written(request: Request, ctx: Context, outcome: WriteOutcome) -> Response:
    if not outcome.complete:
        return _update_result(request, ctx, outcome, request.path_params["entityId"])
    if not outcome.distributed and isinstance(outcome.result, AttributeOutcome):
        return _outcome_response(request, ctx, outcome.result)
    return no_content(request)


def _outcome_response(request: Request, ctx: Context, outcome: AttributeOutcome) -> Response:
    if outcome.complete:
        return no_content(request)
    body = {
        "updated": [ctx.compact(name) for name in outcome.updated],
        "notUpdated": [
            {"attributeName": ctx.compact(name), "reason": reason} for name, reason in outcome.not_updated
        ],
    }
    return json_response(request, None, body, JSON, status=207)


@router.post(
    "/entities",
    status_code=201,
    response_class=Response,
    summary="Create an entity",
    openapi_extra=oa.operation(
        [oa.TENANT, oa.LINK, oa.LOCAL], oa.ngsi_body("The entity to create.", "Entity")
    ),
)
async def create_entity(request: Request) -> Response:
    call = await write_request(request, CREATE_PARAMS, WRITE_OPTIONS)
    data = call.data
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("id"), str)
        or not isinstance(data.get("type"), str | list)
    ):
        entity_id = await call.broker.create_entity(call.tenant, call.ctx, data, key_values=call.key_values)
        return Response(status_code=201, headers=_created_headers(request, entity_id))
    kinds = data["type"] if isinstance(data["type"], list) else [data["type"]]
    write = EntityWrite(
        "createEntity",
        "POST",
        ENTITIES_PATH,
        data["id"],
        data,
        _sent_params(request),
        types=[call.ctx.expand(str(kind)) for kind in kinds],
    )

    async def local(body: dict[str, Any] | None) -> str:
        return await call.broker.create_entity(call.tenant, call.ctx, body, key_values=call.key_values)

    outcome = await _distributed(request, call, write, local)
    if not outcome.complete:
        return _update_result(request, call.ctx, outcome, data["id"])
    return Response(status_code=201, headers=_created_headers(request, data["id"]))


def _created_headers(request: Request, entity_id: str) -> dict[str, str]:
    headers = {"Location": f"/ngsi-ld/v1/entities/{quote(entity_id, safe=':')}"}
    tenant = request.headers.get("ngsild-tenant")
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    return headers


@router.get(
    "/entities",
    summary="Query entities",
    openapi_extra=oa.operation(oa.QUERY_PARAMS),
)
async def query_entities(request: Request) -> Response:
    check_params(request, QUERY_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"), ENTITY_OFFERS)
    broker = broker_of(request)
    ctx = await _context(request)
    options = options_of(request, RETRIEVE_OPTIONS)
    params = request.query_params
    ids = [i.strip() for i in params["id"].split(",") if i.strip()] if "id" in params else []
    attrs = names_param(request, "attrs")
    geo = geo_from_params(
        params.get("georel"), params.get("geometry"), params.get("coordinates"), params.get("geoproperty")
    )
    if params.get("type") == TYPE_WILDCARD and params.get("local") == "false":
        raise BadRequestData("type=* implies local=true; it cannot be combined with local=false")
    if "csf" in params:
        check_csf(params["csf"])
    _check_geometry_property(request, media)
    join, hops = join_of(params.get("join"), params.get("joinLevel"))
    filters = ("id", "type", "idPattern", "scopeQ", "georel")
    if (
        not any(name in params for name in filters)
        and not narrows(params.get("q"), attrs)
        and not flag(request, "local")
    ):
        raise BadRequestData(
            "Give at least one of type, id, idPattern, attrs, q (on a non-system attribute), geo-query"
            " or scopeQ (or local=true)"
        )
    settings = broker.settings
    limit = integer(request, "limit", settings.default_limit, high=settings.max_limit)
    offset = integer(request, "offset", 0)
    chosen = (
        [selector(ctx, ids=ids, id_pattern=params.get("idPattern"), types=params.get("type"))]
        if any(name in params for name in ("id", "idPattern", "type"))
        else []
    )
    query = entity_query(
        ctx,
        selectors=chosen,
        q=params.get("q"),
        geo=geo,
        scope_q=params.get("scopeQ"),
        attrs=attrs,
        limit=limit + 1,
        offset=offset,
        count=flag(request, "count"),
        expand_values=names_param(request, "expandValues") or (),
        order_by=params.get("orderBy"),
    )
    renderer = renderer_for(request, ctx, options)
    view = request_projections(request).view(renderer, join, hops)
    result, forwarded = await broker.federation.query(
        tenant,
        ctx,
        query,
        {name: value for name, value in params.items() if name in FORWARDED_PARAMS},
        local_only=flag(request, "local"),
        via=request.headers.get("via"),
    )
    headers = {}
    if result.count is not None:
        headers["NGSILD-Results-Count"] = str(result.count)
    more = len(result.entities) > limit
    page = result.entities[:limit]
    linked = await linked_for(broker, tenant, page, join, hops, view)
    response = render_entities(request, ctx, renderer, media, page, headers, linked)
    for link in page_links(request, ENTITIES_PATH, offset, limit, more, media):
        response.headers.append("Link", link)
    for failure in forwarded.failures:
        response.headers.append("NGSILD-Warning", failure.warning())
    return response


PURGE_PARAMS = frozenset(
    {"type", "id", "idPattern", "q", "scopeQ", "georel", "geometry", "coordinates", "geoproperty"}
    | {"keep", "drop", "local"}
)


@router.delete(
    "/entities",
    status_code=204,
    summary="Purge entities",
    openapi_extra=oa.operation(
        [
            oa.query("type", "Entity types to purge (this or q is needed)."),
            oa.query("q", "Only entities this query selects (this or type is needed)."),
            oa.query("id", "Only these entity ids."),
            oa.query("idPattern", "Only entity ids matching this regular expression."),
            oa.query("scopeQ", "Only entities in these scopes."),
            oa.query("keep", "Keep only these attributes (the entities stay); not with drop."),
            oa.query("drop", "Delete only these attributes (the entities stay); not with keep."),
            oa.LOCAL,
            oa.TENANT,
            oa.LINK,
        ]
    ),
)
async def purge_entities(request: Request) -> Response:
    """Purge Entities (clause 5.6.21 and 6.4.3.3 of V1.9.1): what a query selects is deleted, or
    only some of its attributes with `keep`/`drop`."""
    check_params(request, PURGE_PARAMS)
    tenant = tenant_of(request)
    broker = broker_of(request)
    ctx = await _context(request)
    params = request.query_params
    if "type" not in params and "q" not in params:
        raise BadRequestData("Purge Entities needs type or q: it never purges everything unasked")
    ids = [i.strip() for i in params["id"].split(",") if i.strip()] if "id" in params else []
    geo = geo_from_params(
        params.get("georel"), params.get("geometry"), params.get("coordinates"), params.get("geoproperty")
    )
    query = entity_query(
        ctx,
        selectors=[selector(ctx, ids=ids, id_pattern=params.get("idPattern"), types=params.get("type"))],
        q=params.get("q"),
        geo=geo,
        scope_q=params.get("scopeQ"),
        limit=1,
    )
    keep, drop = names_param(request, "keep"), names_param(request, "drop")
    await broker.purge_entities(
        tenant,
        query,
        keep=None if keep is None else [ctx.expand(name) for name in keep],
        drop=None if drop is None else [ctx.expand(name) for name in drop],
    )
    return no_content(request)


def page_links(request: Request, path: str, offset: int, limit: int, more: bool, media: str) -> list[str]:
    """The prev and next Link headers of a page of results (clause 4.12, 6.3.13)."""
    if limit == 0:
        return []
    links = []
    if offset > 0:
        links.append(_page_link(request, path, max(offset - limit, 0), "prev", media))
    if more:
        links.append(_page_link(request, path, offset + limit, "next", media))
    return links


def _page_link(request: Request, path: str, offset: int, rel: str, media: str) -> str:
    params = {name: value for name, value in request.query_params.items() if name != "offset"}
    params["offset"] = str(offset)
    query = "&".join(f"{name}={quote(value, safe=_LINK_SAFE)}" for name, value in sorted(params.items()))
    return f'<{path}?{query}>; rel="{rel}";type="{media}"'


def render_entities(
    request: Request,
    ctx: Context,
    renderer: Renderer,
    media: str,
    entities: list[Entity],
    headers: dict[str, str],
    linked: Linked | None = None,
) -> Response:
    data: Any
    if media == GEO_JSON:
        geometry = _geometry_property(request, ctx)
        data = feature_collection([renderer.feature(entity, geometry) for entity in entities])
    elif linked is not None:
        data = linked_view(renderer, entities, linked.entities, linked.join, linked.hops, linked.view)
    else:
        data = [renderer.entity(entity) for entity in entities]
    return json_response(request, ctx, data, media, headers=headers)


@dataclass
class Linked:
    """What Linked Entity Retrieval (join, joinLevel) fetched for a response."""

    join: str
    hops: int
    entities: dict[str, Entity]
    view: LinkedView | None = None
    """How pick and omit show the linked entities (None: as the request's own)."""


async def linked_for(
    broker: Broker,
    tenant: str,
    entities: list[Entity],
    join: str | None,
    hops: int,
    view: LinkedView | None = None,
) -> Linked | None:
    if join is None:
        return None
    return Linked(join, hops, await broker.linked_entities(tenant, entities, hops), view)


@router.patch(
    "/entities/{entityId:path}/attrs/{attrId}",
    status_code=204,
    summary="Partial attribute update",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.ATTR_ID, oa.TENANT, oa.LINK],
        oa.ngsi_body("The attribute fragment.", "AttributeObject"),
    ),
)
async def partial_update_attribute(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, frozenset(), (JSON, JSON_LD, MERGE_PATCH))
    entity_id, attr = request.path_params["entityId"], request.path_params["attrId"]
    of_type = _type_selector(request, call.ctx)
    write = _attribute_write(request, call, "updateAttrs", "PATCH")

    async def local(body: dict[str, Any] | None) -> None:
        await call.broker.partial_update_attribute(
            call.tenant, entity_id, call.ctx, attr, call.data, of_type=of_type
        )

    return _written(request, call.ctx, await _distributed(request, call, write, local))


@router.put(
    "/entities/{entityId:path}/attrs/{attrId}",
    status_code=204,
    summary="Replace an attribute",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.ATTR_ID, oa.TENANT, oa.LINK], oa.ngsi_body("The new attribute.", "AttributeObject")
    ),
)
async def replace_attribute(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, frozenset())
    entity_id, attr = request.path_params["entityId"], request.path_params["attrId"]
    write = _attribute_write(request, call, "replaceAttrs", "PUT")

    async def local(body: dict[str, Any] | None) -> None:
        await call.broker.replace_attribute(call.tenant, entity_id, call.ctx, attr, call.data)

    return _written(request, call.ctx, await _distributed(request, call, write, local))


@router.delete(
    "/entities/{entityId:path}/attrs/{attrId}",
    status_code=204,
    summary="Delete an attribute",
    openapi_extra=oa.operation(
        [
            oa.ENTITY_ID,
            oa.ATTR_ID,
            oa.query("datasetId", "Delete the instance with this datasetId."),
            oa.query(
                "deleteAll", "true: delete every instance.", {"type": "string", "enum": ["true", "false"]}
            ),
            oa.TENANT,
            oa.LINK,
        ]
    ),
)
async def delete_attribute(request: Request) -> Response:
    check_params(request, DELETE_ATTRIBUTE_PARAMS)
    tenant = tenant_of(request)
    broker = broker_of(request)
    ctx = await _context(request)
    entity_id, attr = request.path_params["entityId"], request.path_params["attrId"]
    of_type = _type_selector(request, ctx)
    dataset_id = request.query_params.get("datasetId")
    delete_all = flag(request, "deleteAll")
    write = EntityWrite(
        "deleteAttrs",
        "DELETE",
        _entity_path(entity_id, f"/attrs/{quote(attr, safe=':')}"),
        entity_id,
        params=_sent_params(request),
        attribute=ctx.expand(attr),
    )

    async def local(body: dict[str, Any] | None) -> None:
        await broker.delete_attribute(
            tenant, entity_id, ctx, attr, dataset_id=dataset_id, delete_all=delete_all, of_type=of_type
        )

    call = Write(broker, tenant, None, set(), ctx)
    return _written(request, ctx, await _distributed(request, call, write, local))


@router.post(
    "/entities/{entityId:path}/attrs",
    status_code=204,
    summary="Append attributes",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.options(["noOverwrite"], formats=()), oa.TENANT, oa.LINK],
        oa.ngsi_body("The attributes to append.", "Attributes"),
    ),
)
async def append_attributes(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, WRITE_OPTIONS | {"noOverwrite"})
    entity_id = request.path_params["entityId"]
    of_type = _type_selector(request, call.ctx)

    async def local(body: dict[str, Any] | None) -> AttributeOutcome:
        return await call.broker.append_attributes(
            call.tenant,
            entity_id,
            call.ctx,
            body,
            overwrite="noOverwrite" not in call.options,
            key_values=call.key_values,
            of_type=of_type,
        )

    return await _attributes_write(request, call, "appendAttrs", "POST", local)


@router.patch(
    "/entities/{entityId:path}/attrs",
    status_code=204,
    summary="Update attributes",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.TENANT, oa.LINK], oa.ngsi_body("The attributes to update.", "Attributes")
    ),
)
async def update_attributes(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, WRITE_OPTIONS)
    entity_id = request.path_params["entityId"]
    of_type = _type_selector(request, call.ctx)

    async def local(body: dict[str, Any] | None) -> AttributeOutcome:
        return await call.broker.update_attributes(
            call.tenant, entity_id, call.ctx, body, key_values=call.key_values, of_type=of_type
        )

    return await _attributes_write(request, call, "updateEntity", "PATCH", local)


async def _attributes_write(
    request: Request,
    call: Write,
    operation: str,
    method: str,
    local: Callable[[dict[str, Any] | None], Awaitable[Any]],
    suffix: str = "/attrs",
) -> Response:
    """A write of an entity's attributes, its body split among this broker and the context sources
    that hold them."""
    entity_id = request.path_params["entityId"]
    if not isinstance(call.data, dict):
        return _written(request, call.ctx, WriteOutcome(result=await local(call.data)))
    write = EntityWrite(
        operation, method, _entity_path(entity_id, suffix), entity_id, call.data, _sent_params(request)
    )
    return _written(request, call.ctx, await _distributed(request, call, write, local))


@router.get(
    "/entities/{entityId:entity}",
    summary="Retrieve an entity",
    openapi_extra=oa.operation(
        [
            oa.ENTITY_ID,
            oa.ATTRS,
            oa.PICK,
            oa.OMIT,
            oa.GEOMETRY_PROPERTY,
            oa.LANG,
            oa.DATASET_ID,
            oa.options(RETRIEVE_OPTIONS),
            oa.FORMAT,
            oa.LOCAL,
            oa.TENANT,
            oa.LINK,
        ]
    ),
)
async def retrieve_entity(request: Request) -> Response:
    if not request.scope["query_string"] and not await broker_of(request).federation.has_sources(
        tenant_of(request)
    ):
        return await _retrieve_plain(request)
    check_params(request, RETRIEVE_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"), ENTITY_OFFERS)
    broker = broker_of(request)
    ctx = await _context(request)
    options = options_of(request, RETRIEVE_OPTIONS)
    _check_geometry_property(request, media)
    renderer = renderer_for(request, ctx, options)
    join, hops = join_of(request.query_params.get("join"), request.query_params.get("joinLevel"))
    view = request_projections(request).view(renderer, join, hops)
    entity, forwarded = await broker.federation.retrieve(
        tenant,
        ctx,
        request.path_params["entityId"],
        local_only=flag(request, "local"),
        via=request.headers.get("via"),
    )
    selected = _type_selector(request, ctx)
    if selected is not None and not selected.matches(entity["type"]):
        raise ResourceNotFound(f"Entity {entity['id']} is not of type {request.query_params['type']}")
    attrs = names_param(request, "attrs")
    if attrs is not None and not holds_any(entity, ctx, attrs):
        raise ResourceNotFound(f"Entity {entity['id']} has none of the attributes {', '.join(attrs)}")
    data: Any
    if media == GEO_JSON:
        data = renderer.feature(entity, _geometry_property(request, ctx))
    elif join is not None:
        linked = await broker.linked_entities(tenant, [entity], hops)
        data = linked_view(renderer, [entity], linked, join, hops, view)
        data = data[0] if join == "inline" else data
    else:
        data = renderer.entity(entity)
    if not data:
        raise ResourceNotFound(f"Nothing of entity {entity['id']} is left after pick and omit")
    response = json_response(request, ctx, data, media)
    for failure in forwarded.failures:
        response.headers.append("NGSILD-Warning", failure.warning())
    return response


_plain_renderers: dict[str, Renderer] = {}


async def _retrieve_plain(request: Request) -> Response:
    """Retrieve Entity without query parameters, the hot path of dashboards and devices: the same
    answer as the general handler gives, without consulting parameters that are not there."""
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"), ENTITY_OFFERS)
    broker = broker_of(request)
    ctx = await _context(request)
    renderer = _plain_renderers.get(ctx.key)
    if renderer is None or renderer.ctx is not ctx:
        renderer = Renderer(ctx)
        if len(_plain_renderers) < 256:
            _plain_renderers[ctx.key] = renderer
    entity = await broker.retrieve_entity(tenant, request.path_params["entityId"])
    if media == GEO_JSON:
        return json_response(request, ctx, renderer.feature(entity, ctx.expand("location")), media)
    return json_response(request, ctx, renderer.entity(entity), media)


@router.put(
    "/entities/{entityId:entity}",
    status_code=204,
    summary="Replace an entity",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.TENANT, oa.LINK],
        oa.ngsi_body("The new entity (its type and attributes).", "Replacement"),
    ),
)
async def replace_entity(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, WRITE_OPTIONS)
    entity_id = request.path_params["entityId"]

    async def local(body: dict[str, Any] | None) -> None:
        await call.broker.replace_entity(call.tenant, entity_id, call.ctx, body, key_values=call.key_values)

    return await _attributes_write(request, call, "replaceEntity", "PUT", local, "")


@router.patch(
    "/entities/{entityId:entity}",
    status_code=204,
    summary="Merge an entity (merge-patch)",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.TENANT, oa.LINK], oa.ngsi_body("The fragment to merge.", "Attributes")
    ),
)
async def merge_entity(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, WRITE_OPTIONS, (JSON, JSON_LD, MERGE_PATCH))
    entity_id = request.path_params["entityId"]

    async def local(body: dict[str, Any] | None) -> None:
        await call.broker.merge_entity(call.tenant, entity_id, call.ctx, body, key_values=call.key_values)

    return await _attributes_write(request, call, "mergeEntity", "PATCH", local, "")


@router.delete(
    "/entities/{entityId:entity}",
    status_code=204,
    summary="Delete an entity",
    openapi_extra=oa.operation([oa.ENTITY_ID, oa.TENANT, oa.LINK]),
)
async def delete_entity(request: Request) -> Response:
    check_params(request, DELETE_PARAMS)
    tenant = tenant_of(request)
    ctx = await _context(request)
    of_type = _type_selector(request, ctx) if "type" in request.query_params else None
    entity_id = request.path_params["entityId"]
    broker = broker_of(request)
    write = EntityWrite(
        "deleteEntity", "DELETE", _entity_path(entity_id), entity_id, params=_sent_params(request)
    )

    async def local(body: dict[str, Any] | None) -> bool:
        await broker.delete_entity(tenant, entity_id, of_type=of_type)
        return True

    return _written(
        request, ctx, await _distributed(request, Write(broker, tenant, None, set(), ctx), write, local)
    )
