"""The one clock city services and the testbed share.

A service asks its clock what time it is and sleeps in the clock's seconds; its periodic jobs fall due
in the clock's time. `WallClock` is real time; `ScaledClock` runs `speed` times faster from a start,
as the testbed's live phase does (`smartby demo --speed 60` runs the simulation and its services an
hour a minute).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time (timezone-aware, UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class ScaledClock:
    """`start` now, then `speed` seconds of clock time per second of wall time."""

    def __init__(self, start: datetime, speed: float) -> None:
        if speed <= 0:
            raise ValueError("A clock's speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)
