"""trafficJam and anomaly alerts from live readings, through the broker and the service's feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.mobility.conftest import City
from services.test_freshness import alerts
from smartby.ngsild.timestamps import format_datetime
from smartby.services.mobility.vocabulary import TRANSPORTATION_CONTEXT

SEGMENT = "urn:ngsi-ld:TrafficFlowObserved:ring:1"
MORNING = datetime(2026, 12, 21, 7, 0, tzinfo=UTC)  # 08:00 in Copenhagen


async def reading(city: City, at: datetime, intensity: float, speed: float | None = None) -> None:
    fragment: dict[str, Any] = {
        "id": SEGMENT,
        "type": "TrafficFlowObserved",
        "intensity": {"type": "Property", "value": intensity, "observedAt": format_datetime(at)},
    }
    if speed is not None:
        fragment["averageVehicleSpeed"] = {
            "type": "Property",
            "value": speed,
            "unitCode": "KMH",
            "observedAt": format_datetime(at),
        }
    ctx = await city.parts.broker.context([TRANSPORTATION_CONTEXT])
    result = await city.parts.broker.batch_upsert("", ctx, [fragment], mode="update")
    assert not result.errors
    await city.feed()


async def shown(city: City) -> tuple[str, str]:
    """The segment's levelOfService as the dashboard reads it, and when it was observed."""
    entity = await city.parts.broker.retrieve_entity("", SEGMENT)
    [instance] = entity["https://uri.etsi.org/ngsi-ld/default-context/levelOfService"]
    return instance["value"], instance["observedAt"]


async def mine(city: City, problem: str) -> list[dict[str, Any]]:
    return [alert for alert in await alerts(city.parts) if alert["subCategory"] == problem]


async def test_a_jam_is_an_alert_after_fifteen_minutes_at_e_or_f(city: City) -> None:
    # the night before: free flow 50 km/h (its 85th percentile)
    night = MORNING - timedelta(hours=9)
    for step in range(12):
        await reading(city, night + timedelta(minutes=30 * step), 4, 50.0)
    await reading(city, MORNING, 20, 48.0)  # A
    for minutes, speed in ((5, 14.0), (10, 12.0)):  # 28 %, 24 %: F
        await reading(city, MORNING + timedelta(minutes=minutes), 30, speed)
    assert await mine(city, "trafficJam") == []
    assert await shown(city) == ("F", "2026-12-21T07:05:00Z")  # written when it changed
    await reading(city, MORNING + timedelta(minutes=15), 30, 18.0)  # 36 %: E, still a jam, 10 minutes
    assert await mine(city, "trafficJam") == []
    await reading(city, MORNING + timedelta(minutes=20), 30, 12.0)  # 15 minutes since 08:05
    [jam] = await mine(city, "trafficJam")
    assert jam["validFrom"]["@value"] == "2026-12-21T07:05:00Z" and jam["severity"] == "high"
    assert jam["alertSource"] == SEGMENT and "validTo" not in jam
    await reading(city, MORNING + timedelta(minutes=25), 30, 12.0)
    assert len(await mine(city, "trafficJam")) == 1
    await reading(city, MORNING + timedelta(minutes=30), 25, 30.0)  # 60 %: C, over
    [jam] = await mine(city, "trafficJam")
    assert jam["validTo"]["@value"] == "2026-12-21T07:30:00Z"
    assert await shown(city) == ("C", "2026-12-21T07:30:00Z")


async def test_a_count_far_from_its_weekday_hour_is_an_anomaly(city: City) -> None:
    for week in (4, 3, 2, 1):
        for step, count in enumerate((100, 110, 95, 105)):
            await reading(city, MORNING - timedelta(weeks=week) + timedelta(minutes=10 * step), count + week)
    await reading(city, MORNING + timedelta(minutes=5), 112)
    assert await mine(city, "anomaly") == []
    await reading(city, MORNING + timedelta(minutes=10), 0)  # the road is closed
    [anomaly] = await mine(city, "anomaly")
    assert anomaly["validFrom"]["@value"] == "2026-12-21T07:10:00Z" and "robust z -" in anomaly["description"]
    await reading(city, MORNING + timedelta(minutes=15), 0)
    assert len(await mine(city, "anomaly")) == 1
    await reading(city, MORNING + timedelta(minutes=20), 101)
    [anomaly] = await mine(city, "anomaly")
    assert anomaly["validTo"]["@value"] == "2026-12-21T07:20:00Z"


async def test_too_few_weeks_judge_nothing(city: City) -> None:
    for week in (2, 1):
        for step, count in enumerate((100, 110, 95, 105)):
            await reading(city, MORNING - timedelta(weeks=week) + timedelta(minutes=10 * step), count)
    await reading(city, MORNING + timedelta(minutes=10), 0)
    assert await mine(city, "anomaly") == []
