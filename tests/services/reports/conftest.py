"""Fixtures of the reports tests: the reports and lighting services over real parts (both backends)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.reports.city import City
from smartby.settings import Settings


@pytest.fixture
async def city(settings: Settings) -> AsyncIterator[City]:
    async with City.running(settings, "reports", "2026-12-21T15:00:00+00:00", also=["lighting"]) as running:
        yield running
