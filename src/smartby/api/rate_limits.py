"""Rate limits per client address and per key or token (docs/security.md#rate-limits), counted by
`limits` in memory (one process) or in Redis (every worker and host of a city shares the count).

Two layers count: `by_address` outside the access check (every request, including those refused a
401), `by_principal` inside it (requests that passed it, by the principal `Guard` leaves in
`scope["state"]`). A request over a limit is answered 429 with `Retry-After`. The liveness and
version routes are never counted. When the store cannot be reached, requests pass (fail open) and
a warning is logged: a Redis outage must not take the API down with it.

Each layer hands its count to `limits` in steps (`step`: 1 % of the limit, at most `MAX_STEP`
requests, 1 for a limit under 200), and refuses a client it was refused for locally until the
window ends: one call of `limits` (one Redis round trip) per step rather than per request, so a
limit costs a dictionary lookup on most requests. A client may pass a limit by less than a step
per process before it is refused.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from starlette.types import Receive, Scope, Send

from smartby.api.access import record_refusal
from smartby.api.middleware import Inner, Layer
from smartby.api.problems import problem_response
from smartby.metrics import RATE_LIMITED
from smartby.ngsild.errors import NgsiLdError
from smartby.settings import Settings

log = logging.getLogger("smartby.api")

EXEMPT = frozenset({"/health", "/health/", "/health/ready", "/health/ready/", "/version", "/version/"})
"""Never counted: a liveness probe or a load balancer's health check must not be refused."""
MAX_STEP = 50
"""Most requests a layer counts locally before it hands them to `limits` at once."""
MAX_CLIENTS = 100_000
"""Clients a layer keeps local counts of; past it they are dropped (and start again)."""
OUTAGE_SECONDS = 10.0
"""After the store failed, requests pass uncounted this long before it is tried again."""
REDIS_TIMEOUT = 1.0
"""Seconds a Redis connection or command may take before the store counts as down."""
STRATEGIES: dict[str, Callable[[Storage], RateLimiter]] = {
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "moving-window": MovingWindowRateLimiter,
}


class TooManyRequests(NgsiLdError):
    """HTTP 429 (RFC 6585). NGSI-LD has no error type for it: as 403 Forbidden, it is an
    InvalidRequest whose status says why."""

    type_name = "InvalidRequest"
    status = 429
    title = "Too many requests"


class RateLimits:
    """The counters of one process: a `limits` strategy on a storage, and the limits it counts."""

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.rate_limit_prefix
        self.per_principal = parse(settings.rate_limit) if settings.rate_limit else None
        self.per_address = parse(settings.rate_limit_address) if settings.rate_limit_address else None
        self._pool: ConnectionPool | None = None
        self.limiter = STRATEGIES[settings.rate_limit_strategy](self._storage(settings.rate_limit_storage))
        self._down_until = 0.0

    def _storage(self, url: str) -> Storage:
        if url.startswith("memory://"):
            return MemoryStorage()
        self._pool = ConnectionPool.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        options: dict[str, Any] = {"connection_pool": self._pool}
        return RedisStorage(
            "async+" + url, wrap_exceptions=True, implementation="redispy", key_prefix="LIMITS", **options
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    def by_address(self, inner: Inner) -> Inner:
        """`inner` behind the limit per client address (unchanged when there is none)."""
        if self.per_address is None:
            return inner
        return Throttle(inner, self, self.per_address, "address", _address)

    def by_principal(self, inner: Inner) -> Inner:
        """`inner` behind the limit per key or token (unchanged when there is none)."""
        if self.per_principal is None:
            return inner
        return Throttle(inner, self, self.per_principal, "principal", _principal)

    async def refused_until(self, item: RateLimitItem, kind: str, who: str, cost: int) -> float | None:
        """Counts `cost` requests of `who`: None when they are within `item` (or the store is down),
        else when (seconds since the epoch) `who` may make a request again."""
        if self._down_until:
            if time.monotonic() < self._down_until:
                return None
            self._down_until = 0.0
        try:
            if await self.limiter.hit(item, self.prefix, kind, who, cost=cost):
                return None
            return (await self.limiter.get_window_stats(item, self.prefix, kind, who)).reset_time
        except StorageError as error:
            self._down_until = time.monotonic() + OUTAGE_SECONDS
            log.warning(
                "Rate limits not counted for %.0f s: their store is not reachable (%s)",
                OUTAGE_SECONDS,
                error.storage_error,
            )
            return None


_NOUN = {"address": "client address", "principal": "key or token"}


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _address(scope: Scope) -> str | None:
    client = scope.get("client")
    return None if client is None or scope["path"] in EXEMPT else str(client[0])


def _principal(scope: Scope) -> str | None:
    state = scope.get("state")
    who = None if state is None else state.get("principal")
    return None if who is None else str(who.name)


class Throttle(Layer):
    """The ASGI layer that counts each request against one limit and answers 429 past it."""

    def __init__(
        self,
        inner: Inner,
        limits: RateLimits,
        item: RateLimitItem,
        kind: str,
        who: Callable[[Scope], str | None],
    ) -> None:
        super().__init__(inner)
        self.limits = limits
        self.item = item
        self.kind = kind
        self.who = who
        self.step = max(1, min(MAX_STEP, item.amount // 100))
        self._uncounted: dict[str, int] = {}
        """Requests of each client let through and not yet handed to `limits`."""
        self._refused: dict[str, float] = {}
        """Clients `limits` refused, until when (seconds since the epoch)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            who = self.who(scope)
            if who is not None:
                until = self._refused.get(who) if self._refused else None
                if until is None or until <= time.time():
                    if until is not None:
                        del self._refused[who]
                    until = await self._count(who)
                if until is not None:
                    await self._refuse(until, scope, receive, send)
                    return
        await self.inner(scope, receive, send)

    async def _count(self, who: str) -> float | None:
        uncounted = self._uncounted.get(who, 0) + 1
        if uncounted < self.step:
            self._uncounted[who] = uncounted
            return None
        if len(self._uncounted) >= MAX_CLIENTS:
            self._uncounted.clear()
        self._uncounted[who] = 0
        until = await self.limits.refused_until(self.item, self.kind, who, uncounted)
        if until is not None:
            if len(self._refused) >= MAX_CLIENTS:
                self._refused.clear()
            self._refused[who] = until
        return until

    async def _refuse(self, until: float, scope: Scope, receive: Receive, send: Send) -> None:
        RATE_LIMITED.labels(self.kind).inc()
        retry = max(1, math.ceil(until - time.time()))
        detail = (
            f"More than {self.item.amount} requests per {_window(self.item)} from this "
            f"{_NOUN[self.kind]}; retry in {retry} s"
        )
        record_refusal(self.inner.state, scope["method"], scope["path"], 429, detail)
        refused = TooManyRequests(detail, retryAfter=retry)
        headers = {
            "Retry-After": str(retry),
            "RateLimit-Limit": str(self.item.amount),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(retry),
        }
        await problem_response(refused, headers)(scope, receive, send)
