"""ETSI NGSI-LD conformance: distributed retrieve and query (clause 4.3.6 with 5.7.1 and 5.7.2):
a smartby with a registered context source, which is a second smartby served on its own port, on
both backends (the source keeps its entities in an SQLite file of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import orjson
import pytest
from etsi import SUITE_CONTEXT, V1, problem
from federated import ENTITIES, LINK, NEW, OLD, WITH_LINK, Served, create, register, speed, vehicle

from conftest import free_port
from stub_server import served


async def test_retrieve_merges_newest_attribute(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.2 (inclusive registrations) with 5.7.1: GET of an entity is also asked of the
    matching source and the answers are merged, the newest observedAt of an attribute winning;
    local=true answers from this broker alone."""
    await create(
        city,
        vehicle(
            1, speed=speed(10, OLD), isParked={"type": "Relationship", "object": "urn:ngsi-ld:Parking:1"}
        ),
    )
    await create(other, vehicle(1, speed=speed(55, NEW), brandName={"type": "Property", "value": "Volvo"}))
    await register(city, neighbour.url, operations=["retrieveOps"])
    response = await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:1", headers={"Link": LINK})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["speed"]["value"] == 55
    assert body["brandName"]["value"] == "Volvo"
    assert body["isParked"]["object"] == "urn:ngsi-ld:Parking:1"
    assert "modifiedAt" not in body["speed"]
    local = (await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:1?local=true", headers={"Link": LINK})).json()
    assert local["speed"]["value"] == 10 and "brandName" not in local
    keyed = (
        await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:1?options=keyValues", headers={"Link": LINK})
    ).json()
    assert keyed["speed"] == 55


async def test_retrieve_from_the_source_alone(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 5.7.1 with 4.3.6: an entity only a source holds is retrieved through the broker; one
    nobody holds is ResourceNotFound; a registration without retrieveEntity is not asked."""
    await create(other, vehicle(2, speed=speed(30, NEW)))
    location = await register(city, neighbour.url)
    got = await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:2", headers={"Link": LINK})
    assert got.status_code == 200, got.text
    assert got.json()["speed"]["value"] == 30
    problem(await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:404"), 404, "ResourceNotFound")
    patched = await city.patch(
        location, content=orjson.dumps({"operations": ["updateOps"]}), headers=WITH_LINK
    )
    assert patched.status_code == 204
    problem(await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:2"), 404, "ResourceNotFound")


async def test_query_merges_sources(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 5.7.2 with 4.3.6: a query is sent to the matching sources and their entities join
    this broker's (one entity held by both merged); count counts them; local=true does not forward."""
    await create(city, vehicle(1, speed=speed(10, NEW)))
    await create(city, vehicle(2, speed=speed(20, OLD)))
    await create(other, vehicle(2, speed=speed(25, NEW)))
    await create(other, vehicle(3, speed=speed(30, NEW)))
    await create(
        other,
        {"id": "urn:ngsi-ld:Building:1", "type": "Building", "name": {"type": "Property", "value": "x"}},
    )
    await register(city, neighbour.url)
    response = await city.get(f"{ENTITIES}?type=Vehicle&count=true&options=keyValues", headers={"Link": LINK})
    assert response.status_code == 200, response.text
    assert {item["id"]: item["speed"] for item in response.json()} == {
        "urn:ngsi-ld:Vehicle:1": 10,
        "urn:ngsi-ld:Vehicle:2": 25,
        "urn:ngsi-ld:Vehicle:3": 30,
    }
    assert response.headers["NGSILD-Results-Count"] == "3"
    filtered = await city.get(f"{ENTITIES}?type=Vehicle&q=speed>24&options=keyValues", headers={"Link": LINK})
    assert sorted(item["id"] for item in filtered.json()) == [
        "urn:ngsi-ld:Vehicle:2",
        "urn:ngsi-ld:Vehicle:3",
    ]
    local = await city.get(f"{ENTITIES}?type=Vehicle&local=true", headers={"Link": LINK})
    assert sorted(item["id"] for item in local.json()) == ["urn:ngsi-ld:Vehicle:1", "urn:ngsi-ld:Vehicle:2"]
    page = await city.get(f"{ENTITIES}?type=Vehicle&limit=2&offset=2", headers={"Link": LINK})
    assert [item["id"] for item in page.json()] == ["urn:ngsi-ld:Vehicle:3"]
    buildings = await city.get(f"{ENTITIES}?type=Building", headers={"Link": LINK})
    assert buildings.json() == []


async def test_a_failing_source_does_not_fail_the_answer(city: httpx.AsyncClient) -> None:
    """Clause 4.3.6 with 5.7.2: a source that cannot be reached is reported (NGSILD-Warning) and
    counted in the registration's status (timesSent, timesFailed, lastFailure, status failed,
    clause 5.2.9); the answer holds what the others gave."""
    await create(city, vehicle(1, speed=speed(10, NEW)))
    location = await register(city, f"http://127.0.0.1:{free_port()}", management={"timeout": 2000})
    response = await city.get(f"{ENTITIES}?type=Vehicle", headers={"Link": LINK})
    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == ["urn:ngsi-ld:Vehicle:1"]
    assert location.rsplit("/", 1)[1] in response.headers["NGSILD-Warning"]
    status = (await city.get(location)).json()
    assert status["timesSent"] == 1 and status["timesFailed"] == 1
    assert status["status"] == "failed" and "lastFailure" in status
    missing = problem(await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:404"), 404, "ResourceNotFound")
    assert "could not be asked" in missing["detail"]


async def test_brokers_that_register_each_other_do_not_loop(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served, city_server: Served
) -> None:
    """Clause 4.3.6 (loop detection with the Via header, clause 6.3.18): two brokers registered as
    each other's sources answer a query once each, without forwarding it round again."""
    await create(city, vehicle(1, speed=speed(10, NEW)))
    await create(other, vehicle(2, speed=speed(20, NEW)))
    await register(city, neighbour.url)
    await register(other, city_server.url)
    for client in (city, other):
        response = await client.get(f"{ENTITIES}?type=Vehicle", headers={"Link": LINK})
        assert response.status_code == 200, response.text
        assert sorted(item["id"] for item in response.json()) == [
            "urn:ngsi-ld:Vehicle:1",
            "urn:ngsi-ld:Vehicle:2",
        ]
        assert "NGSILD-Warning" not in response.headers


async def test_auxiliary_sources_only_fill_gaps(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.4 (auxiliary registrations): a source registered as auxiliary only provides
    attributes no other source (nor this broker) has, however new its values are."""
    await create(city, vehicle(1, speed=speed(10, OLD)))
    await create(other, vehicle(1, speed=speed(99, NEW), brandName={"type": "Property", "value": "Volvo"}))
    await register(city, neighbour.url, mode="auxiliary")
    body = (
        await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:1?options=keyValues", headers={"Link": LINK})
    ).json()
    assert body["speed"] == 10
    assert body["brandName"] == "Volvo"


async def test_exclusive_sources_alone_provide_their_attributes(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.3 (exclusive registrations): the attributes an exclusive registration holds of
    an entity come from its source alone, however new this broker's values are; the source's other
    attributes are not taken from it."""
    await create(
        city, vehicle(1, speed=speed(10, NEW), isParked={"type": "Relationship", "object": "urn:ngsi-ld:P:1"})
    )
    await create(other, vehicle(1, speed=speed(5, OLD), brandName={"type": "Property", "value": "Volvo"}))
    info = [{"entities": [{"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle"}], "propertyNames": ["speed"]}]
    await register(city, neighbour.url, mode="exclusive", information=info)
    body = (
        await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:1?options=keyValues", headers={"Link": LINK})
    ).json()
    assert body["speed"] == 5
    assert body["isParked"] == "urn:ngsi-ld:P:1"
    assert "brandName" not in body
    queried = (await city.get(f"{ENTITIES}?type=Vehicle&options=keyValues", headers={"Link": LINK})).json()
    assert [item["speed"] for item in queried] == [5]


async def test_redirect_sources_are_read(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.2 (redirect registrations) with 5.7.1: what a redirect source registers is read
    from it (redirectionOps include retrieveEntity and queryEntity)."""
    await create(other, vehicle(7, speed=speed(70, NEW)))
    await register(city, neighbour.url, mode="redirect", operations=["redirectionOps"])
    got = await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:7?options=keyValues", headers={"Link": LINK})
    assert got.status_code == 200, got.text
    assert got.json()["speed"] == 70
    listed = (await city.get(f"{ENTITIES}?type=Vehicle", headers={"Link": LINK})).json()
    assert [item["id"] for item in listed] == ["urn:ngsi-ld:Vehicle:7"]


async def test_cooldown_after_a_failure(city: httpx.AsyncClient) -> None:
    """Clause 5.2.34 (RegistrationManagementInfo.cooldown): after a failed request a source is not
    asked again until its cooldown has passed; the answer reports it as cooling down."""
    await create(city, vehicle(1, speed=speed(10, NEW)))
    location = await register(city, f"http://127.0.0.1:{free_port()}", management={"cooldown": 600000})
    first = await city.get(f"{ENTITIES}?type=Vehicle", headers={"Link": LINK})
    assert "cooling down" not in first.headers["NGSILD-Warning"]
    second = await city.get(f"{ENTITIES}?type=Vehicle", headers={"Link": LINK})
    assert second.status_code == 200
    assert "cooling down" in second.headers["NGSILD-Warning"]
    assert (await city.get(location)).json()["timesSent"] == 1


async def test_the_source_tenant_is_named(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 5.2.9 (tenant of a registration) with 4.14: a registration's tenant is the tenant its
    source is asked in, whatever tenant the registration itself belongs to."""
    aarhus = {**WITH_LINK, "NGSILD-Tenant": "aarhus"}
    created = await other.post(
        ENTITIES, content=orjson.dumps(vehicle(3, speed=speed(33, NEW))), headers=aarhus
    )
    assert created.status_code == 201, created.text
    await register(city, neighbour.url)
    problem(await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:3"), 404, "ResourceNotFound")
    await register(city, neighbour.url, tenant="aarhus")
    got = await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:3?options=keyValues", headers={"Link": LINK})
    assert got.status_code == 200, got.text
    assert got.json()["speed"] == 33


class _Source(BaseHTTPRequestHandler):
    """A context source that records what it is asked and answers with one entity."""

    asked: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:
        _Source.asked.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        entity = {
            "id": "urn:ngsi-ld:Vehicle:9",
            "type": "Vehicle",
            "speed": {"type": "Property", "value": 9},
            "@context": SUITE_CONTEXT,
        }
        body = orjson.dumps(entity)
        self.send_response(200)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def source() -> Iterator[str]:
    _Source.asked = []
    with served(_Source, host="127.0.0.1") as url:
        yield url


async def test_what_a_source_is_asked(city: httpx.AsyncClient, source: str) -> None:
    """Clause 4.3.6 with 5.2.9 and 5.2.34: the forwarded request goes to the registration's
    endpoint with the requester's @context (Link), a Via header naming this broker, the
    registration's contextSourceInfo as headers, its tenant, and local=true when
    management.localOnly asks for it; a request that already passed this broker is not forwarded."""
    await register(
        city,
        source,
        tenant="neighbour",
        contextSourceInfo=[{"key": "Authorization", "value": "Bearer neighbourly"}],
        management={"localOnly": True},
    )
    got = await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:9?options=keyValues", headers={"Link": LINK})
    assert got.status_code == 200, got.text
    assert got.json()["speed"] == 9
    [(path, headers)] = _Source.asked
    assert path.startswith("/ngsi-ld/v1/entities/urn:ngsi-ld:Vehicle:9?")
    assert "local=true" in path and "options=sysAttrs" in path
    assert SUITE_CONTEXT in headers["link"]
    assert headers["authorization"] == "Bearer neighbourly"
    assert headers["ngsild-tenant"] == "neighbour"
    via = headers["via"]
    assert via.startswith("1.1 smartby-")
    again = await city.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:9", headers={"Link": LINK, "Via": via})
    problem(again, 404, "ResourceNotFound")
    assert len(_Source.asked) == 1


async def test_batch_query_is_forwarded(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 5.7.2 (Query Entities through POST /entityOperations/query, 6.23.3.1) with 4.3.6: the
    Query is sent on to matching sources supporting queryBatch (in federationOps) and their entities
    join this broker's."""
    await create(city, vehicle(1, speed=speed(10, NEW)))
    await create(other, vehicle(2, speed=speed(20, NEW)))
    await register(city, neighbour.url)
    query = {"type": "Query", "entities": [{"type": "Vehicle"}], "q": "speed>5"}
    response = await city.post(
        f"{V1}/entityOperations/query?options=keyValues&count=true",
        content=orjson.dumps(query),
        headers=WITH_LINK,
    )
    assert response.status_code == 200, response.text
    assert {item["id"]: item["speed"] for item in response.json()} == {
        "urn:ngsi-ld:Vehicle:1": 10,
        "urn:ngsi-ld:Vehicle:2": 20,
    }
    assert response.headers["NGSILD-Results-Count"] == "2"
    narrower = {**query, "q": "speed>15"}
    found = await city.post(f"{V1}/entityOperations/query", content=orjson.dumps(narrower), headers=WITH_LINK)
    assert [item["id"] for item in found.json()] == ["urn:ngsi-ld:Vehicle:2"]
    local = await city.post(
        f"{V1}/entityOperations/query?local=true", content=orjson.dumps(query), headers=WITH_LINK
    )
    assert [item["id"] for item in local.json()] == ["urn:ngsi-ld:Vehicle:1"]


async def test_types_and_attributes_are_united(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 5.7.5-5.7.8 (Retrieve Available Entity Types and Attributes) with 4.3.6: the types and
    attributes of sources supporting retrieveEntityTypes / retrieveAttrTypes (in federationOps) are
    listed with this broker's own; local=true lists only its own."""
    await create(city, vehicle(1, speed=speed(10, NEW)))
    await create(
        other,
        {"id": "urn:ngsi-ld:Building:1", "type": "Building", "name": {"type": "Property", "value": "x"}},
    )
    await create(other, vehicle(2, brandName={"type": "Property", "value": "Volvo"}))
    await register(city, neighbour.url)
    types = (await city.get(f"{V1}/types", headers={"Link": LINK})).json()
    assert types["typeList"] == ["Building", "Vehicle"]
    details = (await city.get(f"{V1}/types?details=true", headers={"Link": LINK})).json()
    by_type = {item["typeName"]: item["attributeNames"] for item in details}
    assert by_type == {"Building": ["name"], "Vehicle": ["brandName", "speed"]}
    local = (await city.get(f"{V1}/types?local=true", headers={"Link": LINK})).json()
    assert local["typeList"] == ["Vehicle"]
    attributes = (await city.get(f"{V1}/attributes", headers={"Link": LINK})).json()
    assert attributes["attributeList"] == ["brandName", "name", "speed"]
    detailed = (await city.get(f"{V1}/attributes?details=true", headers={"Link": LINK})).json()
    assert {item["attributeName"]: item["typeNames"] for item in detailed} == {
        "brandName": ["Vehicle"],
        "name": ["Building"],
        "speed": ["Vehicle"],
    }
