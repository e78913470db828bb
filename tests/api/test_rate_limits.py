"""Rate limits (smartby.api.rate_limits, docs/security.md#rate-limits): per key and per client
address, in memory and in the real Redis at 127.0.0.1:6379 shared by two apps (two workers), 429
ProblemDetails with Retry-After, exempt liveness routes, and requests passing while Redis is down."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from prometheus_client import REGISTRY
from pydantic import ValidationError

from identity import IdentityProvider, secured
from smartby.api.app import create_app
from smartby.api.middleware import Application
from smartby.assembly import assemble
from smartby.records.audit import AuditFilter
from smartby.settings import Settings

REDIS = "redis://127.0.0.1:6379/0"
ENTITIES = "/ngsi-ld/v1/entities?type=Streetlight"


def limited(tmp_path: Path, provider: IdentityProvider, **limits: str) -> Settings:
    """Authentication required, the rate limits `limits` (none where not given), counters of their own."""
    settings = Settings(  # type: ignore[call-arg]
        database=f"sqlite:///{tmp_path / 'city.db'}", remote_contexts=False, _env_file=None
    )
    return secured(settings, provider).model_copy(
        update={
            "rate_limit": "",
            "rate_limit_address": "",
            "rate_limit_prefix": f"test-{uuid.uuid4().hex}",
            **limits,
        }
    )


@asynccontextmanager
async def workers(
    settings: Settings, count: int = 1
) -> AsyncIterator[tuple[list[Application], dict[str, str]]]:
    """`count` apps on one database (as many workers), and the keys of a reader and a writer of
    tenant aarhus."""
    parts = assemble(settings)
    await parts.broker.open()
    apps = [create_app(parts) for _ in range(count)]
    try:
        keyring = apps[0].state.keyring
        await keyring.records.create_tenant("aarhus")
        keys = {role: (await keyring.create(role, ["aarhus"], role))[1] for role in ("reader", "writer")}
        yield apps, keys
    finally:
        for app in apps:
            await app.state.rate_limits.close()
        await parts.broker.close()


def client(app: Application, address: str = "10.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://smartby.test"
    )


def as_(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "NGSILD-Tenant": "aarhus"}


def refused(kind: str) -> float:
    return REGISTRY.get_sample_value("smartby_rate_limited_total", {"limit": kind}) or 0.0


def assert_too_many(response: httpx.Response, limit: int, window: int = 60) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == 429 and body["title"] == "Too many requests"
    assert body["type"] == "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest"
    assert response.headers["content-type"] == "application/json"
    retry = int(response.headers["retry-after"])
    assert 1 <= retry <= window and body["retryAfter"] == retry
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    return body


async def test_a_key_over_its_limit_is_refused_and_another_key_is_not(
    tmp_path: Path, provider: IdentityProvider
) -> None:
    before = refused("principal")
    async with (
        workers(limited(tmp_path, provider, rate_limit="3/minute")) as (apps, keys),
        client(apps[0]) as http,
        client(apps[0], "10.0.0.2") as elsewhere,
    ):
        for _ in range(2):
            assert (await http.get(ENTITIES, headers=as_(keys["reader"]))).status_code == 200
        assert (await elsewhere.get(ENTITIES, headers=as_(keys["reader"]))).status_code == 200
        # the fourth request of the key, from whichever address
        body = assert_too_many(await http.get(ENTITIES, headers=as_(keys["reader"])), 3)
        assert "key or token" in body["detail"]
        assert_too_many(await elsewhere.get(ENTITIES, headers=as_(keys["reader"])), 3)
        assert (await http.get(ENTITIES, headers=as_(keys["writer"]))).status_code == 200
        # no key: refused by the access check, not counted against any key
        assert (await http.get(ENTITIES)).status_code == 401
        # each 429 is in the audit log, with whose key and what was asked (docs/audit.md)
        logged, _ = await apps[0].state.broker.audit.records(AuditFilter(outcome="refused 429"))
        assert [(r.actor, r.operation) for r in logged] == [("reader", "GET /ngsi-ld/v1/entities")] * 2
    assert refused("principal") == before + 2


async def test_an_address_over_its_limit_is_refused_whatever_it_presents(
    tmp_path: Path, provider: IdentityProvider
) -> None:
    before = refused("address")
    async with (
        workers(limited(tmp_path, provider, rate_limit_address="4/minute")) as (apps, keys),
        client(apps[0]) as http,
        client(apps[0], "10.0.0.2") as elsewhere,
    ):
        assert (await http.get(ENTITIES)).status_code == 401  # counted too
        for role in ("reader", "writer", "reader"):
            assert (await http.get(ENTITIES, headers=as_(keys[role]))).status_code == 200
        body = assert_too_many(await http.get(ENTITIES, headers=as_(keys["writer"])), 4)
        assert "client address" in body["detail"]
        assert_too_many(await http.get(ENTITIES), 4)
        # liveness, readiness and the version are never refused
        for _ in range(3):
            for path in ("/health", "/health/ready", "/version"):
                assert (await http.get(path)).status_code == 200, path
        assert (await elsewhere.get(ENTITIES, headers=as_(keys["writer"]))).status_code == 200
    assert refused("address") == before + 2


async def test_a_large_limit_is_counted_in_steps_and_refused_within_one(
    tmp_path: Path, provider: IdentityProvider
) -> None:
    """200 a minute is handed to `limits` two requests at a time: the 202nd is refused, and those
    after it without asking `limits` again."""
    async with (
        workers(limited(tmp_path, provider, rate_limit="200/minute")) as (apps, keys),
        client(apps[0]) as http,
    ):
        answers = [
            (await http.get("/ngsi-ld/v1/types", headers=as_(keys["reader"]))).status_code for _ in range(205)
        ]
        assert answers[:201] == [200] * 201 and answers[201:] == [429] * 4
        assert_too_many(await http.get("/ngsi-ld/v1/types", headers=as_(keys["reader"])), 200)


async def test_workers_share_the_count_in_redis_not_in_memory(
    tmp_path: Path, provider: IdentityProvider
) -> None:
    shared = limited(tmp_path, provider, rate_limit="4/minute", rate_limit_storage=REDIS)
    prefix = shared.rate_limit_prefix
    try:
        async with (
            workers(shared, count=2) as (apps, keys),
            client(apps[0]) as first,
            client(apps[1]) as second,
        ):
            for http in (first, second, first, second):
                assert (await http.get(ENTITIES, headers=as_(keys["reader"]))).status_code == 200
            assert_too_many(await first.get(ENTITIES, headers=as_(keys["reader"])), 4)
            assert_too_many(await second.get(ENTITIES, headers=as_(keys["reader"])), 4)
            assert (await second.get(ENTITIES, headers=as_(keys["writer"]))).status_code == 200
        store = redis.asyncio.Redis.from_url(REDIS)
        try:
            assert [key async for key in store.scan_iter(match=f"LIMITS:*{prefix}*")]
        finally:
            await store.aclose()
    finally:
        await _forget(prefix)
    separate = limited(tmp_path / "memory", provider, rate_limit="4/minute")
    async with (
        workers(separate, count=2) as (apps, keys),
        client(apps[0]) as first,
        client(apps[1]) as second,
    ):
        for http in (first, second) * 4:
            assert (await http.get(ENTITIES, headers=as_(keys["reader"]))).status_code == 200
        assert_too_many(await first.get(ENTITIES, headers=as_(keys["reader"])), 4)


async def test_a_sliding_window_in_redis_refuses_the_same(tmp_path: Path, provider: IdentityProvider) -> None:
    settings = limited(
        tmp_path,
        provider,
        rate_limit_address="2/10 seconds",
        rate_limit_storage=REDIS,
        rate_limit_strategy="sliding-window-counter",
    )
    try:
        async with workers(settings) as (apps, keys), client(apps[0]) as http:
            for _ in range(2):
                assert (await http.get(ENTITIES, headers=as_(keys["reader"]))).status_code == 200
            assert_too_many(await http.get(ENTITIES, headers=as_(keys["reader"])), 2, window=10)
    finally:
        await _forget(settings.rate_limit_prefix)


async def test_requests_pass_while_redis_is_down(
    tmp_path: Path, provider: IdentityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    down = limited(
        tmp_path,
        provider,
        rate_limit="1/minute",
        rate_limit_address="1/minute",
        rate_limit_storage="redis://127.0.0.1:1/0",
    )
    with caplog.at_level(logging.WARNING, logger="smartby.api"):
        async with workers(down) as (apps, keys), client(apps[0]) as http:
            for _ in range(3):
                assert (await http.get(ENTITIES, headers=as_(keys["reader"]))).status_code == 200
    warnings = [r for r in caplog.records if "not reachable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per request


def test_rate_limit_settings_are_checked() -> None:
    for update in (
        {"rate_limit": "many"},
        {"rate_limit_address": "1/second;10/minute"},
        {"rate_limit_storage": "memcached://127.0.0.1"},
    ):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, **update)  # type: ignore[call-arg, arg-type]
    assert Settings(_env_file=None, rate_limit=" ").rate_limit == ""  # type: ignore[call-arg]


async def test_no_limits_with_authentication_off(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        database=f"sqlite:///{tmp_path / 'open.db'}",
        remote_contexts=False,
        _env_file=None,
        rate_limit_address="1/minute",
    )
    parts = assemble(settings)
    await parts.broker.open()
    try:
        async with client(create_app(parts)) as http:
            for _ in range(3):
                assert (await http.get(ENTITIES)).status_code == 200
    finally:
        await parts.broker.close()


async def _forget(prefix: str) -> None:
    store = redis.asyncio.Redis.from_url(REDIS)
    try:
        found = [key async for key in store.scan_iter(match=f"LIMITS:*{prefix}*")]
        if found:
            await store.delete(*found)
    finally:
        await store.aclose()
