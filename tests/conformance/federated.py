"""A smartby served over real HTTP, and a second one as its neighbour, for the tests of distributed
operations (clause 4.3.6): helpers to fill them and register one at the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
from etsi import JSON, LINK, V1

from conftest import LiveServer
from smartby.settings import Settings

CONTEXTS = Path(__file__).resolve().parent / "contexts"
ENTITIES = f"{V1}/entities"
REGISTRATIONS = f"{V1}/csourceRegistrations"
WITH_LINK = {**JSON, "Link": LINK}
OLD = "2026-01-01T08:00:00Z"
NEW = "2026-01-01T09:00:00Z"


class Served(LiveServer):
    """smartby served by uvicorn on a free port of this machine, in a thread, started at once."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.settings = settings
        self.start()


def vehicle(number: int, **attributes: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Vehicle:{number}", "type": "Vehicle", **attributes}


def speed(value: float, at: str) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": at}


async def create(client: httpx.AsyncClient, entity: dict[str, Any]) -> None:
    response = await client.post(ENTITIES, content=orjson.dumps(entity), headers=WITH_LINK)
    assert response.status_code == 201, response.text


async def register(client: httpx.AsyncClient, endpoint: str, **members: Any) -> str:
    body = {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Vehicle"}]}],
        "endpoint": endpoint,
        **members,
    }
    response = await client.post(REGISTRATIONS, content=orjson.dumps(body), headers=WITH_LINK)
    assert response.status_code == 201, response.text
    return str(response.headers["location"])
