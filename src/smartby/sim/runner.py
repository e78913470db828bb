"""Running the testbed: provision the city on a target, back-fill its history, then stream live in
accelerated time.

Back-fill covers [now - backfill, now) in windows of sim time, every periodic device reporting once
per `resolution`; the next window is computed while the last one is being sent. Live streaming
then starts at the end of back-fill (now): sim time advances `speed` seconds per wall second,
periodic devices report every `live_period` of sim time, so the city's clock runs ahead of the
wall clock.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from smartby.sim.city import City
from smartby.sim.models import LIGHT_HEARTBEAT, Simulation
from smartby.sim.targets import Readings, Target, provision_size


@dataclass(frozen=True)
class Plan:
    backfill: timedelta = timedelta(days=7)
    resolution: timedelta = timedelta(hours=1)
    """How often periodic devices report during back-fill (docs/testbed.md: what it costs)."""
    speed: float = 60.0
    """Sim seconds per wall second while streaming live."""
    duration: float | None = None
    """Wall seconds to stream live; None: until stopped."""
    live_period: timedelta = timedelta(minutes=5)
    """How often periodic devices report while streaming."""
    window: timedelta = timedelta(hours=24)
    """Sim time computed and sent at once during back-fill."""
    tick: float = 1.0
    """Wall seconds between two live sends."""


@dataclass
class Tally:
    uplinks: int = 0
    """Messages sent (one device's readings, an array of at most 1000)."""
    readings: int = 0
    """Timestamped readings (one JSON object of a device's attribute values)."""
    values: int = 0
    """Attribute values: what becomes history instances."""
    seconds: float = 0.0

    def add(self, readings: Readings) -> None:
        for _, payloads in readings:
            self.uplinks += 1
            self.readings += len(payloads)
            self.values += sum(len(payload) - 1 for payload in payloads)

    def rates(self) -> str:
        seconds = max(self.seconds, 1e-9)
        return (
            f"{self.readings:,} readings ({self.values:,} attribute values) in {self.seconds:.1f} s: "
            f"{self.readings / seconds:,.0f} readings/s, {self.values / seconds:,.0f} values/s"
        )


class Clock(Protocol):
    """The clock live streaming follows when one is given: the city services' clock in a demo, so
    the city and its services share one time."""

    def now(self) -> datetime: ...


class Reporter(Protocol):
    def phase(self, label: str, total: int) -> None:
        """A phase of `total` steps begins."""

    def step(self, count: int) -> None: ...

    def done(self) -> None:
        """The phase ended."""


def start_of_backfill(now: datetime, plan: Plan) -> datetime:
    """The first moment back-fill covers: `backfill` before now, on a whole minute."""
    return (now - plan.backfill).astimezone(UTC).replace(second=0, microsecond=0)


async def provision(target: Target, city: City, reporter: Reporter) -> None:
    reporter.phase("Provisioning the city", provision_size(city, target))
    await target.provision(city, reporter.step)
    reporter.done()


async def backfill(
    target: Target, simulation: Simulation, end: datetime, plan: Plan, reporter: Reporter
) -> Tally:
    """Send the readings of [simulation.clock, end); the next window is computed while one is sent."""
    tally = Tally()
    began = time.monotonic()
    total = max(1, round((end - simulation.clock) / timedelta(minutes=1)))
    reporter.phase("Back-filling history", total)
    sending: asyncio.Task[None] | None = None
    while simulation.clock < end:
        before = simulation.clock
        readings = simulation.advance(min(end, before + plan.window), plan.resolution)
        tally.add(readings)
        if sending is not None:
            await sending
        sending = asyncio.create_task(target.send(readings))
        await asyncio.sleep(0)
        reporter.step(round((simulation.clock - before) / timedelta(minutes=1)))
    if sending is not None:
        await sending
    reporter.done()
    tally.seconds = time.monotonic() - began
    return tally


async def start_heartbeats(target: Target, simulation: Simulation) -> None:
    """Before streaming live: street lights report their state now, and every LIGHT_HEARTBEAT from
    then on (back-fill sends their changes only)."""
    simulation.heartbeat = LIGHT_HEARTBEAT
    await target.send(simulation.advance(simulation.clock + timedelta(seconds=1), simulation.heartbeat))


async def stream(target: Target, simulation: Simulation, plan: Plan, clock: Clock | None = None) -> Tally:
    """Live: every `tick` wall seconds, send what the city observed in the sim time that passed
    (sim time: `speed` times the wall time since the start, or `clock`'s time when given)."""
    tally = Tally()
    wall_start = time.monotonic()
    sim_start = simulation.clock
    while plan.duration is None or time.monotonic() - wall_start < plan.duration:
        await asyncio.sleep(plan.tick)
        elapsed = time.monotonic() - wall_start
        if plan.duration is not None:
            elapsed = min(elapsed, plan.duration)
        until = clock.now() if clock is not None else sim_start + timedelta(seconds=elapsed * plan.speed)
        readings = simulation.advance(until, plan.live_period)
        tally.add(readings)
        await target.send(readings)
    tally.seconds = time.monotonic() - wall_start
    return tally
