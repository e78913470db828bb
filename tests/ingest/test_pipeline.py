"""Ingestion end to end on a real broker: envelopes, keys, decoding, batching into history, dead letters."""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.broker import Broker
from smartby.ingest.pipeline import Ingestion
from smartby.ingest.uplinks import Envelope, Uplink
from smartby.ngsild.context import DEFAULT_VOCAB
from smartby.ngsild.reads import EntitySelector, HistoryQuery
from smartby.records.devices import DeadLetterQuery
from smartby.settings import Settings

KEY = "a-device-key-of-some-length"
LIGHT_FRAME = {
    "kind": "bytes",
    "length": 3,
    "fields": [
        {"attribute": "powerState", "offset": 0, "type": "bool"},
        {"attribute": "powerConsumption", "offset": 1, "type": "u16", "scale": 0.1, "unitCode": "WTT"},
    ],
}


def uplink(
    payload: bytes,
    *,
    device: str | None = "meter-1",
    key: str | None = KEY,
    envelope: Envelope = "plain",
    transport: str = "http",
    tenant: str = "",
    at: str = "2024-05-01T12:00:00.000001Z",
) -> Uplink:
    return Uplink(transport, envelope, tenant, device, key, payload, at)


async def history(broker: Broker, entity_id: str, tenant: str = "") -> dict[str, list[Any]]:
    found, _ = await broker.store.history(tenant, HistoryQuery(selectors=(EntitySelector(ids=(entity_id,)),)))
    assert len(found) == 1
    return {iri.removeprefix(DEFAULT_VOCAB): instances for iri, instances in found[0].attributes.items()}


@pytest.fixture
async def ingestion(broker: Broker) -> Any:
    sink = Ingestion(broker, broker.store, broker.settings)
    await sink.registry.register(
        "",
        {
            "id": "meter-1",
            "entityId": "urn:ngsi-ld:WeatherObserved:meter-1",
            "entityType": "WeatherObserved",
            "key": KEY,
            "decoder": {
                "kind": "json",
                "fields": [{"attribute": "temperature", "path": "t", "unitCode": "CEL"}],
            },
            "location": {"type": "Point", "coordinates": [12.5683, 55.6761]},
        },
    )
    await sink.registry.put_profile("", "light", {"decoder": LIGHT_FRAME})
    await sink.registry.register(
        "",
        {
            "id": "light-7",
            "entityId": "urn:ngsi-ld:Streetlight:7",
            "entityType": "Streetlight",
            "key": KEY,
            "profile": "light",
            "devEui": "70b3d57ed0000007",
        },
    )
    yield sink
    await sink.close()


async def test_a_reading_reaches_the_entity_and_its_history(broker: Broker, ingestion: Ingestion) -> None:
    outcome = await ingestion.ingest(uplink(b'{"t": 21.5, "x": 1}'), wait=True)
    assert outcome.status == "accepted" and outcome.readings == 1
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:meter-1")
    temperature = entity[DEFAULT_VOCAB + "temperature"][0]
    assert temperature["value"] == 21.5 and temperature["unitCode"] == "CEL"
    assert temperature["observedAt"] == "2024-05-01T12:00:00.000001Z"
    assert entity["https://uri.etsi.org/ngsi-ld/location"][0]["value"]["coordinates"] == [12.5683, 55.6761]
    assert entity["type"] == [DEFAULT_VOCAB + "WeatherObserved"]
    assert [
        i["value"] for i in (await history(broker, "urn:ngsi-ld:WeatherObserved:meter-1"))["temperature"]
    ] == [21.5]


async def test_readings_of_one_entity_in_one_batch_all_reach_history(
    broker: Broker, ingestion: Ingestion
) -> None:
    for number in range(5):
        await ingestion.accept(uplink(orjson.dumps({"t": number}), at=f"2024-05-01T12:00:0{number}Z"))
    await ingestion.flush()
    recorded = (await history(broker, "urn:ngsi-ld:WeatherObserved:meter-1"))["temperature"]
    assert sorted((i["observedAt"], i["value"]) for i in recorded) == [
        (f"2024-05-01T12:00:0{number}Z", number) for number in range(5)
    ]
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:meter-1")
    assert entity[DEFAULT_VOCAB + "temperature"][0]["value"] == 4
    # one transaction for the batch, and the entity written once (its createdAt is its first write's)
    assert ingestion.stats.accepted == 5 and ingestion.stats.transactions == 1
    temperature = entity[DEFAULT_VOCAB + "temperature"][0]
    assert temperature["createdAt"] == temperature["modifiedAt"] == entity["modifiedAt"]


async def test_other_attributes_of_the_entity_stay(broker: Broker, ingestion: Ingestion) -> None:
    await ingestion.ingest(uplink(b'{"t": 1}'), wait=True)
    ctx = await broker.context(None)
    await broker.append_attributes(
        "", "urn:ngsi-ld:WeatherObserved:meter-1", ctx, {"name": {"type": "Property", "value": "Roof"}}
    )
    await ingestion.ingest(uplink(b'{"t": 2}'), wait=True)
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:meter-1")
    assert entity[DEFAULT_VOCAB + "name"][0]["value"] == "Roof"
    assert entity[DEFAULT_VOCAB + "temperature"][0]["value"] == 2


async def test_a_unit_text_becomes_a_sub_property_of_the_reading(
    broker: Broker, ingestion: Ingestion
) -> None:
    await ingestion.registry.register(
        "",
        {
            "id": "grid",
            "entityId": "urn:ngsi-ld:GridSignal:DK2",
            "entityType": "GridSignal",
            "key": KEY,
            "decoder": {
                "kind": "json",
                "fields": [
                    {"attribute": "price", "unitText": "DKK/MWh"},
                    {"attribute": "co2Intensity", "unitCode": "GRM", "unitText": "g/kWh"},
                ],
            },
        },
    )
    outcome = await ingestion.ingest(
        uplink(b'{"price": 612.5, "co2Intensity": 143}', device="grid"), wait=True
    )
    assert outcome.status == "accepted", outcome
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:GridSignal:DK2")
    price = entity[DEFAULT_VOCAB + "price"][0]
    assert price["value"] == 612.5 and "unitCode" not in price
    assert price[DEFAULT_VOCAB + "unitText"]["value"] == "DKK/MWh"
    co2 = entity[DEFAULT_VOCAB + "co2Intensity"][0]
    assert co2["unitCode"] == "GRM" and co2[DEFAULT_VOCAB + "unitText"]["value"] == "g/kWh"
    recorded = (await history(broker, "urn:ngsi-ld:GridSignal:DK2"))["price"]
    assert [i[DEFAULT_VOCAB + "unitText"]["value"] for i in recorded] == ["DKK/MWh"]


def chirpstack_event(
    frame: bytes | None, obj: dict[str, Any] | None = None, eui: str = "70b3d57ed0000007"
) -> bytes:
    event: dict[str, Any] = {
        "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
        "time": "2024-05-01T21:00:00.123456+00:00",
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
            "deviceName": "light-7",
            "devEui": eui,
        },
        "fPort": 2,
        "fCnt": 10,
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -57, "snr": 10}],
    }
    if frame is not None:
        event["data"] = base64.b64encode(frame).decode()
    if obj is not None:
        event["object"] = obj
    return orjson.dumps(event)


async def test_a_chirpstack_uplink_decoded_by_its_byte_layout(broker: Broker, ingestion: Ingestion) -> None:
    frame = b"\x01" + struct.pack(">H", 523)
    outcome = await ingestion.ingest(
        uplink(chirpstack_event(frame), device=None, envelope="chirpstack", transport="chirpstack-http"),
        wait=True,
    )
    assert outcome.status == "accepted", outcome
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:Streetlight:7")
    assert entity[DEFAULT_VOCAB + "powerState"][0]["value"] is True
    consumption = entity[DEFAULT_VOCAB + "powerConsumption"][0]
    assert consumption["value"] == 52.3 and consumption["unitCode"] == "WTT"
    assert consumption["observedAt"] == "2024-05-01T21:00:00.123456Z"


async def test_a_things_stack_uplink_with_its_decoded_payload(broker: Broker, ingestion: Ingestion) -> None:
    await ingestion.registry.register(
        "",
        {
            "id": "ers-1",
            "entityId": "urn:ngsi-ld:Room:1",
            "entityType": "Room",
            "key": KEY,
            "devEui": "A81758FFFE031234",
        },
    )
    message = {
        "end_device_ids": {
            "device_id": "ers-1",
            "application_ids": {"application_id": "aarhus"},
            "dev_eui": "A81758FFFE031234",
        },
        "received_at": "2024-05-01T10:00:01Z",
        "uplink_message": {
            "f_port": 5,
            "frm_payload": base64.b64encode(b"\x01\x00\xe2").decode(),
            "decoded_payload": {"temperature": 22.6, "humidity": 41},
            "received_at": "2024-05-01T10:00:00.5Z",
        },
    }
    outcome = await ingestion.ingest(
        uplink(orjson.dumps(message), device=None, envelope="tts", transport="tts-http"), wait=True
    )
    assert outcome.status == "accepted"
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:Room:1")
    assert entity[DEFAULT_VOCAB + "humidity"][0]["value"] == 41
    assert entity[DEFAULT_VOCAB + "temperature"][0]["observedAt"] == "2024-05-01T10:00:00.5Z"


async def test_what_cannot_be_used_is_dead_lettered_and_the_next_reading_still_works(
    broker: Broker, ingestion: Ingestion
) -> None:
    cases = [
        (uplink(b'{"t": 1}', device="ghost"), "unknown-device"),
        (uplink(b'{"t": 2}', key="not-the-key-at-all"), "unauthorized"),
        (uplink(b'{"t": 3}', key=None), "unauthorized"),
        (uplink(b"\xff\x00garbage"), "undecodable"),
        (uplink(b'{"t": 4}', device=None, envelope="chirpstack"), "undecodable"),
        (uplink(chirpstack_event(b"\x01"), device=None, envelope="chirpstack"), "undecodable"),
        (
            uplink(
                chirpstack_event(b"\x01\x00\x01", eui="0000000000000001"), device=None, envelope="chirpstack"
            ),
            "unknown-device",
        ),
    ]
    for sent, status in cases:
        outcome = await ingestion.ingest(sent, wait=True)
        assert outcome.status == status, (sent, outcome)
    letters = await broker.store.list_dead_letters("", DeadLetterQuery())
    assert len(letters) == len(cases)
    assert sorted(letter.payload for letter in letters) == sorted(sent.payload for sent, _ in cases)
    by_payload = {letter.payload: letter for letter in letters}
    assert by_payload[b'{"t": 1}'].reason == "unknown-device: unknown device ghost"
    assert (
        by_payload[b'{"t": 2}'].reason == "unauthorized: wrong key"
        and by_payload[b'{"t": 2}'].device_id == "meter-1"
    )
    assert by_payload[b"\xff\x00garbage"].reason.startswith("undecodable: the payload is not JSON")
    assert ingestion.stats.dead_lettered == len(cases)
    assert ingestion.stats.by_reason["unauthorized"] == 2
    assert (await ingestion.ingest(uplink(b'{"t": 5}'), wait=True)).status == "accepted"
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:meter-1")
    assert entity[DEFAULT_VOCAB + "temperature"][0]["value"] == 5


async def test_a_reading_the_broker_refuses_is_dead_lettered(broker: Broker, ingestion: Ingestion) -> None:
    await ingestion.registry.register(
        "",
        {
            "id": "odd",
            "entityId": "urn:ngsi-ld:Thing:odd",
            "entityType": "Thing",
            "key": KEY,
            "context": "https://example.org/no-such-context.jsonld",
        },
    )
    good = ingestion.ingest(uplink(b'{"t": 9}'), wait=True)
    bad = ingestion.ingest(uplink(b'{"level": 1}', device="odd"), wait=True)
    outcomes = await asyncio.gather(good, bad)
    assert [o.status for o in outcomes] == ["accepted", "rejected"]
    letters = await broker.store.list_dead_letters("", DeadLetterQuery(device_id="odd"))
    assert (
        len(letters) == 1
        and letters[0].reason.startswith("rejected:")
        and letters[0].payload == b'{"level": 1}'
    )


async def test_an_unusable_value_rejects_its_uplink_only(broker: Broker, ingestion: Ingestion) -> None:
    good = ingestion.ingest(uplink(b'{"t": 1.5}'), wait=True)
    bad = ingestion.ingest(uplink(b'{"t": "urn:ngsi-ld:null"}', at="2024-05-01T12:00:01Z"), wait=True)
    later = ingestion.ingest(uplink(b'{"t": 3}', at="2024-05-01T12:00:02Z"), wait=True)
    outcomes = await asyncio.gather(good, bad, later)
    assert [o.status for o in outcomes] == ["accepted", "rejected", "accepted"]
    letters = await broker.store.list_dead_letters("", DeadLetterQuery(device_id="meter-1"))
    assert len(letters) == 1 and "null" in letters[0].reason
    assert letters[0].payload == b'{"t": "urn:ngsi-ld:null"}'
    recorded = (await history(broker, "urn:ngsi-ld:WeatherObserved:meter-1"))["temperature"]
    assert [i["value"] for i in recorded] == [1.5, 3]


async def test_readings_leave_other_datasets_of_the_attribute_alone(
    broker: Broker, ingestion: Ingestion
) -> None:
    await ingestion.ingest(uplink(b'{"t": 1}'), wait=True)
    ctx = await broker.context(None)
    await broker.append_attributes(
        "",
        "urn:ngsi-ld:WeatherObserved:meter-1",
        ctx,
        {"temperature": {"type": "Property", "value": 7, "datasetId": "urn:ngsi-ld:Dataset:forecast"}},
    )
    await ingestion.accept(uplink(b'{"t": 2}', at="2024-05-01T12:00:02Z"))
    await ingestion.accept(uplink(b'{"t": 3}', at="2024-05-01T12:00:03Z"))
    await ingestion.flush()
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:meter-1")
    held = {i.get("datasetId"): i["value"] for i in entity[DEFAULT_VOCAB + "temperature"]}
    assert held == {None: 3, "urn:ngsi-ld:Dataset:forecast": 7}


async def test_trusted_transports_and_the_integration_secret(broker: Broker) -> None:
    settings = broker.settings.model_copy(
        update={"ingest_integration_secret": "integration-secret", "ingest_trusted_transports": ["mqtt"]}
    )
    sink = Ingestion(broker, broker.store, Settings.model_validate(settings.model_dump()))
    await sink.registry.put_profile("", "light", {"decoder": LIGHT_FRAME})
    await sink.registry.register(
        "",
        {
            "id": "light-7",
            "entityId": "urn:ngsi-ld:Streetlight:7",
            "entityType": "Streetlight",
            "profile": "light",
            "devEui": "70b3d57ed0000007",
        },
    )
    event = chirpstack_event(b"\x00\x00\x10")
    results = [
        await sink.ingest(
            uplink(event, device=None, key="integration-secret", envelope="chirpstack"), wait=True
        ),
        await sink.ingest(uplink(event, device=None, key="other-secret", envelope="chirpstack"), wait=True),
        await sink.ingest(uplink(b"\x00\x00\x10", device="light-7", key=None, transport="mqtt"), wait=True),
        await sink.ingest(uplink(b"\x00\x00\x10", device="light-7", key=None, transport="http"), wait=True),
        await sink.ingest(uplink(b"\x00\x00\x10", device="light-7", key="integration-secret"), wait=True),
    ]
    assert [r.status for r in results] == [
        "accepted",
        "unauthorized",
        "accepted",
        "unauthorized",
        "unauthorized",
    ]
    await sink.close()


async def test_the_flusher_commits_by_time_and_by_batch_size(broker: Broker) -> None:
    settings = Settings.model_validate(
        {**broker.settings.model_dump(), "ingest_batch_size": 3, "ingest_flush_ms": 60_000}
    )
    sink = Ingestion(broker, broker.store, settings)
    await sink.registry.register(
        "", {"id": "m", "entityId": "urn:ngsi-ld:Meter:m", "entityType": "Meter", "key": KEY}
    )
    await sink.start()
    for number in range(3):
        await sink.accept(uplink(orjson.dumps({"n": number}), device="m"))
    for _ in range(200):
        if sink.stats.accepted == 3:
            break
        await asyncio.sleep(0.01)
    assert sink.stats.accepted == 3
    await sink.accept(uplink(b'{"n": 3}', device="m"))
    await sink.close()
    assert sink.stats.accepted == 4
    assert len((await history(broker, "urn:ngsi-ld:Meter:m"))["n"]) == 4


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    payload=st.binary(max_size=48)
    | st.dictionaries(
        st.text(max_size=6), st.integers(-(2**53), 2**53) | st.text(max_size=4), max_size=4
    ).map(orjson.dumps),
    envelope=st.sampled_from(["plain", "chirpstack", "tts"]),
    device=st.sampled_from(["meter-1", "light-7", None, "nobody"]),
)
async def test_whatever_arrives_is_accepted_or_dead_lettered(
    broker: Broker, ingestion: Ingestion, payload: bytes, envelope: Envelope, device: str | None
) -> None:
    before = ingestion.stats.accepted + ingestion.stats.dead_lettered
    outcome = await ingestion.ingest(uplink(payload, device=device, envelope=envelope), wait=True)
    assert outcome.status in ("accepted", "unknown-device", "undecodable", "rejected")
    assert ingestion.stats.accepted + ingestion.stats.dead_lettered == before + 1
    if outcome.status != "accepted":
        newest = (await broker.store.list_dead_letters("", DeadLetterQuery(limit=1)))[0]
        assert newest.payload == payload and newest.reason.startswith(outcome.status)


async def test_an_array_payload_reaches_history_reading_by_reading(broker: Broker) -> None:
    sink = Ingestion(broker, broker.store, broker.settings)
    await sink.registry.register(
        "",
        {
            "id": "gateway-1",
            "entityId": "urn:ngsi-ld:WeatherObserved:g1",
            "entityType": "WeatherObserved",
            "key": KEY,
            "decoder": {
                "kind": "json",
                "fields": [{"attribute": "temperature", "path": "t"}],
                "observedAt": "at",
            },
        },
    )
    readings = [{"t": 10 + n, "at": f"2024-05-01T12:00:0{n}Z"} for n in range(4)]
    outcome = await sink.ingest(uplink(orjson.dumps(readings), device="gateway-1"), wait=True)
    assert outcome.status == "accepted" and outcome.readings == 4
    recorded = (await history(broker, "urn:ngsi-ld:WeatherObserved:g1"))["temperature"]
    assert sorted((i["observedAt"], i["value"]) for i in recorded) == [
        (f"2024-05-01T12:00:0{n}Z", 10 + n) for n in range(4)
    ]
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:WeatherObserved:g1")
    assert entity[DEFAULT_VOCAB + "temperature"][0]["value"] == 13
    await sink.close()


async def test_offered_uplinks_are_settled_once_committed_and_keep_their_order(broker: Broker) -> None:
    settings = Settings.model_validate(
        {**broker.settings.model_dump(), "ingest_batch_size": 1000, "ingest_flush_ms": 60_000}
    )
    sink = Ingestion(broker, broker.store, settings)
    await sink.registry.register(
        "", {"id": "m", "entityId": "urn:ngsi-ld:Meter:m", "entityType": "Meter", "key": KEY}
    )
    sink.registry._forget()  # the first offer must wait for a lookup, the others behind it
    settled: list[int] = []
    offered = [
        uplink(b'{"n": 0}', device="m", key=None, transport="mqtt"),
        uplink(b'{"n": 1}', device="nobody", key=None, transport="mqtt"),
        uplink(b'{"n": 2}', device="m", key=None, transport="mqtt"),
        uplink(b"not json", device="m", key=None, transport="mqtt"),
        uplink(b'{"n": 4}', device="m", key=None, transport="mqtt"),
    ]
    for number, item in enumerate(offered):
        sink.offer(item, lambda number=number: settled.append(number))  # type: ignore[misc]
    for _ in range(200):
        if sink.stats.uplinks == 5:
            break
        await asyncio.sleep(0.01)
    assert sink.stats.uplinks == 5
    await asyncio.sleep(0.05)
    assert settled == []  # taken, not committed: a transport must not acknowledge them yet
    await sink.flush()
    assert sorted(settled) == [0, 1, 2, 3, 4]
    # All three reach history (the uplinks share one receive time here, so history cannot order
    # them; the current state shows the last one won).
    assert sorted(i["value"] for i in (await history(broker, "urn:ngsi-ld:Meter:m"))["n"]) == [0, 2, 4]
    entity = await broker.retrieve_entity("", "urn:ngsi-ld:Meter:m")
    assert entity[DEFAULT_VOCAB + "n"][0]["value"] == 4
    assert sink.stats.by_reason == {"unknown-device": 1, "undecodable": 1}
    await sink.close()
