"""Schema migrations: numbered SQL files in a backend's `migrations` folder, applied in order at
start-up and recorded in `schema_migration`."""

from __future__ import annotations

from importlib import resources


def scripts(package: str) -> list[tuple[int, str]]:
    """(version, SQL text) of every migration of a backend package, in order."""
    folder = resources.files(package) / "migrations"
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            found.append((int(item.name.split("_", 1)[0]), item.read_text(encoding="utf-8")))
    return sorted(found)
