"""The dashboard where authentication is on (docs/security.md), in a real browser: it asks for an API
key, keeps it in the tab, and then shows the city; its page carries a Content-Security-Policy that
the page itself never breaks (a violation is a console error, and fails the test)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from conftest import LiveServer
from smartby.api.keyring import Keyring
from smartby.settings import Settings
from smartby.store import open_store
from web.readmodel import testbed as tb
from web.test_browser import Watched


async def _keys(settings: Settings) -> dict[str, str]:
    store = open_store(settings.database, settings)
    await store.open()
    try:
        keyring = Keyring(store)
        return {role: (await keyring.create(role, [""], role))[1] for role in ("reader", "writer")}
    finally:
        await store.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    database = tmp_path_factory.mktemp("login") / "city.db"
    settings = Settings(
        database=f"sqlite:///{database}", remote_contexts=False, auth="required", _env_file=None
    )  # type: ignore[call-arg]
    keys = asyncio.run(_keys(settings))
    live = LiveServer(settings)
    live.start()
    try:
        with httpx.Client(base_url=live.url, timeout=30, headers={"X-Api-Key": keys["writer"]}) as http:
            tb.upsert_http_sync(
                http, [tb.streetlight("login-0001", 12.55, 55.67, "on", "ok", datetime.now(UTC))]
            )
        yield live.url, keys
    finally:
        live.stop()


def test_the_dashboard_asks_for_a_key_and_then_shows_the_city(
    server: tuple[str, dict[str, str]], browser: Browser, tmp_path: Path
) -> None:
    url, keys = server
    page_response = httpx.get(f"{url}/")
    policy = page_response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "'sha256-" in policy and "frame-ancestors 'none'" in policy
    assert httpx.get(f"{url}/dashboard/api/devices").status_code == 401
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    watched = Watched(context.new_page())
    try:
        page = watched.page
        page.goto(url)
        page.wait_for_selector("#login:not([hidden])", timeout=20_000)
        page.fill("#login-key", "0123456789abcdef.wrong")
        page.click("#login button[type=submit]")
        page.wait_for_function(
            "() => document.querySelector('#login-status').textContent.includes('not accepted')",
            timeout=20_000,
        )
        page.fill("#login-key", keys["reader"])
        page.click("#login button[type=submit]")
        page.wait_for_function("() => window.smartby && window.smartby.firstDrawMs !== null", timeout=20_000)
        assert page.is_hidden("#login")
        assert watched.js("window.smartby.ids") == ["urn:ngsi-ld:Streetlight:login-0001"]
        # Failed requests for the API before the key was given are logged by the browser; nothing else.
        assert [error for error in watched.errors if "401" not in error] == []
    finally:
        context.close()
