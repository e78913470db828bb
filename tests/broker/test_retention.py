"""History retention: old raw history of the configured types goes, the rest stays."""

from __future__ import annotations

from datetime import timedelta

from smartby.broker import Broker
from smartby.ngsild.reads import HistoryQuery
from smartby.ngsild.timestamps import format_datetime, now

TRAFFIC = "https://smartdatamodels.org/dataModel.Transportation/TrafficFlowObserved"
WEATHER = "https://smartdatamodels.org/dataModel.Weather/WeatherObserved"
INTENSITY = "https://smartdatamodels.org/dataModel.Transportation/intensity"


async def test_retention_keeps_the_configured_days(broker: Broker) -> None:
    broker.settings.history_retention = {"TrafficFlowObserved": 30}
    today = now()
    for entity_id, entity_type in (
        ("urn:ngsi-ld:TrafficFlowObserved:1", TRAFFIC),
        ("urn:ngsi-ld:Weather:1", WEATHER),
    ):
        readings = [
            {"type": "Property", "value": days, "observedAt": format_datetime(today - timedelta(days=days))}
            for days in (90, 31, 29, 1)
        ]
        added = await broker.add_history("", {"id": entity_id, "type": [entity_type]}, {INTENSITY: readings})
        assert added == 4
    removed = await broker.enforce_retention()
    assert removed == 2
    found, _ = await broker.store.history("", HistoryQuery())
    kept = {entity.id: [i["value"] for i in entity.attributes[INTENSITY]] for entity in found}
    assert kept == {"urn:ngsi-ld:TrafficFlowObserved:1": [29, 1], "urn:ngsi-ld:Weather:1": [90, 31, 29, 1]}
