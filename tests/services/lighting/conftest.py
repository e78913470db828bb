"""Fixtures of the lighting tests: the lighting service on a runtime whose clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.lighting.town import Town
from smartby.settings import Settings


@pytest.fixture
def lighting_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"services": ["lighting"]})


@pytest.fixture
async def town(settings: Settings) -> AsyncIterator[Town]:
    async with Town.running(settings, "lighting", "2026-12-21T12:00:00+00:00") as running:
        yield running
