"""The OpenAPI of /jsonldContexts declares the parameters its handlers read (api/contexts.py)."""

from __future__ import annotations

from typing import Any

from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.settings import Settings


def parameters(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return {p["name"]: p for p in document["paths"][path][method]["parameters"]}


def test_openapi_declares_details_kind_and_reload() -> None:
    settings = Settings(database="sqlite:///never-opened.db", _env_file=None)  # type: ignore[call-arg]
    document = create_app(assemble(settings)).openapi()
    listed = parameters(document, "/ngsi-ld/v1/jsonldContexts", "get")
    assert listed["kind"]["schema"]["enum"] == ["Hosted", "Cached", "ImplicitlyCreated"]
    assert listed["details"]["schema"]["enum"] == ["true", "false"]
    one = "/ngsi-ld/v1/jsonldContexts/{contextId}"
    assert set(parameters(document, one, "get")) == {"contextId", "details"}
    assert parameters(document, one, "delete")["reload"]["schema"]["enum"] == ["true", "false"]
