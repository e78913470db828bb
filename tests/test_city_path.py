"""One reading the whole way, as a city runs it: a device publishes on the real Mosquitto, a
`smartby serve` process (its own OS process, on each store backend) ingests it, the entity and its
history show it, and a subscriber's real HTTP receiver is notified."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import httpx
import orjson
import pytest

from conftest import free_port
from receiver import Receiver
from smartby.ingest.topics import device_topic

V1 = "/ngsi-ld/v1"
ENTITY = "urn:ngsi-ld:WeatherObserved:rain-gauge-7"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "SMARTBY_DATABASE": database_url,
        "SMARTBY_MQTT_URL": "mqtt://127.0.0.1:1883",
        "SMARTBY_MQTT_TOPICS": '["smartby"]',
        "SMARTBY_MQTT_SHARED_GROUP": f"g{uuid.uuid4().hex[:10]}",
        "SMARTBY_MQTT_CLIENT_ID": f"smartby-path-{uuid.uuid4().hex[:10]}",
        "SMARTBY_MQTT_SESSION_EXPIRY": "0",
        "SMARTBY_REMOTE_CONTEXTS": "false",
        "SMARTBY_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "smartby", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}{V1}/types", timeout=1)
            break
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(
                    process.stderr.read().decode() if process.stderr else "no start"
                ) from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


async def test_a_reading_published_on_mqtt_reaches_entity_history_and_subscriber(server: str) -> None:
    receiver = Receiver(free_port())
    receiver.start()
    tenant = f"city{uuid.uuid4().hex[:8]}"
    headers = {"NGSILD-Tenant": tenant}
    try:
        async with httpx.AsyncClient(base_url=server, timeout=30) as http:
            device = {
                "id": "rain-gauge-7",
                "entityId": ENTITY,
                "entityType": "WeatherObserved",
                "decoder": {
                    "kind": "json",
                    "fields": [{"attribute": "precipitation", "path": "rain", "unitCode": "MMT"}],
                    "observedAt": {"path": "at"},
                },
            }
            assert (await http.post("/ingest/v1/devices", json=device, headers=headers)).status_code == 201
            # The tenant exists once something was written to it: give it its entity first.
            created = await http.post(
                f"{V1}/entities",
                json={
                    "id": ENTITY,
                    "type": "WeatherObserved",
                    "precipitation": {"type": "Property", "value": 0},
                },
                headers=headers,
            )
            assert created.status_code == 201, created.text
            subscription = {
                "type": "Subscription",
                "entities": [{"type": "WeatherObserved"}],
                "watchedAttributes": ["precipitation"],
                "q": "precipitation>10",
                "notification": {"format": "keyValues", "endpoint": {"uri": receiver.url}},
            }
            made = await http.post(f"{V1}/subscriptions", json=subscription, headers=headers)
            assert made.status_code == 201, made.text

            async with aiomqtt.Client(
                "127.0.0.1",
                1883,
                identifier=f"gauge-{uuid.uuid4().hex[:8]}",
                protocol=aiomqtt.ProtocolVersion.V5,
            ) as mqtt:
                for value, at in ((3.5, "2026-08-14T15:00:00Z"), (17.25, "2026-08-14T15:05:00Z")):
                    payload = orjson.dumps({"rain": value, "at": at})
                    await mqtt.publish(device_topic(tenant, "rain-gauge-7"), payload, qos=1)

            notified = await receiver.wait_for(1, timeout=30)
            assert notified[0].body["data"][0]["id"] == ENTITY
            assert notified[0].body["data"][0]["precipitation"] == 17.25  # only the reading above 10
            assert notified[0].headers.get("ngsild-tenant") == tenant

            entity = (await http.get(f"{V1}/entities/{ENTITY}", headers=headers)).json()
            assert entity["precipitation"]["value"] == 17.25
            assert entity["precipitation"]["unitCode"] == "MMT"

            temporal = await http.get(
                f"{V1}/temporal/entities/{ENTITY}",
                params={"options": "temporalValues", "attrs": "precipitation"},
                headers=headers,
            )
            assert temporal.status_code == 200, temporal.text
            values = temporal.json()["precipitation"]["values"]
            assert [3.5, "2026-08-14T15:00:00Z"] in values and [17.25, "2026-08-14T15:05:00Z"] in values
            await asyncio.sleep(0.3)
            assert len(receiver.received) == 1  # 3.5 did not satisfy q
    finally:
        receiver.stop()
