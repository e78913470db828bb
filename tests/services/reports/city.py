"""A small town for the reports tests: the reports and lighting services on one runtime whose clock
the test sets, street lights written through the broker (the lighting tests' Town), and the ASGI app
over the same parts, so that a report posted over HTTP is routed, judged and closed as in a city."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.lighting.town import HERE, Town
from smartby.api.app import create_app
from smartby.services.reports.reports import entity_id
from smartby.services.reports.vocabulary import REPORTS_CONTEXT

LAT, LON = HERE["coordinates"][1], HERE["coordinates"][0]
METRE_LON = 1 / 62_730  # degrees of longitude in a metre at 55.68 N
OPEN311 = "/open311/v2"


def east(metres: float) -> dict[str, Any]:
    """A point `metres` east of HERE."""
    return {"type": "Point", "coordinates": [LON + metres * METRE_LON, LAT]}


class City(Town):
    """`City.running(settings, "reports", start, also=["lighting"])`."""

    async def settle(self) -> None:
        """Handle both services' feeds until neither has anything left."""
        while sum([await self.runtime.handle_batch(service) for service in self.runtime.services]):
            pass

    @contextlib.asynccontextmanager
    async def http(self) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=create_app(self.parts))
        async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as client:
            yield client

    async def report(self, client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
        """Post a report (form-encoded) and answer GeoReport v2's answer for it."""
        answer = await client.post(f"{OPEN311}/requests.json", data={k: str(v) for k, v in fields.items()})
        assert answer.status_code == 200, answer.text
        [created] = answer.json()
        return dict(created)

    async def close(self, client: httpx.AsyncClient, request_id: str) -> None:
        """Close a report as the city's own staff would, through NGSI-LD."""
        answer = await client.patch(
            f"/ngsi-ld/v1/entities/{entity_id(request_id)}/attrs",
            json={"resolutionStatus": {"type": "Property", "value": "Closed"}},
            headers={"Link": f'<{REPORTS_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"'},
        )
        assert answer.status_code == 204, answer.text

    async def request(self, client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
        answer = await client.get(f"{OPEN311}/requests/{request_id}.json")
        assert answer.status_code == 200, answer.text
        [found] = answer.json()
        return dict(found)
