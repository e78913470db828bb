"""Fixtures of the lighting tests: the lighting service on a runtime whose clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from services.lighting.town import Town
from services.set_clock import SetClock
from smartby.assembly import assemble
from smartby.services.runtime import Runtime
from smartby.settings import Settings


@pytest.fixture
def lighting_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"services": ["lighting"]})


@pytest.fixture
async def town(lighting_settings: Settings) -> AsyncIterator[Town]:
    parts = assemble(lighting_settings)
    clock = SetClock(datetime.fromisoformat("2026-12-21T12:00:00+00:00"))
    runtime = Runtime(parts.broker, parts.services.services, lighting_settings, clock)
    await parts.broker.open()
    try:
        yield Town(parts, runtime, clock)
    finally:
        await parts.broker.close()
