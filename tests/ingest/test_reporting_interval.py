"""A device's reporting interval, declared on its payload profile or on itself, reaches its entity
(docs/devices.md), where the climate service reads it (docs/climate.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.broker import Broker
from smartby.ingest.pipeline import Ingestion
from smartby.ingest.registry import profile_view
from smartby.ingest.uplinks import Uplink
from smartby.ngsild.context import DEFAULT_VOCAB
from smartby.ngsild.errors import BadRequestData
from smartby.services.climate.gauges import interval

KEY = "a-rain-gauge-key-of-some-length"
DECODER = {"kind": "json", "fields": [{"attribute": "precipitation", "path": "mm", "unitCode": "MMT"}]}
INTERVAL = DEFAULT_VOCAB + "reportingInterval"


def gauge(device_id: str, **members: Any) -> dict[str, Any]:
    return {
        "id": device_id,
        "entityId": f"urn:ngsi-ld:WeatherObserved:{device_id}",
        "entityType": "WeatherObserved",
        "key": KEY,
        **members,
    }


async def rain(sink: Ingestion, device_id: str, mm: float) -> None:
    uplink = Uplink("http", "plain", "", device_id, KEY, b'{"mm": %r}' % mm, "2011-07-02T18:00:00Z")
    outcome = await sink.ingest(uplink, wait=True)
    assert outcome.status == "accepted", outcome


@pytest.fixture
async def sink(broker: Broker) -> Any:
    ingestion = Ingestion(broker, broker.store, broker.settings)
    await ingestion.registry.put_profile("", "gauge", {"decoder": DECODER, "reportingInterval": 600})
    yield ingestion
    await ingestion.close()


async def test_the_profile_s_interval_becomes_the_entity_s(broker: Broker, sink: Ingestion) -> None:
    await sink.registry.register("", gauge("g1", profile="gauge"))
    await rain(sink, "g1", 0.4)
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:g1")
    written = entity[INTERVAL][0]
    assert written["value"] == 600 and written["unitCode"] == "SEC"
    assert interval(entity, 300) == timedelta(minutes=10)
    assert profile_view(await sink.registry.get_profile("", "gauge"))["reportingInterval"] == 600


async def test_a_device_s_own_interval_wins_over_its_profile_s(broker: Broker, sink: Ingestion) -> None:
    await sink.registry.register("", gauge("g2", profile="gauge", reportingInterval=60))
    await rain(sink, "g2", 0.1)
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:g2")
    assert entity[INTERVAL][0]["value"] == 60
    assert (await sink.registry.get("", "g2")).reporting_interval == 60


async def test_an_entity_s_own_interval_is_left_alone(broker: Broker, sink: Ingestion) -> None:
    ctx = await broker.context(None)
    await broker.create_entity(
        "",
        ctx,
        {
            "id": "urn:ngsi-ld:WeatherObserved:g3",
            "type": "WeatherObserved",
            "reportingInterval": {"type": "Property", "value": 900},
        },
    )
    await sink.registry.register("", gauge("g3", profile="gauge"))
    await rain(sink, "g3", 2.0)
    await rain(sink, "g3", 3.0)
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:g3")
    assert [i["value"] for i in entity[INTERVAL]] == [900]
    assert entity[DEFAULT_VOCAB + "precipitation"][0]["value"] == 3.0


async def test_without_a_declared_interval_nothing_is_written(broker: Broker, sink: Ingestion) -> None:
    await sink.registry.register("", gauge("g4", decoder=DECODER))
    await rain(sink, "g4", 1.0)
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:g4")
    assert INTERVAL not in entity
    assert interval(entity, 300) == timedelta(minutes=5)


NOT_INTERVALS = st.one_of(
    st.floats(max_value=0, allow_nan=False),
    st.floats(min_value=604800, exclude_min=True),
    st.integers(max_value=0),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(value=NOT_INTERVALS)
async def test_what_is_not_an_interval_is_refused(sink: Ingestion, value: Any) -> None:
    with pytest.raises(BadRequestData, match="reportingInterval"):
        await sink.registry.put_profile("", "bad", {"decoder": DECODER, "reportingInterval": value})
    with pytest.raises(BadRequestData, match="reportingInterval"):
        await sink.registry.register("", gauge("bad", decoder=DECODER, reportingInterval=value))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(value=st.floats(min_value=0, max_value=604800, exclude_min=True) | st.integers(1, 604800))
async def test_every_interval_is_kept_as_given(sink: Ingestion, value: float) -> None:
    await sink.registry.put_profile("", "any", {"decoder": DECODER, "reportingInterval": value})
    assert (await sink.registry.get_profile("", "any")).reporting_interval == value
