"""Tests for services/lighting/switching.py, dispatch.py and adaptive.py through the runtime, on both
backends: at a step of its program a group's lights get their target illuminanceLevel (no commands in
this smartby: written through the broker); a class steps down one when its segment's traffic stays
low, and back when traffic returns; the default program is created where missing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.lighting.town import Town
from smartby.ngsild.timestamps import format_datetime
from smartby.services.lighting.adaptive import CLASS_LEVELS, lower_class, step_down_factor
from smartby.services.lighting.program import DEFAULT_PROGRAM_ID
from smartby.services.lighting.vocabulary import ILLUMINANCE_LEVEL, TRANSPORTATION_CONTEXT

DIM = datetime(2026, 12, 21, 21, 0, tzinfo=UTC)  # 22:00 local
NIGHT = "urn:ngsi-ld:LightingProgram:night"
SEGMENT = "urn:ngsi-ld:RoadSegment:town:high-street"


async def levels(town: Town, *lights: str) -> list[tuple[float, str] | None]:
    found = []
    for light in lights:
        entity = await town.broker.retrieve_entity("", light)
        instances = entity.get(ILLUMINANCE_LEVEL)
        found.append((instances[0]["value"], instances[0]["observedAt"][:19]) if instances else None)
    return found


async def night(town: Town, **group: object) -> None:
    await town.program(
        NIGHT,
        [
            {
                "steps": [
                    {"event": "sunset", "level": 1},
                    {"time": "22:00", "level": 0.5},
                    {"event": "sunrise", "level": 0},
                ]
            }
        ],
    )
    await town.group(NIGHT, **group)


async def test_a_step_sets_the_group_s_lights(town: Town) -> None:
    await night(town)
    lights = [await town.light(1), await town.light(2)]
    await town.run("programs", DIM - timedelta(minutes=5))
    assert await levels(town, *lights) == [None, None]  # no step in the period
    await town.run("programs", DIM + timedelta(minutes=2))
    assert await levels(town, *lights) == [(0.5, "2026-12-21T21:02:00")] * 2
    program = await town.broker.retrieve_entity("", DEFAULT_PROGRAM_ID)
    assert program["type"] == ["https://smartby.org/ns/lighting/LightingProgram"]


async def test_a_light_listed_by_its_group_runs_the_group_s_program(town: Town) -> None:
    ctx = await town.broker.context(
        ["https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"]
    )
    light = "urn:ngsi-ld:Streetlight:town:listed"
    await town.broker.create_entity(
        "", ctx, {"id": light, "type": "Streetlight", "powerRating": {"type": "Property", "value": 50}}
    )
    await night(town, refStreetlight={"type": "Relationship", "object": [light]})
    await town.run("programs", DIM + timedelta(minutes=1))
    assert await levels(town, light) == [(0.5, "2026-12-21T21:01:00")]


async def counts(town: Town, start: datetime, end: datetime, intensity: float) -> None:
    ctx = await town.broker.context([TRANSPORTATION_CONTEXT])
    moment = start
    while moment <= end:
        fragment = {
            "id": "urn:ngsi-ld:TrafficFlowObserved:town:1",
            "type": "TrafficFlowObserved",
            "refRoadSegment": {"type": "Relationship", "object": SEGMENT},
            "intensity": {"type": "Property", "value": intensity, "observedAt": format_datetime(moment)},
        }
        assert not (await town.broker.batch_upsert("", ctx, [fragment], mode="update")).errors
        moment += timedelta(minutes=5)


async def test_low_traffic_steps_the_class_down_and_traffic_back_up(town: Town) -> None:
    await night(
        town,
        lightingClass={"type": "Property", "value": "M3"},
        refRoadSegment={"type": "Relationship", "object": SEGMENT},
    )
    light = await town.light(1)
    await counts(town, DIM - timedelta(days=2), DIM - timedelta(days=2), 1200.0)  # the week's peak
    await counts(town, DIM - timedelta(minutes=40), DIM, 200.0)  # under 30 % for the last 30 minutes
    await town.run("programs", DIM + timedelta(minutes=1))
    assert await levels(town, light) == [(0.375, "2026-12-21T21:01:00")]  # 0.5 x (0.75 / 1.0): M4
    await counts(town, DIM + timedelta(minutes=5), DIM + timedelta(minutes=5), 700.0)
    await town.run("programs", DIM + timedelta(minutes=6))
    assert await levels(town, light) == [(0.5, "2026-12-21T21:06:00")]


@pytest.mark.parametrize(
    ("lighting_class", "lower", "factor"),
    [
        ("M1", "M2", 0.75),
        ("M3", "M4", 0.75),
        ("M6", None, 1.0),
        ("C0", "C1", 0.6),
        ("P5", "P6", 2 / 3),
        ("X9", None, 1.0),
    ],
)
def test_each_class_steps_down_to_the_next(lighting_class: str, lower: str | None, factor: float) -> None:
    assert lower_class(lighting_class) == lower
    assert step_down_factor(lighting_class) == pytest.approx(factor)


def test_every_series_falls_class_by_class() -> None:
    for series in "MCP":
        values = [value for name, value in CLASS_LEVELS.items() if name[0] == series]
        assert values == sorted(values, reverse=True)


class SentCommands:
    """The commands of the services' context, as a light's `dim` asks them (the real ones over
    real transports are tested in tests/ingest/test_commands.py)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any, datetime | None, str]] = []

    async def send(
        self, device_id: str, name: str, value: Any, *, expires_at: datetime | None = None, tenant: str = ""
    ) -> None:
        self.sent.append((device_id, name, value, expires_at, tenant))


async def test_lights_with_a_device_get_a_dim_command_when_there_are_commands(town: Town) -> None:
    await night(town)
    with_device = await town.light(
        1, refDevice={"type": "Relationship", "object": "urn:ngsi-ld:Device:lamp-1"}
    )
    without = await town.light(2)
    commands = SentCommands()
    plain = town.runtime.context("lighting")
    ctx = replace(plain, commands=commands)
    [job] = [j for j in town.service.jobs if j.name == "programs"]
    town.clock.moment = DIM + timedelta(minutes=1)
    await job.run(ctx, DIM + timedelta(minutes=1))
    [(device, command, level, expires, tenant)] = commands.sent
    assert (device, command, level, tenant) == ("lamp-1", "dim", 0.5, "")
    # The next step (sunrise, about 10 hours of the services' clock away) said in wall time.
    assert expires is not None
    assert timedelta(hours=9) < expires - datetime.now(UTC) < timedelta(hours=12)
    assert await levels(town, with_device, without) == [None, (0.5, "2026-12-21T21:01:00")]
