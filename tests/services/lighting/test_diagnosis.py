"""Tests for services/lighting/faults.py and diagnosis.py through the runtime, on both backends: each
fault from a series of power readings written through the broker, judged by observedAt against the
level the group's program sets, opening one Alert (alertSource the light, subCategory the fault) and
closing it (validTo) when the readings are normal again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.lighting.town import Town
from smartby.services.lighting.faults import Limits, condition

DAY = datetime(2026, 12, 21, tzinfo=UTC)  # sunset 14:37:59 UTC; 22:00 local is 21:00 UTC
MINUTE = timedelta(minutes=1)
NIGHT = "urn:ngsi-ld:LightingProgram:night"
NIGHT_RULES = [
    {
        "steps": [
            {"event": "sunset", "level": 1},
            {"time": "22:00", "level": 0.5},
            {"event": "sunrise", "level": 0},
        ]
    }
]


def at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


async def readings(town: Town, light: str, start: datetime, end: datetime, watts: float) -> None:
    moment = start
    while moment <= end:
        await town.power(light, moment, watts)
        moment += 5 * MINUTE


def test_the_conditions_of_the_thresholds() -> None:
    limits = Limits(floor=0.1, tolerance=0.2)
    assert condition(0.0, 100, 1.0, limits) == "lampFailure"
    assert condition(9.9, 100, 1.0, limits) == "lampFailure"
    assert condition(10.0, 100, 1.0, limits) == "powerTooLow"
    assert condition(80.0, 100, 1.0, limits) is None
    assert condition(120.0, 100, 1.0, limits) is None
    assert condition(120.1, 100, 1.0, limits) == "powerTooHigh"
    assert condition(5.0, 100, 0.0, limits) is None
    assert condition(5.1, 100, 0.0, limits) == "dayBurner"
    # dimmed to 0.5: 100 x (0.1 + 0.9 x 0.5) = 55 W expected
    assert condition(55.0, 100, 0.5, limits) is None
    assert condition(100.0, 100, 0.5, limits) == "dimmingFailure"
    assert condition(80.0, 100, 0.5, limits) == "dimmingFailure"  # within 20 % of full power
    assert condition(70.0, 100, 0.5, limits) == "powerTooHigh"
    assert condition(5.4, 100, 0.5, limits) == "lampFailure"
    # barely dimmed (0.9: 91 W expected, within the tolerance of full power): judged as powered
    assert condition(100.0, 100, 0.9, limits) is None


async def test_a_lamp_drawing_nothing_when_scheduled_on_is_a_lamp_failure(town: Town) -> None:
    await town.group()
    light = await town.light(1)
    await readings(town, light, at(15), at(15, 10), 0.0)
    await town.feed()
    assert await town.alerts() == []  # 10 minutes: not yet a fault
    await readings(town, light, at(15, 15), at(15, 20), 0.0)
    await town.feed()
    [alert] = await town.alerts()
    assert (alert["alertSource"], alert["subCategory"], alert["dataProvider"]) == (
        light,
        "lampFailure",
        "lighting",
    )
    assert alert["validFrom"]["@value"].startswith("2026-12-21T15:00:00")
    assert "validTo" not in alert
    entity = await town.broker.retrieve_entity("", light)
    assert entity["https://uri.etsi.org/ngsi-ld/status"][0]["value"] == "defectiveLamp"
    await town.run("programs", at(15, 22))  # the periodic check sees the same fault: no second alert
    assert len(await town.alerts()) == 1
    await town.power(light, at(15, 25), 100.0)  # repaired
    await town.feed()
    [closed] = await town.alerts()
    assert closed["validTo"]["@value"].startswith("2026-12-21T15:25:00")


async def test_a_light_burning_by_day_is_a_day_burner(town: Town) -> None:
    await town.group()
    light = await town.light(1)
    await readings(town, light, at(11), at(11, 20), 60.0)
    await town.feed()
    [alert] = await town.alerts()
    assert (alert["subCategory"], alert["validFrom"]["@value"][:19]) == ("dayBurner", "2026-12-21T11:00:00")
    # off at the next reading; the feed closes it
    await town.power(light, at(11, 25), 0.0)
    await town.feed()
    [closed] = await town.alerts()
    assert closed["validTo"]["@value"].startswith("2026-12-21T11:25:00")


async def test_a_driver_stuck_at_full_power_is_a_dimming_failure(town: Town) -> None:
    await town.program(NIGHT, NIGHT_RULES)
    await town.group(NIGHT)
    stuck = await town.light(1)
    fine = await town.light(2)
    await readings(town, stuck, at(20, 30), at(21, 30), 100.0)
    await readings(town, fine, at(20, 30), at(20, 55), 100.0)
    await readings(town, fine, at(21), at(21, 30), 55.0)
    await town.feed()
    [alert] = await town.alerts()
    assert (alert["alertSource"], alert["subCategory"]) == (stuck, "dimmingFailure")
    assert alert["validFrom"]["@value"].startswith("2026-12-21T21:00:00")  # the program's step


async def test_power_outside_the_tolerance_is_too_high_or_too_low(town: Town) -> None:
    await town.group()
    high = await town.light(1)
    low = await town.light(2)
    await readings(town, high, at(16), at(16, 20), 130.0)
    await readings(town, low, at(16), at(16, 20), 70.0)
    await town.feed()
    found = {alert["alertSource"]: alert["subCategory"] for alert in await town.alerts()}
    assert found == {high: "powerTooHigh", low: "powerTooLow"}


async def test_three_missed_reports_are_a_communication_loss(town: Town) -> None:
    await town.group()
    light = await town.light(1)
    await town.power(light, at(15), 100.0)
    await town.run("programs", at(15, 40))
    assert await town.alerts() == []
    await town.run("programs", at(16))  # 15 minutes' interval: three missed by 15:45
    [alert] = await town.alerts()
    assert alert["subCategory"] == "communicationLoss"
    assert alert["validFrom"]["@value"].startswith("2026-12-21T15:45:00")
    await town.run("programs", at(16, 5))
    assert len(await town.alerts()) == 1
    await town.power(light, at(16, 7), 100.0)
    await town.feed()
    [closed] = await town.alerts()
    assert closed["validTo"]["@value"].startswith("2026-12-21T16:07:00")


async def test_a_light_that_follows_its_program_raises_nothing(town: Town) -> None:
    await town.program(NIGHT, NIGHT_RULES)
    await town.group(NIGHT)
    light = await town.light(1)
    await readings(town, light, at(14), at(14, 35), 0.0)
    await readings(town, light, at(14, 40), at(20, 55), 100.0)  # switched on a few minutes late
    await readings(town, light, at(21, 1), at(22), 56.0)
    await town.feed()
    await town.run("programs", at(22, 1))
    assert await town.alerts() == []


async def test_a_back_filled_series_is_judged_as_of_its_time(town: Town) -> None:
    await town.group()
    light = await town.light(1)
    # Yesterday's readings arrive today: a lamp failure of yesterday evening, repaired at 18:00.
    yesterday = DAY - timedelta(days=1)
    moment = yesterday.replace(hour=15)
    while moment <= yesterday.replace(hour=18):
        await town.power(light, moment, 0.0 if moment < yesterday.replace(hour=18) else 100.0)
        moment += 5 * MINUTE
        if moment.minute == 0:
            await town.feed()
    await town.feed()
    [alert] = await town.alerts()
    assert alert["subCategory"] == "lampFailure"
    assert alert["validFrom"]["@value"].startswith("2026-12-20T15:00:00")
    assert alert["validTo"]["@value"].startswith("2026-12-20T18:00:00")
