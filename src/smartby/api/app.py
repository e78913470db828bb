"""The ASGI application: the NGSI-LD API on a broker."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from smartby import __version__
from smartby.api import (
    admin,
    batch,
    channels,
    contexts,
    csource_subscriptions,
    devices,
    discovery,
    entities,
    oidc_login,
    operations,
    registrations,
    services,
    subscriptions,
    temporal,
)
from smartby.api.access import Guard, needed
from smartby.api.audit import Auditing
from smartby.api.departure import unless_client_goes
from smartby.api.ingest_bodies import INGEST_SCHEMAS
from smartby.api.keyring import Keyring
from smartby.api.limits import check_url
from smartby.api.middleware import Application, Inner
from smartby.api.openapi import secured
from smartby.api.problems import HANDLERS, MethodNotAllowed, problem_response, tenant_echo, unexpected_error
from smartby.api.rate_limits import RateLimits
from smartby.api.tokens import bearer_tokens
from smartby.assembly import Assembly
from smartby.ingest.mqtt import start_mqtt_transport
from smartby.ngsild.errors import NgsiLdError
from smartby.web import dashboard

BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})
READS = frozenset({"GET", "HEAD"})
"""Methods whose handler is cancelled when its client goes (and POST of the query routes)."""


class Dispatcher:
    """The ASGI entry point. NGSI-LD requests go straight to their handler: the routes are the
    FastAPI app's own (so OpenAPI describes exactly them), but matching and error rendering happen
    here, without FastAPI's per-request dependency machinery. Everything else (lifespan, /docs,
    /openapi.json, unknown paths) is the FastAPI app's.
    """

    def __init__(self, app: FastAPI, routers: Sequence[APIRouter]) -> None:
        self.fastapi = app
        self._routes = [
            (
                route.path.split("{", 1)[0],
                route.path_regex,
                route.methods or set(),
                route.endpoint,
                route.param_convertors,
                route,
                READS | ({"POST"} if route.path.endswith("/query") else set()),
            )
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute)
        ]

    @property
    def state(self) -> Any:
        return self.fastapi.state

    def openapi(self) -> dict[str, Any]:
        return self.fastapi.openapi()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fastapi(scope, receive, send)
            return
        method = scope["method"]
        try:
            check_url(scope, self.fastapi.state.broker.settings)
        except NgsiLdError as refused:
            await problem_response(refused)(scope, receive, send)
            return
        if method in BODY_METHODS and not any(name == b"content-length" for name, _ in scope["headers"]):
            # Clause 6.3.4: POST, PATCH and PUT without Content-Length get a bare 411.
            await send({"type": "http.response.start", "status": 411, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        path = scope["path"]
        paths = [path]
        if len(path) > 1 and path.endswith("/") and scope.get("raw_path", b"/").endswith(b"/"):
            # `entities/` and `attrs/` name the same resources as `entities` and `attrs`; an id that
            # really ends in a slash is sent percent-encoded (%2F).
            paths.insert(0, path[:-1])
        allowed: set[str] = set()
        for candidate in paths:
            for prefix, regex, methods, endpoint, convertors, route, reads in self._routes:
                if not candidate.startswith(prefix):
                    continue
                match = regex.match(candidate)
                if match is None:
                    continue
                if method not in methods:
                    allowed.update(methods)
                    continue
                scope["app"] = self.fastapi
                scope["route"] = route  # as Starlette's router does: the metrics name requests by it
                scope["path_params"] = {
                    name: convertors[name].convert(value) for name, value in match.groupdict().items()
                }
                if method in reads:
                    response = await unless_client_goes(
                        partial(self._respond_to, endpoint, scope),
                        receive,
                        method in BODY_METHODS,
                    )
                else:
                    response = await self._respond(endpoint, Request(scope, receive))
                await response(scope, receive, send)
                return
        if allowed:
            error = MethodNotAllowed(f"{method} is not supported on {path}")
            response = problem_response(error, {"Allow": ", ".join(sorted(allowed))})
            response.status_code = 405
            await response(scope, receive, send)
            return
        await self.fastapi(scope, receive, send)

    @classmethod
    async def _respond_to(
        cls, endpoint: Callable[[Request], Awaitable[Response]], scope: Scope, receive: Receive
    ) -> Response:
        return await cls._respond(endpoint, Request(scope, receive))

    @staticmethod
    async def _respond(endpoint: Callable[[Request], Awaitable[Response]], request: Request) -> Response:
        try:
            return await endpoint(request)
        except NgsiLdError as error:
            return problem_response(error, tenant_echo(request))
        except Exception as error:
            return await unexpected_error(request, error)


def create_app(parts: Assembly) -> Application:
    """The API, the device API and the dashboard on assembled parts; the app's lifespan opens and
    closes them."""
    broker, ingestion, runtime = parts.broker, parts.ingestion, parts.services
    run_services = parts.settings.services_in_server

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await broker.open()
        await ingestion.start()
        # Device uplinks from MQTT, when SMARTBY_MQTT_URL is set, into the same pipeline.
        mqtt = await start_mqtt_transport(ingestion, broker.settings)
        app.state.mqtt = mqtt  # for the readiness check
        if run_services:
            runtime.start()
        try:
            yield
        finally:
            if run_services:
                await runtime.stop()
            if mqtt is not None:
                await mqtt.close()
            await ingestion.close()
            await broker.close()
            if (opened := getattr(app.state, "rate_limits", None)) is not None:
                await opened.close()

    app = FastAPI(
        title="smartby",
        version=__version__,
        summary="An NGSI-LD context broker for the city (ETSI GS CIM 009 v1.8).",
        lifespan=lifespan,
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.broker = broker
    app.state.ingestion = ingestion
    routers = [
        module.router
        for module in (
            entities,
            batch,
            discovery,
            contexts,
            temporal,
            subscriptions,
            registrations,
            csource_subscriptions,
            devices,
            operations,
            admin,
            channels,
            oidc_login,
        )
    ]
    for router in routers:
        app.include_router(router)
    dashboard.mount(app, broker)
    services.mount(app, runtime)

    def openapi() -> dict[str, Any]:
        """FastAPI's document, with who may call each operation and what else it can answer."""
        if app.openapi_schema is None:
            # A copy: the document shares no dict with openapi.py's schemas, so whatever a reader of
            # it changes in place (a client library resolving it) never reaches another app's.
            app.openapi_schema = copy.deepcopy(
                secured(FastAPI.openapi(app), needed, parts.settings.max_limit, INGEST_SCHEMAS)
            )
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.keyring = Keyring(parts.keys)
    tokens = bearer_tokens(parts.settings)
    oidc_login.mount(app, parts.settings, tokens)
    inner: Inner = Dispatcher(app, routers)
    if parts.settings.auth == "required":
        rate_limits = app.state.rate_limits = RateLimits(parts.settings)
        inner = rate_limits.by_principal(inner)
        inner = Guard(inner, app.state.keyring, tokens)
        inner = rate_limits.by_address(inner)
    inner = Auditing(inner, authenticated=parts.settings.auth == "required")
    return Application(inner, parts.settings)
