"""The conformance tests run smartby with the ETSI test suite's @context available offline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from federated import Served

from conftest import api_client
from smartby.settings import Settings
from stub_server import Documents, served

CONTEXTS = Path(__file__).resolve().parent / "contexts"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database=database_url, remote_contexts=False, context_dir=CONTEXTS, _env_file=None
    )


class _Stub(Documents):
    """Serves @context documents: one valid, two retrievable but no JSON-LD @context."""

    bodies: ClassVar[dict[str, bytes]] = {
        "/invalid.jsonld": b'{"note": "no context member here"}',
        "/broken.jsonld": b"this is { not json",
        "/valid.jsonld": b'{"@context": {"speed": "https://example.org/speed"}}',
    }


@pytest.fixture
def context_server() -> Iterator[str]:
    with served(_Stub, host="127.0.0.1") as url:
        yield url


@pytest.fixture
async def remote_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """smartby fetching remote @contexts (here only from the stub on this machine)."""
    remote = settings.model_copy(update={"remote_contexts": True, "context_timeout": 5.0})
    async with api_client(remote) as http:
        yield http


@pytest.fixture
def neighbour(tmp_path: Path) -> Iterator[Served]:
    settings = Settings(  # type: ignore[call-arg]
        database=f"sqlite:///{tmp_path / 'neighbour.db'}",
        remote_contexts=False,
        context_dir=CONTEXTS,
        _env_file=None,
    )
    served = Served(settings)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def city_server(settings: Settings) -> Iterator[Served]:
    served = Served(settings)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
async def city(city_server: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=city_server.url, timeout=30) as http:
        yield http


@pytest.fixture
async def other(neighbour: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=neighbour.url, timeout=30) as http:
        yield http
