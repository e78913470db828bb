"""Tests for services/freshness and services/results.py: a silent device gets one Alert (however
often it is checked), a reading after its silence closes it with validTo and keeps it; the share of
devices reporting as a KeyPerformanceIndicator; all judged by observedAt on the services' clock.
Both backends; the runtime's job and feed paths, on a clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.set_clock import SetClock
from smartby.api.app import create_app
from smartby.assembly import Assembly, assemble
from smartby.broker import Broker
from smartby.ngsild.entity import Entity
from smartby.services.freshness import check
from smartby.services.results import ALERT_CONTEXT
from smartby.services.runtime import Runtime
from smartby.settings import Settings

T0 = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
async def city(settings: Settings) -> AsyncIterator[tuple[Assembly, Runtime, SetClock]]:
    chosen = settings.model_copy(
        update={"services": ["freshness"], "freshness_max_silence": 600.0, "freshness_period": 300.0}
    )
    parts = assemble(chosen)
    clock = SetClock(T0)
    runtime = Runtime(parts.broker, parts.services.services, chosen, clock)
    await parts.broker.open()
    try:
        yield parts, runtime, clock
    finally:
        await parts.broker.close()


async def reading(broker: Broker, device: str, at: datetime, value: float = 1.0) -> None:
    entity = {
        "id": f"urn:ngsi-ld:AirQualityObserved:{device}",
        "type": "AirQualityObserved",
        "no2": {"type": "Property", "value": value, "observedAt": at.isoformat().replace("+00:00", "Z")},
    }
    result = await broker.batch_upsert("", await broker.context(None), [entity], mode="update")
    assert not result.errors


async def alerts(parts: Assembly) -> list[dict[str, Any]]:
    """Every Alert, as a client reads them with the Smart Data Models' @context (keyValues)."""
    app = create_app(parts)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        answer = await http.get(
            "/ngsi-ld/v1/entities",
            params={"type": "Alert", "format": "keyValues", "limit": "100"},
            headers={"Link": f'<{ALERT_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"'},
        )
    assert answer.status_code == 200, answer.text
    return sorted(answer.json(), key=lambda alert: alert["validFrom"]["@value"])


async def kpi(broker: Broker) -> Entity:
    return await broker.retrieve_entity("", "urn:ngsi-ld:KeyPerformanceIndicator:freshness:devices-reporting")


async def test_a_silent_device_gets_one_alert_until_it_reports_again(
    city: tuple[Assembly, Runtime, SetClock],
) -> None:
    parts, runtime, clock = city
    broker = parts.broker
    [service] = runtime.services
    [job] = service.jobs
    await reading(broker, "a", T0)
    await reading(broker, "b", T0)
    clock.moment = T0 + 5 * MINUTE
    assert await runtime.run_job(service, job)
    assert await alerts(parts) == []
    await reading(broker, "b", T0 + 9 * MINUTE)
    clock.moment = T0 + 15 * MINUTE
    assert await runtime.run_job(service, job)  # due again: a period passed on the clock
    assert not await runtime.run_job(service, job)  # not due again yet
    [alert] = await alerts(parts)
    assert alert["alertSource"] == "urn:ngsi-ld:AirQualityObserved:a"
    assert (alert["subCategory"], alert["category"], alert["dataProvider"]) == (
        "deviceNotReporting",
        "technical",
        "freshness",
    )
    assert alert["validFrom"]["@value"].startswith("2026-01-15T08:10:00")  # the last reading + 10 min
    assert alert["dateIssued"]["@value"].startswith("2026-01-15T08:15:00")
    assert "validTo" not in alert
    # Checked again (another process, a later period): still one open alert.
    await check(runtime.context("freshness"))
    await reading(broker, "b", T0 + 18 * MINUTE)
    clock.moment = T0 + 20 * MINUTE
    assert await runtime.run_job(service, job)
    assert len(await alerts(parts)) == 1
    # The feed brings a's reading: the alert closes at once, as of the reading's observedAt.
    await reading(broker, "a", T0 + 18 * MINUTE)
    while await runtime.handle_batch(service):
        pass
    [closed] = await alerts(parts)
    assert closed["validTo"]["@value"].startswith("2026-01-15T08:18:00")
    # Silent again later: a new alert, the closed one kept as history.
    clock.moment = T0 + 40 * MINUTE
    await reading(broker, "b", T0 + 39 * MINUTE)
    assert await runtime.run_job(service, job)
    first, second = await alerts(parts)
    assert first["id"] == closed["id"] and "validTo" in first
    assert second["validFrom"]["@value"].startswith("2026-01-15T08:28:00") and "validTo" not in second


async def test_the_share_of_devices_reporting_is_an_indicator(
    city: tuple[Assembly, Runtime, SetClock],
) -> None:
    parts, runtime, clock = city
    broker = parts.broker
    for device, minutes in (("a", 0), ("b", 0), ("c", 8), ("d", 9)):
        await reading(broker, device, T0 + minutes * MINUTE)
    clock.moment = T0 + 15 * MINUTE
    [service] = runtime.services
    assert await runtime.run_job(service, service.jobs[0])
    found = await kpi(broker)
    value = found["https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/kpiValue"][0]
    assert value["value"] == 0.5
    assert value["observedAt"].startswith("2026-01-15T08:15:00")
    assert found["https://smartdatamodels.org/dataProvider"][0]["value"] == "freshness"


async def test_a_back_filled_reading_older_than_the_silence_closes_nothing(
    city: tuple[Assembly, Runtime, SetClock],
) -> None:
    parts, runtime, clock = city
    broker = parts.broker
    [service] = runtime.services
    await reading(broker, "a", T0)
    clock.moment = T0 + 30 * MINUTE
    assert await runtime.run_job(service, service.jobs[0])
    # A reading from before the last one arrives late (a back-fill): judged by its observedAt.
    await reading(broker, "a", T0 - 60 * MINUTE)
    while await runtime.handle_batch(service):
        pass
    [alert] = await alerts(parts)
    assert "validTo" not in alert


@pytest.fixture
def freshness_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"services": ["freshness"], "freshness_max_silence": 600.0})


async def test_the_status_endpoint_lists_the_silent_devices(freshness_settings: Settings) -> None:
    parts = assemble(freshness_settings)
    await parts.broker.open()
    try:
        now = datetime.now(UTC)
        await reading(parts.broker, "fresh", now - MINUTE)
        await reading(parts.broker, "silent", now - 30 * MINUTE)
        transport = httpx.ASGITransport(app=create_app(parts))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.get("/freshness/v1/status")
            wrong = await http.get("/freshness/v1/status", headers={"NGSILD-Tenant": "no tenant!"})
        assert answer.status_code == 200
        body = answer.json()
        assert (body["devices"], body["reporting"]) == (2, 1)
        assert [device["id"] for device in body["silent"]] == ["urn:ngsi-ld:AirQualityObserved:silent"]
        assert wrong.status_code == 400
        assert wrong.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    finally:
        await parts.broker.close()
