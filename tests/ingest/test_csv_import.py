"""CSV imports into real SQLite: the published Aarhus and Energinet files, counted exactly."""

from __future__ import annotations

import csv
import itertools
from datetime import datetime, timedelta
from pathlib import Path

from published_data import SHARED_DATA
from recorded_history import DEFAULT, SDM, by_time, stored
from smartby.broker import Broker
from smartby.ingest.csv_import import import_csv
from smartby.ingest.mapping import load_mapping

AARHUS = SHARED_DATA / "aarhus-citypulse"
PRICES = SHARED_DATA / "energinet" / "Elspotprices_DK1_DK2_2024.csv"
INTENSITY, SPEED, TRAVEL = SDM + "intensity", SDM + "averageVehicleSpeed", DEFAULT + "averageTravelTime"
DKK, EUR = DEFAULT + "spotPriceDKK", DEFAULT + "spotPriceEUR"
CO2 = DEFAULT + "co2Emission"


def local_times(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [row["TIMESTAMP"] for row in csv.DictReader(handle)]


async def test_the_aarhus_traffic_files_load_exactly(broker: Broker) -> None:
    mapping = load_mapping("aarhus-traffic")
    expected = {
        # report id: (rows, distinct timestamps, empty 5-minute slots)
        "158324": (16939, 16935, 539),
        "158355": (16906, 16902, 571),
    }
    histories = {}
    for report_id, (rows, distinct, empty) in expected.items():
        path = AARHUS / f"AarhusTrafficData{report_id}.csv"
        assert len(local_times(path)) == rows and len(set(local_times(path))) == distinct
        report = await import_csv(broker, "", path, mapping, batch=5000)
        entity_id = f"urn:ngsi-ld:TrafficFlowObserved:{report_id}"
        assert (report.rows, report.loaded, report.bad, report.filtered) == (rows, rows, 0, 0)
        assert report.entities == {entity_id}
        assert report.added == 3 * distinct
        assert report.skipped == 3 * (rows - distinct)  # the repeated rows repeat their values too
        assert report.ok and not report.failed and report.fatal is None
        [gap] = report.gaps
        assert (gap.entity_id, gap.missing, gap.present, gap.off_grid) == (entity_id, empty, distinct, 0)

        history = histories[report_id] = await stored(broker, entity_id)
        assert set(history) == {INTENSITY, SPEED, TRAVEL}
        assert all(len(instances) == distinct for instances in history.values())
        # The gaps stay gaps: every stored time is a file time, shifted from summer time to UTC.
        file_times = {
            (datetime.fromisoformat(t) - timedelta(hours=2)).isoformat() + "Z" for t in local_times(path)
        }
        assert set(by_time(history[INTENSITY])) == file_times

    traffic = histories["158324"]
    first = {i["observedAt"]: i for i in traffic[SPEED]}["2014-08-01T05:50:00Z"]
    assert (first["value"], first["unitCode"]) == (50, "KMH")
    assert by_time(traffic[INTENSITY])["2014-08-01T05:50:00Z"] == 5
    assert by_time(traffic[TRAVEL])["2014-08-01T05:50:00Z"] == 74
    assert {i["unitCode"] for i in traffic[TRAVEL]} == {"SEC"}
    assert by_time(traffic[SPEED])["2014-09-30T21:55:00Z"] == 67  # the last row, 23:55 local
    other = histories["158355"]
    assert by_time(other[SPEED])["2014-08-01T05:55:00Z"] == 78
    assert by_time(other[INTENSITY])["2014-08-01T05:55:00Z"] == 8
    # No reading is invented for an empty slot: the first one of 158355 holds nothing, its
    # neighbour before it does.
    times = sorted({datetime.fromisoformat(t) for t in local_times(AARHUS / "AarhusTrafficData158355.csv")})
    slot = next(
        a + timedelta(minutes=5) for a, b in itertools.pairwise(times) if b - a > timedelta(minutes=5)
    )
    recorded = by_time(other[INTENSITY])
    assert (slot - timedelta(hours=2)).isoformat() + "Z" not in recorded
    assert (slot - timedelta(hours=2, minutes=5)).isoformat() + "Z" in recorded


async def test_energinet_prices_negative_hours_dst_and_decimal_commas(broker: Broker) -> None:
    mapping = load_mapping("energinet-elspotprices")
    report = await import_csv(broker, "", PRICES, mapping, batch=5000)
    assert (report.rows, report.loaded, report.bad, report.added, report.skipped) == (
        17568,
        17568,
        0,
        35136,
        0,
    )
    assert [(g.entity_id, g.missing) for g in report.gaps] == [
        ("urn:ngsi-ld:ElectricityPrice:DK1", 0),
        ("urn:ngsi-ld:ElectricityPrice:DK2", 0),
    ]
    negative = {}
    for area in ("DK1", "DK2"):
        history = await stored(broker, f"urn:ngsi-ld:ElectricityPrice:{area}")
        assert len(history[DKK]) == len(history[EUR]) == 8784  # 2024 had 366 days
        negative[area] = sum(1 for i in history[DKK] if i["value"] < 0)
        assert negative[area] == sum(1 for i in history[EUR] if i["value"] < 0)
        # 02:00 local on 2024-10-27 happened twice: both hours are kept, an hour apart in UTC.
        prices = by_time(history[DKK])
        assert prices["2024-10-27T00:00:00Z"] == 613.570007
        assert prices["2024-10-27T01:00:00Z"] == 600.140015
        assert prices["2024-10-26T23:00:00Z"] == 626.780029
    assert negative == {"DK1": 375, "DK2": 275}
    assert sum(negative.values()) == 650
    # The first row of the file: 2024-12-31 22:00 UTC, DK1;3,880000;0,520000 and DK2;11,940000;1,600000.
    dk1 = await stored(broker, "urn:ngsi-ld:ElectricityPrice:DK1")
    dk2 = await stored(broker, "urn:ngsi-ld:ElectricityPrice:DK2")
    assert (by_time(dk1[DKK])["2024-12-31T22:00:00Z"], by_time(dk1[EUR])["2024-12-31T22:00:00Z"]) == (
        3.88,
        0.52,
    )
    assert (by_time(dk2[DKK])["2024-12-31T22:00:00Z"], by_time(dk2[EUR])["2024-12-31T22:00:00Z"]) == (
        11.94,
        1.6,
    )

    again = await import_csv(broker, "", PRICES, mapping, batch=1000)
    assert (again.rows, again.loaded, again.added, again.skipped) == (17568, 17568, 0, 35136)
    assert again.ok
    assert len((await stored(broker, "urn:ngsi-ld:ElectricityPrice:DK1"))[DKK]) == 8784


async def test_bad_rows_are_reported_by_line_and_the_rest_loads(broker: Broker, tmp_path: Path) -> None:
    lines = PRICES.read_text().splitlines()
    good = lines[1:7]  # 2024-12-31 22:00 to 20:00 UTC, both areas
    bad = [
        "2024-12-31 19:00:00;2024-12-31 20:00:00;DK1;12,5x;1,0",  # unparsable number
        "2024-12-31 19:00:00;2024-12-31 20:00:00;DK2;12,5",  # a column missing
        "2024-12-31 19:xx:00;2024-12-31 20:00:00;DK2;12,5;1,0",  # unparsable time
        ";2024-10-27 02:00:00;DK1;600,140015;80,430000",  # ambiguous local time and no UTC
        ";2024-03-31 02:00:00;DK1;1,0;1,0",  # a local time that never was
        "2024-12-31 19:00:00;2024-12-31 20:00:00;;12,5;1,0",  # no price area for the id
        '"2024-12-31 19:00:00;2024-12-31 20:00:00;DK1;1,0;1,0',  # an unclosed quote eats the rest
    ]
    text = "\n".join([lines[0], *good[:3], bad[0], "", bad[1], *good[3:], *bad[2:]]) + "\n"
    path = tmp_path / "prices.csv"
    path.write_text(text)
    report = await import_csv(broker, "", path, load_mapping("energinet-elspotprices"))
    assert (report.rows, report.loaded, report.bad) == (13, 6, 7)
    assert report.added == 12
    reasons = {problem.position: problem.reason for problem in report.problems}
    assert sorted(reasons) == [5, 7, 11, 12, 13, 14, 15]
    assert "SpotPriceDKK: '12,5x' is not a number" in reasons[5]
    assert "missing column SpotPriceEUR" in reasons[7]
    assert "HourUTC: '2024-12-31 19:xx:00' is not a time" in reasons[11]
    assert "HourDK: 2024-10-27T02:00:00 happens twice" in reasons[12]
    assert "does not exist" in reasons[13]
    assert "PriceArea is empty" in reasons[14]
    assert "1 fields where the header has 5" in reasons[15]
    summary = "\n".join(report.summary(show=3))
    assert "13 rows read: 6 loaded, 7 bad" in summary
    assert "line 5: SpotPriceDKK" in summary and "line 11" in summary and "and 4 more" in summary


async def test_nothing_readable(broker: Broker, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    report = await import_csv(broker, "", empty, load_mapping("aarhus-traffic"))
    assert not report.ok and report.fatal == "the file is empty (no header row)"
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("HourUTC;HourDK;PriceArea;SpotPriceDKK;SpotPriceEUR\n2024-01-01 00:00:00;;DK1;1;1\n")
    report = await import_csv(broker, "", wrong, load_mapping("aarhus-traffic"))
    assert not report.ok and report.fatal is not None and "no column 'REPORT_ID'" in report.fatal
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        b"REPORT_ID,TIMESTAMP,vehicleCount,avgSpeed,avgMeasuredTime\n1,2014-08-01T07:50:00,5,50,74\n1,\xe6\xf8\xe5,1,1,1\n"
    )
    report = await import_csv(broker, "", latin, load_mapping("aarhus-traffic"))
    assert report.fatal is not None and "not utf-8-sig text" in report.fatal


def co2_rows(start_utc: datetime, count: int) -> list[str]:
    """Rows in Energinet's CO2Emis layout, both price areas, newest first as Energinet serves them."""
    rows = []
    for step in range(count):
        at = start_utc + timedelta(minutes=5 * step)
        local = at + timedelta(hours=2 if at < datetime(2024, 10, 27, 1) else 1)
        for area, base in (("DK1", 100), ("DK2", 50)):
            value = f"{base + step},{step % 10}"
            rows.append(f"{at:%Y-%m-%d %H:%M:%S};{local:%Y-%m-%d %H:%M:%S};{area};{value}")
    return ["Minutes5UTC;Minutes5DK;PriceArea;CO2Emission", *reversed(rows)]


async def test_the_co2_emission_layout(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "CO2Emis.csv"
    # 00:00Z to 01:55Z on 2024-10-27: local 02:00-02:55 twice over.
    path.write_text("\n".join(co2_rows(datetime(2024, 10, 27, 0, 0), 24)) + "\n")
    report = await import_csv(broker, "", path, load_mapping("energinet-co2emis"))
    assert (report.rows, report.loaded, report.bad, report.added) == (48, 48, 0, 48)
    assert [g.missing for g in report.gaps] == [0, 0]
    dk1 = by_time((await stored(broker, "urn:ngsi-ld:GridCarbonIntensity:DK1"))[CO2])
    assert len(dk1) == 24
    assert dk1["2024-10-27T00:00:00Z"] == 100 and dk1["2024-10-27T01:00:00Z"] == 112.2
    assert dk1["2024-10-27T01:55:00Z"] == 123.3
    dk2 = by_time((await stored(broker, "urn:ngsi-ld:GridCarbonIntensity:DK2"))[CO2])
    assert dk2["2024-10-27T00:05:00Z"] == 51.1

    forecast = tmp_path / "CO2EmisProg.csv"
    forecast.write_text("\n".join(co2_rows(datetime(2024, 10, 27, 0, 0), 12)) + "\n")
    report = await import_csv(broker, "", forecast, load_mapping("energinet-co2emisprog"))
    assert report.added == 24
    series = (await stored(broker, "urn:ngsi-ld:GridCarbonIntensity:DK1"))[CO2]
    assert len(series) == 36
    assert sum(1 for i in series if i.get("datasetId") == "urn:ngsi-ld:Dataset:Energinet:CO2EmisProg") == 12


async def test_car_parks_keep_counts_above_capacity(broker: Broker) -> None:
    path = AARHUS / "AarhusParkingDataNORREPORT.csv"
    report = await import_csv(broker, "", path, load_mapping("aarhus-parking"))
    assert (report.rows, report.loaded, report.bad, report.added) == (6908, 6908, 0, 2 * 6908)
    history = await stored(broker, "urn:ngsi-ld:OffStreetParking:NORREPORT")
    occupied = history["https://smartdatamodels.org/dataModel.Parking/occupiedSpotNumber"]
    assert len(occupied) == 6908
    assert sum(1 for i in occupied if i["value"] > 65) == 630
    first = occupied[0]
    assert (first["observedAt"], first["value"]) == ("2014-05-22T07:09:04.145Z", 0)


async def test_a_tenant_gets_its_own_history(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "CO2Emis.csv"
    path.write_text("\n".join(co2_rows(datetime(2024, 6, 1), 3)) + "\n")
    report = await import_csv(broker, "aarhus", path, load_mapping("energinet-co2emis"))
    assert report.added == 6
    assert len((await stored(broker, "urn:ngsi-ld:GridCarbonIntensity:DK1", "aarhus"))[CO2]) == 3
    found, _ = await broker.store.history("", __import__("smartby.ngsild.reads").ngsild.reads.HistoryQuery())
    assert found == []
