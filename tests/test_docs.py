"""Documentation that cannot go stale: settings, commands and endpoints must be in docs/."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.cli import app as cli
from smartby.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    for name in Settings.model_fields:
        assert f"`{name}`" in text, f"setting {name} missing from docs/settings.md"
        assert f"SMARTBY_{name.upper()}" in text, f"SMARTBY_{name.upper()} missing from docs/settings.md"


def test_every_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    commands = typer.main.get_command(cli).commands  # type: ignore[attr-defined]
    assert commands
    for name in commands:
        assert f"smartby {name}" in text, f"command {name} missing from docs/cli.md"


def test_every_endpoint_is_documented() -> None:
    pages = ("api.md", "contexts.md", "temporal.md", "devices.md")
    text = "".join((DOCS / name).read_text() for name in pages)
    paths = create_app(assemble()).openapi()["paths"]
    for path, operations in paths.items():
        short = re.sub(r"\{[^}]+\}", "{}", path.removeprefix("/ngsi-ld/v1"))
        documented = re.sub(r"\{[^}]+\}", "{}", text)
        for method in operations:
            assert f"{method.upper()} {short}" in documented, f"{method.upper()} {path} missing from docs"


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text().split("##", 1)[0]
    assert "make demo" in head and "make test" in head
