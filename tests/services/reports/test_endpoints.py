"""Tests for services/reports/endpoints.py and georeport.py through the ASGI app, on both backends:
every route in JSON and XML as GeoReport v2 defines them, the filters of the requests list, every
error in Open311's format (never a 500), and the reporter's contact in no response."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx
import pytest

from conftest import free_port
from receiver import Receiver
from services.reports.city import LAT, LON, OPEN311, City
from smartby.services.reports.catalogue import BY_CODE
from smartby.services.reports.reports import entity_id
from smartby.services.reports.vocabulary import REPORTS_CONTEXT

CODES = ["streetlight-out", "flooding", "blocked-drain", "pothole", "damaged-sign", "litter"]
CONTACT = {
    "email": "secret.reporter@example.dk",
    "first_name": "Hemmelig",
    "last_name": "Borgersen",
    "phone": "+4599887766",
    "device_id": "device-4a7f",
    "account_id": "account-981",
}
LINK = {"Link": f'<{REPORTS_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"'}


def xml(answer: httpx.Response) -> ElementTree.Element:
    assert answer.headers["content-type"].startswith("text/xml"), answer.headers
    return ElementTree.fromstring(answer.content)


def assert_error(answer: httpx.Response, status: int, words: str, fmt: str = "json") -> None:
    assert answer.status_code == status, answer.text
    if fmt == "xml":
        root = xml(answer)
        assert root.tag == "errors"
        [error] = root.findall("error")
        assert error.findtext("code") == str(status)
        assert words in (error.findtext("description") or "")
    else:
        assert answer.headers["content-type"].startswith("application/json")
        [error] = answer.json()
        assert error["code"] == status and words in error["description"], error


async def test_the_service_list_in_json_and_xml(city: City) -> None:
    async with city.http() as client:
        listed = (await client.get(f"{OPEN311}/services.json")).json()
        root = xml(await client.get(f"{OPEN311}/services.xml"))
    assert [service["service_code"] for service in listed] == CODES
    for service in listed:
        assert service["metadata"] is False and service["type"] == "realtime"
        assert service["group"] and service["keywords"] and service["service_name"]
    assert "Gadelys slukket" in listed[0]["description"]
    assert root.tag == "services"
    assert [item.findtext("service_code") for item in root.findall("service")] == CODES
    assert root.find("service/metadata") is not None and root.findtext("service/metadata") == "false"


@pytest.mark.parametrize("code", CODES)
async def test_each_service_definition(city: City, code: str) -> None:
    async with city.http() as client:
        assert (await client.get(f"{OPEN311}/services/{code}.json")).json() == {
            "service_code": code,
            "attributes": [],
        }
        root = xml(await client.get(f"{OPEN311}/services/{code}.xml"))
    assert (root.tag, root.findtext("service_code")) == ("service_definition", code)


async def test_a_report_posted_as_json_or_form_is_a_service_request_and_an_issue_reporting(
    city: City,
) -> None:
    async with city.http() as client:
        answer = await client.post(
            f"{OPEN311}/requests.xml",
            json={
                "service_code": "pothole",
                "lat": LAT,
                "long": LON,
                "description": "Hul",
                "media_url": "https://img.example/1.jpg",
            },
        )
        root = xml(answer)
        assert root.tag == "service_requests"
        request_id = root.findtext("request/service_request_id") or ""
        assert root.findtext("request/service_notice") and root.find("request/account_id") is not None
        formed = await city.report(
            client, service_code="litter", lat=LAT, long=LON, address_string="Rådhuspladsen 1"
        )
        shown = await city.request(client, request_id)
        assert shown["service_code"] == "pothole" and shown["status"] == "open"
        assert (shown["lat"], shown["long"], shown["description"]) == (LAT, LON, "Hul")
        assert shown["media_url"] == "https://img.example/1.jpg"
        assert shown["service_name"] == BY_CODE["pothole"].name
        assert shown["requested_datetime"].startswith("2026-12-21T15:00:00")
        one = xml(await client.get(f"{OPEN311}/requests/{request_id}.xml"))
        assert one.findtext("request/service_request_id") == request_id
        assert one.findtext("request/status") == "open"
        assert (await city.request(client, formed["service_request_id"]))["address"] == "Rådhuspladsen 1"
        entity = await client.get(
            f"/ngsi-ld/v1/entities/{entity_id(request_id)}", params={"options": "keyValues"}, headers=LINK
        )
    assert entity.status_code == 200, entity.text
    body = entity.json()
    assert body["type"] == "IssueReporting"
    assert (body["reportId"], body["service_code"], body["resolutionStatus"]) == (
        request_id,
        "pothole",
        "Open",
    )
    assert body["location"] == {"type": "Point", "coordinates": [LON, LAT]}


async def test_the_requests_list_filters(city: City) -> None:
    async with city.http() as client:
        city.clock.moment = city.clock.moment.replace(day=1)
        early = await city.report(client, service_code="pothole", lat=LAT, long=LON)
        city.clock.moment = city.clock.moment.replace(day=10)
        middle = await city.report(client, service_code="litter", lat=LAT, long=LON)
        city.clock.moment = city.clock.moment.replace(day=20)
        late = await city.report(client, service_code="pothole", lat=LAT, long=LON)
        await city.close(client, late["service_request_id"])

        async def ids(**params: str) -> list[str]:
            answer = await client.get(f"{OPEN311}/requests.json", params=params)
            assert answer.status_code == 200, answer.text
            return [request["service_request_id"] for request in answer.json()]

        everyone = [late, middle, early]
        assert await ids() == [r["service_request_id"] for r in everyone]  # newest first
        assert await ids(service_code="pothole") == [late["service_request_id"], early["service_request_id"]]
        assert await ids(service_code="pothole,litter") == await ids()
        assert await ids(status="closed") == [late["service_request_id"]]
        assert await ids(status="open") == [middle["service_request_id"], early["service_request_id"]]
        assert await ids(status="open,closed") == await ids()
        assert await ids(start_date="2026-12-05T00:00:00Z", end_date="2026-12-15") == [
            middle["service_request_id"]
        ]
        assert await ids(start_date="2026-12-10T16:00:00+01:00") == [
            late["service_request_id"],
            middle["service_request_id"],
        ]
        chosen = f"{early['service_request_id']},{late['service_request_id']}"
        assert await ids(service_request_id=chosen) == [
            late["service_request_id"],
            early["service_request_id"],
        ]
        root = xml(await client.get(f"{OPEN311}/requests.xml", params={"status": "closed"}))
        assert [r.findtext("status") for r in root.findall("request")] == ["closed"]


PLACED = {"service_code": "pothole", "lat": str(LAT), "long": str(LON)}
REFUSED_POSTS: list[tuple[dict[str, str], int, str]] = [
    ({"service_code": "pothole"}, 400, "location is required"),
    ({"service_code": "pothole", "lat": str(LAT)}, 400, "location is required"),
    (
        {"service_code": "pothole", "address_string": "Vesterbrogade 1"},
        400,
        "location is required (lat/long)",
    ),
    ({**PLACED, "service_code": "nope"}, 400, "Unknown service_code"),
    ({"lat": str(LAT), "long": str(LON)}, 400, "service_code is required"),
    ({**PLACED, "lat": "56.2", "long": "10.2"}, 400, "outside the city"),
    ({**PLACED, "lat": "north"}, 400, "lat must be"),
    ({**PLACED, "media_url": "ftp://x"}, 400, "media_url"),
    ({**PLACED, "email": "no-at-sign"}, 400, "email"),
    ({**PLACED, "description": "x" * 4001}, 400, "description"),
    ({**PLACED, "api_key": "not-a-key"}, 403, "not a valid API key"),
]
REFUSED_QUERIES: list[tuple[dict[str, str], str]] = [
    ({"start_date": "yesterday"}, "start_date"),
    ({"end_date": "2026-13-40"}, "end_date"),
    ({"start_date": "2026-12-05T10:00:00"}, "zone"),
    ({"service_code": "nope"}, "Unknown service_code"),
    ({"status": "pending"}, "Unknown status"),
    ({"service_request_id": "a b"}, "service_request_id"),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_input_gets_open311_errors(city: City, fmt: str) -> None:
    requests = f"{OPEN311}/requests.{fmt}"
    async with city.http() as client:
        for fields, status, words in REFUSED_POSTS:
            assert_error(await client.post(requests, data=fields), status, words, fmt)
        for params, words in REFUSED_QUERIES:
            assert_error(await client.get(requests, params=params), 400, words, fmt)
        broken = await client.post(requests, content=b"{nope", headers={"content-type": "application/json"})
        assert_error(broken, 400, "not valid JSON", fmt)
        assert_error(await client.post(requests, json=[1, 2]), 400, "JSON object", fmt)
        assert_error(
            await client.get(f"{OPEN311}/requests/0123456789ab.{fmt}"), 404, "No service request", fmt
        )
        assert_error(await client.get(f"{OPEN311}/services/nope.{fmt}"), 404, "No service", fmt)
        for path in ("/services.csv", "/services/pothole.html", "/requests.txt", "/requests/abc.yaml"):
            assert_error(await client.get(OPEN311 + path), 400, "Unknown format")
        assert_error(await client.post(f"{OPEN311}/requests.csv", data=PLACED), 400, "Unknown format")
    assert await city.alerts() == []


async def test_a_valid_api_key_is_accepted(city: City) -> None:
    async with city.http() as client:
        _, key = await client._transport.app.state.keyring.create("citizen-app", [""], "writer")  # type: ignore[attr-defined]
        answer = await client.post(
            f"{OPEN311}/requests.json",
            data={"service_code": "damaged-sign", "lat": str(LAT), "long": str(LON), "api_key": key},
        )
    assert answer.status_code == 200, answer.text


async def test_the_contact_is_in_no_response_nor_notification(city: City) -> None:
    receiver = Receiver(free_port())
    receiver.start()
    await city.group()
    await city.light(1)
    secrets = list(CONTACT.values())
    seen: list[bytes] = []
    try:
        async with city.http() as client:
            subscription = {
                "id": "urn:ngsi-ld:Subscription:reports",
                "type": "Subscription",
                "entities": [{"type": "IssueReporting"}],
                "notification": {"endpoint": {"uri": receiver.url}},
            }
            made = await client.post("/ngsi-ld/v1/subscriptions", json=subscription, headers=LINK)
            assert made.status_code == 201, made.text
            created = []
            for code in ("streetlight-out", "flooding", "pothole"):
                answer = await client.post(
                    f"{OPEN311}/requests.json",
                    data={"service_code": code, "lat": str(LAT), "long": str(LON), **CONTACT},
                )
                seen.append(answer.content)
                created.append(answer.json()[0]["service_request_id"])
            for request_id in created:
                assert await city.context.contacts.contact("", entity_id(request_id)) is not None
            reads = [f"{OPEN311}/requests.{fmt}" for fmt in ("json", "xml")]
            reads += [
                f"{OPEN311}/requests/{request_id}.{fmt}" for request_id in created for fmt in ("json", "xml")
            ]
            reads += [f"{OPEN311}/services.json", f"{OPEN311}/services.xml"]
            for path in reads:
                seen.append((await client.get(path)).content)
            for options in ("normalized", "keyValues", "sysAttrs"):
                params = {"type": "IssueReporting", "options": options}
                seen.append((await client.get("/ngsi-ld/v1/entities", params=params, headers=LINK)).content)
                seen.append(
                    (await client.get("/ngsi-ld/v1/entities", params={**params, "type": "Alert"})).content
                )
            for request_id in created:
                report = entity_id(request_id)
                seen.append((await client.get(f"/ngsi-ld/v1/entities/{report}")).content)
                seen.append((await client.get(f"/ngsi-ld/v1/temporal/entities/{report}")).content)
            seen.append((await client.get("/dashboard/api/devices")).content)
            seen.append((await client.get("/dashboard/api/alerts")).content)
            for request_id in created:
                seen.append((await client.get(f"/dashboard/api/devices/{entity_id(request_id)}")).content)
            seen.append((await client.get("/ngsi-ld/v1/attributes")).content)
        arrived = await receiver.wait_for_entities(len(created))
        assert len(set(arrived)) == len(created)
        seen.extend(repr(item.body).encode() for item in receiver.received)
    finally:
        receiver.stop()
    text = b"\n".join(seen).decode()
    assert created[0] in text  # the reads did show the reports
    for secret in secrets:
        assert secret not in text


async def test_reports_are_markers_and_a_tile_on_the_dashboard(city: City) -> None:
    async with city.http() as client:
        kept = await city.report(client, service_code="pothole", lat=LAT, long=LON)
        done = await city.report(client, service_code="litter", lat=LAT, long=LON + 0.001)
        await city.close(client, done["service_request_id"])
        markers = (await client.get("/dashboard/api/devices")).json()
        tiles = {
            tile["domain"]: tile for tile in (await client.get("/dashboard/api/overview")).json()["tiles"]
        }
    table = markers["devices"]
    shown = {
        marker: (markers["domains"][domain], markers["states"][state], lon, lat)
        for marker, domain, state, lon, lat in zip(
            table["id"], table["domain"], table["state"], table["lon"], table["lat"], strict=True
        )
    }
    assert shown[entity_id(kept["service_request_id"])] == ("reports", "open", LON, LAT)
    assert shown[entity_id(done["service_request_id"])][:2] == ("reports", "closed")
    assert (tiles["reports"]["value"], tiles["reports"]["figures"]) == (1, {"open": 1, "reports": 2})


async def test_text_xml_cannot_carry_is_replaced_in_xml_answers(city: City) -> None:
    async with city.http() as client:
        created = await city.report(
            client, service_code="litter", lat=LAT, long=LON, description="bin\x01full\nhelp"
        )
        root = xml(await client.get(f"{OPEN311}/requests/{created['service_request_id']}.xml"))
        assert root.findtext("request/description") == "bin\ufffdfull\nhelp"
        assert (await city.request(client, created["service_request_id"]))[
            "description"
        ] == "bin\x01full\nhelp"
