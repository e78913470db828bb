"""Tests for sim/scenarios.py: the 2 July 2011 replay rains as DMI recorded it (about 135 mm in two
hours at the strongest gauges), every gauge passes DMI's cloudburst, and the basins flood."""

from __future__ import annotations

from datetime import timedelta

from smartby.services.climate import rain
from smartby.sim.city import build_city
from smartby.sim.models import Simulation
from smartby.sim.scenarios import SCENARIOS

FIVE = timedelta(minutes=5)


def test_the_2011_cloudburst_rains_as_recorded_and_floods_the_basins() -> None:
    scenario = SCENARIOS["cloudburst-2011"]
    city = build_city(300, 1)
    simulation = Simulation(city, scenario.live_from - timedelta(hours=1), scenario)
    found = simulation.advance(scenario.live_from + timedelta(hours=4), FIVE)
    totals, bursts, flooded = [], [], 0
    for device, payloads in found:
        if device.kind.name == "sim-rain":
            readings = [(scenario.live_from, 0.0)] + [
                (scenario.live_from + FIVE * n, p["precipitation"]) for n, p in enumerate(payloads)
            ]
            totals.append(sum(p["precipitation"] for p in payloads))
            bursts.append(
                max(rain.window_sum(readings, t, timedelta(minutes=30), FIVE).mm for t, _ in readings)
            )
        if device.kind.name == "sim-basin":
            flooded += max(p["currentLevel"] for p in payloads) >= device.params["danger"]
    assert totals and 120 <= max(totals) <= 145 and min(totals) >= 70
    assert min(bursts) > 2 * rain.CLOUDBURST.threshold
    assert flooded >= 1


def test_without_the_scenario_the_evening_is_the_recorded_weather() -> None:
    scenario = SCENARIOS["cloudburst-2011"]
    city = build_city(300, 1)
    simulation = Simulation(city, scenario.live_from - timedelta(hours=1))
    found = simulation.advance(scenario.live_from + timedelta(hours=4), FIVE)
    totals = [sum(p["precipitation"] for p in payloads) for d, payloads in found if d.kind.name == "sim-rain"]
    assert totals and max(totals) < 60
