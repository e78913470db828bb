"""The city services' own endpoints: each served under its service's prefix (`/freshness/v1/...`),
the plain `ServiceResponse` of its handler rendered as JSON (for any `+json` media type too; the
text or bytes it gives for another media type as they are), errors as ProblemDetails or in the
service's own error format (`Service.errors`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, Request, Response

from smartby.api.access import Forbidden
from smartby.api.keyring import Keyring
from smartby.api.request import tenant_of
from smartby.ngsild.errors import InternalError, InvalidRequest, NgsiLdError
from smartby.services.runtime import Runtime, ServiceContext
from smartby.services.service import FORM, JSON, Endpoint, Service, ServiceRequest, ServiceResponse

log = logging.getLogger("smartby.api")
BODIES = ("POST", "PUT", "PATCH")


def _body(endpoint: Endpoint, media_type: str, raw: bytes) -> Any:
    if media_type == FORM and FORM in endpoint.accepts:
        try:
            return dict(parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=200))
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("The body is not a valid form (application/x-www-form-urlencoded)") from None
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body is not valid JSON") from None


async def _client(keyring: Keyring, endpoint: Endpoint, body: Any) -> str | None:
    if endpoint.key_field is None or not isinstance(body, Mapping) or endpoint.key_field not in body:
        return None
    presented = body[endpoint.key_field]
    key = await keyring.verify(presented) if isinstance(presented, str) and presented else None
    if key is None:
        raise Forbidden(f"The {endpoint.key_field} given is not a valid API key")
    return key.name


def _render(answer: ServiceResponse) -> Response:
    if answer.media_type == JSON or answer.media_type.endswith("+json"):
        return Response(orjson.dumps(answer.body), answer.status, media_type=answer.media_type)
    return Response(answer.body, answer.status, media_type=answer.media_type)


def _route(
    context: ServiceContext, service: Service, endpoint: Endpoint
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        plain = ServiceRequest(dict(request.query_params), dict(request.path_params), "")
        try:
            tenant = tenant_of(request)
            media_type = request.headers.get("content-type", JSON).split(";", 1)[0].strip().lower()
            raw = await request.body() if endpoint.method in BODIES else b""
            body = _body(endpoint, media_type, raw)
            plain = ServiceRequest(plain.query, plain.path, tenant, body, media_type)
            client = await _client(request.app.state.keyring, endpoint, body)
            answer = await endpoint.handler(
                context, ServiceRequest(plain.query, plain.path, tenant, body, media_type, client)
            )
        except NgsiLdError as error:
            if service.errors is None:
                raise
            answer = service.errors(plain, error)
        except Exception:
            if service.errors is None:
                raise
            log.exception("Unexpected error on %s %s", request.method, request.url.path)
            answer = service.errors(plain, InternalError("An unexpected error occurred; it has been logged"))
        return _render(answer)

    return handle


def _responses(service: Service, endpoint: Endpoint) -> dict[int | str, dict[str, Any]]:
    """What the endpoint answers, for the OpenAPI document: its success in each media type it
    `answers`, and, for a service with its own error format, its errors in that format."""
    answers: dict[int | str, dict[str, Any]] = {}
    if endpoint.answers != (JSON,):
        media_types: dict[str, Any] = {media_type: {"schema": {}} for media_type in endpoint.answers}
        answers[200] = {"description": "Successful Response", "content": media_types}
    if service.error_schema is None:
        return answers
    content: dict[str, Any] = {media_type: {"schema": {}} for media_type in endpoint.answers}
    content[JSON] = {"schema": dict(service.error_schema)}
    statuses = {400: "The request is malformed.", 403: "Refused.", 404: "No such resource."}
    answers.update({status: {"description": text, "content": content} for status, text in statuses.items()})
    return answers


def _described(endpoint: Endpoint) -> dict[str, Any] | None:
    """Its parameters and body, for the OpenAPI document."""
    extra: dict[str, Any] = {}
    if endpoint.parameters:
        extra["parameters"] = [dict(parameter) for parameter in endpoint.parameters]
    if endpoint.method in BODIES and endpoint.body_schema is not None:
        schema = dict(endpoint.body_schema)
        extra["requestBody"] = {
            "required": True,
            "content": {media_type: {"schema": schema} for media_type in endpoint.accepts},
        }
    return extra or None


def mount(app: FastAPI, runtime: Runtime) -> None:
    for service in runtime.services:
        context = runtime.context(service.name)
        for endpoint in service.endpoints:
            app.add_api_route(
                service.mount + endpoint.path,
                _route(context, service, endpoint),
                methods=[endpoint.method],
                summary=endpoint.summary or None,
                tags=[f"service: {service.name}"],
                responses=_responses(service, endpoint),
                openapi_extra=_described(endpoint),
            )
