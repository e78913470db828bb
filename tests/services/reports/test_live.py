"""A citizen's app against a real HTTP server: a report posted form-encoded (as GeoReport v2 clients
send it) over a real socket, read back in both formats."""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree

import httpx
import pytest

from conftest import LiveServer
from services.reports.city import LAT, LON, OPEN311
from smartby.settings import Settings
from smartby.sim.city import build_city
from smartby.sim.reports import PROBLEMS, citizen_reports
from smartby.sim.targets import SmartbyTarget


@pytest.fixture
def reports_server(settings: Settings) -> LiveServer:
    return LiveServer(settings.model_copy(update={"services": ["reports"]}))


def test_a_form_encoded_report_over_http(reports_server: LiveServer) -> None:
    reports_server.start()
    try:
        with httpx.Client(base_url=reports_server.url) as client:
            answer = client.post(
                f"{OPEN311}/requests.json",
                content=f"service_code=pothole&lat={LAT}&long={LON}&description=Hul+i+vejen&email=a%40b.dk".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            )
            assert answer.status_code == 200, answer.text
            [created] = answer.json()
            assert created["account_id"] is None and created["service_notice"]
            request_id = created["service_request_id"]
            [shown] = client.get(f"{OPEN311}/requests/{request_id}.json").json()
            assert (shown["description"], shown["status"]) == ("Hul i vejen", "open")
            root = ElementTree.fromstring(client.get(f"{OPEN311}/requests.xml").content)
            assert [r.findtext("service_request_id") for r in root.findall("request")] == [request_id]
            assert "a@b.dk" not in client.get(f"{OPEN311}/requests/{request_id}.xml").text
            refused = client.post(f"{OPEN311}/requests.json", data={"service_code": "pothole"})
            assert refused.status_code == 400
            assert refused.json()[0]["code"] == 400
    finally:
        reports_server.stop()


def test_the_testbeds_citizens_reports_are_taken(reports_server: LiveServer) -> None:
    """`smartby demo`'s reports (sim/reports.py), sent by the testbed's target as it sends them."""
    city = build_city(300, 1)
    reports_server.start()
    try:

        async def send() -> list[str | None]:
            target = SmartbyTarget(reports_server.url)
            try:
                return [await target.report(fields) for fields in citizen_reports(city, 1)]
            finally:
                await target.close()

        notices = asyncio.run(send())
        with httpx.Client(base_url=reports_server.url) as client:
            listed = client.get(f"{OPEN311}/requests.json").json()
    finally:
        reports_server.stop()
    assert all(notices) and len(notices) == len(PROBLEMS)
    assert sorted(request["service_code"] for request in listed) == sorted(code for code, _, _ in PROBLEMS)
