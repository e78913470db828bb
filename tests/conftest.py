"""Shared fixtures: real SQLite files, the real ASGI app, a real HTTP server when needed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from smartby.api.app import create_app
from smartby.broker import Broker
from smartby.settings import Settings
from smartby.store import open_store
from smartby.store.base import Store

BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One URL per store backend; every test that uses it runs on each backend."""
    return f"sqlite:///{tmp_path / 'city.db'}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database=database_url, remote_contexts=False, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[Broker]:
    broker = Broker(open_store(settings.database, settings), settings)
    await broker.open()
    try:
        yield broker
    finally:
        await broker.close()


@pytest.fixture
async def client(broker: Broker) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app in-process on a real SQLite file."""
    app = create_app(broker.settings, broker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
        yield http


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """smartby served by uvicorn on a real port, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("smartby did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def store(database_url: str, settings: Settings) -> AsyncIterator[Store]:
    """A store of each backend, opened on a fresh database."""
    opened = open_store(database_url, settings)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
