"""Tests for services/reports/routing.py and the closing in lighting's diagnosis.py, on both backends:
a street light out links to the nearest light within 50 m and opens a citizen-reported fault that
lighting closes when a reading after the report shows the light working; the report follows, and
its reporter's contact is deleted. Flooding opens a flood Alert at the place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.reports.city import LAT, LON, OPEN311, City, east
from smartby.services.reports.reports import entity_id
from smartby.services.reports.service import forget_old_contacts
from smartby.services.reports.vocabulary import REPORTS_CONTEXT

DAY = datetime(2026, 12, 21, tzinfo=UTC)  # sunset 14:37:59 UTC: lit from then at the full level
CONTACT = {"email": "borger@example.dk", "first_name": "Karen", "last_name": "Blixen", "phone": "+4512345678"}


def at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


async def lights(city: City) -> tuple[str, str, str]:
    """Three lights east of the place: 20 m, 40 m and 60 m away."""
    await city.group()
    return (
        await city.light(1, location={"type": "GeoProperty", "value": east(40)}),
        await city.light(2, location={"type": "GeoProperty", "value": east(20)}),
        await city.light(3, location={"type": "GeoProperty", "value": east(60)}),
    )


async def test_a_street_light_out_opens_a_fault_on_the_nearest_light_which_closes_when_it_works(
    city: City,
) -> None:
    _, nearest, _ = await lights(city)
    city.clock.moment = at(15)
    async with city.http() as client:
        created = await city.report(
            client, service_code="streetlight-out", lat=LAT, long=LON, description="Dark", **CONTACT
        )
        assert f"street light {nearest}" in created["service_notice"]
        assert created["account_id"] is None
        report = entity_id(created["service_request_id"])
        [alert] = await city.alerts()
        assert (alert["alertSource"], alert["subCategory"], alert["dataProvider"], alert["category"]) == (
            nearest,
            "citizenReported",
            "lighting",
            "technical",
        )
        assert alert["validFrom"]["@value"].startswith("2026-12-21T15:00:00")
        entity = await city.broker.retrieve_entity("", report)
        ctx = await city.broker.context([REPORTS_CONTEXT])
        assert entity[ctx.expand("refStreetlight")][0]["object"] == nearest
        assert entity[ctx.expand("refAlert")][0]["object"] == alert["id"]
        assert await city.context.contacts.contact("", report) is not None

        await city.power(nearest, at(14, 50), 100.0)  # working, but before the report: not judged so
        await city.power(nearest, at(15, 5), 0.0)  # still out
        await city.settle()
        [still] = await city.alerts()
        assert "validTo" not in still
        assert (await city.request(client, created["service_request_id"]))["status"] == "open"

        await city.power(nearest, at(15, 10), 97.0)  # lit and within the tolerance of 100 W
        await city.settle()
        closed = [a for a in await city.alerts() if a["subCategory"] == "citizenReported"]
        assert closed[0]["validTo"]["@value"].startswith("2026-12-21T15:10:00")
        shown = await city.request(client, created["service_request_id"])
        assert shown["status"] == "closed"
        assert await city.context.contacts.contact("", report) is None


async def test_a_second_report_of_the_same_light_joins_its_open_fault(city: City) -> None:
    _, nearest, _ = await lights(city)
    city.clock.moment = at(15)
    async with city.http() as client:
        first = await city.report(client, service_code="streetlight-out", lat=LAT, long=LON)
        city.clock.moment = at(15, 3)
        second = await city.report(client, service_code="streetlight-out", lat=LAT, long=LON)
        [alert] = await city.alerts()  # one fault: the second report joined it
        assert "street light" in second["service_notice"]
        await city.power(nearest, at(15, 10), 100.0)
        await city.settle()
        for created in (first, second):
            assert (await city.request(client, created["service_request_id"]))["status"] == "closed"
    [closed] = await city.alerts()
    assert closed["id"] == alert["id"] and "validTo" in closed


async def test_no_street_light_within_50_m_keeps_the_report_unrouted(city: City) -> None:
    await city.group()
    await city.light(3, location={"type": "GeoProperty", "value": east(60)})
    async with city.http() as client:
        created = await city.report(client, service_code="streetlight-out", lat=LAT, long=LON, **CONTACT)
        assert "no street light within 50 m" in created["service_notice"]
        shown = await city.request(client, created["service_request_id"])
        assert (shown["status"], shown["service_notice"]) == ("open", created["service_notice"])
    assert await city.alerts() == []
    entity = await city.broker.retrieve_entity("", entity_id(created["service_request_id"]))
    ctx = await city.broker.context([REPORTS_CONTEXT])
    assert ctx.expand("refStreetlight") not in entity


async def test_flooding_opens_a_flood_alert_at_the_place(city: City) -> None:
    city.clock.moment = at(16)
    async with city.http() as client:
        created = await city.report(client, service_code="flooding", lat=LAT, long=LON, email="a@b.dk")
        [alert] = await city.alerts()
        report = entity_id(created["service_request_id"])
        assert (alert["category"], alert["subCategory"], alert["alertSource"], alert["dataProvider"]) == (
            "weather",
            "flood",
            report,
            "reports",
        )
        assert alert["location"] == {"type": "Point", "coordinates": [LON, LAT]}
        # the city closes the alert (NGSI-LD): the report closes, its contact is deleted
        await city.context.results.close_alert("", alert["id"], at(18))
        await city.settle()
        assert (await city.request(client, created["service_request_id"]))["status"] == "closed"
    assert await city.context.contacts.contact("", report) is None


async def test_a_report_closed_through_ngsi_ld_has_its_contact_deleted(city: City) -> None:
    async with city.http() as client:
        created = await city.report(client, service_code="pothole", lat=LAT, long=LON, **CONTACT)
        report = entity_id(created["service_request_id"])
        assert await city.context.contacts.contact("", report) is not None
        await city.close(client, created["service_request_id"])
        await city.settle()
        assert (await city.request(client, created["service_request_id"]))["status"] == "closed"
    assert await city.context.contacts.contact("", report) is None


async def test_contacts_of_reports_never_closed_are_deleted_after_the_retention(city: City) -> None:
    async with city.http() as client:
        old = await city.report(client, service_code="litter", lat=LAT, long=LON, **CONTACT)
        city.clock.moment = at(15) + timedelta(days=100)
        recent = await city.report(client, service_code="litter", lat=LAT, long=LON, **CONTACT)
    city.clock.moment = at(15) + timedelta(days=181)
    await forget_old_contacts(city.context, city.clock.moment)
    contacts = city.context.contacts
    assert await contacts.contact("", entity_id(old["service_request_id"])) is None
    assert await contacts.contact("", entity_id(recent["service_request_id"])) is not None
    async with city.http() as client:
        assert (await client.get(f"{OPEN311}/requests.json")).status_code == 200
