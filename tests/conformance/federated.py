"""A smartby served over real HTTP, and a second one as its neighbour, for the tests of distributed
operations (clause 4.3.6): helpers to fill them and register one at the other."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from etsi import JSON, LINK, V1

from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.settings import Settings

CONTEXTS = Path(__file__).resolve().parent / "contexts"
ENTITIES = f"{V1}/entities"
REGISTRATIONS = f"{V1}/csourceRegistrations"
WITH_LINK = {**JSON, "Link": LINK}
OLD = "2026-01-01T08:00:00Z"
NEW = "2026-01-01T09:00:00Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """smartby served by uvicorn on a free port of this machine, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{free_port()}"
        config = uvicorn.Config(
            create_app(assemble(settings)),
            host="127.0.0.1",
            port=int(self.url.rsplit(":", 1)[1]),
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("smartby did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


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
