"""`smartby import`: the commands a city engineer runs, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import typer.main
from typer.testing import CliRunner

from smartby.cli import app

CO2 = """Minutes5UTC;Minutes5DK;PriceArea;CO2Emission
2024-06-01 00:05:00;2024-06-01 02:05:00;DK1;101,5
2024-06-01 00:00:00;2024-06-01 02:00:00;DK1;100,0
2024-06-01 00:00:00;2024-06-01 02:00:00;DK2;fifty
"""


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database URL; the command's settings come from options and a clean environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMARTBY_DATABASE", "sqlite:///unused.db")
    monkeypatch.setenv("SMARTBY_REMOTE_CONTEXTS", "false")
    return f"sqlite:///{tmp_path / 'city.db'}"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_import_csv_reports_and_runs_again(database: str, tmp_path: Path) -> None:
    path = tmp_path / "CO2Emis.csv"
    path.write_text(CO2)
    code, output = run("import", "csv", str(path), "--mapping", "energinet-co2emis", "--database", database)
    assert code == 0, output
    assert "CO2Emis.csv: 3 rows read: 2 loaded, 1 bad" in output
    assert "2 instances added to the history of 1 entities, 0 duplicates skipped" in output
    assert "line 4: CO2Emission: 'fifty' is not a number" in output
    assert "gaps: urn:ngsi-ld:GridCarbonIntensity:DK1: 0 of 2 5-minute slots empty" in output
    code, output = run("import", "csv", str(path), "-m", "energinet-co2emis", "-d", database, "--batch", "1")
    assert code == 0 and "0 instances added to the history of 1 entities, 2 duplicates skipped" in output


def test_nothing_readable_fails(database: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(CO2.splitlines()[0] + "\n2024-06-01 00:00:00;2024-06-01 02:00:00;DK2;fifty\n")
    code, output = run("import", "csv", str(path), "--mapping", "energinet-co2emis", "--database", database)
    assert code == 1 and "1 rows read: 0 loaded, 1 bad" in output


def test_a_bad_mapping_stops_before_reading(database: str, tmp_path: Path) -> None:
    path = tmp_path / "CO2Emis.csv"
    path.write_text(CO2)
    mapping = tmp_path / "mine.toml"
    mapping.write_text('type = "X"\nid = "urn:x:{PriceArea}"\n[time]\ncolumn = "Minutes5DK"\n')
    code, output = run("import", "csv", str(path), "--mapping", str(mapping), "--database", database)
    assert code == 2 and "time: a local time `column` needs the `zone`" in output
    code, output = run("import", "csv", str(path), "--mapping", "nope", "--database", database)
    assert code == 2 and "no such file, nor a shipped mapping" in output


def test_import_ngsild(database: str, tmp_path: Path) -> None:
    entity = {
        "id": "urn:ngsi-ld:WeatherObserved:aarhus",
        "type": "WeatherObserved",
        "temperature": [
            {"type": "Property", "value": 18, "observedAt": "2014-08-01T00:00:00Z"},
            {"type": "Property", "value": 19, "observedAt": "2014-08-01T00:20:00Z"},
        ],
    }
    path = tmp_path / "weather.json"
    path.write_bytes(orjson.dumps([entity]))
    code, output = run("import", "ngsi-ld", str(path), "--database", database, "--tenant", "aarhus")
    assert code == 0 and "weather.json: 1 entities read: 1 loaded, 0 bad" in output
    assert "2 instances added" in output


def test_the_shipped_mappings_are_listed() -> None:
    code, output = run("import", "mappings")
    assert code == 0
    for name in ("aarhus-traffic", "aarhus-parking", "energinet-elspotprices", "energinet-co2emis"):
        assert name in output


def test_every_import_command_is_documented() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    commands = typer.main.get_command(app).commands["import"].commands  # type: ignore[attr-defined]
    assert set(commands) == {"csv", "ngsi-ld", "mappings"}
    for name in commands:
        assert f"smartby import {name}" in (docs / "cli.md").read_text()
        assert f"smartby import {name}" in (docs / "import.md").read_text()
