"""`smartby keys` and `smartby tenants` on a real SQLite file and PostgreSQL database, and
`smartby serve`'s refusal to listen open off loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartby.api.keyring import Keyring
from smartby.cli import app
from smartby.settings import Settings
from smartby.store import open_store


@pytest.fixture
def database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMARTBY_DATABASE", "sqlite:///unused.db")
    monkeypatch.delenv("SMARTBY_AUTH", raising=False)
    return database_url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def verified(database: str, key: str) -> str | None:
    async def check() -> str | None:
        store = open_store(database, Settings(database=database, _env_file=None))  # type: ignore[call-arg]
        await store.open()
        try:
            found = await Keyring(store).verify(key)
            return None if found is None else found.name
        finally:
            await store.close()

    return asyncio.run(check())


def test_keys_and_tenants(database: str) -> None:
    assert run("tenants", "create", "aarhus", "-d", database) == (0, "Created tenant aarhus\n")
    assert run("tenants", "create", "aarhus", "-d", database) == (0, "Tenant aarhus exists\n")
    assert run("tenants", "create", "no tenant", "-d", database)[0] == 2
    code, output = run(
        "keys", "create", "--name", "os2iot", "--tenant", "aarhus", "--role", "writer", "-d", database
    )
    assert code == 0
    key = output.splitlines()[-1]
    assert "os2iot" in output.splitlines()[0] and verified(database, key) == "os2iot"
    assert run("keys", "create", "--name", "os2iot", "--role", "writer", "-d", database)[0] == 1
    assert (
        run("keys", "create", "--name", "x", "--tenant", "vejle", "--role", "reader", "-d", database)[0] == 1
    )
    assert run("keys", "create", "--name", "y", "--role", "mayor", "-d", database)[0] == 1
    code, output = run("keys", "rotate", "os2iot", "-d", database)
    rotated = output.splitlines()[-1]
    assert code == 0 and verified(database, key) is None and verified(database, rotated) == "os2iot"
    assert run("keys", "revoke", "os2iot", "-d", database) == (0, "Revoked key os2iot\n")
    assert verified(database, rotated) is None
    assert run("keys", "revoke", "os2iot", "-d", database)[0] == 1
    code, output = run("keys", "list", "-d", database)
    assert code == 0 and "os2iot" in output and "revoked" in output and rotated not in output
    assert run("tenants", "list", "-d", database)[1].split() == ["aarhus"]


def test_serve_refuses_an_open_non_loopback_address(database: str) -> None:
    code, output = run("serve", "--host", "0.0.0.0", "-d", database)
    assert code == 2 and "SMARTBY_AUTH=required" in output and "--insecure" in output


def test_audit_list_shows_what_the_commands_changed(database: str) -> None:
    assert run("tenants", "create", "vejle", "-d", database)[0] == 0
    code, output = run(
        "keys", "create", "--name", "ci", "--tenant", "vejle", "--role", "reader", "-d", database
    )
    assert code == 0
    code, output = run("audit", "list", "--actor", "cli", "-d", database)
    assert code == 0, output
    lines = [line.split("\t") for line in output.splitlines()]
    assert [(line[1], line[3], line[4], line[5]) for line in lines] == [
        ("cli", "audit.read", "", "ok"),
        ("cli", "key.create", "ci", "ok"),
        ("cli", "tenant.create", "vejle", "ok"),
    ]
    code, output = run("audit", "list", "--operation", "key.create", "--since", "2999-01-01", "-d", database)
    assert (code, output) == (0, "")
    assert run("audit", "list", "--since", "yesterday", "-d", database)[0] == 2
