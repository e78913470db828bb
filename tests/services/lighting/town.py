"""A small lit town for the lighting tests: a group of street lights written with the Smart Data
Models' own @context, power readings written through the broker, the lighting service on a runtime
whose clock the test sets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.set_clock import SetClock
from services.test_freshness import alerts
from smartby.assembly import Assembly
from smartby.broker import Broker
from smartby.ngsild.timestamps import format_datetime
from smartby.services.lighting.vocabulary import LIGHTING_CONTEXT, STREETLIGHTING_CONTEXT
from smartby.services.runtime import Runtime
from smartby.services.service import Service

GROUP = "urn:ngsi-ld:StreetlightGroup:town:1"
HERE = {"type": "Point", "coordinates": [12.5683, 55.6761]}


@dataclass
class Town:
    parts: Assembly
    runtime: Runtime
    clock: SetClock

    @property
    def broker(self) -> Broker:
        return self.parts.broker

    @property
    def service(self) -> Service:
        [service] = self.runtime.services
        return service

    async def create(self, body: dict[str, Any], *contexts: str) -> None:
        ctx = await self.broker.context([STREETLIGHTING_CONTEXT, LIGHTING_CONTEXT, *contexts])
        await self.broker.create_entity("", ctx, body)

    async def light(self, number: int, rating: float = 100.0, **more: Any) -> str:
        light_id = f"urn:ngsi-ld:Streetlight:town:{number}"
        await self.create(
            {
                "id": light_id,
                "type": "Streetlight",
                "powerRating": {"type": "Property", "value": rating, "unitCode": "WTT"},
                "status": {"type": "Property", "value": "ok"},
                "location": {"type": "GeoProperty", "value": HERE},
                "refStreetlightGroup": {"type": "Relationship", "object": GROUP},
                **more,
            }
        )
        return light_id

    async def group(self, program: str | None = None, **more: Any) -> None:
        body: dict[str, Any] = {"id": GROUP, "type": "StreetlightGroup", **more}
        if program is not None:
            body["activeProgramId"] = {"type": "Property", "value": program}
        await self.create(body)

    async def program(self, program_id: str, rules: list[dict[str, Any]]) -> None:
        await self.create(
            {
                "id": program_id,
                "type": "LightingProgram",
                "calendarRules": {"type": "Property", "value": rules},
            }
        )

    async def power(self, light_id: str, at: datetime, watts: float) -> None:
        fragment = {
            "id": light_id,
            "type": "Streetlight",
            "powerConsumption": {
                "type": "Property",
                "value": watts,
                "unitCode": "WTT",
                "observedAt": format_datetime(at),
            },
        }
        ctx = await self.broker.context([STREETLIGHTING_CONTEXT])
        result = await self.broker.batch_upsert("", ctx, [fragment], mode="update")
        assert not result.errors

    async def run(self, job: str, at: datetime) -> None:
        """Run a job of the service as of `at` on the clock (it is due then)."""
        self.clock.moment = at
        [chosen] = [j for j in self.service.jobs if j.name == job]
        await chosen.run(self.runtime.context("lighting"), at)

    async def feed(self) -> int:
        handled = 0
        while count := await self.runtime.handle_batch(self.service):
            handled += count
        return handled

    async def alerts(self) -> list[dict[str, Any]]:
        """Every Alert, as a client reads them with the Smart Data Models' @context (keyValues)."""
        return await alerts(self.parts)
