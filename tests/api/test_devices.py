"""/ingest/v1 through HTTP: the registry, uplinks from devices and LoRaWAN network servers, dead
letters, and OS2iot's FIWARE data target."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from smartby.api.app import create_app
from smartby.assembly import Assembly
from smartby.ingest.pipeline import Ingestion
from smartby.ngsild.errors import ERRORS_BASE

V1 = "/ngsi-ld/v1"
IN = "/ingest/v1"
JSON = {"Content-Type": "application/json"}
SENSOR = "urn:ngsi-ld:TrafficFlowObserved:158324"
TRAFFIC_CONTEXT = "https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"
LINK = f'<{TRAFFIC_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
AARHUS_PROFILE = {
    "description": "Aarhus CityPulse traffic sensor (JSON over HTTP)",
    "decoder": {
        "kind": "json",
        "fields": [
            {"attribute": "intensity", "path": "vehicleCount", "required": True},
            {"attribute": "averageVehicleSpeed", "path": "avgSpeed", "unitCode": "KMH"},
        ],
        "observedAt": {"path": "TIMESTAMP", "zone": "Europe/Copenhagen"},
    },
}
DEVICE = {
    "id": "aarhus-158324",
    "entityId": SENSOR,
    "entityType": "TrafficFlowObserved",
    "profile": "aarhus-traffic",
    "context": TRAFFIC_CONTEXT,
    "location": {"type": "Point", "coordinates": [10.1396, 56.2149]},
    "organisation": "Aarhus Kommune",
}


def reading(count: int, at: str) -> dict[str, Any]:
    return {"status": "OK", "avgMeasuredTime": 74, "avgSpeed": 50, "vehicleCount": count, "TIMESTAMP": at}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problem: dict[str, Any] = response.json()
    assert problem["type"].startswith(ERRORS_BASE) and problem["status"] == status and problem["detail"]
    return problem


async def register(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> str:
    put = await client.put(f"{IN}/profiles/aarhus-traffic", json=AARHUS_PROFILE, headers=headers)
    assert put.status_code == 200, put.text
    created = await client.post(f"{IN}/devices", json=DEVICE, headers=headers)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{IN}/devices/aarhus-158324"
    key: str = created.json()["key"]
    return key


async def test_a_reading_posted_with_the_key_reaches_the_entity_and_its_history(
    client: httpx.AsyncClient,
) -> None:
    key = await register(client)
    sent = await client.post(
        f"{IN}/devices/aarhus-158324/up", json=reading(5, "2014-08-01T07:50:00"), headers={"X-API-Key": key}
    )
    assert sent.status_code == 204, sent.text
    second = await client.post(
        f"{IN}/devices/aarhus-158324/up",
        json=reading(7, "2014-08-01T07:55:00"),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert second.status_code == 204, second.text
    entity = (await client.get(f"{V1}/entities/{SENSOR}", headers={"Link": LINK})).json()
    assert entity["type"] == "TrafficFlowObserved"
    assert entity["intensity"] == {"type": "Property", "value": 7, "observedAt": "2014-08-01T05:55:00Z"}
    assert entity["averageVehicleSpeed"]["unitCode"] == "KMH"
    assert entity["location"]["value"] == {"type": "Point", "coordinates": [10.1396, 56.2149]}
    history = (await client.get(f"{V1}/temporal/entities/{SENSOR}", headers={"Link": LINK})).json()
    assert [(i["value"], i["observedAt"]) for i in history["intensity"]] == [
        (5, "2014-08-01T05:50:00Z"),
        (7, "2014-08-01T05:55:00Z"),
    ]


async def test_the_registry_never_shows_keys(client: httpx.AsyncClient) -> None:
    key = await register(client)
    listed = (await client.get(f"{IN}/devices")).json()
    shown = (await client.get(f"{IN}/devices/aarhus-158324")).json()
    assert listed == [shown]
    assert shown["organisation"] == "Aarhus Kommune" and shown["profile"] == "aarhus-traffic"
    for view in (listed[0], shown):
        assert not {"key", "keyHash", "key_hash"} & set(view) and key not in orjson.dumps(view).decode()
    assert "scrypt" not in (await client.get(f"{IN}/devices")).text
    replaced = await client.put(f"{IN}/devices/aarhus-158324", json={**DEVICE, "organisation": "COWI"})
    assert replaced.status_code == 200 and "key" not in replaced.json()
    assert replaced.json()["organisation"] == "COWI"
    still = await client.post(
        f"{IN}/devices/aarhus-158324/up", json=reading(1, "2014-08-01T08:00:00"), headers={"X-API-Key": key}
    )
    assert still.status_code == 204, "replacing a device without a key keeps its key"
    assert_problem(await client.post(f"{IN}/devices", json=DEVICE), 409)
    assert_problem(await client.put(f"{IN}/devices/other", json=DEVICE), 400)
    assert_problem(await client.post(f"{IN}/devices", json={**DEVICE, "id": "x", "profile": "nope"}), 400)
    assert_problem(await client.post(f"{IN}/devices", content=b"[", headers=JSON), 400)
    assert (await client.delete(f"{IN}/devices/aarhus-158324")).status_code == 204
    assert_problem(await client.get(f"{IN}/devices/aarhus-158324"), 404)
    assert_problem(await client.delete(f"{IN}/devices/aarhus-158324"), 404)


async def test_payload_profiles(client: httpx.AsyncClient) -> None:
    await register(client)
    assert [p["name"] for p in (await client.get(f"{IN}/profiles")).json()] == ["aarhus-traffic"]
    got = (await client.get(f"{IN}/profiles/aarhus-traffic")).json()
    assert got["decoder"] == AARHUS_PROFILE["decoder"] and got["description"].startswith("Aarhus")
    bad = {
        "decoder": {"kind": "bytes", "length": 2, "fields": [{"attribute": "x", "offset": 1, "type": "u16"}]}
    }
    problem = assert_problem(await client.put(f"{IN}/profiles/lamp", json=bad), 400)
    assert "outside the frame of 2 bytes" in problem["detail"]
    assert (await client.delete(f"{IN}/profiles/aarhus-traffic")).status_code == 204
    assert_problem(await client.get(f"{IN}/profiles/aarhus-traffic"), 404)


async def test_bad_payloads_unknown_devices_and_wrong_keys_are_dead_letters(
    client: httpx.AsyncClient,
) -> None:
    key = await register(client)
    bad = await client.post(
        f"{IN}/devices/aarhus-158324/up", content=b"\x00\xffnot json", headers={"X-API-Key": key}
    )
    assert "not JSON" in assert_problem(bad, 400)["detail"]
    unknown = await client.post(
        f"{IN}/devices/ghost/up", json=reading(1, "2014-08-01T08:00:00"), headers={"X-API-Key": key}
    )
    assert_problem(unknown, 404)
    wrong = await client.post(
        f"{IN}/devices/aarhus-158324/up",
        json=reading(2, "2014-08-01T08:00:00"),
        headers={"X-API-Key": "guess" * 4},
    )
    assert_problem(wrong, 401)
    missing = await client.post(f"{IN}/devices/aarhus-158324/up", json=reading(3, "2014-08-01T08:00:00"))
    assert_problem(missing, 401)

    listed = await client.get(f"{IN}/deadletters", params={"count": "true"})
    assert listed.status_code == 200 and listed.headers["NGSILD-Results-Count"] == "4"
    letters = listed.json()
    reasons = sorted(letter["reason"].split(":")[0] for letter in letters)
    assert reasons == ["unauthorized", "unauthorized", "undecodable", "unknown-device"]
    raw = {base64.b64decode(letter["payload"]) for letter in letters}
    assert b"\x00\xffnot json" in raw
    assert orjson.dumps(reading(1, "2014-08-01T08:00:00")) in raw
    assert {letter["transport"] for letter in letters} == {"http"}
    ghost = [letter for letter in letters if letter.get("deviceId") == "ghost"]
    assert len(ghost) == 1
    one = await client.get(f"{IN}/deadletters/{ghost[0]['id']}")
    assert one.json() == ghost[0]
    only_ours = (await client.get(f"{IN}/deadletters", params={"deviceId": "aarhus-158324"})).json()
    assert len(only_ours) == 3

    good = await client.post(
        f"{IN}/devices/aarhus-158324/up", json=reading(9, "2014-08-01T08:00:00"), headers={"X-API-Key": key}
    )
    assert good.status_code == 204
    entity = (await client.get(f"{V1}/entities/{SENSOR}", headers={"Link": LINK})).json()
    assert entity["intensity"]["value"] == 9

    stats = (await client.get(f"{IN}/stats")).json()
    assert (
        stats["accepted"] == 1 and stats["deadLettered"] == 4 and stats["deadLetteredBy"]["unauthorized"] == 2
    )

    assert (await client.delete(f"{IN}/deadletters/{ghost[0]['id']}")).status_code == 204
    assert_problem(await client.get(f"{IN}/deadletters/{ghost[0]['id']}"), 404)
    assert_problem(await client.get(f"{IN}/deadletters/nope"), 404)
    purged = await client.delete(f"{IN}/deadletters", params={"deviceId": "aarhus-158324"})
    assert purged.json() == {"deleted": 3}
    assert (await client.get(f"{IN}/deadletters")).json() == []
    assert_problem(await client.get(f"{IN}/deadletters", params={"since": "yesterday"}), 400)
    assert_problem(await client.get(f"{IN}/deadletters", params={"colour": "red"}), 400)


LIGHT_PROFILE = {
    "description": "Street-light node: state, dimming level, power in 0.1 W",
    "decoder": {
        "kind": "bytes",
        "length": 4,
        "fields": [
            {"attribute": "powerState", "offset": 0, "type": "bool", "mask": 1},
            {"attribute": "dimmingLevel", "offset": 1, "type": "u8", "unitCode": "P1"},
            {"attribute": "powerConsumption", "offset": 2, "type": "u16", "scale": 0.1, "unitCode": "WTT"},
        ],
    },
}


async def add_light(client: httpx.AsyncClient, tenant: dict[str, str]) -> str:
    assert (
        await client.put(f"{IN}/profiles/streetlight", json=LIGHT_PROFILE, headers=tenant)
    ).status_code == 200
    created = await client.post(
        f"{IN}/devices",
        json={
            "id": "light-0042",
            "entityId": "urn:ngsi-ld:Streetlight:0042",
            "entityType": "Streetlight",
            "profile": "streetlight",
            "devEui": "0004a30b001c0042",
        },
        headers=tenant,
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


async def test_a_chirpstack_http_integration(client: httpx.AsyncClient) -> None:
    tenant = {"NGSILD-Tenant": "copenhagen"}
    key = await add_light(client, tenant)
    event = {
        "deduplicationId": "7f2c0a6e-2b0c-4b7e-8a29-1f4f3c3f7c11",
        "time": "2024-11-05T16:30:00.250+00:00",
        "deviceInfo": {
            "tenantId": "t",
            "applicationId": "a",
            "deviceName": "lamp",
            "devEui": "0004a30b001c0042",
        },
        "fPort": 10,
        "data": base64.b64encode(bytes([1, 80, 0x01, 0xF4])).decode(),
        "rxInfo": [{"gatewayId": "a840411d", "rssi": -97, "snr": 7.5}],
    }
    headers = {**tenant, "Authorization": f"Bearer {key}"}
    up = await client.post(f"{IN}/chirpstack", params={"event": "up"}, json=event, headers=headers)
    assert up.status_code == 204, up.text
    joined = await client.post(
        f"{IN}/chirpstack", params={"event": "join"}, json={"deviceInfo": {}}, headers=tenant
    )
    assert joined.status_code == 204
    assert_problem(await client.post(f"{IN}/chirpstack", json=event, headers=headers), 400)
    light = (await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:0042", headers=tenant)).json()
    assert light["powerState"]["value"] is True and light["dimmingLevel"]["value"] == 80
    assert light["powerConsumption"] == {
        "type": "Property",
        "value": 50,
        "unitCode": "WTT",
        "observedAt": "2024-11-05T16:30:00.250Z",
    }
    assert (await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:0042")).status_code == 404
    wrong = await client.post(
        f"{IN}/chirpstack", params={"event": "up"}, json=event, headers={**tenant, "X-API-Key": "x" * 20}
    )
    assert_problem(wrong, 401)
    letters = (await client.get(f"{IN}/deadletters", headers=tenant)).json()
    assert [(x["transport"], x["deviceId"], x["reason"]) for x in letters] == [
        ("chirpstack-http", "light-0042", "unauthorized: wrong key")
    ]
    assert orjson.loads(base64.b64decode(letters[0]["payload"])) == event
    assert (await client.get(f"{IN}/deadletters")).json() == []


async def test_a_things_stack_webhook(client: httpx.AsyncClient) -> None:
    key = await add_light(client, {})
    message = {
        "end_device_ids": {
            "device_id": "lamp-42",
            "application_ids": {"application_id": "lights"},
            "dev_eui": "0004A30B001C0042",
        },
        "received_at": "2024-11-05T16:30:01.1Z",
        "uplink_message": {
            "f_port": 10,
            "frm_payload": base64.b64encode(bytes([0, 0, 0, 0])).decode(),
            "received_at": "2024-11-05T16:30:00Z",
        },
    }
    up = await client.post(f"{IN}/ttn", json=message, headers={"X-Downlink-Apikey": key})
    assert up.status_code == 204, up.text
    light = (await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:0042")).json()
    assert (
        light["powerState"]["value"] is False
        and light["powerConsumption"]["observedAt"] == "2024-11-05T16:30:00Z"
    )
    other = {"end_device_ids": message["end_device_ids"], "join_accept": {}}
    assert (await client.post(f"{IN}/ttn", json=other, headers={"X-Downlink-Apikey": key})).status_code == 204
    assert_problem(await client.post(f"{IN}/ttn", content=b"\x01", headers={"X-Downlink-Apikey": key}), 400)


@pytest.fixture
async def guarded(assembly: Assembly) -> AsyncIterator[httpx.AsyncClient]:
    broker = assembly.broker
    settings = broker.settings.model_copy(update={"ingest_admin_token": SecretStr("operator-token")})
    parts = dataclasses.replace(assembly, ingestion=Ingestion(broker, broker.store, settings))
    transport = httpx.ASGITransport(app=create_app(parts))
    async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
        yield http


async def test_the_admin_token_guards_the_registry_not_the_uplinks(guarded: httpx.AsyncClient) -> None:
    assert_problem(await guarded.get(f"{IN}/devices"), 401)
    assert_problem(await guarded.get(f"{IN}/deadletters", headers={"Authorization": "Bearer wrong"}), 401)
    assert_problem(await guarded.put(f"{IN}/profiles/aarhus-traffic", json=AARHUS_PROFILE), 401)
    admin = {"Authorization": "Bearer operator-token"}
    key = await register(guarded, admin)
    assert (await guarded.get(f"{IN}/devices", headers=admin)).status_code == 200
    sent = await guarded.post(
        f"{IN}/devices/aarhus-158324/up", json=reading(5, "2014-08-01T07:50:00"), headers={"X-API-Key": key}
    )
    assert sent.status_code == 204


async def test_os2iot_fiware_data_target(client: httpx.AsyncClient) -> None:
    """OS2iot's FIWARE data target posts its payload decoder's output to
    {url}/ngsi-ld/v1/entityOperations/upsert/ with a Link header (the data target's context) and
    NGSILD-Tenant (its tenant), as OS2iot-backend's fiware-data-target.service.ts does."""
    headers = {"Content-Type": "application/json", "Link": LINK, "NGSILD-Tenant": "aarhus"}
    for count, at in ((12, "2024-11-05T07:50:00Z"), (17, "2024-11-05T07:55:00Z")):
        body = [
            {
                "id": SENSOR,
                "type": "TrafficFlowObserved",
                "intensity": {"type": "Property", "value": count, "observedAt": at},
                "averageVehicleSpeed": {
                    "type": "Property",
                    "value": 48.5,
                    "unitCode": "KMH",
                    "observedAt": at,
                },
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [10.1396, 56.2149]},
                },
            }
        ]
        sent = await client.post(
            f"{V1}/entityOperations/upsert/", content=orjson.dumps(body), headers=headers
        )
        assert sent.status_code in (201, 204), sent.text
    entity = (
        await client.get(f"{V1}/entities/{SENSOR}", headers={"Link": LINK, "NGSILD-Tenant": "aarhus"})
    ).json()
    assert entity["intensity"]["value"] == 17 and entity["type"] == "TrafficFlowObserved"
    history = (
        await client.get(
            f"{V1}/temporal/entities/{SENSOR}", headers={"Link": LINK, "NGSILD-Tenant": "aarhus"}
        )
    ).json()
    assert [i["value"] for i in history["intensity"]] == [12, 17]
    assert (await client.get(f"{V1}/entities/{SENSOR}")).status_code == 404


async def test_uplinks_to_a_running_server_share_transactions(live_server: Any) -> None:
    """On a real server the flusher commits what arrives together in one transaction, and an
    uplink is answered once committed."""
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        key = await register(http)
        sends = [
            http.post(
                f"{IN}/devices/aarhus-158324/up",
                json=reading(n, f"2014-08-01T08:{n:02d}:00"),
                headers={"X-API-Key": key},
            )
            for n in range(10)
        ]
        answers = await asyncio.gather(*sends)
        assert [a.status_code for a in answers] == [204] * 10
        history = (await http.get(f"{V1}/temporal/entities/{SENSOR}", headers={"Link": LINK})).json()
        assert sorted(i["value"] for i in history["intensity"]) == list(range(10))
        stats = (await http.get(f"{IN}/stats")).json()
        assert stats["accepted"] == 10 and stats["readings"] == 20
        assert stats["transactions"] < 10 * 2
