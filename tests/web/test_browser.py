"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against a real
smartby server (uvicorn on a port) holding a small city written through the HTTP API.

Screenshots are saved under tests/artifacts/ (dashboard-laptop.png, dashboard-phone.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from conftest import LiveServer
from smartby.settings import Settings
from web.readmodel import testbed as tb

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LIGHT = "urn:ngsi-ld:Streetlight:vesterbro-0001"
LIVE_LIGHT = "urn:ngsi-ld:Streetlight:vesterbro-0003"
WEST, SOUTH = 12.52, 55.66
NO_VALUE = "\u2013"
"""What a tile shows before it has a value (an en dash)."""
POWER_STATE = "document.querySelector('#device-attributes tr[data-attribute=powerState] td')?.textContent"


def spot(n: int) -> tuple[float, float]:
    """Devices on a grid 0.004° apart (about 250 m), so each marker can be clicked alone."""
    return WEST + 0.004 * (n % 12), SOUTH + 0.003 * (n // 12)


STREETLIGHTS = [("on", "ok")] * 11 + [("low", "ok")] * 3 + [("off", "ok")] * 4 + [("on", "columnIssue")] * 2
"""(powerState, status) of vesterbro-0001 ... -0020: 11 on, 3 dimmed, 4 off, 2 failed."""


def city(now: datetime) -> list[tb.Body]:
    bodies = [
        tb.district(
            "vesterbro",
            "Vesterbro",
            [(12.51, 55.65), (12.57, 55.65), (12.57, 55.68), (12.51, 55.68), (12.51, 55.65)],
        ),
        tb.district(
            "norrebro",
            "Nørrebro",
            [(12.51, 55.68), (12.57, 55.68), (12.57, 55.70), (12.51, 55.70), (12.51, 55.68)],
        ),
        tb.grid_signal(640.0, 110.0, now),
    ]
    n = 0

    def at() -> tuple[float, float]:
        nonlocal n
        n += 1
        return spot(n - 1)

    for i, (power, status) in enumerate(STREETLIGHTS):
        bodies.append(tb.streetlight(f"vesterbro-{i + 1:04d}", *at(), power, status, now))
    bodies += [tb.cabinet(f"vesterbro-{i}", *at(), 1200.0 + i, 2.0, now) for i in range(2)]
    bodies += [tb.counter(f"car-{i}", *at(), "car", 300.0 * i, 1500, now) for i in range(6)]
    bodies += [tb.counter(f"bike-{i}", *at(), "bicycle", 80.0 * i, 600, now) for i in range(3)]
    bodies += [tb.air_station(f"air-{i}", *at(), 30.0 + 60 * i, now) for i in range(3)]
    bodies += [tb.gauge(f"rain-{i}", *at(), [0.0, 0.1, 0.5, 3.0][i], 4.0, now) for i in range(4)]
    bodies += [tb.basin(f"basin-{i}", *at(), [0.5, 1.2, 1.7, 0.9][i], 2.0, now) for i in range(4)]
    bodies += [tb.building(f"b-{i}", *at()) for i in range(3)]
    bodies += [tb.heat_meter(f"b-{i}", *at(), 5000.0 * (i + 1), now) for i in range(3)]
    bodies += [
        tb.charger(f"ev-{i}", *at(), [4, 1, 0, 2][i], 4, "outOfService" if i == 3 else "working", now)
        for i in range(4)
    ]
    return bodies


MARKERS = len(STREETLIGHTS) + 2 + 6 + 3 + 3 + 4 + 4 + 3 + 3 + 4
"""Every device but the grid signal, which has no location."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("dashboard") / "city.db"
    settings = Settings(database=f"sqlite:///{database}", remote_contexts=False, _env_file=None)  # type: ignore[call-arg]
    live = LiveServer(settings)
    live.start()
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            tb.upsert_http_sync(http, city(now))
            hours = [(now - timedelta(hours=h), 20.0 + h % 5) for h in range(1, 30)]
            tb.http_history(http, "Streetlight", LIGHT, "powerConsumption", hours, "WTT")
        yield live.url
    finally:
        live.stop()


class Watched:
    """A page and what it said on its console, and which hosts it asked for things."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("request", lambda request: self.requests.append(request.url))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def open(self, url: str) -> Page:
        self.page.goto(url)
        self.page.wait_for_function(
            "() => window.smartby && window.smartby.firstDrawMs !== null", timeout=20_000
        )
        return self.page

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = Watched(context.new_page())
    try:
        yield page
        assert page.errors == [], page.errors
    finally:
        context.close()


def save(page: Page, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    with capsys.disabled():
        print(f"\n  screenshot: {path}")
    return path


def test_the_map_shows_every_device_and_the_tiles_show_numbers(
    server: str, watched: Watched, capsys: pytest.CaptureFixture[str]
) -> None:
    page = watched.open(server + "/")
    assert watched.js("smartby.devices") == MARKERS
    assert watched.js("smartby.drawn") == MARKERS
    assert page.locator("[data-count=lighting]").inner_text() == "(22)"
    page.wait_for_function(
        f"() => document.querySelector('#tile-water .figure').textContent !== '{NO_VALUE}'"
    )
    assert page.locator("#tile-water .figure").inner_text() == "1"  # basin-2: 1.7 of 2.0 m
    assert "alert" in (page.locator("#tile-water").get_attribute("class") or "")
    assert page.locator("#tile-grid .figure").inner_text() == "640"
    assert (
        page.locator("#tile-lighting .tile-detail")
        .inner_text()
        .startswith("11 on, 3 dimmed, 4 off, 2 failed")
    )
    for domain in ("lighting", "traffic", "air", "water", "ev", "grid"):
        figure = page.locator(f"#tile-{domain} .figure").inner_text()
        assert figure != NO_VALUE and any(ch.isdigit() for ch in figure), (domain, figure)
    assert page.locator("#now").get_attribute("datetime")
    assert all(url.startswith(server) for url in watched.requests), watched.requests
    save(page, "dashboard-laptop.png", capsys)


def test_clicking_a_marker_shows_its_attributes_and_charts(server: str, watched: Watched) -> None:
    page = watched.open(server + "/")
    page.locator("#map-canvas").scroll_into_view_if_needed()
    where = watched.js(f"smartby.positionOf('{LIGHT}')")
    page.mouse.click(where["x"], where["y"])
    page.wait_for_function("() => window.smartby.chartPoints > 0", timeout=20_000)
    assert page.locator("#device-title").inner_text() == LIGHT
    assert (
        page.locator("#device-attributes tr[data-attribute=powerConsumption] td").first.inner_text() == "35 W"
    )
    charts = page.locator("#charts .chart")
    assert charts.count() >= 2
    consumption = page.locator("#charts .chart[aria-label^='powerConsumption']")
    assert int(consumption.get_attribute("data-points") or 0) >= 24
    assert consumption.locator("svg.main-svg").count() >= 1  # drawn by plotly.js
    assert "powerConsumption (W)" in page.locator("#charts figcaption").all_inner_texts()
    page.get_by_role("button", name="7 days (hourly mean)").click()
    page.wait_for_function(
        "() => document.querySelector('[data-span=\"7d\"]').getAttribute('aria-pressed') === 'true'"
        " && window.smartby.chartPoints > 0"
        " && /7 days/.test(document.querySelector('#charts-status').textContent)"
    )
    assert (
        int(page.locator("#charts .chart[aria-label^='powerConsumption']").get_attribute("data-points") or 0)
        >= 24
    )
    assert "device=" in page.url


def test_a_tile_links_into_the_map_filtered_to_its_domain(server: str, watched: Watched) -> None:
    page = watched.open(server + "/")
    page.locator("#tile-rain").click()
    page.wait_for_function("() => window.smartby.drawn === 4")
    assert watched.js("[...smartby.shown]") == ["rain"]
    assert page.get_by_role("checkbox", name="Rain").is_checked()
    assert not page.get_by_role("checkbox", name="Street lighting").is_checked()
    assert "domain=rain" in page.url
    other = watched.open(server + "/?domain=water,ev")
    assert watched.js("smartby.drawn") == 8
    other.get_by_role("button", name="Show all").click()
    other.wait_for_function(f"() => window.smartby.drawn === {MARKERS}")


def test_filters_and_search_work_from_the_keyboard(server: str, watched: Watched) -> None:
    page = watched.open(server + "/")
    lighting = page.get_by_role("checkbox", name="Street lighting")
    lighting.focus()
    page.keyboard.press("Space")
    page.wait_for_function(f"() => window.smartby.drawn === {MARKERS - 22}")
    assert not lighting.is_checked()
    search = page.get_by_label("Find a device by id")
    search.focus()
    page.keyboard.type("basin")
    page.wait_for_function("() => document.querySelectorAll('#search-results button').length === 4")
    assert page.locator("#search-status").inner_text() == "4 matching devices"
    page.keyboard.press("Enter")  # several match: the first result gets the focus
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.smartby.selected === 'urn:ngsi-ld:FloodMonitoring:basin-0'")
    search.fill(LIGHT)
    page.keyboard.press("Enter")  # an exact id opens it, and shows its domain again
    page.wait_for_function(f"() => window.smartby.selected === '{LIGHT}'")
    assert lighting.is_checked()
    canvas = page.get_by_role("img", name=f"City map of {MARKERS} devices.", exact=False)
    canvas.focus()
    before = watched.js(f"smartby.positionOf('{LIGHT}')")
    page.keyboard.press("+")
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(100)
    assert watched.js(f"smartby.positionOf('{LIGHT}')") != before
    for control in page.locator("input, button, select, canvas").all():
        name = control.evaluate(
            "e => e.labels && e.labels.length ? e.labels[0].textContent"
            " : (e.getAttribute('aria-label') || e.textContent)"
        )
        assert name.strip(), control.evaluate("e => e.outerHTML")


def test_a_new_reading_shows_up_without_reloading(server: str, watched: Watched) -> None:
    page = watched.open(f"{server}/?device={LIVE_LIGHT}")
    page.wait_for_function(f"() => {POWER_STATE} === 'on'")
    watched.js("window.notReloaded = true")
    with httpx.Client(base_url=server, timeout=30) as http:
        registered = http.post(
            "/ingest/v1/devices",
            json={
                "id": "light-3",
                "entityId": LIVE_LIGHT,
                "entityType": "Streetlight",
                "context": tb.CONTEXTS["Streetlight"],
            },
        )
        assert registered.status_code == 201, registered.text
        key = registered.json()["key"]
        sent = http.post(
            "/ingest/v1/devices/light-3/up",
            json={"powerState": "off", "powerConsumption": 0},
            headers={"X-API-Key": key},
        )
        assert sent.status_code == 204, sent.text
    page.wait_for_function(
        f"() => smartby.states[smartby.state[smartby.index.get('{LIVE_LIGHT}')]] === 'off'", timeout=20_000
    )
    page.wait_for_function(f"() => {POWER_STATE} === 'off'", timeout=20_000)
    assert watched.js("window.notReloaded") is True
    assert watched.js("smartby.updates") >= 1


def test_readable_on_a_phone(server: str, browser: Browser, capsys: pytest.CaptureFixture[str]) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, has_touch=True
    )
    try:
        watched = Watched(context.new_page())
        page = watched.open(f"{server}/?device={LIGHT}")
        page.wait_for_function("() => window.smartby.chartPoints > 0", timeout=20_000)
        assert watched.js("document.documentElement.scrollWidth") <= 390
        assert watched.js("smartby.drawn") == MARKERS
        canvas = page.locator("#map-canvas").bounding_box()
        assert canvas is not None and canvas["width"] > 300 and canvas["height"] >= 320
        tile = page.locator("#tile-lighting").bounding_box()
        assert tile is not None and tile["width"] < 200  # two tiles a row
        save(page, "dashboard-phone.png", capsys)
        assert watched.errors == []
    finally:
        context.close()
