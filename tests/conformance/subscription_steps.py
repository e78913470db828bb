"""Steps the subscription conformance tests share: a smartby that delivers notifications promptly,
subscribing with the ETSI suite's @context, and waiting for what a receiver or a retrieval shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from etsi import LINK, V1

from conftest import free_port
from receiver import Receiver
from smartby.settings import Settings

SUBSCRIPTIONS = f"{V1}/subscriptions"
CONTEXTS = Path(__file__).resolve().parent / "contexts"
WITH_LINK = {"Content-Type": "application/json", "Link": LINK}


def notifying_settings(database_url: str) -> Settings:
    """The suite's @context offline, and deliveries retried within a fraction of a second."""
    return Settings(  # type: ignore[call-arg]
        database=database_url,
        remote_contexts=False,
        context_dir=CONTEXTS,
        notification_retry_delay=0.05,
        notification_retry_max_delay=0.2,
        notification_poll_interval=0.1,
        notification_timeout=2.0,
        _env_file=None,
    )


def running_receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def subscription(uri: str, sub_id: str | None = None, **members: Any) -> dict[str, Any]:
    """A subscription to the suite's Buildings, notifying `uri`; `notification` members merge in."""
    notification = {"endpoint": {"uri": uri, "accept": "application/json"}}
    notification.update(members.pop("notification", {}))
    body: dict[str, Any] = {"type": "Subscription", "entities": [{"type": "Building"}]}
    if sub_id is not None:
        body["id"] = sub_id
    body.update(members)
    body["notification"] = notification
    return body


async def subscribe(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    """Create the subscription (its names read with the suite's @context); its URL."""
    response = await client.post(SUBSCRIPTIONS, content=orjson.dumps(body), headers=WITH_LINK)
    assert response.status_code == 201, response.text
    return str(response.headers["location"])


async def until(
    read: Callable[[], Awaitable[dict[str, Any]]], holds: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Read again until what is read satisfies `holds` (fails after ten seconds)."""
    deadline = time.monotonic() + 10
    while True:
        found = await read()
        if holds(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"never satisfied: {found}")
        await asyncio.sleep(0.05)
