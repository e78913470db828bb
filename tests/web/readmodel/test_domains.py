"""Tests for smartby.web.readmodel.domains: the state colour rules and units of the testbed contract."""

from __future__ import annotations

import pytest

from smartby.broker import Broker
from smartby.web.readmodel.domains import (
    DOMAINS,
    TYPE_IRIS,
    air_state,
    basin_state,
    charger_state,
    domain_of,
    level,
    light_state,
    rain_state,
    short_name,
    state_of,
    unit_label,
)
from web.readmodel.testbed import CONTEXTS


@pytest.mark.parametrize(
    ("intensity", "capacity", "expected"),
    [
        (0, 1000, "low"),
        (399, 1000, "low"),
        (400, 1000, "medium"),
        (749, 1000, "medium"),
        (750, 1000, "high"),
        (1500, 1000, "high"),
        (None, 1000, "unknown"),
        (100, None, "unknown"),
        (100, 0, "unknown"),
    ],
)
def test_traffic_level_is_intensity_over_capacity(
    intensity: float | None, capacity: float | None, expected: str
) -> None:
    assert level(intensity, capacity) == expected


@pytest.mark.parametrize(
    ("mm_in_5_minutes", "expected"),
    [
        (0.0, "dry"),
        (0.2, "light"),  # 2.4 mm/h
        (2.5 / 12, "moderate"),  # 2.5 mm/h
        (0.8, "moderate"),  # 9.6 mm/h
        (10 / 12, "heavy"),
        (2.4, "heavy"),  # 28.8 mm/h
        (2.5, "cloudburst"),  # 30 mm/h
        (None, "unknown"),
    ],
)
def test_rain_state_is_the_hourly_rate_of_the_5_minute_reading(
    mm_in_5_minutes: float | None, expected: str
) -> None:
    assert rain_state(mm_in_5_minutes) == expected


@pytest.mark.parametrize(
    ("current", "danger", "expected"),
    [
        (0.98, 2.0, "low"),
        (1.0, 2.0, "rising"),
        (1.59, 2.0, "rising"),
        (1.6, 2.0, "warning"),
        (2.4, 2.0, "warning"),
    ],
)
def test_basin_state_is_its_fill(current: float, danger: float, expected: str) -> None:
    assert basin_state(current, danger) == expected
    assert basin_state(current, None) == basin_state(current, 0) == "unknown"


def test_air_quality_bands_are_the_european_index() -> None:
    assert [air_state(v) for v in (0, 19.9, 20, 39, 40, 60, 79, 80, 99.5, 100, 250, None)] == [
        "good",
        "good",
        "fair",
        "fair",
        "moderate",
        "poor",
        "poor",
        "very-poor",
        "very-poor",
        "extremely-poor",
        "extremely-poor",
        "unknown",
    ]


def test_light_state_failure_wins_over_power_state() -> None:
    assert light_state("on", "ok") == "on"
    assert light_state("low", "ok") == "dimmed"
    assert light_state("off", None) == "off"
    assert light_state("on", "defectiveLamp") == "failed"
    assert light_state("off", "columnIssue") == "failed"
    assert light_state(None, "ok") == "unknown"
    assert light_state("blinking", "ok") == "unknown"


def test_charger_state() -> None:
    assert charger_state("working", 4, 4) == "free"
    assert charger_state("working", 1, 4) == "busy"
    assert charger_state("working", 0, 4) == "full"
    assert charger_state("outOfService", 4, 4) == "out-of-service"
    assert charger_state("working", None, 4) == "unknown"


def test_domain_of_a_counter_is_its_vehicle_type() -> None:
    assert domain_of("TrafficFlowObserved", {"vehicleType": "bicycle"}) == "bikes"
    assert domain_of("TrafficFlowObserved", {"vehicleType": "car"}) == "traffic"
    assert domain_of("StreetlightControlCabinet", {}) == "lighting"
    assert domain_of("Vehicle", {}) is None
    assert state_of("StreetlightControlCabinet", "lighting", {"energyConsumed": 5}) == "neutral"
    assert state_of("Building", "heat", {}) == "neutral"


def test_a_counter_the_mobility_service_judges_is_drawn_by_its_level_of_service() -> None:
    judged = {"intensity": 900, "capacity": 1000, "levelOfService": "E"}
    assert state_of("TrafficFlowObserved", "traffic", judged) == "los-e"
    assert state_of("TrafficFlowObserved", "traffic", {**judged, "levelOfService": "Z"}) == "high"
    assert state_of("TrafficFlowObserved", "bikes", judged) == "high"


def test_every_state_a_rule_gives_has_a_colour() -> None:
    keys = {domain.key: {state.key for state in domain.states} for domain in DOMAINS}
    assert {"on", "dimmed", "off", "failed"} <= keys["lighting"]
    assert {"low", "medium", "high", "unknown"} <= keys["traffic"] and keys["bikes"] >= {"low", "high"}
    assert {"dry", "light", "moderate", "heavy", "cloudburst"} <= keys["rain"]
    assert {"low", "rising", "warning"} <= keys["water"]
    assert {"free", "busy", "full", "out-of-service"} <= keys["ev"]
    assert {"good", "fair", "moderate", "poor", "very-poor", "extremely-poor"} <= keys["air"]


def test_units_as_people_read_them() -> None:
    assert unit_label("powerConsumption", "WTT", "lighting") == "W"
    assert unit_label("precipitation", "MMT", "rain") == "mm"
    assert unit_label("intensity", None, "traffic") == "vehicles/h"
    assert unit_label("intensity", None, "bikes") == "bicycles/h"
    assert unit_label("price", "DKK/MWh", "grid") == "DKK/MWh"
    assert unit_label("name", None, "heat") == ""
    assert short_name("https://smartdatamodels.org/dataModel.Transportation/intensity") == "intensity"
    assert short_name("https://example.org/vocab#level") == "level"


async def test_type_iris_are_what_the_shipped_contexts_expand(broker: Broker) -> None:
    for type_name, iri in TYPE_IRIS.items():
        ctx = await broker.context(CONTEXTS[type_name])
        assert ctx.expand(type_name) == iri
