"""What every NGSI-LD request carries: tenant, @context, body, options; checked once, here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from smartby.api.limits import PayloadTooLarge, check_body
from smartby.api.negotiation import JSON, JSON_LD, context_from_link, request_media_type
from smartby.broker import DEFAULT_TENANT, Broker
from smartby.broker.broker import BatchContext
from smartby.ngsild.context import CORE_CONTEXT_URL, Context
from smartby.ngsild.errors import BadRequestData, InvalidRequest
from smartby.ngsild.query import parse_attrs_list

TENANT_HEADER = "ngsild-tenant"
_TENANT = re.compile(r"^[A-Za-z0-9_.:/\-]{1,64}$")


def tenant_of(request: Request) -> str:
    tenant = request.headers.get(TENANT_HEADER)
    if tenant is None or tenant == "":
        return DEFAULT_TENANT
    if not _TENANT.match(tenant):
        raise BadRequestData(f"Invalid NGSILD-Tenant {tenant!r}: 1 to 64 of A-Z a-z 0-9 _ . : / -")
    return tenant


def link_context(request: Request) -> str | None:
    return context_from_link(request.headers.get("link"))


@dataclass
class Body:
    """A parsed JSON body and where its @context comes from."""

    data: Any
    media_type: str
    context: Any
    """The Link header's URL (JSON) or the body's @context (JSON-LD); None for the core context."""
    item_contexts: list[Any] | None = None
    """For a JSON-LD array whose entities carry different @contexts: each one's (None if absent)."""


async def read_body(
    request: Request, allowed: tuple[str, ...], max_bytes: int, *, document: bool = False
) -> Body:
    """The JSON body. With `document` the body is a document in its own right (an @context to host),
    not NGSI-LD content whose @context says how to read it."""
    media = request_media_type(request.headers.get("content-type"), allowed)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes")
    raw = await request.body()
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes")
    if not raw.strip():
        raise InvalidRequest("The request needs a JSON body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"The body is not valid JSON: {error}") from None
    check_body(data, broker_of(request).settings, document=document)
    if document:
        return Body(data, media, None)
    link = request.headers.get("link")
    if media == JSON_LD:
        if link is not None and context_from_link(link) is not None:
            raise BadRequestData(
                "With Content-Type application/ld+json the @context goes in the body, not a Link"
            )
        if isinstance(data, list):
            return _batch_body(data, media)
        context = _body_context(data)
    else:
        context = context_from_link(link)
        if isinstance(data, list) and _has_context(data):
            # Each entity of a batch fails on its own (TP 003_06).
            wrong = BadRequestData("An @context in the body needs Content-Type application/ld+json")
            own = context or CORE_CONTEXT_URL
            items = [wrong if isinstance(item, dict) and "@context" in item else own for item in data]
            return Body(data, media, None, items)
        if _has_context(data):
            raise BadRequestData("An @context in the body needs Content-Type application/ld+json")
    return Body(data, media, context)


def _has_context(data: Any) -> bool:
    if isinstance(data, dict):
        return "@context" in data
    if isinstance(data, list):
        return any(isinstance(item, dict) and "@context" in item for item in data)
    return False


def _batch_body(data: list[Any], media: str) -> Body:
    """A JSON-LD array: each entity is read with its own @context; one without fails alone."""
    contexts = [item.get("@context") if isinstance(item, dict) else None for item in data]
    return Body(data, media, None, contexts if contexts else None)


def _body_context(data: Any) -> Any:
    if isinstance(data, dict):
        if "@context" not in data:
            raise BadRequestData("A JSON-LD body needs an @context member")
        return data["@context"]
    if isinstance(data, list):
        contexts = [item.get("@context") if isinstance(item, dict) else None for item in data]
        if not contexts:
            return None
        if any(c is None for c in contexts):
            raise BadRequestData("Every entity of a JSON-LD array needs an @context member")
        first = contexts[0]
        if any(c != first for c in contexts[1:]):
            raise BadRequestData("All entities of one JSON-LD batch must share one @context")
        return first
    raise BadRequestData("A JSON-LD body must be an object or an array")


def check_params(request: Request, allowed: frozenset[str]) -> None:
    """Every query parameter must be one the operation defines (clause 6.3.20): else InvalidRequest."""
    unknown = [name for name in request.query_params if name not in allowed]
    if unknown:
        raise InvalidRequest(f"Unknown query parameter(s): {', '.join(sorted(set(unknown)))}")


def options_of(request: Request, allowed: frozenset[str], formats: frozenset[str] | None = None) -> set[str]:
    """The `options` parameter and `format`, read the same way by every operation (clauses 6.3.7
    and 6.3.12): comma separated options, each one the operation knows, and at most one `format`,
    one of `formats` (by default the representations among `allowed`), which names the
    representation and wins over one given in `options`. A value the operation does not know is a
    request it cannot read: InvalidRequest."""
    given: set[str] = set()
    for value in request.query_params.getlist("options"):
        if not value.strip():
            raise InvalidRequest("options, when given, names at least one option")
        given.update(part.strip() for part in value.split(",") if part.strip())
    known_formats = allowed & REPRESENTATIONS if formats is None else formats
    chosen = {value.strip() for value in request.query_params.getlist("format")}
    unknown = (given - allowed) | (chosen - known_formats)
    if unknown:
        shown = ", ".join(sorted(repr(name) for name in unknown))
        raise InvalidRequest(f"Unknown or unsupported options or format: {shown}")
    if len(chosen) > 1:
        raise BadRequestData(f"Choose one format, not {', '.join(sorted(chosen))}")
    return (given - known_formats) | chosen if chosen else given


REPRESENTATIONS = frozenset({"keyValues", "simplified", "concise", "normalized"})


def representation(options: set[str]) -> str:
    forms = options & {"keyValues", "simplified", "concise", "normalized"}
    if len(forms) > 1:
        raise BadRequestData(f"Choose one representation, not {', '.join(sorted(forms))}")
    form = forms.pop() if forms else "normalized"
    return "keyValues" if form == "simplified" else form


def names_param(request: Request, name: str) -> list[str] | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    names: list[str] = []
    for value in values:
        names.extend(parse_attrs_list(value))
    return names


def flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false")
    return value == "true"


def integer(request: Request, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"\+?[0-9]{1,9}", value.strip()):
        raise BadRequestData(f"{name} must be a whole number, not {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        bound = f" and at most {high}" if high is not None else ""
        raise BadRequestData(f"{name} must be at least {low}{bound}")
    return number


def broker_of(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


@dataclass
class Write:
    """A checked write request: who it is for, what it carries, read with which @context."""

    broker: Broker
    tenant: str
    data: Any
    options: set[str]
    ctx: Context

    @property
    def key_values(self) -> bool:
        return representation(self.options) == "keyValues"


@dataclass
class BatchWrite:
    broker: Broker
    tenant: str
    data: Any
    options: set[str]
    ctx: BatchContext

    @property
    def key_values(self) -> bool:
        return representation(self.options) == "keyValues"


async def _checked_body(
    request: Request, params: frozenset[str], media: tuple[str, ...]
) -> tuple[Broker, str, Body]:
    check_params(request, params)
    tenant = tenant_of(request)
    broker = broker_of(request)
    return broker, tenant, await read_body(request, media, broker.settings.max_body_bytes)


async def write_request(
    request: Request,
    params: frozenset[str],
    options: frozenset[str],
    media: tuple[str, ...] = (JSON, JSON_LD),
) -> Write:
    """Parameters, tenant, body, options and @context of a write to one entity, each checked."""
    broker, tenant, body = await _checked_body(request, params, media)
    chosen = options_of(request, options)
    data = body.data
    if isinstance(data, dict) and "@context" in data:
        data = {k: v for k, v in data.items() if k != "@context"}
    return Write(broker, tenant, data, chosen, await broker.context(body.context))


async def batch_request(request: Request, params: frozenset[str], options: frozenset[str]) -> BatchWrite:
    """The same for a batch, where each entity of a JSON-LD array may carry its own @context."""
    broker, tenant, body = await _checked_body(request, params, (JSON, JSON_LD))
    chosen = options_of(request, options)
    ctx = await broker.batch_context(body.context, body.item_contexts)
    return BatchWrite(broker, tenant, body.data, chosen, ctx)
