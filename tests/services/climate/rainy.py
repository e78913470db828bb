"""Rain gauges and basins for the climate tests, written through the broker with the Smart Data
Models' own @contexts, and the climate service on a runtime whose clock the test sets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.one_service import OneService
from smartby.ngsild.timestamps import format_datetime
from smartby.services.climate.vocabulary import ENVIRONMENT_CONTEXT, WEATHER_CONTEXT

HERE = {"type": "Point", "coordinates": [12.5735, 55.6867]}


class Rainy(OneService):
    async def gauge(self, number: int, interval: float | None = None) -> str:
        gauge_id = f"urn:ngsi-ld:WeatherObserved:gauge:{number}"
        body: dict[str, Any] = {
            "id": gauge_id,
            "type": "WeatherObserved",
            "location": {"type": "GeoProperty", "value": HERE},
        }
        if interval is not None:
            body["reportingInterval"] = {"type": "Property", "value": interval}
        await self.broker.create_entity("", await self.broker.context([WEATHER_CONTEXT]), body)
        return gauge_id

    async def basin(self, number: int, danger: float) -> str:
        basin_id = f"urn:ngsi-ld:FloodMonitoring:basin:{number}"
        body = {
            "id": basin_id,
            "type": "FloodMonitoring",
            "dangerLevel": {"type": "Property", "value": danger, "unitCode": "MTR"},
        }
        await self.broker.create_entity("", await self.broker.context([ENVIRONMENT_CONTEXT]), body)
        return basin_id

    async def reading(self, entity_id: str, at: datetime, **values: Any) -> None:
        kind = entity_id.split(":")[2]
        fragment: dict[str, Any] = {"id": entity_id, "type": kind}
        for name, value in values.items():
            fragment[name] = {"type": "Property", "value": value, "observedAt": format_datetime(at)}
        context = WEATHER_CONTEXT if kind == "WeatherObserved" else ENVIRONMENT_CONTEXT
        result = await self.broker.batch_upsert(
            "", await self.broker.context([context]), [fragment], mode="update"
        )
        assert not result.errors

    async def judge(self, at: datetime) -> None:
        """Run the service's only job, `judge`, as of `at`."""
        await self.run("judge", at)
