"""The API's part of the audit log (docs/audit.md): who acts in each request, and the record of a
write that no transaction recorded (one that failed, or changed nothing through the broker).

`Auditing` wraps the dispatcher (and access control's `Guard`, which names the actor once it knows
the key or token): it sets the request's `Action`, with the actor `anonymous` while authentication
is off and `device:<id>` for a device's uplink, and the operation `METHOD /route/{template}` of a
write (a POST that queries is a read). A write the broker or the store recorded in its
transaction (`Action.recorded`) is not recorded again; any other write is recorded once answered,
with its outcome (`ok`, `partial` for a 207, `<status> <error type>`), collected and written in
small batches like refusals.
"""

from __future__ import annotations

from urllib.parse import unquote

import orjson
from starlette.types import Message, Receive, Scope, Send

from smartby.api.access import READS, needed, route_of, tenant_of
from smartby.api.middleware import Inner, Layer
from smartby.broker import DEFAULT_TENANT
from smartby.broker.audit import AuditLog
from smartby.records import audit

MOST_ERROR_BYTES = 16_384
"""Of an error's body, what is read for its type."""
_UPLINK = "/ingest/v1/devices/"


def _actor(path: str, authenticated: bool) -> str:
    if path.startswith(_UPLINK) and path.endswith("/up"):
        return "device:" + unquote(path[len(_UPLINK) : -len("/up")])
    return "unauthenticated" if authenticated else audit.ANONYMOUS


def outcome(status: int, body: bytes) -> str:
    """How a write went, from its answer."""
    if status == 207:
        return audit.PARTIAL
    if status < 400:
        return audit.OK
    try:
        problem = orjson.loads(body)
        kind = problem.get("type") if isinstance(problem, dict) else None
    except orjson.JSONDecodeError:
        kind = None
    return f"{status} {kind.rsplit('/', 1)[-1]}" if isinstance(kind, str) else str(status)


class Auditing(Layer):
    """The ASGI layer that says who acts in each request, and records writes no transaction did."""

    def __init__(self, inner: Inner, authenticated: bool) -> None:
        super().__init__(inner)
        self.authenticated = authenticated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        write = method not in READS and method != "OPTIONS" and needed(method, path)[0] != "reader"
        operation = f"{method} {route_of(path) or path}" if write else None
        action = audit.Action(
            actor=_actor(path, self.authenticated),
            tenant=tenant_of(scope),
            operation=operation,
            target=unquote(path),
        )
        with audit.acting(action):
            if not write:
                await self.inner(scope, receive, send)
                return
            status = 500
            error: list[bytes] = []

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    for name, value in message.get("headers", ()):
                        if name.lower() == b"location":  # what a POST made: its id, not the collection
                            action.target = unquote(value.decode("latin-1"))
                elif status >= 400 and sum(map(len, error)) < MOST_ERROR_BYTES:
                    error.append(message.get("body", b""))
                await send(message)

            try:
                await self.inner(scope, receive, sending)
            finally:
                if not action.recorded:
                    log: AuditLog = self.inner.state.broker.audit
                    log.add(
                        audit.record(
                            action.tenant or DEFAULT_TENANT,
                            operation or method,
                            action.target or "",
                            outcome(status, b"".join(error)),
                        )
                    )
