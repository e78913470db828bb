"""The city services' own endpoints: each served under its service's prefix (`/freshness/v1/...`),
the plain `ServiceResponse` of its handler rendered as JSON, errors as ProblemDetails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from fastapi import FastAPI, Request, Response

from smartby.api.request import tenant_of
from smartby.ngsild.errors import InvalidRequest
from smartby.services.runtime import Runtime, ServiceContext
from smartby.services.service import Endpoint, ServiceRequest


def _route(context: ServiceContext, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        raw = await request.body() if endpoint.method in ("POST", "PUT", "PATCH") else b""
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise InvalidRequest("The body is not valid JSON") from None
        answer = await endpoint.handler(
            context,
            ServiceRequest(dict(request.query_params), dict(request.path_params), tenant_of(request), body),
        )
        return Response(orjson.dumps(answer.body), answer.status, media_type="application/json")

    return handle


def mount(app: FastAPI, runtime: Runtime) -> None:
    for service in runtime.services:
        context = runtime.context(service.name)
        for endpoint in service.endpoints:
            app.add_api_route(
                service.mount + endpoint.path,
                _route(context, endpoint),
                methods=[endpoint.method],
                summary=endpoint.summary or None,
                tags=[f"service: {service.name}"],
            )
