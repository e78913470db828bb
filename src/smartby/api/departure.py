"""A read stopped when its client goes: the handler of a query races the client's departure.

uvicorn's `receive()` answers `http.disconnect` once the client has closed its connection (and
waits until then once the request's body is read). While a query's handler runs, a task waits for
that message and, when it comes, cancels the handler's task; the store then stops the read in its
thread (`smartby.store.sql.backend.ReadStop`) instead of letting it run to the end of its time
budget with no one to answer (issue 13: a 10,000-term query ran on three minutes after its client
left).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Message, Receive

WATCH_AFTER = 0.25
"""Seconds a read runs before its client's departure is watched for."""
CLIENT_CLOSED_REQUEST = 499
"""The status a request whose client went away is counted with (nginx's; never sent, no one hears)."""


class Departure:
    """The client's side of one request: its body for the handler, then its departure."""

    def __init__(self, receive: Receive, body: bool) -> None:
        self._receive = receive
        self._read = not body
        self._body_read = asyncio.Event()
        self.gone = False

    async def receive(self) -> Message:
        """The handler's `receive`: the body's messages, then an empty end of body."""
        if self._read:
            return {"type": "http.request", "body": b"", "more_body": False}
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._read = True
            self._body_read.set()
        return message

    async def watch(self, handler: asyncio.Task[object]) -> None:
        """Once the body is read, wait for the client to go, and cancel `handler` then."""
        if not self._read:
            await self._body_read.wait()
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        handler.cancel()


async def unless_client_goes(
    respond: Callable[[Receive], Awaitable[Response]], receive: Receive, body: bool
) -> Response:
    """`respond(receive)`, cancelled if the client goes first (then a bare 499 no one receives)."""
    departure = Departure(receive, body)
    task = asyncio.current_task()
    assert task is not None
    watchers: list[asyncio.Task[None]] = []
    # Most reads end within a millisecond: the watch starts only for one still running after
    # WATCH_AFTER seconds, so an ordinary GET pays for a timer, not for a task of its own.
    timer = asyncio.get_running_loop().call_later(
        WATCH_AFTER, lambda: watchers.append(asyncio.create_task(departure.watch(task)))
    )
    try:
        return await respond(departure.receive)
    except asyncio.CancelledError:
        if not departure.gone:
            raise
        task.uncancel()
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    finally:
        timer.cancel()
        for watcher in watchers:
            watcher.cancel()
