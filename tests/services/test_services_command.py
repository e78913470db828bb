"""`smartby services list` and `smartby services run`'s refusal of a service that is not installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartby.cli import app


def test_the_list_shows_installed_services_and_which_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTBY_SERVICES", '["probe"]')
    result = CliRunner().invoke(app, ["services", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert lines["freshness"].split()[1:3] == ["off", "/freshness/v1"]
    assert "check every 300 s" in lines["freshness"] and "built-in" in lines["freshness"]
    assert lines["probe"].split()[1] == "runs" and "services.probe:service" in lines["probe"]
    assert "cannot be loaded" in lines["nameless"]


def test_running_a_service_that_is_not_installed_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMARTBY_SERVICES", '["streetlights"]')
    result = CliRunner().invoke(app, ["services", "run", "--database", f"sqlite:///{tmp_path / 'city.db'}"])
    assert result.exit_code == 2
    assert "no service streetlights is installed" in result.output
