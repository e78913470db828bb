"""/ngsi-ld/v1/temporal: the temporal evolution of entities (query, retrieve, write, delete)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import batch
from smartby.api import openapi as oa
from smartby.api.entities import SELECTION_PARAMS
from smartby.api.negotiation import DEFAULT_OFFERS, JSON, JSON_LD, choose_media_type
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
    write_request,
)
from smartby.broker.history import HistoryPage, history_query
from smartby.broker.queries import check_csf, entity_query, geo_from_params, query_body, selection, selector
from smartby.ngsild.context import Context
from smartby.ngsild.distributed import merge_temporal
from smartby.ngsild.entity import LanguagePreference
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.ngsild.reads import AggregatedEntity, EntitySelector, HistoryQuery, TemporalEntity
from smartby.ngsild.registration import RegistrationFilter
from smartby.ngsild.temporal import (
    InstancePage,
    TemporalQuery,
    next_window,
    parse_temporal_query,
    render_aggregated_entity,
    render_temporal_entity,
    temporal_query_from_json,
)
from smartby.ngsild.timestamps import format_datetime


class TemporalEntityIdConvertor(Convertor[str]):
    """A temporal entity id in a path: not empty (`DELETE /temporal/entities/` is the collection,
    405) and not going on to `/attrs`."""

    regex = r"(?:(?!/attrs(?:/|$)).)+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class AttributeNameConvertor(Convertor[str]):
    """An attribute name in an instance's path, possibly empty: `DELETE .../attrs//{instanceId}`
    names an instance with an invalid (empty) attribute name (400), while PATCH has no such route
    (405), as the ETSI suite expects (017_02_05, 016_02_06)."""

    regex = r"[^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("temporal_entity", TemporalEntityIdConvertor())
register_url_convertor("attribute_name", AttributeNameConvertor())
router = APIRouter(prefix="/ngsi-ld/v1/temporal", tags=["Temporal"])

TEMPORAL_OPTIONS = frozenset(
    {"temporalValues", "aggregatedValues", "sysAttrs", "concise", "normalized", "simplified"}
)
TEMPORAL_PARAMS = frozenset(
    {
        "attrs",
        "pick",
        "omit",
        "lang",
        "datasetId",
        "options",
        "format",
        "local",
        "type",
        "timerel",
        "timeAt",
        "endTimeAt",
        "timeproperty",
        "lastN",
        "aggrMethods",
        "aggrPeriodDuration",
    }
)
QUERY_PARAMS = TEMPORAL_PARAMS | SELECTION_PARAMS
FORMATS = frozenset({"temporalValues", "aggregatedValues", "concise", "normalized", "simplified"})
WINDOW = frozenset({"timerel", "timeAt", "endTimeAt", "lastN"})
"""The parameters the Link to the next page of instances sets (the others it repeats)."""
_LINK_SAFE = ":/*,;|()[]{}!<>=~'$^@"
SYSTEM_NAMES = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt", "observedAt"})

TEMPORAL_FORMAT_DOCS = [
    # aggregatedValues needs aggrMethods and aggrPeriodDuration: declared by them, not here
    oa.options(TEMPORAL_OPTIONS - {"aggregatedValues"}, sorted(FORMATS - {"aggregatedValues"})),
    oa.format_param(sorted(FORMATS - {"aggregatedValues"})),
]
TEMPORAL_QUERY_DOCS = [
    oa.query("timerel", "before, after or between."),
    oa.query("timeAt", "Date-time the timerel refers to."),
    oa.query("endTimeAt", "End of the interval for timerel=between."),
    oa.query(
        "timeproperty",
        "observedAt (default), createdAt, modifiedAt or deletedAt.",
        {"type": "string", "enum": ["observedAt", "createdAt", "modifiedAt", "deletedAt"]},
    ),
    oa.query("lastN", "Only the last N instances of each attribute.", {**oa.INTEGER, "minimum": 1}),
    oa.query("aggrMethods", "totalCount, distinctCount, sum, avg, min, max, stddev, sumsq."),
    oa.query("aggrPeriodDuration", "ISO 8601 duration of the aggregation periods, e.g. PT1H, P1D, P1M."),
]


def _options(request: Request) -> set[str]:
    """The `options` of a temporal request and its `format` (suite 021_19_02, 021_20), read as
    every operation reads them (`options_of`)."""
    return options_of(request, TEMPORAL_OPTIONS, FORMATS)


def _form(options: set[str]) -> str:
    forms = options & {"temporalValues", "simplified", "concise", "normalized", "aggregatedValues"}
    if len(forms) > 1:
        raise BadRequestData(f"Choose one representation, not {', '.join(sorted(forms))}")
    form = forms.pop() if forms else "normalized"
    return "temporalValues" if form == "simplified" else form


def _temporal(request: Request, form: str, *, required: bool) -> TemporalQuery:
    params = request.query_params
    return parse_temporal_query(
        timerel=params.get("timerel"),
        time_at=params.get("timeAt"),
        end_time_at=params.get("endTimeAt"),
        timeproperty=params.get("timeproperty"),
        last_n=params.get("lastN"),
        aggr_methods=params.get("aggrMethods"),
        aggr_period_duration=params.get("aggrPeriodDuration"),
        aggregated=form == "aggregatedValues",
        required=required,
    )


def _dataset_ids(request: Request) -> tuple[str | None, ...] | None:
    datasets = request.query_params.get("datasetId")
    if datasets is None:
        return None
    return tuple(None if d.strip() == "@none" else d.strip() for d in datasets.split(",") if d.strip())


class _View:
    """How the entities of one response are rendered."""

    def __init__(
        self,
        ctx: Context,
        form: str,
        options: set[str],
        temporal: TemporalQuery,
        *,
        attrs: list[str] | None,
        pick: list[str] | None,
        omit: list[str] | None,
        lang: str | None,
        dataset_ids: tuple[str | None, ...] | None,
    ) -> None:
        chosen = selection(ctx, attrs=attrs, pick=pick, omit=omit)
        self.ctx = ctx
        self.form = form
        self.temporal = temporal
        self.sys_attrs = "sysAttrs" in options
        self.pick = chosen.pick
        self.omit = chosen.omit
        self.lang = LanguagePreference(lang) if lang else None
        self.dataset_ids = set(dataset_ids) if dataset_ids is not None else None

    def entity(self, entity: TemporalEntity, emptied: Mapping[str, str] | None = None) -> dict[str, Any]:
        return render_temporal_entity(
            entity.id,
            entity.types,
            entity.scope,
            entity.attributes,
            self.ctx,
            form=self.form,  # type: ignore[arg-type]
            sys_attrs=self.sys_attrs,
            lang=self.lang,
            pick=self.pick,
            omit=self.omit,
            dataset_ids=self.dataset_ids,
            timeproperty=self.temporal.timeproperty,
            system=entity.system,
            emptied=emptied,
        )

    def aggregated(self, entity: AggregatedEntity, attributes: Any) -> dict[str, Any]:
        return render_aggregated_entity(
            entity.id,
            entity.types,
            entity.scope,
            attributes,
            self.ctx,
            methods=self.temporal.aggr_methods,
            pick=self.pick,
            omit=self.omit,
            sys_attrs=self.sys_attrs,
            system=entity.system,
        )

    def page(self, page: HistoryPage) -> tuple[list[dict[str, Any]], int, dict[str, str]]:
        """The entities of a page, and its status and headers: 206 with Content-Range when some
        instances were left for another request (clause 6.3.10)."""
        instances = page.instances
        if instances is None:
            return [self.entity(entity) for entity in page.entities], 200, {}
        data = [
            self.entity(entity, emptied)
            for entity, emptied in zip(page.entities, instances.emptied, strict=True)
        ]
        return data, 206, {"Content-Range": instances.content_range}


def _view(request: Request, ctx: Context, form: str, options: set[str], temporal: TemporalQuery) -> _View:
    return _View(
        ctx,
        form,
        options,
        temporal,
        attrs=names_param(request, "attrs"),
        pick=names_param(request, "pick"),
        omit=names_param(request, "omit"),
        lang=request.query_params.get("lang"),
        dataset_ids=_dataset_ids(request),
    )


@router.get(
    "/entities",
    summary="Query the temporal evolution of entities",
    openapi_extra=oa.operation(
        [
            *(p for p in oa.QUERY_PARAMS if p["name"] not in ("options", "format")),
            *TEMPORAL_FORMAT_DOCS,
            *TEMPORAL_QUERY_DOCS,
        ]
    ),
)
async def query_temporal(request: Request) -> Response:
    check_params(request, QUERY_PARAMS)
    tenant_of(request)
    media = choose_media_type(request.headers.get("accept"), DEFAULT_OFFERS)
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    options = _options(request)
    form = _form(options)
    temporal = _temporal(request, form, required=True)
    params = request.query_params
    attrs = names_param(request, "attrs")
    narrowing = any(name in params for name in ("type", "q", "scopeQ", "georel"))
    if not narrowing and not any(a not in SYSTEM_NAMES for a in attrs or ()) and not flag(request, "local"):
        raise BadRequestData(
            "Give at least one of type, attrs (not only system attributes), q, geo-query or scopeQ"
        )
    if "csf" in params:
        check_csf(params["csf"])
    ids = [i.strip() for i in params["id"].split(",") if i.strip()] if "id" in params else []
    selectors = (
        [selector(ctx, ids=ids, id_pattern=params.get("idPattern"), types=params.get("type"))]
        if any(name in params for name in ("id", "idPattern", "type"))
        else []
    )
    geo = geo_from_params(
        params.get("georel"), params.get("geometry"), params.get("coordinates"), params.get("geoproperty")
    )
    settings = broker.settings
    base = entity_query(
        ctx,
        selectors=selectors,
        q=params.get("q"),
        geo=geo,
        scope_q=params.get("scopeQ"),
        limit=1,
        expand_values=names_param(request, "expandValues") or (),
        order_by=params.get("orderBy"),
    )
    query = history_query(
        temporal,
        selectors=selectors,
        attrs=[ctx.expand(a) for a in attrs or ()],
        base=base,
        limit=integer(request, "limit", settings.default_limit, high=settings.max_limit),
        offset=integer(request, "offset", 0),
        count=flag(request, "count"),
        dataset_ids=_dataset_ids(request),
    )
    filters = _source_filters(selectors, query.attrs)
    return await _answer(request, ctx, media, form, options, temporal, query, filters=filters)


def _source_filters(selectors: Sequence[EntitySelector], attrs: Sequence[str]) -> list[RegistrationFilter]:
    """Which registrations a temporal query is forwarded to (docs/federation.md)."""
    return [
        RegistrationFilter(ids=item.ids, id_pattern=item.id_pattern, types=item.types, attrs=frozenset(attrs))
        for item in selectors
    ] or [RegistrationFilter(attrs=frozenset(attrs))]


async def _with_sources(
    request: Request,
    ctx: Context,
    page: HistoryPage,
    temporal: TemporalQuery,
    filters: list[RegistrationFilter],
    entity_id: str | None,
    limit: int,
    body: dict[str, Any] | None = None,
) -> tuple[HistoryPage, list[str]]:
    """The page with what matching context sources hold merged in (docs/federation.md), and the
    NGSILD-Warning of each source that could not answer."""
    broker = broker_of(request)
    remote, forwarded = await broker.federation.temporal(
        tenant_of(request),
        ctx,
        dict(request.query_params),
        filters,
        entity_id=entity_id,
        local_only=flag(request, "local"),
        via=request.headers.get("via"),
        body=body,
    )
    warnings = [failure.warning() for failure in forwarded.failures]
    if not remote:
        return page, warnings
    merged = merge_temporal(page.entities, remote, temporal.timeproperty, temporal.last_n)[:limit]
    instances = page.instances
    if instances is not None:
        emptied = [*instances.emptied, *({} for _ in range(len(merged) - len(instances.emptied)))]
        instances = dataclasses.replace(instances, emptied=emptied[: len(merged)])
    count = page.count
    if count is not None:
        count += len(merged) - len(page.entities)
    return HistoryPage(merged, count, instances), warnings


async def _answer(
    request: Request,
    ctx: Context,
    media: str,
    form: str,
    options: set[str],
    temporal: TemporalQuery,
    query: HistoryQuery,
    *,
    view: _View | None = None,
    filters: list[RegistrationFilter] | None = None,
    forwarded_body: dict[str, Any] | None = None,
) -> Response:
    broker = broker_of(request)
    tenant = tenant_of(request)
    view = view or _view(request, ctx, form, options, temporal)
    headers: dict[str, str] = {}
    instances: InstancePage | None = None
    warnings: list[str] = []
    if form == "aggregatedValues":
        aggregated = await broker.history.aggregate(tenant, query, temporal)
        data: Any = [view.aggregated(entity, attributes) for entity, attributes in aggregated.entities]
        count, instances = aggregated.count, aggregated.periods
        status = 200 if instances is None else 206
        if instances is not None:
            headers["Content-Range"] = instances.content_range
    else:
        page = await broker.history.query(tenant, query, temporal)
        if filters is not None:
            page, warnings = await _with_sources(
                request, ctx, page, temporal, filters, None, query.limit, forwarded_body
            )
        data, status, headers = view.page(page)
        count, instances = page.count, page.instances
    if count is not None:
        headers["NGSILD-Results-Count"] = str(count)
    response = json_response(request, ctx, data, media, status=status, headers=headers)
    for warning in warnings:
        response.headers.append("NGSILD-Warning", warning)
    if request.method == "GET":
        _link_next_page(request, response, temporal, instances, media)
    return response


def _link_next_page(
    request: Request, response: Response, temporal: TemporalQuery, page: InstancePage | None, media: str
) -> None:
    """A Link to the rest of a cut response (6.3.10): the same request with the window of
    `next_window`, `rel="intervalafter"` forwards and `rel="intervalbefore"` backwards."""
    following = next_window(temporal, page) if page is not None else None
    if page is None or following is None:
        return
    window = {"timerel": str(following.timerel)}
    if following.time_at is not None:
        window["timeAt"] = format_datetime(following.time_at)
    if following.end_time_at is not None:
        window["endTimeAt"] = format_datetime(following.end_time_at)
    if following.last_n is not None:
        window["lastN"] = str(following.last_n)
    kept = [(name, value) for name, value in request.query_params.multi_items() if name not in WINDOW]
    query = "&".join(f"{name}={quote(value, safe=_LINK_SAFE)}" for name, value in [*kept, *window.items()])
    rel = "intervalbefore" if page.backwards else "intervalafter"
    response.headers.append("Link", f'<{request.url.path}?{query}>; rel="{rel}"; type="{media}"')


@router.get(
    "/entities/{entityId:temporal_entity}",
    summary="Retrieve the temporal evolution of an entity",
    openapi_extra=oa.operation(
        [
            oa.ENTITY_ID,
            oa.ATTRS,
            oa.PICK,
            oa.OMIT,
            oa.LANG,
            oa.DATASET_ID,
            *TEMPORAL_FORMAT_DOCS,
            oa.TENANT,
            oa.LINK,
            *TEMPORAL_QUERY_DOCS,
        ]
    ),
)
async def retrieve_temporal(request: Request) -> Response:
    check_params(request, TEMPORAL_PARAMS)
    tenant = tenant_of(request)
    media = choose_media_type(request.headers.get("accept"), DEFAULT_OFFERS)
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    options = _options(request)
    form = _form(options)
    temporal = _temporal(request, form, required=False)
    entity_id = request.path_params["entityId"]
    attrs = names_param(request, "attrs")
    types = request.query_params.get("type")
    query = history_query(
        temporal,
        selectors=[selector(ctx, ids=[entity_id], types=types)],
        attrs=[ctx.expand(a) for a in attrs or ()],
        dataset_ids=_dataset_ids(request),
        limit=1,
    )
    view = _view(request, ctx, form, options, temporal)
    status, headers = 200, dict[str, str]()
    warnings: list[str] = []
    if form == "aggregatedValues":
        aggregated = await broker.history.retrieve_aggregated_page(tenant, entity_id, query, temporal)
        ((entity, attributes),) = aggregated.entities
        data: dict[str, Any] = view.aggregated(entity, attributes)
        instances = aggregated.periods
        if instances is not None:
            status, headers = 206, {"Content-Range": instances.content_range}
    else:
        try:
            found = await broker.history.retrieve(tenant, entity_id, query, temporal)
        except ResourceNotFound:
            found = HistoryPage([], None)
        wanted = RegistrationFilter(ids=(entity_id,), attrs=frozenset(query.attrs))
        found, warnings = await _with_sources(request, ctx, found, temporal, [wanted], entity_id, 1)
        if not found.entities:
            shown = "; ".join(warnings)
            unasked = f" (context sources that could not be asked: {shown})" if shown else ""
            raise ResourceNotFound(f"Entity {entity_id} does not exist{unasked}")
        entities, status, headers = view.page(found)
        data, instances = entities[0], found.instances
    if not data:
        raise ResourceNotFound(f"Nothing of entity {entity_id} is left after pick and omit")
    response = json_response(request, ctx, data, media, status=status, headers=headers)
    for warning in warnings:
        response.headers.append("NGSILD-Warning", warning)
    _link_next_page(request, response, temporal, instances, media)
    return response


FORWARDED_MEMBERS = batch.FORWARDED_MEMBERS | {"temporalQ"}
"""What of a temporal Query body goes on to the context sources it is forwarded to."""


@router.post(
    "/entityOperations/query",
    summary="Query the temporal evolution of entities (POST)",
    openapi_extra=oa.operation(
        [
            *oa.PAGING,
            oa.ORDER_BY,
            *TEMPORAL_FORMAT_DOCS,
            oa.TENANT,
            oa.LINK,
        ],
        oa.ngsi_body("A Query with a temporalQ.", "TemporalQuery"),
    ),
)
async def query_temporal_post(request: Request) -> Response:
    check_params(request, frozenset({"limit", "offset", "count", "options", "format", "local", "orderBy"}))
    media = choose_media_type(request.headers.get("accept"), DEFAULT_OFFERS)
    broker = broker_of(request)
    body = await read_body(request, (JSON, JSON_LD), broker.settings.max_body_bytes)
    data = body.data
    ctx = await broker.context(body.context)
    parsed = query_body(ctx, data)
    options = _options(request)
    form = _form(options)
    temporal = temporal_query_from_json(
        data.get("temporalQ"), data.get("aggrParams"), aggregated=form == "aggregatedValues", required=True
    )
    if temporal.aggregated:
        form = "aggregatedValues"
    parsed.check_narrows()
    selectors, attrs = parsed.selectors, parsed.attrs or []
    geo, q, scope_q = parsed.geo, parsed.q, parsed.scope_q
    settings = broker.settings
    base = entity_query(
        ctx,
        selectors=selectors,
        q=q,
        geo=geo,
        scope_q=scope_q,
        limit=1,
        order_by=request.query_params.get("orderBy"),
    )
    query = history_query(
        temporal,
        selectors=selectors,
        attrs=[ctx.expand(a) for a in attrs],
        base=base,
        limit=integer(request, "limit", settings.default_limit, high=settings.max_limit),
        offset=integer(request, "offset", 0),
        count=flag(request, "count"),
    )
    view = _View(
        ctx,
        form,
        options,
        temporal,
        attrs=attrs or None,
        pick=parsed.pick,
        omit=parsed.omit,
        lang=parsed.lang,
        dataset_ids=None,
    )
    sent = {name: value for name, value in data.items() if name in FORWARDED_MEMBERS}
    return await _answer(
        request,
        ctx,
        media,
        form,
        options,
        temporal,
        query,
        view=view,
        filters=_source_filters(selectors, query.attrs),
        forwarded_body=sent,
    )


# -- writes --------------------------------------------------------------------------------------

WRITE_PARAMS = frozenset({"local"})


@router.post(
    "/entities",
    status_code=201,
    response_class=Response,
    responses=oa.answers(204),
    summary="Create a temporal entity or add instances to one",
    openapi_extra=oa.operation(
        [oa.TENANT, oa.LINK],
        oa.ngsi_body("An entity (each attribute one instance or an array of instances).", "TemporalEntity"),
    ),
)
async def create_temporal(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, frozenset())
    created = await call.broker.history.create(call.tenant, call.ctx, call.data)
    if created:
        entity_id = call.data["id"] if isinstance(call.data, dict) else ""
        return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/temporal/entities/{entity_id}"})
    return no_content(request)


@router.post(
    "/entities/{entityId:path}/attrs",
    status_code=204,
    summary="Add attribute instances",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.TENANT, oa.LINK],
        oa.ngsi_body("Attributes, each one instance or an array of instances.", "TemporalAttributes"),
    ),
)
async def append_temporal(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, frozenset())
    await call.broker.history.append(call.tenant, request.path_params["entityId"], call.ctx, call.data)
    return no_content(request)


@router.patch(
    "/entities/{entityId:path}/attrs/{attrId}/{instanceId}",
    status_code=204,
    summary="Modify one attribute instance",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.ATTR_ID, oa.path("instanceId", "The instanceId."), oa.TENANT, oa.LINK],
        oa.ngsi_body("The instance fragment.", "AttributeObject"),
    ),
)
async def update_instance(request: Request) -> Response:
    call = await write_request(request, WRITE_PARAMS, frozenset())
    params = request.path_params
    await call.broker.history.update_instance(
        call.tenant, params["entityId"], call.ctx, params["attrId"], params["instanceId"], call.data
    )
    return no_content(request)


@router.delete(
    "/entities/{entityId:path}/attrs/{attrId:attribute_name}/{instanceId}",
    status_code=204,
    summary="Delete one attribute instance",
    openapi_extra=oa.operation(
        [oa.ENTITY_ID, oa.ATTR_ID, oa.path("instanceId", "The instanceId."), oa.TENANT, oa.LINK]
    ),
)
async def delete_instance(request: Request) -> Response:
    check_params(request, WRITE_PARAMS)
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    params = request.path_params
    await broker.history.delete_instance(
        tenant_of(request), params["entityId"], ctx, params["attrId"], params["instanceId"]
    )
    return no_content(request)


@router.delete(
    "/entities/{entityId:path}/attrs/{attrId}",
    status_code=204,
    summary="Delete an attribute's history",
    openapi_extra=oa.operation(
        [
            oa.ENTITY_ID,
            oa.ATTR_ID,
            oa.query("datasetId", "Only the instances of this datasetId."),
            oa.query("deleteAll", "true: every datasetId.", {"type": "string", "enum": ["true", "false"]}),
            oa.TENANT,
            oa.LINK,
        ]
    ),
)
async def delete_temporal_attribute(request: Request) -> Response:
    check_params(request, frozenset({"datasetId", "deleteAll", "local"}))
    broker = broker_of(request)
    ctx = await broker.context(link_context(request))
    await broker.history.delete_attribute(
        tenant_of(request),
        request.path_params["entityId"],
        ctx,
        request.path_params["attrId"],
        dataset_id=request.query_params.get("datasetId"),
        delete_all=flag(request, "deleteAll"),
    )
    return no_content(request)


@router.delete(
    "/entities/{entityId:temporal_entity}",
    status_code=204,
    summary="Delete an entity's temporal evolution",
    openapi_extra=oa.operation([oa.ENTITY_ID, oa.TENANT, oa.LINK]),
)
async def delete_temporal(request: Request) -> Response:
    check_params(request, WRITE_PARAMS)
    await broker_of(request).history.delete(tenant_of(request), request.path_params["entityId"])
    return no_content(request)
