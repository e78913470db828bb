"""The isolation matrix (docs/security.md): generated from smartby's own OpenAPI, every route and
method tried with no credentials, a reader's key, a key of another tenant, an expired and a revoked
key, and a forged, an expired and a wrong-audience JWT; none may answer what its entry in the role
table (`smartby.api.access.ROUTES`) does not allow. A route without an entry fails here."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest

from identity import City
from smartby.api.access import ROUTES, needed
from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.settings import Settings

BODY_METHODS = {"POST", "PATCH", "PUT"}
NOT_IN_OPENAPI = {
    "/",
    "/dashboard/static/{name}",
    "/dashboard/api/{path:path}",
    "/docs",
    "/docs/oauth2-redirect",
    "/openapi.json",
}
"""Entries of the table for routes the OpenAPI does not describe (pages, assets, the document itself)."""
BODIES = {"/ingest/v1/ttn": b'{"uplink_message": {"frm_payload": "AQ=="}}'}
"""A body of its own where `{}` is not a request the route acts on (The Things Stack's webhook
acknowledges a message that is neither uplink nor downlink event with a 204, doing nothing)."""


def _operations() -> list[tuple[str, str]]:
    """Every (method, path template) of the OpenAPI, city services included (all built-in ones)."""
    settings = Settings(database="sqlite:///unused.db", services=None, _env_file=None)  # type: ignore[call-arg]
    paths = create_app(assemble(settings)).openapi()["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items() for method in operations)


OPERATIONS = _operations()


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: quote("urn:ngsi-ld:Thing:1", safe=""), template)


@pytest.mark.parametrize(("method", "template"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_route_has_an_entry(method: str, template: str) -> None:
    _, listed = needed(method, _concrete(template))
    assert listed, f"{method} {template} has no entry in smartby.api.access.ROUTES: say which role it needs"


def test_every_entry_is_a_route() -> None:
    described = {template for _, template in OPERATIONS}
    assert set(ROUTES) - described <= NOT_IN_OPENAPI


def test_the_matrix_sees_a_missing_route_and_gives_services_a_default() -> None:
    assert needed("GET", "/ngsi-ld/v1/somethingNew") == ("operator", False)
    assert needed("PATCH", "/ngsi-ld/v1/types") == ("operator", False)
    assert needed("GET", "/lighting/v1/schedules/x") == ("reader", True)
    assert needed("POST", "/lighting/v1/schedules") == ("writer", True)
    assert needed("GET", "/entities") == ("authenticated", False)


def test_citizen_reports_are_public() -> None:
    """Open311 has no credentials: its routes are public (docs/security.md, citizen reports)."""
    for method, path in [
        ("GET", "/open311/v2/services.json"),
        ("GET", "/open311/v2/services/pothole.xml"),
        ("GET", "/open311/v2/requests.json"),
        ("POST", "/open311/v2/requests.json"),
        ("GET", "/open311/v2/requests/1a2b3c.xml"),
        ("GET", "/open311/v2/context.jsonld"),
    ]:
        assert needed(method, path) == ("public", True), (method, path)
    assert needed("DELETE", "/open311/v2/requests/1a2b3c.json") == ("operator", False)


async def test_no_route_answers_what_it_must_not(city: City) -> None:
    provider = city.provider
    unauthenticated = {
        "no credentials": {},
        "expired key": {"Authorization": f"Bearer {city.keys['expired']}"},
        "revoked key": {"X-Api-Key": city.keys["revoked"]},
        "forged JWT": {"Authorization": f"Bearer {provider.token(['admin'], ['*'], forged=True)}"},
        "expired JWT": {"Authorization": f"Bearer {provider.token(['admin'], ['*'], lifetime=-60)}"},
        "wrong-audience JWT": {
            "Authorization": f"Bearer {provider.token(['admin'], ['*'], audience='other')}"
        },
    }
    wrong: list[str] = []

    async def send(method: str, template: str, headers: dict[str, str]) -> httpx.Response:
        body = BODIES.get(template, b"{}") if method in BODY_METHODS else None
        headers = {"NGSILD-Tenant": "aarhus", "Content-Type": "application/json", **headers}
        return await city.http.request(method, _concrete(template), content=body, headers=headers)

    def refused(response: httpx.Response, status: int) -> bool:
        return response.status_code == status and response.json()["status"] == status

    for method, template in OPERATIONS:
        need, _ = needed(method, _concrete(template))
        if need == "public":
            continue
        for name, headers in unauthenticated.items():
            response = await send(method, template, headers)
            # A device route passes to ingestion, which checks the device's key.
            ok = 400 <= response.status_code < 500 if need == "device" else refused(response, 401)
            if not ok:
                wrong.append(f"{method} {template} with {name}: {response.status_code}")
        reader = await send(method, template, {"X-Api-Key": city.keys["reader"]})
        if need in ("writer", "admin", "operator", "device"):
            ok = refused(reader, 403)
        else:
            ok = reader.status_code not in (401, 403)
        if not ok:
            wrong.append(f"{method} {template} ({need}) with a reader's key: {reader.status_code}")
        stranger = await send(method, template, {"Authorization": f"Bearer {city.keys['stranger']}"})
        if need == "operator":
            ok = refused(stranger, 403)
        elif need == "authenticated":
            ok = stranger.status_code not in (401, 403, 404)
        else:
            ok = refused(stranger, 404)
        if not ok:
            wrong.append(f"{method} {template} ({need}) with another tenant's key: {stranger.status_code}")
    assert not wrong, "\n".join(wrong)
