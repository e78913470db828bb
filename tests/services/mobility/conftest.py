"""Fixtures of the mobility tests: the mobility service on a runtime whose clock the test sets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.one_service import OneService
from smartby.settings import Settings


class City(OneService):
    """The mobility service alone."""


@pytest.fixture
def mobility_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"services": ["mobility"]})


@pytest.fixture
async def city(settings: Settings) -> AsyncIterator[City]:
    async with City.running(settings, "mobility", "2026-12-21T12:00:00+00:00") as running:
        yield running
