"""Shared fixtures: real SQLite files and PostgreSQL databases, the real ASGI app, a real HTTP server
when needed."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from smartby.api.app import create_app
from smartby.api.http_protocol import server_options
from smartby.assembly import Assembly, assemble
from smartby.broker import Broker
from smartby.settings import Settings
from smartby.store import Store, open_store

os.environ.setdefault("SMARTBY_SERVICES", "[]")
"""No city service runs unless a test asks for one (tests/services do)."""
SERVICES_INSTALLED = str(Path(__file__).parent / "services" / "installed")
"""Metadata registering the test services (and `freshness`, for an installed smartby older than its
entry point) in the `smartby.services` entry-point group; see tests/services/conftest.py."""
if SERVICES_INSTALLED not in sys.path:
    sys.path.insert(0, SERVICES_INSTALLED)
BACKENDS = os.environ.get("SMARTBY_TEST_BACKENDS", "sqlite,postgres").split(",")
"""The store backends every test of a store runs on (SMARTBY_TEST_BACKENDS=sqlite without a server)."""
POSTGRES = os.environ.get("SMARTBY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
"""A PostgreSQL server (with PostGIS) where the tests may create and drop databases."""


def _admin(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SET lock_timeout = '20s'")
        for statement in statements:
            connection.execute(statement)


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[str]:
    """A database of this test session with PostGIS installed; tests get schemas of their own in it."""
    if "postgres" not in BACKENDS:
        pytest.skip("PostgreSQL is not among SMARTBY_TEST_BACKENDS")
    name = f"smartby_test_{os.getpid()}"
    server = POSTGRES.rsplit("/", 1)[0]
    _admin(POSTGRES, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    _admin(f"{server}/{name}", "CREATE EXTENSION postgis")
    try:
        yield f"{server}/{name}"
    finally:
        _CLEAN_SCHEMAS.clear()
        _admin(POSTGRES, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_CLEAN_SCHEMAS: list[str] = []
"""Schemas emptied after their test, ready for another one."""


def _schema_url(database: str, schema: str) -> str:
    """The URL of a test's schema; commits do not wait for the disk (a test never needs that)."""
    return f"{database}?options=-csearch_path%3D{schema},public%20-csynchronous_commit%3Doff"


def _empty(database: str, schema: str) -> bool:
    """Empty a test's schema as a new one would be (tables, sequences) but keep the migrations and
    partitions, which take most of the time of a new one; False if that failed."""
    try:
        with psycopg.connect(database, autocommit=True) as connection:
            connection.execute("SET lock_timeout = '5s'")
            tables = [
                row[0]
                for row in connection.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                    "AND c.relname <> 'schema_migration'",
                    (schema,),
                )
            ]
            sequences = [
                row[0]
                for row in connection.execute(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = %s", (schema,)
                )
            ]
            with connection.transaction():
                # DELETE, not TRUNCATE: a test's few rows go faster than new files for every table.
                for table in tables:
                    connection.execute(f"DELETE FROM {schema}.{table}")
                for sequence in sequences:
                    connection.execute(f"ALTER SEQUENCE {schema}.{sequence} RESTART")
    except psycopg.Error:
        return False
    return True


@pytest.fixture
def fresh_postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test: a schema of its own first on the search path
    (PostGIS stays in `public`), dropped afterwards."""
    database: str = request.getfixturevalue("postgres_session")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    _admin(database, f"CREATE SCHEMA {schema}")
    try:
        yield _schema_url(database, schema)
    finally:
        _admin(database, f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty PostgreSQL database for one test, as `fresh_postgres_database` makes, or one such
    emptied after an earlier test (its tables and sequences as new; a schema takes a tenth of a
    second to make, migrate and drop, and a few milliseconds to empty)."""
    database: str = request.getfixturevalue("postgres_session")
    if _CLEAN_SCHEMAS:
        schema = _CLEAN_SCHEMAS.pop()
    else:
        schema = f"test_{uuid.uuid4().hex[:16]}"
        _admin(database, f"CREATE SCHEMA {schema}")
    yield _schema_url(database, schema)
    if _empty(database, schema):
        _CLEAN_SCHEMAS.append(schema)
    else:
        _admin(database, f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One URL per store backend; every test that uses it runs on each backend."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_database")
        return url
    return f"sqlite:///{tmp_path / 'city.db'}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database=database_url, remote_contexts=False, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def assembly(settings: Settings) -> AsyncIterator[Assembly]:
    """smartby's parts on a real database, the broker open."""
    parts = assemble(settings)
    await parts.broker.open()
    try:
        yield parts
    finally:
        await parts.broker.close()


@pytest.fixture
def broker(assembly: Assembly) -> Broker:
    return assembly.broker


@pytest.fixture
async def client(assembly: Assembly) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app in-process on a real database."""
    app = create_app(assembly)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
        yield http


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app in-process on parts assembled from `settings`, opened for as long as it is used;
    with authentication required, the client sends an operator's key (admin on every tenant)."""
    parts = assemble(settings)
    await parts.broker.open()
    try:
        app = create_app(parts)
        headers = {}
        if settings.auth == "required":
            _, key = await app.state.keyring.create(f"operator-{uuid.uuid4().hex[:8]}", ["*"], "admin")
            headers["Authorization"] = f"Bearer {key}"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://smartby.test", headers=headers
        ) as http:
            yield http
    finally:
        await parts.broker.close()


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
            create_app(assemble(settings)),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            **server_options(),
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
