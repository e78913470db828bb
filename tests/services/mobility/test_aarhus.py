"""The Aarhus CityPulse traffic (two segments, Aug-Sep 2014) imported with `smartby import csv
--mapping aarhus-traffic`: the service's figures equal the test's own, computed with numpy from the
same CSV rows."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from published_data import SHARED_DATA
from services.mobility.conftest import City
from smartby.cli import app
from smartby.services.mobility import daily
from smartby.services.mobility.endpoints import segment_kpis, write_kpis
from smartby.services.service import ServiceRequest
from smartby.settings import Settings

AARHUS = SHARED_DATA / "aarhus-citypulse"
SEGMENTS = ("158324", "158355")
ZONE = ZoneInfo("Europe/Copenhagen")
KPI = "urn:ngsi-ld:KeyPerformanceIndicator:mobility:"


def rows(segment: str) -> dict[datetime, tuple[float, float]]:
    """(vehicleCount, avgMeasuredTime) by local time, a repeated time once, as the CSV says them."""
    found: dict[datetime, tuple[float, float]] = {}
    with (AARHUS / f"AarhusTrafficData{segment}.csv").open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["vehicleCount"] and row["avgMeasuredTime"]:
                at = datetime.fromisoformat(row["TIMESTAMP"]).replace(tzinfo=ZONE)
                found[at] = (float(row["vehicleCount"]), float(row["avgMeasuredTime"]))
    return found


def expected(segment: str, day: date) -> dict[str, float | int]:
    """The brief's definitions, by hand: free flow = 15th percentile of travel times 22:00-06:00 with
    traffic in the 28 days before; the day's 06:00-20:00 readings with traffic."""
    readings = rows(segment)
    night = [
        time
        for at, (count, time) in readings.items()
        if day - timedelta(days=28) <= at.date() < day and (at.hour >= 22 or at.hour < 6) and count > 0
    ]
    free = float(np.percentile(night, 15))
    today = [
        (at.hour, time)
        for at, (count, time) in readings.items()
        if at.date() == day and 6 <= at.hour < 20 and count > 0
    ]
    times = np.array([time for _, time in today])
    p95 = float(np.percentile(times, 95))
    hours = sorted({hour for hour, _ in today})
    means = [float(np.mean([time for h, time in today if h == hour])) for hour in hours]
    return {
        "freeFlowTravelTime": free,
        "tti": float(times.mean()) / free,
        "pti": p95 / free,
        "bufferIndex": (p95 - float(times.mean())) / float(times.mean()),
        "peakHour": hours[int(np.argmax(means))],
        "readings": len(today),
    }


@pytest.fixture
def imported(mobility_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Both segments imported by the command a city engineer runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMARTBY_REMOTE_CONTEXTS", "false")
    monkeypatch.setenv("SMARTBY_SERVICES", '["mobility"]')
    for segment in SEGMENTS:
        path = AARHUS / f"AarhusTrafficData{segment}.csv"
        result = CliRunner().invoke(
            app,
            [
                "import",
                "csv",
                str(path),
                "--mapping",
                "aarhus-traffic",
                "--database",
                mobility_settings.database,
            ],
        )
        assert result.exit_code == 0, result.output
    return mobility_settings


async def test_the_aarhus_figures_are_the_definitions(imported: Settings, city: City) -> None:
    ctx = city.context
    for segment, day in (
        ("158324", date(2014, 9, 15)),
        ("158355", date(2014, 8, 4)),
        ("158355", date(2014, 9, 20)),
    ):
        request = ServiceRequest(
            query={"date": day.isoformat()},
            path={"id": f"urn:ngsi-ld:TrafficFlowObserved:{segment}"},
            tenant="",
        )
        answer = (await segment_kpis(ctx, request)).body
        want = expected(segment, day)
        for key in ("freeFlowTravelTime", "tti", "pti", "bufferIndex"):
            assert answer[key] == pytest.approx(want[key], rel=1e-12), (segment, day, key)
        assert (answer["peakHour"], answer["readings"]) == (want["peakHour"], want["readings"])
        assert want["readings"] > 100 and answer["tti"] > 1


async def test_the_daily_job_writes_each_segment_and_the_city(imported: Settings, city: City) -> None:
    day = date(2014, 9, 15)
    city.clock.moment = datetime(2014, 9, 16, 0, 30, tzinfo=ZONE)
    [job] = city.service.jobs
    await job.run(city.context, city.clock.moment)
    broker = city.parts.broker
    wants = {segment: expected(segment, day) for segment in SEGMENTS}
    for segment, want in wants.items():
        entity = await broker.retrieve_entity("", f"{KPI}TrafficFlowObserved:{segment}:tti")
        [value] = entity["https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/kpiValue"]
        assert value["value"] == pytest.approx(want["tti"], abs=1e-4)
        assert value["observedAt"] == "2014-09-15T22:00:00Z"
    city_tti = await broker.retrieve_entity("", f"{KPI}city:tti")
    [value] = city_tti["https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/kpiValue"]
    weighted = sum(float(w["tti"]) * int(w["readings"]) for w in wants.values()) / sum(
        int(w["readings"]) for w in wants.values()
    )
    assert value["value"] == pytest.approx(weighted, abs=1e-4)
    # the day is written: the next run leaves it; a past day is written on request
    assert await daily.written(city.context, "", day)
    assert not await daily.written(city.context, "", day + timedelta(days=1))
    written = (
        await write_kpis(city.context, ServiceRequest(query={"date": "2014-09-01"}, path={}, tenant=""))
    ).body
    assert set(written["segments"]) == {f"urn:ngsi-ld:TrafficFlowObserved:{s}" for s in SEGMENTS}
