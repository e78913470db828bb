"""A small lit town for the lighting tests: a group of street lights written with the Smart Data
Models' own @context, power readings written through the broker, the lighting service on a runtime
whose clock the test sets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.one_service import OneService
from smartby.ngsild.timestamps import format_datetime
from smartby.services.lighting.vocabulary import LIGHTING_CONTEXT, STREETLIGHTING_CONTEXT

GROUP = "urn:ngsi-ld:StreetlightGroup:town:1"
HERE = {"type": "Point", "coordinates": [12.5683, 55.6761]}


class Town(OneService):
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
