"""Commands to devices on each store backend, through the real paths: the /ingest/v1 API, real
Mosquitto (smartby's downlink topic and ChirpStack v4's `command/down`, read by a real client), a
real HTTP server standing in for The Things Stack's downlink push API, acknowledgements, expiry,
confirmation by the next uplink, and the call city services use."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import httpx
import orjson
import pytest
from pydantic import SecretStr

from conftest import free_port
from receiver import Receiver
from smartby.api.app import create_app
from smartby.assembly import Assembly, assemble
from smartby.ingest.commands import DeviceCommands
from smartby.ngsild.errors import ERRORS_BASE, ResourceNotFound
from smartby.services.runtime import Runtime
from smartby.settings import Settings
from smartby.sim.entities import LIGHT_COMMANDS

IN = "/ingest/v1"
MOSQUITTO = "mqtt://127.0.0.1:1883"
LIGHT = "urn:ngsi-ld:Streetlight:cmd-1"
WAIT = 20.0


async def eventually(check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        assert time.monotonic() < deadline, "the condition did not come true"
        await asyncio.sleep(0.05)


class Parts:
    def __init__(self, assembly: Assembly, http: httpx.AsyncClient, tenant: str, application: str) -> None:
        self.application = application
        """A ChirpStack application id of the tenant's."""
        self.assembly = assembly
        self.http = http
        self.tenant = tenant
        self.headers = {"NGSILD-Tenant": tenant}

    @property
    def commands(self) -> DeviceCommands:
        assert self.assembly.ingestion.commands is not None
        return self.assembly.ingestion.commands

    async def device(self, body: dict[str, Any]) -> str:
        created = await self.http.post(f"{IN}/devices", json=body, headers=self.headers)
        assert created.status_code == 201, created.text
        key: str = created.json()["key"]
        return key

    async def command(self, device: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(f"{IN}/devices/{device}/commands", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        assert response.headers["location"] == f"{IN}/devices/{device}/commands/{response.json()['id']}"
        found: dict[str, Any] = response.json()
        return found

    async def state(self, device: str, command_id: str) -> str:
        response = await self.http.get(f"{IN}/devices/{device}/commands/{command_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        state: str = response.json()["state"]
        return state

    async def entity(self, entity_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/ngsi-ld/v1/entities/{entity_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver(free_port())
    found.start()
    try:
        yield found
    finally:
        found.stop()


async def _parts(settings: Settings, **changes: Any) -> AsyncIterator[Parts]:
    group = uuid.uuid4().hex[:10]
    application = str(uuid.uuid4())
    chosen = settings.model_copy(
        update={
            "mqtt_shared_group": f"g{group}",
            "mqtt_client_id": f"smartby-cmd-{group}",
            "chirpstack_tenants": {application: f"cmd{group}"},
            **changes,
        }
    )
    assembly = assemble(chosen)
    await assembly.broker.open()
    await assembly.ingestion.start()
    commands = assembly.ingestion.commands
    assert commands is not None
    if commands.mqtt is not None:
        await asyncio.wait_for(commands.mqtt.connected.wait(), WAIT)
    transport = httpx.ASGITransport(app=create_app(assembly))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
            yield Parts(assembly, http, f"cmd{group}", application)
    finally:
        await assembly.ingestion.close()
        await assembly.broker.close()


@pytest.fixture
async def parts(settings: Settings, receiver: Receiver) -> AsyncIterator[Parts]:
    async for found in _parts(
        settings,
        mqtt_url=MOSQUITTO,
        tts_url=f"http://127.0.0.1:{receiver.port}",
        tts_api_key=SecretStr("NNSXS.secret"),
    ):
        yield found


@pytest.fixture
async def offline(settings: Settings) -> AsyncIterator[Parts]:
    """No MQTT broker configured: commands over MQTT cannot leave."""
    async for found in _parts(settings):
        yield found


@asynccontextmanager
async def listening(topic: str) -> AsyncIterator[asyncio.Queue[aiomqtt.Message]]:
    """A real MQTT client subscribed to `topic`: what arrives, in a queue."""
    queue: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
    async with aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(topic, qos=1)

        async def take() -> None:
            async for message in client.messages:
                await queue.put(message)

        task = asyncio.create_task(take())
        try:
            yield queue
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_command_over_mqtt_is_published_acknowledged_and_shown_on_the_entity(parts: Parts) -> None:
    await parts.device(
        {"id": "light-1", "entityId": LIGHT, "entityType": "Streetlight", "commands": LIGHT_COMMANDS}
    )
    async with listening(f"smartby/{parts.tenant}/light-1/down") as messages:
        command = await parts.command("light-1", {"name": "dim", "value": 0.4, "ttl": 600})
        message = await asyncio.wait_for(messages.get(), WAIT)
    assert orjson.loads(message.payload) == {"illuminanceLevel": 0.4}
    properties = getattr(message.properties, "UserProperty", [])
    assert ("command-id", command["id"]) in properties
    assert command["state"] == "sent" and command["sentAt"] and command["device"] == "light-1"
    assert set(command) >= {"id", "name", "value", "createdAt", "expiresAt", "confirmedAt", "info"}
    entity = await parts.entity(LIGHT)
    assert entity["dim_status"]["value"] == "SENT"

    async with aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as device:
        ack = {"id": command["id"], "status": "ok", "info": "dimmed"}
        await device.publish(f"smartby/{parts.tenant}/light-1/ack", orjson.dumps(ack), qos=1)
    await eventually(lambda: _is(parts, command, "confirmed"))
    entity = await eventually(lambda: _shown(parts, LIGHT, "OK"))
    assert entity["dim_info"]["value"] == "dimmed"
    listed = (
        await parts.http.get(f"{IN}/devices/light-1/commands?state=confirmed", headers=parts.headers)
    ).json()
    assert [found["id"] for found in listed] == [command["id"]]


async def _shown(parts: Parts, entity_id: str, status: str) -> dict[str, Any] | None:
    entity = await parts.entity(entity_id)
    return entity if entity.get("dim_status", {}).get("value") == status else None


async def _is(parts: Parts, command: dict[str, Any], state: str) -> bool:
    return await parts.state(command["device"], command["id"]) == state


async def test_chirpstack_gets_the_frame_base64_with_its_fport_and_acknowledges_it(parts: Parts) -> None:
    application = parts.application
    eui = uuid.uuid4().hex[:16]
    profile = {
        "decoder": {
            "kind": "bytes",
            "length": 1,
            "fields": [{"attribute": "illuminanceLevel", "offset": 0, "type": "u8", "scale": 0.01}],
        },
        "downlink": {"transport": "chirpstack", "applicationId": application},
        "commands": {
            "dim": {
                "kind": "bytes",
                "length": 2,
                "fPort": 10,
                "fields": [
                    {"offset": 0, "type": "u8", "const": 1},
                    {"offset": 1, "type": "u8", "scale": 0.01},
                ],
            }
        },
    }
    assert (
        await parts.http.put(f"{IN}/profiles/lorawan-light", json=profile, headers=parts.headers)
    ).status_code == 200
    await parts.device(
        {
            "id": "lora-1",
            "entityId": "urn:ngsi-ld:Streetlight:lora-1",
            "entityType": "Streetlight",
            "profile": "lorawan-light",
            "devEui": eui,
            "downlink": {"confirmed": True},
        }
    )
    async with listening(f"application/{application}/device/{eui}/command/down") as messages:
        command = await parts.command("lora-1", {"name": "dim", "value": 0.4})
        message = await asyncio.wait_for(messages.get(), WAIT)
    down = orjson.loads(message.payload)
    assert down == {
        "id": command["id"],
        "devEui": eui,
        "confirmed": True,
        "fPort": 10,
        "data": base64.b64encode(bytes([1, 40])).decode(),
    }
    assert command["state"] == "sent" and command["fPort"] == 10
    ack = {
        "deviceInfo": {"devEui": eui, "applicationId": application},
        "queueItemId": command["id"],
        "acknowledged": True,
    }
    async with aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as chirpstack:
        await chirpstack.publish(
            f"application/{application}/device/{eui}/event/ack", orjson.dumps(ack), qos=1
        )
    await eventually(lambda: _is(parts, command, "confirmed"))


async def test_the_things_stack_gets_a_downlink_push_and_a_pending_command_waits_for_it(
    parts: Parts, receiver: Receiver
) -> None:
    await parts.device(
        {
            "id": "tts-1",
            "entityId": "urn:ngsi-ld:Streetlight:tts-1",
            "entityType": "Streetlight",
            "devEui": uuid.uuid4().hex[:16],
            "commands": {
                "dim": {
                    "kind": "bytes",
                    "length": 1,
                    "fPort": 3,
                    "fields": [{"offset": 0, "type": "u8", "scale": 0.01}],
                }
            },
            "downlink": {
                "transport": "tts",
                "applicationId": "aarhus-lights",
                "webhookId": "smartby",
                "deviceId": "lamp 1",
            },
        }
    )
    receiver.status = 503
    command = await parts.command("tts-1", {"name": "dim", "value": 0.25})
    assert command["state"] == "pending" and "503" in command["info"]
    receiver.status = 200
    await _retry_now(parts)
    assert await parts.state("tts-1", command["id"]) == "sent"
    pushed = receiver.received[-1]
    assert pushed.path == "/api/v3/as/applications/aarhus-lights/webhooks/smartby/devices/lamp%201/down/push"
    assert pushed.headers["authorization"] == "Bearer NNSXS.secret"
    downlink = pushed.body["downlinks"][0]
    assert downlink["f_port"] == 3 and downlink["priority"] == "NORMAL" and downlink["confirmed"] is False
    assert base64.b64decode(downlink["frm_payload"]) == bytes([25])

    ack = {
        "end_device_ids": {"device_id": "lamp 1", "application_ids": {"application_id": "aarhus-lights"}},
        "downlink_ack": {"f_port": 3, "correlation_ids": downlink["correlation_ids"]},
    }
    response = await parts.http.post(f"{IN}/ttn", json=ack, headers=parts.headers)
    assert response.status_code == 204, response.text
    assert await parts.state("tts-1", command["id"]) == "confirmed"

    receiver.status = 400
    refused = await parts.command("tts-1", {"name": "dim", "value": 0.5})
    assert refused["state"] == "failed" and "400" in refused["info"]


async def _retry_now(parts: Parts) -> None:
    """Make every pending command's next try due, and run one pass of the retry loop."""
    commands = parts.commands
    for command in await commands.store.open_commands(("pending",), 100):
        await commands.store.claim_attempt(command.tenant, command.id, command.next_attempt, 0.0)
    await commands.run_once()


async def test_a_command_to_an_offline_device_waits_then_expires(offline: Parts) -> None:
    await offline.device(
        {"id": "far-1", "entityId": "urn:ngsi-ld:Streetlight:far-1", "entityType": "Streetlight"}
    )
    expires = datetime.now(UTC) + timedelta(seconds=1)
    command = await offline.command(
        "far-1", {"name": "dim", "value": 0.4, "expires": expires.isoformat().replace("+00:00", "Z")}
    )
    assert command["state"] == "pending" and "no MQTT broker" in command["info"]
    await _retry_now(offline)
    assert await offline.state("far-1", command["id"]) == "pending"
    entity = await offline.entity("urn:ngsi-ld:Streetlight:far-1")
    assert entity["dim_status"]["value"] == "PENDING"
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    await offline.commands.run_once()
    assert await offline.state("far-1", command["id"]) == "expired"
    entity = await offline.entity("urn:ngsi-ld:Streetlight:far-1")
    assert entity["dim_status"]["value"] == "EXPIRED" and "expired" in entity["dim_info"]["value"]


async def test_the_next_uplink_that_shows_the_level_confirms_a_dim(parts: Parts) -> None:
    key = await parts.device(
        {
            "id": "light-2",
            "entityId": "urn:ngsi-ld:Streetlight:cmd-2",
            "entityType": "Streetlight",
            "commands": LIGHT_COMMANDS,
        }
    )
    command = await parts.command("light-2", {"name": "dim", "value": 0.4})
    assert command["state"] == "sent"
    up = {"X-API-Key": key, **parts.headers}
    assert (
        await parts.http.post(f"{IN}/devices/light-2/up", json={"illuminanceLevel": 1.0}, headers=up)
    ).status_code == 204
    assert await parts.state("light-2", command["id"]) == "sent"
    assert (
        await parts.http.post(f"{IN}/devices/light-2/up", json={"illuminanceLevel": 0.4}, headers=up)
    ).status_code == 204
    assert await parts.state("light-2", command["id"]) == "confirmed"
    found = await parts.http.get(f"{IN}/devices/light-2/commands/{command['id']}", headers=parts.headers)
    assert found.json()["confirmedAt"] and "illuminanceLevel" in found.json()["info"]


async def test_services_send_through_their_context(parts: Parts) -> None:
    await parts.device(
        {"id": "light-3", "entityId": "urn:ngsi-ld:Streetlight:cmd-3", "entityType": "Streetlight"}
    )
    runtime: Runtime = parts.assembly.services
    sender = runtime.commands
    sent = await sender.send(
        "light-3", "dim", 0.7, expires_at=datetime.now(UTC) + timedelta(minutes=5), tenant=parts.tenant
    )
    assert sent.state == "sent" and sent.device == "light-3" and sent.value == 0.7
    with pytest.raises(ResourceNotFound):
        await sender.send("no-such-light", "dim", 0.7, tenant=parts.tenant)
    newest = (await parts.http.get(f"{IN}/devices/light-3/commands", headers=parts.headers)).json()
    assert [found["id"] for found in newest] == [sent.id]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ([], 400),
        ({"name": "dim"}, 400),
        ({"value": 1}, 400),
        ({"name": 5, "value": 1}, 400),
        ({"name": "bad name", "value": 1}, 400),
        ({"name": "dim", "value": 1, "ttl": 0}, 400),
        ({"name": "dim", "value": 1, "ttl": "soon"}, 400),
        ({"name": "dim", "value": 1, "ttl": 5, "expires": "2030-01-01T00:00:00Z"}, 400),
        ({"name": "dim", "value": 1, "expires": "tomorrow"}, 400),
        ({"name": "dim", "value": 1, "expires": "2001-01-01T00:00:00Z"}, 400),
        ({"name": "dim", "value": 1, "colour": "red"}, 400),
        ({"name": "reboot", "value": True}, 400),
        ({"name": "dim", "value": "bright"}, 400),
    ],
)
async def test_bad_commands_are_refused_with_problem_details(offline: Parts, body: Any, status: int) -> None:
    await offline.device(
        {
            "id": "light-4",
            "entityId": "urn:ngsi-ld:Streetlight:cmd-4",
            "entityType": "Streetlight",
            "commands": {
                "dim": {"kind": "bytes", "length": 1, "fields": [{"offset": 0, "type": "u8", "scale": 0.01}]}
            },
        }
    )
    response = await offline.http.post(f"{IN}/devices/light-4/commands", json=body, headers=offline.headers)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["type"].startswith(ERRORS_BASE) and problem["detail"]


async def test_unknown_devices_commands_and_states(offline: Parts) -> None:
    headers = offline.headers
    for response in (
        await offline.http.post(
            f"{IN}/devices/nobody/commands", json={"name": "dim", "value": 1}, headers=headers
        ),
        await offline.http.get(f"{IN}/devices/nobody/commands", headers=headers),
        await offline.http.get(f"{IN}/devices/nobody/commands/x", headers=headers),
    ):
        assert response.status_code == 404, response.text
    await offline.device(
        {"id": "light-5", "entityId": "urn:ngsi-ld:Streetlight:cmd-5", "entityType": "Streetlight"}
    )
    assert (await offline.http.get(f"{IN}/devices/light-5/commands/x", headers=headers)).status_code == 404
    assert (
        await offline.http.get(f"{IN}/devices/light-5/commands?state=lost", headers=headers)
    ).status_code == 400
    assert (
        await offline.http.get(f"{IN}/devices/light-5/commands?limit=0", headers=headers)
    ).status_code == 400
    assert (
        await offline.http.get(f"{IN}/devices/light-5/commands?colour=1", headers=headers)
    ).status_code == 400


@pytest.mark.parametrize(
    "downlink",
    [
        {"transport": "sms"},
        {"transport": "chirpstack"},
        {"transport": "tts", "applicationId": "a"},
        {"transport": "mqtt", "topic": "lights/+/down"},
        {"transport": "mqtt", "fPort": 0},
        {"transport": "mqtt", "colour": "red"},
        "mqtt",
    ],
)
async def test_bad_downlinks_and_command_declarations_are_refused(offline: Parts, downlink: Any) -> None:
    body = {
        "id": "light-6",
        "entityId": "urn:ngsi-ld:Streetlight:cmd-6",
        "entityType": "Streetlight",
        "downlink": downlink,
    }
    response = await offline.http.post(f"{IN}/devices", json=body, headers=offline.headers)
    assert response.status_code == 400, response.text
    body = {**body, "downlink": None, "commands": {"dim": {"kind": "bytes"}}}
    assert (await offline.http.post(f"{IN}/devices", json=body, headers=offline.headers)).status_code == 400
    profile = {"decoder": {"kind": "json"}, "commands": {"dim": {"fPort": 999}}}
    assert (
        await offline.http.put(f"{IN}/profiles/p", json=profile, headers=offline.headers)
    ).status_code == 400


async def test_an_http_device_gets_its_commands_in_the_answer_to_its_next_uplink(offline: Parts) -> None:
    key = await offline.device(
        {
            "id": "http-1",
            "entityId": "urn:ngsi-ld:Streetlight:http-1",
            "entityType": "Streetlight",
            "commands": LIGHT_COMMANDS,
            "downlink": {"transport": "http"},
        }
    )
    command = await offline.command("http-1", {"name": "dim", "value": 0.4})
    assert command["state"] == "pending" and "next HTTP uplink" in command["info"]
    await offline.commands.run_once()
    assert await offline.state("http-1", command["id"]) == "pending"
    up = {"X-API-Key": key, **offline.headers}
    answer = await offline.http.post(f"{IN}/devices/http-1/up", json={"illuminanceLevel": 1.0}, headers=up)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "commands": [{"id": command["id"], "name": "dim", "value": 0.4, "payload": {"illuminanceLevel": 0.4}}]
    }
    assert await offline.state("http-1", command["id"]) == "sent"
    answer = await offline.http.post(f"{IN}/devices/http-1/up", json={"illuminanceLevel": 0.4}, headers=up)
    assert answer.status_code == 204, answer.text
    assert await offline.state("http-1", command["id"]) == "confirmed"


async def test_acknowledgements_by_name_by_error_and_over_chirpstacks_http_integration(parts: Parts) -> None:
    await parts.device(
        {"id": "ack-1", "entityId": "urn:ngsi-ld:Streetlight:ack-1", "entityType": "Streetlight"}
    )
    first = await parts.command("ack-1", {"name": "dim", "value": 0.3})
    second = await parts.command("ack-1", {"name": "reboot", "value": True})
    await parts.commands.device_ack(parts.tenant, "ack-1", {"dim": "dimmed to 30 %"})
    await parts.commands.device_ack(
        parts.tenant, "ack-1", {"id": second["id"], "status": "error", "info": "busy"}
    )
    found = (await parts.http.get(f"{IN}/devices/ack-1/commands/{first['id']}", headers=parts.headers)).json()
    assert found["state"] == "confirmed" and found["info"] == "dimmed to 30 %"
    found = (
        await parts.http.get(f"{IN}/devices/ack-1/commands/{second['id']}", headers=parts.headers)
    ).json()
    assert found["state"] == "failed" and found["info"] == "busy"
    entity = await eventually(lambda: _shown(parts, "urn:ngsi-ld:Streetlight:ack-1", "OK"))
    assert entity["reboot_status"]["value"] == "ERROR"

    eui = uuid.uuid4().hex[:16]
    await parts.device(
        {
            "id": "ack-2",
            "entityId": "urn:ngsi-ld:Streetlight:ack-2",
            "entityType": "Streetlight",
            "devEui": eui,
            "downlink": {"transport": "chirpstack", "applicationId": parts.application, "fPort": 5},
        }
    )
    third = await parts.command("ack-2", {"name": "dim", "value": 0.5})
    assert third["fPort"] == 5
    event = {"deviceInfo": {"devEui": eui}, "queueItemId": third["id"], "acknowledged": False}
    response = await parts.http.post(f"{IN}/chirpstack?event=ack", json=event, headers=parts.headers)
    assert response.status_code == 204, response.text
    assert await parts.state("ack-2", third["id"]) == "failed"
    bad = await parts.http.post(
        f"{IN}/chirpstack?event=ack",
        content=b"{",
        headers={**parts.headers, "Content-Type": "application/json"},
    )
    assert bad.status_code == 400


async def test_of_two_processes_one_takes_each_try_of_a_pending_command(offline: Parts) -> None:
    await offline.device(
        {"id": "try-1", "entityId": "urn:ngsi-ld:Streetlight:try-1", "entityType": "Streetlight"}
    )
    command = await offline.command("try-1", {"name": "dim", "value": 0.2})
    store = offline.commands.store
    (pending,) = await store.open_commands(("pending",), 10)
    claims = await asyncio.gather(
        *(
            store.claim_attempt(
                offline.tenant, command["id"], pending.next_attempt, pending.next_attempt + 10
            )
            for _ in range(4)
        )
    )
    assert sorted(claims) == [False, False, False, True]


async def test_a_profile_holds_the_downlink_its_devices_complete(offline: Parts) -> None:
    profile = {
        "decoder": {"kind": "json"},
        "downlink": {"transport": "tts", "applicationId": "a", "webhookId": "w"},
    }
    put = await offline.http.put(f"{IN}/profiles/tts-lights", json=profile, headers=offline.headers)
    assert put.status_code == 200 and put.json()["downlink"] == profile["downlink"]
    body = {
        "id": "tts-2",
        "entityId": "urn:ngsi-ld:Streetlight:tts-2",
        "entityType": "Streetlight",
        "profile": "tts-lights",
    }
    refused = await offline.http.post(f"{IN}/devices", json=body, headers=offline.headers)
    assert refused.status_code == 400 and "deviceId" in refused.json()["detail"]
    await offline.device({**body, "downlink": {"deviceId": "lamp-2"}})
    command = await offline.command("tts-2", {"name": "dim", "value": 0.5})
    assert command["state"] == "pending" and "SMARTBY_TTS_URL" in command["info"]
