"""The city services on the dashboard, in a real browser (Debian's Chromium through Playwright)
against a real server running the freshness service: open alerts listed newest first, a click
goes to the device on the map and its panel, the service's indicator as a tile, and an alert that
closes when its device reports again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser

from conftest import LiveServer
from smartby.settings import Settings
from web.readmodel import testbed as tb
from web.test_browser import Watched

SILENT = "urn:ngsi-ld:Streetlight:vesterbro-0003"
RING = [(12.51, 55.65), (12.57, 55.65), (12.57, 55.68), (12.51, 55.68), (12.51, 55.65)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("alerts") / "city.db"
    settings = Settings(  # type: ignore[call-arg]
        database=f"sqlite:///{database}",
        remote_contexts=False,
        services=["freshness"],
        services_poll_interval=0.1,
        freshness_max_silence=1800.0,
        freshness_period=1.0,
        _env_file=None,
    )
    live = LiveServer(settings)
    live.start()
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            bodies = [tb.district("vesterbro", "Vesterbro", RING)]
            for n in range(1, 4):
                observed = now - timedelta(hours=2) if n == 3 else now
                bodies.append(
                    tb.streetlight(f"vesterbro-{n:04d}", 12.52 + 0.004 * n, 55.66, "on", "ok", observed)
                )
            tb.upsert_http_sync(http, bodies)
        yield live.url
    finally:
        live.stop()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = Watched(context.new_page())
    try:
        yield page
        assert page.errors == [], page.errors
    finally:
        context.close()


def test_an_open_alert_leads_to_its_device_and_closes_when_it_reports(server: str, watched: Watched) -> None:
    page = watched.open(server + "/")
    page.wait_for_function("() => window.smartby.alerts === 1", timeout=30_000)
    alert = page.locator("#alerts button")
    assert alert.count() == 1
    assert alert.get_attribute("data-source") == SILENT
    assert alert.inner_text().startswith(f"deviceNotReporting: {SILENT}")
    assert page.locator("#alerts-status").inner_text() == "1 open alert, newest first"
    share = page.locator("#indicators .tile[data-kpi$='freshness:devices-reporting']")
    assert share.locator(".tile-title").inner_text() == "Devices reporting"
    assert share.locator(".figure").inner_text().startswith("66")
    assert share.locator(".unit").inner_text() == "%"
    alert.click()
    page.wait_for_function(f"() => document.querySelector('#device-title').textContent === '{SILENT}'")
    assert watched.js("smartby.selected") == SILENT
    page.wait_for_selector("#device-alerts li.open")
    assert "deviceNotReporting (freshness)" in page.locator("#device-alerts li.open").inner_text()
    # The device reports again: the service closes the alert, the page shows it closed.
    reading = {
        "type": "Property",
        "value": 35.0,
        "unitCode": "WTT",
        "observedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with httpx.Client(base_url=server, timeout=30) as http:
        answer = http.patch(f"/ngsi-ld/v1/entities/{SILENT}/attrs", json={"powerConsumption": reading})
        assert answer.status_code == 204, answer.text
    page.wait_for_function("() => window.smartby.alerts === 0", timeout=30_000)
    assert page.locator("#alerts-status").inner_text() == "No open alerts."
    page.wait_for_selector("#device-alerts li.closed", timeout=30_000)
    assert "ended" in page.locator("#device-alerts li.closed").inner_text()
