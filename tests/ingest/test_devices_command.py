"""`smartby devices`: the registry from the command line, on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from smartby.cli import app
from smartby.ingest.registry import key_matches
from smartby.records.devices import DeadLetter
from smartby.settings import Settings
from smartby.store import open_store

LIGHT_PROFILE = """
description = "Street-light node"

[decoder]
kind = "bytes"
length = 3

[[decoder.fields]]
attribute = "powerState"
offset = 0
type = "bool"

[[decoder.fields]]
attribute = "powerConsumption"
offset = 1
type = "u16"
scale = 0.1
unitCode = "WTT"
"""


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMARTBY_DATABASE", "sqlite:///unused.db")
    return f"sqlite:///{tmp_path / 'city.db'}"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


async def _letters(database: str) -> None:
    store = open_store(database, Settings(database=database, _env_file=None))  # type: ignore[call-arg]
    await store.open()
    try:
        await store.add_dead_letters(
            [
                DeadLetter(
                    "", "2024-01-01T00:00:00Z", "http", "unauthorized: wrong key", b"\x01\x02", "light-1"
                ),
                DeadLetter(
                    "", "2024-01-01T00:00:01Z", "mqtt", "unknown-device: unknown device x", b"{}", "x"
                ),
            ]
        )
        device = await store.get_device("", "light-1")
        assert device is not None and key_matches(device.key_hash, "a key of sixteen chars")
    finally:
        await store.close()


def test_profiles_devices_and_dead_letters(database: str, tmp_path: Path) -> None:
    profile = tmp_path / "light.toml"
    profile.write_text(LIGHT_PROFILE)
    code, output = run("devices", "profiles", "light", "--set", str(profile), "--database", database)
    assert code == 0, output
    assert orjson.loads(output)["decoder"]["fields"][1]["unitCode"] == "WTT"
    code, output = run("devices", "profiles", "--database", database)
    assert code == 0 and "light" in output and "bytes" in output and "Street-light node" in output

    code, output = run(
        "devices", "add", "light-1", "--entity-id", "urn:ngsi-ld:Streetlight:1",
        "--entity-type", "Streetlight", "--profile", "light", "--dev-eui", "0004A30B001C0001",
        "--lon", "12.56", "--lat", "55.67", "--database", database,
    )  # fmt: skip
    assert code == 0, output
    added = orjson.loads(output)
    assert len(added["key"]) >= 32 and added["devEui"] == "0004a30b001c0001"
    assert added["location"] == {"type": "Point", "coordinates": [12.56, 55.67]}
    code, output = run(
        "devices", "add", "light-1", "--entity-id", "urn:ngsi-ld:Streetlight:1",
        "--entity-type", "Streetlight", "--key", "a key of sixteen chars", "--replace",
        "--database", database,
    )  # fmt: skip
    assert code == 0 and "key" not in orjson.loads(output)

    code, output = run("devices", "list", "--database", database)
    assert code == 0 and "light-1" in output and "urn:ngsi-ld:Streetlight:1" in output
    code, output = run("devices", "show", "light-1", "--database", database)
    assert code == 0 and "scrypt" not in output and orjson.loads(output)["id"] == "light-1"

    asyncio.run(_letters(database))
    code, output = run("devices", "deadletters", "--database", database)
    assert code == 0, output
    lines = output.strip().splitlines()
    assert len(lines) == 2 and "unknown-device" in lines[0] and "payload=AQI=" in lines[1]
    code, output = run("devices", "deadletters", "--device", "x", "--purge", "--database", database)
    assert code == 0 and "Purged 1" in output
    code, output = run("devices", "deadletters", "--database", database)
    assert output.strip().splitlines() == [lines[1]]

    code, output = run("devices", "remove", "light-1", "--database", database)
    assert code == 0 and "Removed" in output
    code, output = run("devices", "show", "light-1", "--database", database)
    assert code == 1 and "does not exist" in output
    code, output = run("devices", "profiles", "light", "--remove", "--database", database)
    assert code == 0


def test_a_layout_that_cannot_work_is_refused(database: str, tmp_path: Path) -> None:
    profile = tmp_path / "bad.json"
    field = {"attribute": "x", "offset": 0, "type": "u16"}
    profile.write_text(orjson.dumps({"decoder": {"kind": "bytes", "length": 1, "fields": [field]}}).decode())
    code, output = run("devices", "profiles", "bad", "--set", str(profile), "--database", database)
    assert code == 1 and "outside the frame of 1 bytes" in output
    code, output = run("devices", "profiles", "--database", database)
    assert code == 0 and "bad" not in output
