"""The Danish smart heat meter data (../shared/data/heat-meters: one meter's hourly cumulative kWh,
2018-2020; Scientific Data 9:420, 2022) imported with `smartby import csv` and a mapping, beside a
weather station's hourly temperatures imported the same way: the service's daily use and normalised
year equal the test's own numpy computation on the same CSV rows."""

from __future__ import annotations

import csv
import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from published_data import SHARED_DATA
from services.energy.conftest import Town, point
from smartby.cli import app
from smartby.services.energy.performance import of_building
from smartby.services.energy.vocabulary import BUILDING_CONTEXT, DEVICE_CONTEXT, WEATHER_CONTEXT
from smartby.settings import Settings

HEAT = SHARED_DATA / "heat-meters" / "processed_final_data_sample.csv"
ZONE = ZoneInfo("Europe/Copenhagen")
YEAR = 2019
METER = "urn:ngsi-ld:SmartMeteringObservation:dk-660"
BUILDING = "urn:ngsi-ld:Building:dk-660"
STATION = "urn:ngsi-ld:WeatherObserved:dk-test"
AREA = 150.0
"""m2: the data set gives no area; the test chooses one."""

HEAT_MAPPING = f"""
description = "Danish smart heat meters (processed_final_data_sample.csv): cumulative kWh per hour"
context = "{DEVICE_CONTEXT}"
type = "SmartMeteringObservation"
id = "urn:ngsi-ld:SmartMeteringObservation:dk-{{meter_id}}"
interval = "PT1H"

[time]
column = "time_rounded"
zone = "UTC"

[[attributes]]
column = "energy_heat_kwh"
name = "totalConsumption"
unit_code = "KWH"
"""
WEATHER_MAPPING = f"""
context = "{WEATHER_CONTEXT}"
type = "WeatherObserved"
id = "{STATION}"

[time]
column = "time"
zone = "UTC"

[[attributes]]
column = "temperature"
name = "temperature"
unit_code = "CEL"
"""


def hours_of_year() -> list[datetime]:
    start = datetime(YEAR, 1, 1, tzinfo=ZONE).astimezone(UTC)
    end = datetime(YEAR + 1, 1, 1, tzinfo=ZONE).astimezone(UTC)
    return [start + timedelta(hours=k) for k in range(int((end - start) / timedelta(hours=1)))]


def temperatures() -> dict[datetime, float]:
    """A Danish-looking year: a seasonal wave, a daily one and noise (seeded)."""
    rng = np.random.default_rng(660)
    found = {}
    for at in hours_of_year():
        season = 8.5 - 8.0 * math.cos(2 * math.pi * (at.timetuple().tm_yday - 20) / 365)
        found[at] = round(
            season + 3.0 * math.sin(2 * math.pi * (at.hour - 9) / 24) + float(rng.normal(0, 2)), 2
        )
    return found


def registers() -> dict[datetime, float]:
    with HEAT.open(newline="") as handle:
        return {
            datetime.fromisoformat(row["time_rounded"].replace("Z", "+00:00")): float(row["energy_heat_kwh"])
            for row in csv.DictReader(handle)
        }


def expected() -> tuple[dict[date, float], dict[date, float]]:
    """Each local day's use (the register at its end less at its start) and degree days, by hand."""
    register, temperature = registers(), temperatures()
    use, hdd = {}, {}
    day = date(YEAR, 1, 1)
    while day.year == YEAR:
        start = datetime(day.year, day.month, day.day, tzinfo=ZONE).astimezone(UTC)
        following = day + timedelta(days=1)
        end = datetime(following.year, following.month, following.day, tzinfo=ZONE).astimezone(UTC)
        if start in register and end in register:
            use[day] = register[end] - register[start]
        means = [value for at, value in temperature.items() if start <= at < end]
        hdd[day] = max(0.0, 17.0 - float(np.mean(means)))
        day = following
    return use, hdd


@pytest.fixture
def imported(energy_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The meter's readings and the station's temperatures imported by the command a city engineer runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMARTBY_REMOTE_CONTEXTS", "false")
    monkeypatch.setenv("SMARTBY_SERVICES", '["energy"]')
    weather = tmp_path / "temperatures.csv"
    with weather.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "temperature"])
        for at, value in temperatures().items():
            writer.writerow([at.isoformat().replace("+00:00", "Z"), value])
    for data, mapping in ((HEAT, HEAT_MAPPING), (weather, WEATHER_MAPPING)):
        mapping_file = tmp_path / f"{data.stem}.toml"
        mapping_file.write_text(mapping)
        result = CliRunner().invoke(
            app,
            [
                "import",
                "csv",
                str(data),
                "--mapping",
                str(mapping_file),
                "--database",
                energy_settings.database,
            ],
        )
        assert result.exit_code == 0, result.output
    return energy_settings


@pytest.fixture
async def dk(imported: Settings) -> AsyncIterator[Town]:
    """The energy service, the meter's building and the station (current state: the import writes
    history only)."""
    async with Town.running(imported, "energy", "2020-06-01T12:00:00+00:00") as running:
        broker = running.broker
        for context, body in (
            (
                BUILDING_CONTEXT,
                {
                    "id": BUILDING,
                    "type": "Building",
                    "category": {"type": "Property", "value": ["residential"]},
                    "heatedArea": {"type": "Property", "value": AREA, "unitCode": "MTK"},
                    "location": point(12.50, 55.70),
                },
            ),
            (
                DEVICE_CONTEXT,
                {
                    "id": METER,
                    "type": "SmartMeteringObservation",
                    "meterType": {"type": "Property", "value": "heat"},
                    "refBuilding": {"type": "Relationship", "object": BUILDING},
                },
            ),
            (WEATHER_CONTEXT, {"id": STATION, "type": "WeatherObserved", "location": point(12.51, 55.70)}),
        ):
            await broker.create_entity("", await broker.context([context]), body)
        yield running


async def test_the_danish_meters_year_is_numpys(dk: Town) -> None:
    use, hdd = expected()
    found = await of_building(dk.context, "", BUILDING, YEAR)
    days = {day.day: day.kwh for day in found.days if day.known}
    assert len(days) == len(use) == 365
    for day, kwh in use.items():
        assert days[day] == pytest.approx(kwh, rel=1e-9, abs=1e-9), day
    assert found.station == STATION and found.hdd == pytest.approx(hdd)
    slope, base = np.polyfit(np.array([hdd[day] for day in use]), np.array(list(use.values())), 1)
    assert found.fit is not None and found.normalised is not None
    assert (found.fit.base, found.fit.slope) == (
        pytest.approx(base, rel=1e-9),
        pytest.approx(slope, rel=1e-9),
    )
    assert found.normalised == pytest.approx(365 * base + slope * 2906, rel=1e-9)
    assert found.use_kwh == pytest.approx(sum(use.values()), rel=1e-9)
    assert found.fit.r2 is not None and found.fit.r2 > 0.5  # heat follows the degree days
