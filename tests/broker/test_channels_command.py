"""`smartby channels` on a real SQLite file and PostgreSQL database: add from a built-in template or a
file, list, show, test against a real HTTP receiver, remove."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from receiver import Receiver
from smartby.cli import app


@pytest.fixture
def database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMARTBY_DATABASE", "sqlite:///unused.db")
    monkeypatch.setenv("SMARTBY_REMOTE_CONTEXTS", "false")
    monkeypatch.delenv("SMARTBY_AUTH", raising=False)
    return database_url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_channels_command(database: str, receiver: Receiver, tmp_path: Path) -> None:
    code, output = run(
        "channels", "add", "duty", "--template", "teams", "--target", receiver.url,
        "--q", 'severity=="high"', "--header", "X-Team: climate", "-d", database,
    )  # fmt: skip
    assert code == 0, output
    shown = orjson.loads(output)
    assert shown["kind"] == "webhook" and shown["headers"] == {"X-Team": "climate"}
    own = tmp_path / "page.j2"
    own.write_text("{{ alert.severity }} {{ alert.subCategory }}\n")
    code, output = run(
        "channels", "add", "mail", "--template", str(own), "--kind", "email",
        "--target", "a@city.example", "--target", "b@city.example", "-d", database,
    )  # fmt: skip
    assert code == 0, output
    assert orjson.loads(output)["target"] == ["a@city.example", "b@city.example"]
    code, output = run("channels", "list", "-d", database)
    assert code == 0 and [line.split()[0] for line in output.splitlines()] == ["duty", "mail"]
    code, output = run("channels", "test", "duty", "-d", database)
    assert code == 0, output
    assert orjson.loads(output)["delivered"] is True
    [arrived] = receiver.received
    assert arrived.headers["x-team"] == "climate" and arrived.body["type"] == "message"
    code, output = run("channels", "test", "mail", "-d", database)
    assert code == 1 and "SMARTBY_SMTP_HOST" in orjson.loads(output)["reason"]
    assert run("channels", "show", "mail", "-d", database)[0] == 0
    code, output = run("channels", "add", "bad", "--template", "slack", "--target", "ftp://x", "-d", database)
    assert code == 1 and "http" in output
    assert run("channels", "add", "bad", "--template", "nothing", "--target", "x", "-d", database)[0] == 2
    assert run("channels", "remove", "duty", "-d", database) == (0, "Removed channel duty\n")
    code, output = run("channels", "show", "duty", "-d", database)
    assert code == 1 and "No channel 'duty'" in output
