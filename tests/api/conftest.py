"""Fixtures of the access-control tests: an identity provider with a JWKS served over real HTTP, and
smartby with authentication required (tests/identity.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from identity import City, IdentityProvider, open_city
from smartby.settings import Settings


@pytest.fixture(scope="session")
def provider() -> Iterator[IdentityProvider]:
    identity = IdentityProvider()
    yield identity
    identity.close()


@pytest.fixture
async def city(settings: Settings, provider: IdentityProvider) -> AsyncIterator[City]:
    """smartby with authentication required, every built-in city service's endpoints mounted."""
    async for opened in open_city(settings.model_copy(update={"services": None}), provider):
        yield opened
