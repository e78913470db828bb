"""Where the simulated city's readings go.

- `SmartbyTarget`: a smartby server. Payload profiles and devices are registered in its device
  registry (`/ingest/v1`), static attributes upserted through the NGSI-LD API, and readings sent as
  devices send them: `POST /ingest/v1/devices/{id}/up` with the device's key, or published on
  `smartby/{tenant}/{device}/up` when an MQTT broker is given (smartby reads it there; the MQTT
  broker's logins authenticate devices, so no key is sent).
- `NgsiLdTarget`: any NGSI-LD broker (Orion-LD, Scorpio, Stellio, smartby): static entities and
  readings as batch upserts (`options=update`) with a `Link` header, readings as Properties with
  `observedAt`, one fragment per entity per request so every reading reaches history.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiomqtt
import httpx
import orjson

from smartby.ingest.decoders.json_fields import MAX_ARRAY
from smartby.ingest.topics import device_topic, parse_topic, tenant_level
from smartby.sim.city import City, Device
from smartby.sim.entities import (
    Entity,
    link,
    lit_cabinets,
    profiles,
    reading_fragment,
    registration,
    static_entities,
)
from smartby.sim.models import Payload, Simulation

Readings = Sequence[tuple[Device, list[Payload]]]
Tick = Callable[[int], None]
"""Told how many more items (entities, devices) were provisioned."""
BATCH = 500
"""Entities in one batch upsert."""
MQTT_IN_FLIGHT = 200
"""MQTT messages published at once (below smartby's Receive Maximum, 1000 by default)."""


class TargetError(RuntimeError):
    """The target refused something (the message holds its answer)."""


class Target(Protocol):
    description: str

    async def provision(self, city: City, tick: Tick) -> None: ...

    async def send(self, readings: Readings) -> None: ...

    async def obey(self, simulation: Simulation) -> None:
        """Take the commands smartby sends the city's devices, as they would (if the target sends any)."""

    async def close(self) -> None: ...


def provision_size(city: City, target: Target) -> int:
    """Items `provision` ticks off: static entities, and devices when it registers them."""
    static = len(city.districts) + len(city.buildings) + len(city.devices) + 1 + len(lit_cabinets(city))
    return static + (len(city.devices) if isinstance(target, SmartbyTarget) else 0)


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300 and response.status_code != 207:
        raise TargetError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    if response.status_code == 207:
        errors = response.json().get("errors", [])
        if errors:
            raise TargetError(f"{what}: {len(errors)} refused, first: {orjson.dumps(errors[0]).decode()}")


class _Http:
    """HTTP clients to the target: `concurrency` requests in flight, over pools of a few connections
    each (httpx's pool costs grow with the square of its connections)."""

    def __init__(self, url: str, tenant: str, concurrency: int) -> None:
        self.url = url.rstrip("/")
        self.headers = {"NGSILD-Tenant": tenant} if tenant else {}
        per_pool = 4
        # Idle connections are dropped before uvicorn's keep-alive timeout (5 s) can close one
        # under a request being sent on it.
        limits = httpx.Limits(
            max_connections=per_pool, max_keepalive_connections=per_pool, keepalive_expiry=2.0
        )
        self.pools = [
            httpx.AsyncClient(base_url=self.url, timeout=120, limits=limits, headers=self.headers)
            for _ in range(max(1, -(-concurrency // per_pool)))
        ]
        self.http = self.pools[0]
        self.gate = asyncio.Semaphore(concurrency)
        self._turn = 0

    def pool(self) -> httpx.AsyncClient:
        self._turn = (self._turn + 1) % len(self.pools)
        return self.pools[self._turn]

    async def close(self) -> None:
        for pool in self.pools:
            await pool.aclose()

    async def upsert(self, context: str | None, entities: list[Entity]) -> None:
        body = orjson.dumps(entities)
        headers = {"Content-Type": "application/json", **link(context)}
        async with self.gate:
            response = await self.pool().post(
                "/ngsi-ld/v1/entityOperations/upsert",
                params={"options": "update"},
                content=body,
                headers=headers,
            )
        _check(response, "batch upsert")

    async def upsert_static(self, city: City, tick: Tick) -> None:
        grouped: dict[str | None, list[Entity]] = defaultdict(list)
        for context, entity in static_entities(city):
            grouped[context].append(entity)

        async def one(context: str | None, chunk: list[Entity]) -> None:
            await self.upsert(context, chunk)
            tick(len(chunk))

        await asyncio.gather(
            *(
                one(context, entities[start : start + BATCH])
                for context, entities in grouped.items()
                for start in range(0, len(entities), BATCH)
            )
        )


class SmartbyTarget:
    """A smartby server, through its device registry and device transports."""

    def __init__(
        self, url: str, tenant: str = "", mqtt_url: str | None = None, concurrency: int = 128
    ) -> None:
        self.description = f"smartby at {url}" + (f", readings over MQTT {mqtt_url}" if mqtt_url else "")
        self.client = _Http(url, tenant, concurrency)
        self.tenant = tenant
        self.mqtt_url = mqtt_url
        self.keys: dict[str, str] = {}
        self._mqtt: aiomqtt.Client | None = None
        self._listening: asyncio.Task[None] | None = None
        self._simulation: Simulation | None = None
        self.commands_taken = 0

    async def report(self, fields: dict[str, str]) -> str | None:
        """Send a citizen's report to the server's Open311 API (docs/open311.md); its notice, or
        None when the server runs no `reports` service."""
        response = await self.client.http.post("/open311/v2/requests.json", data=fields)
        if response.status_code == 404:
            return None
        _check(response, f"report {fields.get('service_code')}")
        notice: str = response.json()[0]["service_notice"]
        return notice

    async def provision(self, city: City, tick: Tick) -> None:
        http = self.client.http
        for name, body in profiles().items():
            _check(await http.put(f"/ingest/v1/profiles/{name}", json=body), f"payload profile {name}")
        await self.client.upsert_static(city, tick)

        async def register(device: Device) -> None:
            path = f"/ingest/v1/devices/{device.device_id}"
            async with self.client.gate:
                http = self.client.pool()
                response = await http.put(path, json=self._registration(device))
                _check(response, f"device {device.device_id}")
                key = response.json().get("key")
                if key is None:  # registered before: it kept its key, which we do not know
                    key = secrets.token_urlsafe(32)
                    body = self._registration(device, key)
                    _check(await http.put(path, json=body), f"device {device.device_id}")
            self.keys[device.device_id] = key
            tick(1)

        await asyncio.gather(*(register(device) for device in city.devices))
        if self.mqtt_url:
            self._mqtt = _mqtt_client(self.mqtt_url)
            await self._mqtt.__aenter__()

    def _registration(self, device: Device, key: str | None = None) -> dict[str, Any]:
        """Over HTTP, a device's commands come back in the answers to its uplinks."""
        body = registration(device, key)
        if not self.mqtt_url:
            body["downlink"] = {"transport": "http"}
        return body

    async def send(self, readings: Readings) -> None:
        if self._mqtt is not None:
            await self._publish(readings)
            return
        await asyncio.gather(*(self._post(device, chunk) for device, chunk in _chunks(readings)))

    async def _post(self, device: Device, payloads: list[Payload]) -> None:
        headers = {"X-API-Key": self.keys[device.device_id], "Content-Type": "application/json"}
        async with self.client.gate:
            response = await self.client.pool().post(
                f"/ingest/v1/devices/{device.device_id}/up", content=orjson.dumps(payloads), headers=headers
            )
        _check(response, f"uplink of {device.device_id}")
        if response.status_code == 200 and self._simulation is not None:
            for command in response.json().get("commands", []):
                payload = command.get("payload")
                if isinstance(payload, dict):
                    self.commands_taken += self._simulation.command(device.device_id, payload)

    async def _publish(self, readings: Readings) -> None:
        """QoS 1, up to MQTT_IN_FLIGHT messages awaiting their PUBACK at once."""
        mqtt = self._mqtt
        assert mqtt is not None
        messages = [
            (device_topic(self.tenant, device.device_id), orjson.dumps(chunk))
            for device, chunk in _chunks(readings)
        ]
        for start in range(0, len(messages), MQTT_IN_FLIGHT):
            await asyncio.gather(
                *(
                    mqtt.publish(topic, payload, qos=1)
                    for topic, payload in messages[start : start + MQTT_IN_FLIGHT]
                )
            )

    async def obey(self, simulation: Simulation) -> None:
        """The devices do what the commands smartby sends them say. Over MQTT they take them from
        their downlink topics (`smartby/{tenant}/{device}/down`, smartby's default); over HTTP from
        the answers to their uplinks (they are registered with the `http` downlink)."""
        self._simulation = simulation
        mqtt = self._mqtt
        if mqtt is None or self._listening is not None:
            return
        await mqtt.subscribe(f"smartby/{tenant_level(self.tenant)}/+/down", qos=1)

        async def listen() -> None:
            async for message in mqtt.messages:
                found = parse_topic(str(message.topic).removesuffix("/down") + "/up")
                try:
                    payload = orjson.loads(message.payload) if isinstance(message.payload, bytes) else None
                except orjson.JSONDecodeError:
                    continue
                if found is not None and isinstance(payload, dict):
                    self.commands_taken += simulation.command(found.device_id, payload)

        self._listening = asyncio.create_task(listen(), name="smartby-sim-commands")

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
        if self._mqtt is not None:
            await self._mqtt.__aexit__(None, None, None)
        await self.client.close()


def _mqtt_client(url: str) -> aiomqtt.Client:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise TargetError(f"An MQTT URL is mqtt://[user:password@]host[:port], not {url!r}")
    return aiomqtt.Client(
        parts.hostname,
        parts.port or (8883 if parts.scheme == "mqtts" else 1883),
        username=parts.username,
        password=parts.password,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_params=aiomqtt.TLSParameters() if parts.scheme == "mqtts" else None,
        max_inflight_messages=MQTT_IN_FLIGHT,
        max_queued_outgoing_messages=100_000,
    )


def _chunks(readings: Readings) -> Iterable[tuple[Device, list[Payload]]]:
    """Each device's readings in arrays of at most MAX_ARRAY (what one payload may hold)."""
    for device, payloads in readings:
        for start in range(0, len(payloads), MAX_ARRAY):
            yield device, payloads[start : start + MAX_ARRAY]


class NgsiLdTarget:
    """Any NGSI-LD broker, through batch upserts."""

    def __init__(self, url: str, tenant: str = "", concurrency: int = 8) -> None:
        self.description = f"NGSI-LD broker at {url} (batch upserts)"
        self.client = _Http(url, tenant, concurrency)

    async def provision(self, city: City, tick: Tick) -> None:
        await self.client.upsert_static(city, tick)

    async def obey(self, simulation: Simulation) -> None:
        """Batch upserts have no way down to the devices."""

    async def send(self, readings: Readings) -> None:
        """Round k holds the k-th reading of every device (one fragment per entity per request),
        rounds in order, so a broker keeping history sees each reading as its own change."""
        rounds: list[dict[str | None, list[Entity]]] = []
        for device, payloads in readings:
            for number, payload in enumerate(payloads):
                while len(rounds) <= number:
                    rounds.append(defaultdict(list))
                fragment = reading_fragment(device.kind, device.entity_id, payload)
                rounds[number][device.kind.context].append(fragment)
        for round_ in rounds:
            await asyncio.gather(
                *(
                    self.client.upsert(context, entities[start : start + BATCH])
                    for context, entities in round_.items()
                    for start in range(0, len(entities), BATCH)
                )
            )

    async def close(self) -> None:
        await self.client.close()


async def target_for(
    url: str, tenant: str = "", mqtt_url: str | None = None, concurrency: int = 128
) -> Target:
    """smartby (it answers `/ingest/v1/profiles`) through its device API; any other broker through
    NGSI-LD batch upserts."""
    headers: dict[str, Any] = {"NGSILD-Tenant": tenant} if tenant else {}
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30, headers=headers) as http:
        try:
            response = await http.get("/ingest/v1/profiles")
        except httpx.HTTPError as error:
            raise TargetError(f"Cannot reach {url}: {error}") from None
    if response.status_code == 200 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return SmartbyTarget(url, tenant, mqtt_url, concurrency)
    if mqtt_url:
        raise TargetError(f"{url} has no smartby device API, so readings cannot go over MQTT to it")
    return NgsiLdTarget(url, tenant)
