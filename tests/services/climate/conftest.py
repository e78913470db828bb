"""Fixtures of the climate tests: the climate service on a runtime whose clock the test sets, on
both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.climate.rainy import Rainy
from smartby.settings import Settings


@pytest.fixture
async def rainy(settings: Settings) -> AsyncIterator[Rainy]:
    async with Rainy.running(settings, "climate", "2011-07-02T16:00:00+00:00") as running:
        yield running
