"""The layers around the NGSI-LD dispatcher: request metrics (`smartby.metrics`) and, when
SMARTBY_CORS_ORIGINS names origins, CORS for browser apps (docs/operations.md)."""

from __future__ import annotations

import time
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartby.api.problems import problem_response
from smartby.broker.contexts import CONTEXT_TENANT
from smartby.metrics import LATENCY, REQUESTS
from smartby.ngsild.errors import BadRequestData
from smartby.settings import Settings

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
EXPOSED = [
    "Link",
    "Location",
    "NGSILD-Results-Count",
    "NGSILD-Tenant",
    "NGSILD-Warning",
    "Content-Range",
    "Content-Location",
    "Allow",
    "Accept-Patch",
    "Retry-After",
]
"""Response headers a browser app may read: those NGSI-LD clients need (clauses 6.3.4 to 6.3.14)."""
UNMATCHED = "unmatched"
"""The route label of a request no route took (404, 405, a CORS preflight): one label for them all,
whatever the path, so a scan of random paths cannot blow the metrics up."""


class Inner(Protocol):
    """What the wrapped application offers besides ASGI: the FastAPI app's state and OpenAPI."""

    @property
    def state(self) -> Any: ...

    def openapi(self) -> dict[str, Any]: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class Layer:
    """An ASGI layer around the dispatcher (access control, rate limits, audit, the application):
    the dispatcher's `state` and OpenAPI pass through it."""

    def __init__(self, inner: Inner) -> None:
        self.inner = inner

    @property
    def state(self) -> Any:
        return self.inner.state

    def openapi(self) -> dict[str, Any]:
        return self.inner.openapi()


class RequestMetrics:
    """Counts each HTTP request by method, route template (as `scope["route"]` holds it once a route
    took the request) and status, and observes how long its answer took."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        """The counter and histogram children of each (method, route, status) seen: looked up
        once, not by their labels on every request (a few microseconds each time)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = getattr(scope.get("route"), "path_format", None) or UNMATCHED
            series = self._series.get((method, route, status))
            if series is None:
                series = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
                self._series[(method, route, status)] = series
            series[0].inc()
            series[1].observe(time.perf_counter() - started)


class Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as ProblemDetails like every other 4xx."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        detail = bytes(response.body).decode()
        headers = {
            k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
        }
        return problem_response(BadRequestData(f"{detail}: not allowed by SMARTBY_CORS_ORIGINS"), headers)


class ContextTenant:
    """Resolves a request's @contexts among the stored contexts of its tenant (`NGSILD-Tenant`): the
    tenant is set for everything the request does, as the loader asks for it deep in JSON-LD."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = CONTEXT_TENANT.set(Headers(scope=scope).get("ngsild-tenant") or "")
        try:
            await self.app(scope, receive, send)
        finally:
            CONTEXT_TENANT.reset(token)


class Application(Layer):
    """The ASGI application smartby serves: the dispatcher inside request metrics and (when origins
    are configured) CORS. `state` and `openapi` are the dispatcher's."""

    def __init__(self, inner: Inner, settings: Settings) -> None:
        super().__init__(inner)
        app: ASGIApp = inner
        if settings.cors_origins:
            app = Cors(
                app,
                allow_origins=settings.cors_origins,
                allow_methods=CORS_METHODS,
                allow_headers=["*"],
                expose_headers=EXPOSED,
                max_age=600,
            )
        self._app = RequestMetrics(ContextTenant(app))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)
