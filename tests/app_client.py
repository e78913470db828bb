"""smartby's parts assembled from settings of a test's own, the broker open, the ASGI app in-process
behind an httpx client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.settings import Settings


@contextlib.asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    parts = assemble(settings)
    await parts.broker.open()
    try:
        transport = httpx.ASGITransport(app=create_app(parts))
        async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
            yield http
    finally:
        await parts.broker.close()
