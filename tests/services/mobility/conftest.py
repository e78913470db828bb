"""Fixtures of the mobility tests: the mobility service on a runtime whose clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import pytest

from services.set_clock import SetClock
from smartby.assembly import Assembly, assemble
from smartby.services.runtime import Runtime, ServiceContext
from smartby.services.service import Service
from smartby.settings import Settings


@dataclass
class City:
    parts: Assembly
    runtime: Runtime
    clock: SetClock

    @property
    def service(self) -> Service:
        [service] = self.runtime.services
        return service

    @property
    def context(self) -> ServiceContext:
        return self.runtime.context("mobility")

    async def feed(self) -> int:
        handled = 0
        while count := await self.runtime.handle_batch(self.service):
            handled += count
        return handled


@pytest.fixture
def mobility_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"services": ["mobility"]})


@pytest.fixture
async def city(mobility_settings: Settings) -> AsyncIterator[City]:
    parts = assemble(mobility_settings)
    clock = SetClock(datetime.fromisoformat("2026-12-21T12:00:00+00:00"))
    runtime = Runtime(parts.broker, parts.services.services, mobility_settings, clock)
    await parts.broker.open()
    try:
        yield City(parts, runtime, clock)
    finally:
        await parts.broker.close()
