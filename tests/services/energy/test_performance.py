"""A building's year and the ranked candidates, through the broker on both backends: the town's
answers are known (base, slope, degree days), the KPIs are written by the job."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.energy.conftest import BASE, DAYS, HOUSES, SLOPE, STATION, Town, hdd
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.services.energy.endpoints import building_performance, retrofit_candidates
from smartby.services.energy.performance import of_building
from smartby.services.results import KPI_TYPE
from smartby.services.service import ServiceRequest
from smartby.settings import Settings

NORMALISED = 365 * BASE + SLOPE * 2906  # 25,480 kWh


def request(query: dict[str, str], building: str | None = None) -> ServiceRequest:
    return ServiceRequest(query=query, path={"id": building} if building else {}, tenant="")


async def test_a_buildings_year_is_the_known_answer(town: Town) -> None:
    house = HOUSES[0]
    answer = (await building_performance(town.context, request({"year": "2026"}, house.id))).body
    assert answer["enoughData"] is True and answer["reason"] is None
    assert answer["base"] == pytest.approx(BASE) and answer["slope"] == pytest.approx(SLOPE)
    assert answer["r2"] == pytest.approx(1.0)
    assert answer["normalisedKWh"] == pytest.approx(NORMALISED)
    assert answer["useKWh"] == pytest.approx(sum(BASE + SLOPE * hdd(day) for day in range(DAYS)))
    assert answer["hdd"] == pytest.approx(sum(hdd(day) for day in range(DAYS)))
    assert answer["kWhPerM2"] == pytest.approx(NORMALISED / 100)
    # primary 254.8 x 0.85 = 216.58 kWh/m2: over D's 150 + 4200/100 = 192, under E's 190 + 5200/100
    assert (
        answer["label"] == "E"
        and answer["labelIsEstimate"] is True
        and "not an energy label" in answer["note"]
    )
    assert answer["savingKWh"] == pytest.approx(NORMALISED - (110 + 3200 / 100) * 100 / 0.85)
    assert answer["savingCO2kg"] == pytest.approx(answer["savingKWh"] * 0.065)
    assert (answer["weatherStation"], answer["days"], answer["resets"]) == (STATION, DAYS, 0)
    assert set(answer) >= {"useKWh", "normalisedKWh", "base", "slope", "r2", "kWhPerM2", "label", "hdd"}


async def test_a_register_in_mwh_is_read_in_kwh(town: Town) -> None:
    office = HOUSES[1]
    found = await of_building(town.context, "", office.id, 2026)
    assert found.fit is not None
    assert (found.fit.base, found.fit.slope) == (pytest.approx(200.0), pytest.approx(40.0))
    assert found.kwh_per_m2 == pytest.approx((365 * 200 + 40 * 2906) / 2000)


async def test_too_few_days_answer_why_with_null_figures(town: Town) -> None:
    town.clock.moment = datetime.fromisoformat(
        "2026-01-04T12:00:00+00:00"
    )  # 4 days of the year so far (5 needed)
    answer = (await building_performance(town.context, request({"year": "2026"}, HOUSES[0].id))).body
    assert answer["enoughData"] is False and "energy_min_days" in answer["reason"]
    assert answer["normalisedKWh"] is None and answer["label"] is None and answer["useKWh"] > 0
    other_year = (await building_performance(town.context, request({"year": "2025"}, HOUSES[0].id))).body
    assert other_year["enoughData"] is False and other_year["useKWh"] == 0


async def test_unknown_buildings_and_bad_years_are_refused(town: Town) -> None:
    ctx = town.context
    with pytest.raises(ResourceNotFound):
        await building_performance(ctx, request({"year": "2026"}, "urn:ngsi-ld:Building:nowhere"))
    with pytest.raises(ResourceNotFound):
        await building_performance(ctx, request({"year": "2026"}, HOUSES[0].meter))  # not a Building
    for query in ({}, {"year": "26"}, {"year": "two"}, {"year": "2026", "when": "now"}, {"year": "0999"}):
        with pytest.raises(BadRequestData):
            await building_performance(ctx, request(query, HOUSES[0].id))
    with pytest.raises(BadRequestData):
        await building_performance(ctx, request({"year": "2026"}, "not an id"))


async def test_the_ranked_candidates_and_the_job_writes_the_kpis(town: Town) -> None:
    answer = (await retrofit_candidates(town.context, request({}))).body
    assert answer["year"] == 2026 and answer["targetLabel"] == "C" and answer["labelIsEstimate"] is True
    ranked = answer["candidates"]
    assert [c["rank"] for c in ranked] == [1, 2, 3]
    savings = [c["savingKWh"] for c in ranked]
    assert savings == sorted(savings, reverse=True) and ranked[0]["id"] == HOUSES[0].id
    assert not any(c["worstNonResidential"] for c in ranked)  # 2 non-residential: 16 % of 2 is none
    await town.run("kpis", town.clock.moment)
    for house in HOUSES:
        kpi = await town.broker.retrieve_entity(
            "", f"urn:ngsi-ld:KeyPerformanceIndicator:energy:{house.id[12:]}:2026"
        )
        assert KPI_TYPE in kpi["type"]
        [value] = kpi["https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/kpiValue"]
        per_m2 = next(c["kWhPerM2"] for c in ranked if c["id"] == house.id)
        assert value["value"] == pytest.approx(per_m2, abs=1e-3)
    city = await town.broker.retrieve_entity(
        "", "urn:ngsi-ld:KeyPerformanceIndicator:energy:city:2026:retrofit-saving"
    )
    [total] = city["https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/kpiValue"]
    assert total["value"] == pytest.approx(sum(savings) / 1000, abs=0.05) and total["value"] > 0


async def test_history_longer_than_a_temporal_page_is_read_page_after_page(settings: Settings) -> None:
    """480 hourly readings a meter, 100 instances a temporal response: the same answer."""
    small = settings.model_copy(update={"temporal_page_size": 100})
    async with Town.running(small, "energy", "2026-03-01T12:00:00+00:00") as town:
        await town.build()
        found = await of_building(town.context, "", HOUSES[0].id, 2026)
        assert found.fit is not None and found.normalised == pytest.approx(NORMALISED)
        assert found.fit.days == DAYS


async def test_a_city_without_buildings_has_no_candidates_and_writes_nothing(settings: Settings) -> None:
    async with Town.running(settings, "energy", "2026-03-01T12:00:00+00:00") as empty:
        answer = (await retrofit_candidates(empty.context, request({"year": "2026"}))).body
        assert (answer["candidates"], answer["notAssessed"]) == ([], [])
        await empty.run("kpis", empty.clock.moment)
        with pytest.raises(ResourceNotFound):
            await empty.broker.retrieve_entity(
                "", "urn:ngsi-ld:KeyPerformanceIndicator:energy:city:2026:retrofit-saving"
            )
