"""Tests for services/lighting/energy.py through the runtime, on both backends: today's kWh used
(integrated power readings, or the cabinet's meter), the dusk-to-dawn baseline and the CO2 avoided
with the grid's hourly intensity, as KeyPerformanceIndicators per group and for the city."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import sun

from services.lighting.town import GROUP, Town
from smartby.ngsild.timestamps import format_datetime
from smartby.services.readings import series
from smartby.services.results import KPI_CONTEXT
from smartby.services.runtime import Runtime

NOW = datetime(2026, 12, 21, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 20, 23, 0, tzinfo=UTC)  # local midnight, Copenhagen (UTC+1)
KPI = "https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/"


async def kpi_value(town: Town, key: str) -> float:
    entity = await town.broker.retrieve_entity("", f"urn:ngsi-ld:KeyPerformanceIndicator:lighting:{key}")
    value = entity[KPI + "kpiValue"][0]
    assert value["observedAt"].startswith("2026-12-21T12:00:00")
    return float(value["value"])


async def grid(town: Town, g_per_kwh: float) -> None:
    ctx = await town.broker.context(None)
    moment = MIDNIGHT - timedelta(hours=1)
    while moment <= NOW:
        fragment = {
            "id": "urn:ngsi-ld:GridSignal:DK2",
            "type": "GridSignal",
            "co2Intensity": {"type": "Property", "value": g_per_kwh, "observedAt": format_datetime(moment)},
        }
        assert not (await town.broker.batch_upsert("", ctx, [fragment], mode="update")).errors
        moment += timedelta(minutes=30)


async def test_energy_used_baseline_and_co2_avoided_of_a_group(town: Town) -> None:
    await town.group()
    lights = [await town.light(1, rating=100.0), await town.light(2, rating=60.0)]
    for light in lights:
        await town.power(light, MIDNIGHT - timedelta(minutes=30), 40.0)  # held from before midnight
        await town.power(light, MIDNIGHT + timedelta(hours=6), 20.0)
        await town.power(light, MIDNIGHT + timedelta(hours=9), 0.0)
    await grid(town, 150.0)
    await town.run("energy", NOW)
    used = 2 * (40 * 6 + 20 * 3) / 1000
    observer = Observer(55.6761, 12.5683)
    sunrise = sun(observer, date=NOW.date(), tzinfo=ZoneInfo("Europe/Copenhagen"))["sunrise"]
    dark = (sunrise.astimezone(UTC).replace(microsecond=0) - MIDNIGHT).total_seconds() / 3600
    baseline = 160 * dark / 1000
    slug = GROUP.removeprefix("urn:ngsi-ld:")
    assert abs(await kpi_value(town, f"{slug}:energy-used") - used) < 1e-3
    assert abs(await kpi_value(town, f"{slug}:energy-baseline") - baseline) < 1e-3
    assert abs(await kpi_value(town, f"{slug}:co2-avoided") - (baseline - used) * 150 / 1000) < 1e-3
    assert abs(await kpi_value(town, "city:energy-saved") - (baseline - used)) < 1e-3
    assert abs(await kpi_value(town, "city:co2-avoided") - (baseline - used) * 0.15) < 1e-3
    # As a client reads it with the Smart Data Models' @context
    ctx = await town.broker.context([KPI_CONTEXT])
    entity = await town.broker.retrieve_entity(
        "", f"urn:ngsi-ld:KeyPerformanceIndicator:lighting:{slug}:energy-used"
    )
    assert entity[ctx.expand("calculationPeriod")][0]["value"] == {
        "from": "2026-12-20T23:00:00Z",
        "to": "2026-12-21T12:00:00Z",
    }
    assert entity[ctx.expand("aggregatedData")][0]["value"] == [
        {"entityType": "Streetlight", "attrs": ["powerConsumption", "powerRating"]}
    ]
    assert entity[ctx.expand("dataProvider")][0]["value"] == "lighting"


async def test_a_group_on_its_own_cabinet_is_measured_by_the_cabinet(town: Town) -> None:
    cabinet = "urn:ngsi-ld:StreetlightControlCabinet:town:1"
    await town.create({"id": cabinet, "type": "StreetlightControlCabinet"})
    await town.group()
    relation = {"type": "Relationship", "object": cabinet}
    await town.light(1, rating=100.0, refStreetlightControlCabinet=relation)
    await town.light(2, rating=100.0, refStreetlightControlCabinet=relation)
    ctx = await town.broker.context(
        ["https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"]
    )
    moment, meter = MIDNIGHT - timedelta(hours=1), 1000.0
    while moment <= NOW:
        fragment = {
            "id": cabinet,
            "type": "StreetlightControlCabinet",
            "energyConsumed": {"type": "Property", "value": meter, "observedAt": format_datetime(moment)},
        }
        assert not (await town.broker.batch_upsert("", ctx, [fragment], mode="update")).errors
        meter += 0.05  # kWh per 15 minutes: 0.2 kWh an hour
        moment += timedelta(minutes=15)
    await town.run("energy", NOW)
    slug = GROUP.removeprefix("urn:ngsi-ld:")
    assert abs(await kpi_value(town, f"{slug}:energy-used") - 0.2 * 13) < 0.06


async def test_the_first_run_of_a_day_totals_yesterday_with_imported_co2_data(town: Town) -> None:
    imported = "urn:ngsi-ld:GridCarbonIntensity:DK2"  # as the energinet-co2emis mapping names it
    settings = town.runtime.settings.model_copy(update={"lighting_grid_signal": imported})
    town = Town(town.parts, Runtime(town.broker, town.runtime.services, settings, town.clock), town.clock)
    await town.group()
    light = await town.light(1, rating=100.0)
    end = datetime(2026, 12, 21, 23, 5, tzinfo=UTC)  # 00:05 local on the 22nd
    moment = MIDNIGHT - timedelta(minutes=30)
    core = await town.broker.context(None)
    while moment <= end:
        await town.power(light, moment, 50.0)
        emission = {
            "id": imported,
            "type": "GridCarbonIntensity",
            "co2Emission": {"type": "Property", "value": 200.0, "observedAt": format_datetime(moment)},
        }
        assert not (await town.broker.batch_upsert("", core, [emission], mode="update")).errors
        moment += timedelta(minutes=15)
    await town.run("energy", end)
    slug = GROUP.removeprefix("urn:ngsi-ld:")
    kpi = f"urn:ngsi-ld:KeyPerformanceIndicator:lighting:{slug}:energy-used"
    values = (
        await series(town.broker, "", KPI + "kpiValue", MIDNIGHT, end + timedelta(seconds=1), ids=[kpi])
    )[kpi]
    (yesterday_at, yesterday), (today_at, today) = values
    assert (
        yesterday_at == datetime(2026, 12, 21, 23, 0, tzinfo=UTC) and abs(yesterday - 1.2) < 1e-3
    )  # 50 W, 24 h
    assert today_at == end and abs(today - 50 * 5 / 60 / 1000) < 1e-3
    co2 = f"urn:ngsi-ld:KeyPerformanceIndicator:lighting:{slug}:co2-avoided"
    [(_, avoided_yesterday), _] = (
        await series(town.broker, "", KPI + "kpiValue", MIDNIGHT, end + timedelta(seconds=1), ids=[co2])
    )[co2]
    observer = Observer(55.6761, 12.5683)
    zone = ZoneInfo("Europe/Copenhagen")
    times = sun(observer, date=NOW.date(), tzinfo=zone)
    dark = 24 - (times["sunset"] - times["sunrise"]).total_seconds() / 3600
    assert abs(avoided_yesterday - (100 * dark / 1000 - 1.2) * 0.2) < 2e-3
