"""The ASGI application: the NGSI-LD API on a broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from smartby import __version__
from smartby.api import batch, contexts, discovery, entities
from smartby.api.problems import HANDLERS
from smartby.broker import Broker
from smartby.settings import Settings
from smartby.store import open_store

BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})


class LengthRequired:
    """POST, PATCH and PUT must carry Content-Length (clause 6.3.4): without it, a bare 411."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in BODY_METHODS
            and not any(name == b"content-length" for name, _ in scope["headers"])
        ):
            await send({"type": "http.response.start", "status": 411, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, broker: Broker | None = None) -> FastAPI:
    settings = settings or Settings()
    if broker is None:
        broker = Broker(open_store(settings.database, settings), settings)
    chosen = broker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await chosen.open()
        try:
            yield
        finally:
            await chosen.close()

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
    for module in (entities, batch, discovery, contexts):
        app.include_router(module.router)
    app.add_middleware(LengthRequired)
    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()
