"""Tests for services/climate/service.py through the runtime, on both backends: rain readings
written through the broker open one cloudburst Alert per gauge and event (updated while it grows,
closed when the window's rain fell to the threshold), judged by observedAt so a back-fill gives the
same Alerts; basins' levels open floodRisk and flood Alerts; the endpoints answer sums and fill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.climate.rainy import Rainy
from smartby.api.app import create_app

START = datetime(2011, 7, 2, 17, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)
STORM = [0.0] * 6 + [3.0, 6.0, 9.0, 7.0, 4.0, 1.0] + [0.0] * 12
"""mm every 5 minutes from 17:05 UTC: 30 mm in half an hour from 17:35."""
BURST = [0.0] * 6 + [3.0, 6.0, 9.0, 9.0, 7.0]
"""34 mm in the 25 minutes up to 17:55 UTC, after half an hour dry."""


async def cloudbursts(rainy: Rainy) -> list[dict[str, Any]]:
    return [alert for alert in await rainy.alerts() if alert["subCategory"] == "cloudburst"]


async def rain(rainy: Rainy, gauge: str, values: list[float]) -> None:
    for number, value in enumerate(values):
        await rainy.reading(gauge, START + FIVE * (number + 1), precipitation=value)


async def test_a_cloudburst_opens_one_alert_that_grows_and_closes(rainy: Rainy) -> None:
    gauge = await rainy.gauge(1)
    await rain(rainy, gauge, STORM[:8])  # 9 mm so far
    await rainy.feed()
    assert await rainy.alerts() == []
    await rainy.reading(gauge, START + FIVE * 9, precipitation=9.0)  # 18 mm in 30 minutes
    await rainy.feed()
    [alert] = await rainy.alerts()
    assert (alert["category"], alert["subCategory"], alert["alertSource"], alert["dataProvider"]) == (
        "weather",
        "cloudburst",
        gauge,
        "climate",
    )
    assert alert["severity"] == "medium"
    assert alert["validFrom"]["@value"].startswith("2011-07-02T17:15:00")  # the window's start
    assert "validTo" not in alert
    await rainy.reading(gauge, START + FIVE * 10, precipitation=7.0)
    await rainy.reading(gauge, START + FIVE * 11, precipitation=4.0)
    await rainy.feed()
    [grown] = await cloudbursts(rainy)  # the same alert, updated
    assert grown["id"] == alert["id"]
    assert "29 mm" in grown["description"]
    assert grown["severity"] == "medium"
    for number in range(12, 25):
        await rainy.reading(gauge, START + FIVE * number, precipitation=STORM[number - 1])
    await rainy.feed()
    [closed] = await cloudbursts(rainy)
    assert closed["id"] == alert["id"]
    # the window (t - 30 min, t] holds at most 15 mm from 18:10 (when 3+6+9 mm have left it)
    assert closed["validTo"]["@value"].startswith("2011-07-02T18:15:00")


async def test_a_back_fill_gives_the_same_alerts_as_live_readings(rainy: Rainy) -> None:
    live, late = await rainy.gauge(1), await rainy.gauge(2)
    for number, value in enumerate(STORM):
        await rainy.reading(live, START + FIVE * (number + 1), precipitation=value)
        await rainy.feed()
    await rain(rainy, late, STORM)  # all at once, judged in one batch
    await rainy.feed()
    found = {(alert["alertSource"], alert["subCategory"]): alert for alert in await rainy.alerts()}
    assert set(found) == {(gauge, event) for gauge in (live, late) for event in ("cloudburst", "heavyRain")}
    for event in ("cloudburst", "heavyRain"):
        for key in ("severity", "validFrom", "validTo", "description"):
            assert found[(live, event)].get(key) == found[(late, event)].get(key), (event, key)
    assert found[(live, "cloudburst")]["validTo"]["@value"].startswith("2011-07-02T18:15:00")
    await rainy.judge(START + timedelta(hours=8))
    assert len(await rainy.alerts()) == 4  # judged again: nothing new
    assert all("validTo" in alert for alert in await rainy.alerts())


async def test_a_gauge_that_falls_silent_has_its_alert_closed_by_the_job(rainy: Rainy) -> None:
    gauge = await rainy.gauge(1)
    await rain(rainy, gauge, BURST)  # stops reporting after 34 mm in 25 minutes
    await rainy.feed()
    [alert] = await cloudbursts(rainy)
    assert alert["severity"] == "high" and "validTo" not in alert  # > 30 mm: DMI's double cloudburst
    await rainy.judge(START + timedelta(minutes=75))
    assert "validTo" not in (await cloudbursts(rainy))[0]  # 16 mm in (17:45, 18:15]
    await rainy.judge(START + timedelta(minutes=90))
    [closed] = await cloudbursts(rainy)
    assert closed["validTo"]["@value"].startswith("2011-07-02T18:20:00")  # 7 mm in (17:50, 18:20]


async def test_a_window_missing_readings_is_judged_on_what_is_there_and_says_so(rainy: Rainy) -> None:
    gauge = await rainy.gauge(1)
    await rain(rainy, gauge, [0.0] * 6)
    await rainy.reading(gauge, START + FIVE * 8, precipitation=8.0)
    await rainy.reading(gauge, START + FIVE * 11, precipitation=8.0)
    await rainy.feed()
    [alert] = await rainy.alerts()
    assert alert["subCategory"] == "cloudburst"
    assert "incomplete window" in alert["description"]


async def test_heavy_rain_over_six_hours(rainy: Rainy) -> None:
    gauge = await rainy.gauge(1)
    steady = [0.5] * 60  # 30 mm in 5 hours, never more than 3 mm in 30 minutes
    await rain(rainy, gauge, steady)
    await rainy.feed()
    [alert] = await rainy.alerts()
    assert (alert["subCategory"], alert["severity"]) == ("heavyRain", "medium")


async def test_a_filling_basin_is_at_flood_risk_then_flooding(rainy: Rainy) -> None:
    basin = await rainy.basin(1, 4.0)
    levels = [1.0, 1.0, 1.2, 1.5, 1.9, 2.4, 3.0, 3.5, 4.1, 4.2, 3.9, 3.0, 2.0, 1.5]
    for number, level in enumerate(levels):
        await rainy.reading(basin, START + FIVE * number, currentLevel=level)
    await rainy.feed()
    found = {alert["subCategory"]: alert for alert in await rainy.alerts()}
    assert set(found) == {"floodRisk", "flood"}
    assert found["flood"]["validFrom"]["@value"].startswith("2011-07-02T17:40:00")
    assert found["flood"]["validTo"]["@value"].startswith("2011-07-02T17:50:00")
    assert found["flood"]["severity"] == "critical"
    # 1.9 m at 17:20, rising 1.8 m/h or so: full within the hour
    assert found["floodRisk"]["validFrom"]["@value"] < "2011-07-02T17:30"
    assert "validTo" in found["floodRisk"]


async def test_the_endpoints_answer_sums_and_basin_state(rainy: Rainy) -> None:
    gauge = await rainy.gauge(1)
    basin = await rainy.basin(1, 4.0)
    await rain(rainy, gauge, BURST)
    for number, level in enumerate([1.0, 1.5, 2.0]):
        await rainy.reading(basin, START + FIVE * number, currentLevel=level)
    app = create_app(rainy.parts)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        sums = await http.get(f"/climate/v1/gauges/{gauge}/sums")
        assert sums.status_code == 200, sums.text
        body = sums.json()
        assert body["at"].startswith("2011-07-02T17:55:00")
        assert body["sums"]["PT30M"] == {"mm": 34.0, "readings": 6, "complete": True}
        assert body["sums"]["PT10M"]["mm"] == 16.0
        assert body["events"]["cloudburst"]["happening"] is True
        assert body["events"]["heavyRain"]["happening"] is True
        earlier = await http.get(f"/climate/v1/gauges/{gauge}/sums", params={"at": "2011-07-02T17:30:00Z"})
        assert earlier.json()["sums"]["PT30M"]["mm"] == 0.0
        state = await http.get(f"/climate/v1/basins/{basin}")
        assert state.status_code == 200, state.text
        answer = state.json()
        assert abs(answer["fillRate"] - 6.0) < 1e-6  # 0.5 m every 5 minutes
        assert answer["minutesUntilFull"] == 20.0
        assert answer["floodRisk"] is True and answer["flood"] is False
        for bad in (
            await http.get(f"/climate/v1/gauges/{gauge}/sums", params={"at": "yesterday"}),
            await http.get(f"/climate/v1/gauges/{gauge}/sums", params={"since": "x"}),
            await http.get("/climate/v1/gauges/not-an-id/sums"),
        ):
            assert bad.status_code == 400, bad.text
        assert (await http.get(f"/climate/v1/basins/{gauge}")).status_code == 404
        assert (await http.get("/climate/v1/basins/urn:ngsi-ld:FloodMonitoring:none")).status_code == 404


async def test_a_gauge_reporting_every_ten_minutes_says_so_on_its_entity(rainy: Rainy) -> None:
    slow, fast = await rainy.gauge(1, interval=600), await rainy.gauge(2)
    for number in range(1, 7):
        await rainy.reading(slow, START + 2 * FIVE * number, precipitation=1.0)
        await rainy.reading(fast, START + 2 * FIVE * number, precipitation=1.0)
    app = create_app(rainy.parts)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        slow_sums = (await http.get(f"/climate/v1/gauges/{slow}/sums")).json()
        fast_sums = (await http.get(f"/climate/v1/gauges/{fast}/sums")).json()
    assert slow_sums["reportingInterval"] == 600
    assert slow_sums["sums"]["PT30M"] == {"mm": 3.0, "readings": 3, "complete": True}
    assert fast_sums["reportingInterval"] == 300  # the setting: 10-minute gaps are missing readings
    assert fast_sums["sums"]["PT30M"] == {"mm": 3.0, "readings": 3, "complete": False}


async def test_an_alert_the_clock_closed_early_is_reopened_when_the_rain_goes_on(rainy: Rainy) -> None:
    # a replay judged by a clock far ahead of its readings: the job closes the alert as if the gauge
    # had stopped; the readings that come later say the rain went on
    gauge = await rainy.gauge(1)
    await rain(rainy, gauge, BURST)
    await rainy.feed()
    await rainy.judge(START + timedelta(hours=10))
    [closed] = await cloudbursts(rainy)
    assert closed["validTo"]["@value"].startswith("2011-07-02T18:20:00")
    for number in range(12, 15):  # 18:00 to 18:10, 8 mm each
        await rainy.reading(gauge, START + FIVE * number, precipitation=8.0)
    await rainy.feed()
    [reopened] = await cloudbursts(rainy)
    assert reopened["id"] == closed["id"] and "validTo" not in reopened
    for number in range(15, 25):
        await rainy.reading(gauge, START + FIVE * number, precipitation=0.0)
    await rainy.feed()
    [ended] = await cloudbursts(rainy)
    assert ended["id"] == closed["id"]
    assert ended["validTo"]["@value"].startswith("2011-07-02T18:35:00")
