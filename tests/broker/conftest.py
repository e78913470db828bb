"""Fixtures of the broker tests: a real HTTP receiver of notifications and channel messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import free_port
from receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
