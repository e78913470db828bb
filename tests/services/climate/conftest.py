"""Fixtures of the climate tests: the climate service on a runtime whose clock the test sets, on
both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from services.climate.rainy import Rainy
from services.set_clock import SetClock
from smartby.assembly import assemble
from smartby.services.runtime import Runtime
from smartby.settings import Settings


@pytest.fixture
def climate_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"services": ["climate"]})


@pytest.fixture
async def rainy(climate_settings: Settings) -> AsyncIterator[Rainy]:
    parts = assemble(climate_settings)
    clock = SetClock(datetime.fromisoformat("2011-07-02T16:00:00+00:00"))
    runtime = Runtime(parts.broker, parts.services.services, climate_settings, clock)
    await parts.broker.open()
    try:
        yield Rainy(parts, runtime, clock)
    finally:
        await parts.broker.close()
