"""NGSI-LD imports: temporal and normalized entities become history, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from published_data import SHARED_DATA
from recorded_history import DEFAULT, SDM, by_time, stored
from smartby.broker import Broker
from smartby.ingest.csv_import import import_csv
from smartby.ingest.mapping import load_mapping
from smartby.ingest.ngsild_import import import_ngsild

TRANSPORTATION = "https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"
TEMPERATURE, HUMIDITY = DEFAULT + "temperature", DEFAULT + "relativeHumidity"

WEATHER: dict[str, Any] = {
    "id": "urn:ngsi-ld:WeatherObserved:aarhus",
    "type": "WeatherObserved",
    "temperature": [
        {"type": "Property", "value": 18, "observedAt": "2014-08-01T00:00:00Z", "unitCode": "CEL"},
        {"type": "Property", "value": 18.5, "observedAt": "2014-08-01T00:20:00Z", "unitCode": "CEL"},
        {"value": 17, "modifiedAt": "2014-08-01T00:40:00Z", "instanceId": "urn:ngsi-ld:Instance:x"},
    ],
    "relativeHumidity": {"type": "Property", "value": 0.56, "observedAt": "2014-08-01T00:00:00Z"},
    "name": {"type": "Property", "value": "Aarhus"},
}
TRAFFIC: dict[str, Any] = {
    "@context": TRANSPORTATION,
    "id": "urn:ngsi-ld:TrafficFlowObserved:158324",
    "type": "TrafficFlowObserved",
    "intensity": {"type": "Property", "value": 5, "observedAt": "2014-08-01T05:50:00Z"},
    "averageVehicleSpeed": {
        "type": "Property",
        "value": 50,
        "observedAt": "2014-08-01T05:50:00Z",
        "unitCode": "KMH",
    },
}


def write(path: Path, document: Any) -> Path:
    path.write_bytes(orjson.dumps(document))
    return path


async def test_temporal_and_normalized_entities(broker: Broker, tmp_path: Path) -> None:
    bad_id = {
        "id": "not a uri",
        "type": "X",
        "a": {"type": "Property", "value": 1, "observedAt": "2024-01-01T00:00:00Z"},
    }
    untimed = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing", "name": {"type": "Property", "value": "x"}}
    path = write(tmp_path / "entities.json", [WEATHER, TRAFFIC, bad_id, "hello", untimed])
    report = await import_ngsild(broker, "", path)
    assert (report.rows, report.loaded, report.bad, report.added) == (5, 2, 3, 6)
    assert report.entities == {WEATHER["id"], TRAFFIC["id"]}
    reasons = {problem.position: problem.reason for problem in report.problems}
    assert sorted(reasons) == [1, 3, 4, 5]
    assert "instances of name have no observedAt (left out)" in reasons[1]
    assert "not a uri" in reasons[3]
    assert "urn:ngsi-ld:Thing:1: instances of name have no observedAt" in reasons[5]

    weather = await stored(broker, WEATHER["id"])
    assert set(weather) == {TEMPERATURE, HUMIDITY}
    assert by_time(weather[TEMPERATURE]) == {
        "2014-08-01T00:00:00Z": 18,
        "2014-08-01T00:20:00Z": 18.5,
        "2014-08-01T00:40:00Z": 17,  # an exported instance without observedAt keeps its modifiedAt
    }
    traffic = await stored(broker, TRAFFIC["id"])
    assert by_time(traffic[SDM + "intensity"]) == {"2014-08-01T05:50:00Z": 5}
    assert traffic[SDM + "averageVehicleSpeed"][0]["unitCode"] == "KMH"

    again = await import_ngsild(broker, "", path)
    assert (again.loaded, again.added, again.skipped) == (2, 0, 6)


async def test_a_default_context_for_plain_json(broker: Broker, tmp_path: Path) -> None:
    plain = {key: value for key, value in TRAFFIC.items() if key != "@context"}
    path = write(tmp_path / "traffic.json", [plain])
    report = await import_ngsild(broker, "", path, context=TRANSPORTATION)
    assert report.added == 2
    assert set(await stored(broker, TRAFFIC["id"])) == {SDM + "intensity", SDM + "averageVehicleSpeed"}


async def test_csv_and_ngsild_imports_agree(broker: Broker, tmp_path: Path) -> None:
    lines = (SHARED_DATA / "aarhus-citypulse" / "AarhusTrafficData158324.csv").read_text().splitlines()
    csv_path = tmp_path / "traffic.csv"
    csv_path.write_text("\n".join(lines[:3]) + "\n")
    assert (await import_csv(broker, "", csv_path, load_mapping("aarhus-traffic"))).added == 6
    report = await import_ngsild(broker, "", write(tmp_path / "traffic.json", TRAFFIC))
    assert (report.loaded, report.added, report.skipped) == (1, 0, 2)


async def test_a_file_that_is_not_an_array_of_entities(broker: Broker, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    report = await import_ngsild(broker, "", broken)
    assert not report.ok and report.fatal is not None and report.fatal.startswith("not JSON")
    number = write(tmp_path / "number.json", 5)
    report = await import_ngsild(broker, "", number)
    assert report.fatal == "expected a JSON array of entities"
