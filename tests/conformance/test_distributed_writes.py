"""ETSI NGSI-LD conformance: distributed writes, temporal reads and type/attribute details (clause
4.3.6 with 5.6, 5.7.3-5.7.4, 5.7.7 and 5.7.10): a smartby with a registered context source, which is
a second smartby served on its own port, on both backends."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from etsi import V1, problem
from federated import ENTITIES, LINK, NEW, OLD, WITH_LINK, Served, create, register, speed, vehicle

from conftest import free_port
from smartby.broker.federation import identity_of

BATCH = f"{V1}/entityOperations"
TEMPORAL = f"{V1}/temporal/entities"
KEYED = {"Link": LINK}
VEHICLE_1 = "urn:ngsi-ld:Vehicle:1"
WRITES = ["createEntity", "updateEntity", "appendAttrs", "updateAttrs", "deleteAttrs", "deleteEntity"]


async def keyed(client: httpx.AsyncClient, entity_id: str, local: bool = False) -> httpx.Response:
    suffix = "&local=true" if local else ""
    return await client.get(f"{ENTITIES}/{entity_id}?options=keyValues{suffix}", headers=KEYED)


async def send(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> httpx.Response:
    content = None if body is None else orjson.dumps(body)
    return await client.request(method, path, content=content, headers=WITH_LINK)


async def test_inclusive_writes_go_here_and_to_the_source(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.2 (inclusive registrations) with 5.6.1-5.6.6: a create, an update of attributes,
    an append, a partial attribute update, a deletion of an attribute and of the entity are done
    here and also sent to a source whose registration takes them (an attribute only the source
    has is updated there, which is no partial failure); local=true keeps a write here."""
    await register(city, neighbour.url, operations=WRITES)
    created = await send(city, "POST", ENTITIES, vehicle(1, speed=speed(10, OLD)))
    assert created.status_code == 201, created.text
    assert (await keyed(other, VEHICLE_1)).json()["speed"] == 10
    assert (await keyed(city, VEHICLE_1, local=True)).json()["speed"] == 10
    patched = await send(city, "PATCH", f"{ENTITIES}/{VEHICLE_1}/attrs", {"speed": speed(20, NEW)})
    assert patched.status_code == 204, patched.text
    appended = await send(city, "POST", f"{ENTITIES}/{VEHICLE_1}/attrs", {"brandName": {"value": "Volvo"}})
    assert appended.status_code == 204, appended.text
    one = await send(city, "PATCH", f"{ENTITIES}/{VEHICLE_1}/attrs/speed", {"value": 30})
    assert one.status_code == 204, one.text
    for client in (city, other):
        body = (await keyed(client, VEHICLE_1, local=True)).json()
        assert body["speed"] == 30 and body["brandName"] == "Volvo"
    there_only = await send(other, "POST", f"{ENTITIES}/{VEHICLE_1}/attrs", {"colour": {"value": "red"}})
    assert there_only.status_code == 204
    recoloured = await send(city, "PATCH", f"{ENTITIES}/{VEHICLE_1}/attrs", {"colour": {"value": "blue"}})
    assert recoloured.status_code == 204, recoloured.text  # updated there, so no notUpdated here
    assert (await keyed(other, VEHICLE_1)).json()["colour"] == "blue"
    dropped = await send(city, "DELETE", f"{ENTITIES}/{VEHICLE_1}/attrs/brandName")
    assert dropped.status_code == 204, dropped.text
    assert "brandName" not in (await keyed(other, VEHICLE_1)).json()
    alone = await send(city, "POST", f"{ENTITIES}?local=true", vehicle(2, speed=speed(5, NEW)))
    assert alone.status_code == 201
    problem(await keyed(other, "urn:ngsi-ld:Vehicle:2"), 404, "ResourceNotFound")
    deleted = await send(city, "DELETE", f"{ENTITIES}/{VEHICLE_1}")
    assert deleted.status_code == 204, deleted.text
    problem(await keyed(other, VEHICLE_1), 404, "ResourceNotFound")
    problem(await keyed(city, VEHICLE_1, local=True), 404, "ResourceNotFound")


async def test_exclusive_attributes_are_written_at_the_source_alone(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.3 (exclusive registrations): the attributes an exclusive registration holds are
    written at its source and not here, the others here; an update of them too; a registration that
    does not take the operation leaves them unwritten, reported per attribute with its
    registrationId in a 207 UpdateResult (5.2.18)."""
    info = [{"entities": [{"id": VEHICLE_1, "type": "Vehicle"}], "propertyNames": ["speed"]}]
    location = await register(
        city, neighbour.url, mode="exclusive", information=info, operations=["redirectionOps"]
    )
    entity = vehicle(1, speed=speed(10, NEW), brandName={"type": "Property", "value": "Volvo"})
    created = await send(city, "POST", ENTITIES, entity)
    assert created.status_code == 201, created.text
    there = (await keyed(other, VEHICLE_1)).json()
    assert there["speed"] == 10 and "brandName" not in there
    here = (await keyed(city, VEHICLE_1, local=True)).json()
    assert here["brandName"] == "Volvo" and "speed" not in here
    patched = await send(
        city,
        "PATCH",
        f"{ENTITIES}/{VEHICLE_1}/attrs",
        {"speed": speed(70, NEW), "brandName": {"value": "Saab"}},
    )
    assert patched.status_code == 204, patched.text
    assert (await keyed(other, VEHICLE_1)).json()["speed"] == 70
    merged = (await keyed(city, VEHICLE_1)).json()
    assert merged["speed"] == 70 and merged["brandName"] == "Saab"
    narrowed = await city.patch(
        location, content=orjson.dumps({"operations": ["retrieveOps"]}), headers=WITH_LINK
    )
    assert narrowed.status_code == 204
    refused = await send(city, "PATCH", f"{ENTITIES}/{VEHICLE_1}/attrs", {"speed": speed(90, NEW)})
    assert refused.status_code == 207, refused.text
    [item] = refused.json()["notUpdated"]
    assert item["attributeName"] == "speed"
    assert item["registrationId"] == location.rsplit("/", 1)[1]
    assert (await keyed(other, VEHICLE_1)).json()["speed"] == 70


async def test_redirect_writes_go_to_the_source_only(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.2 (redirect registrations) with 5.6.1, 5.6.17-5.6.19 and 5.6.6: what a redirect
    registration registers is created, merged, replaced and deleted at its source and never here."""
    await register(city, neighbour.url, mode="redirect", operations=["redirectionOps"])
    created = await send(city, "POST", ENTITIES, vehicle(1, speed=speed(10, OLD)))
    assert created.status_code == 201, created.text
    problem(await keyed(city, VEHICLE_1, local=True), 404, "ResourceNotFound")
    assert (await keyed(other, VEHICLE_1)).json()["speed"] == 10
    merged = await send(city, "PATCH", f"{ENTITIES}/{VEHICLE_1}", {"speed": speed(15, NEW)})
    assert merged.status_code == 204, merged.text
    assert (await keyed(other, VEHICLE_1)).json()["speed"] == 15
    replaced = await send(
        city, "PUT", f"{ENTITIES}/{VEHICLE_1}", vehicle(1, brandName={"type": "Property", "value": "Volvo"})
    )
    assert replaced.status_code == 204, replaced.text
    body = (await keyed(other, VEHICLE_1)).json()
    assert body["brandName"] == "Volvo" and "speed" not in body
    deleted = await send(city, "DELETE", f"{ENTITIES}/{VEHICLE_1}")
    assert deleted.status_code == 204, deleted.text
    problem(await keyed(other, VEHICLE_1), 404, "ResourceNotFound")


async def test_auxiliary_and_read_only_sources_take_no_writes(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.4 (auxiliary registrations) and 4.20 (operations): an auxiliary source is never
    written to, nor an inclusive one whose registration does not list the operation."""
    await register(city, neighbour.url, mode="auxiliary", operations=["redirectionOps"])
    await register(city, neighbour.url, operations=["retrieveOps"])
    created = await send(city, "POST", ENTITIES, vehicle(1, speed=speed(10, OLD)))
    assert created.status_code == 201, created.text
    problem(await keyed(other, VEHICLE_1), 404, "ResourceNotFound")
    assert (await keyed(city, VEHICLE_1, local=True)).json()["speed"] == 10


async def test_a_failing_source_is_reported_with_its_registration(city: httpx.AsyncClient) -> None:
    """Clause 4.3.6 with 5.6.1 and 5.2.18: a source that cannot be reached does not fail the write:
    what it was to write is reported in a 207 UpdateResult naming its registration, and this
    broker's part is done; its registration's status shows the failure (5.2.9)."""
    location = await register(
        city, f"http://127.0.0.1:{free_port()}", operations=WRITES, management={"timeout": 2000}
    )
    response = await send(city, "POST", ENTITIES, vehicle(1, speed=speed(10, OLD)))
    assert response.status_code == 207, response.text
    body = response.json()
    assert body["updated"] == ["speed"]
    [item] = body["notUpdated"]
    assert item["attributeName"] == "speed"
    assert item["registrationId"] == location.rsplit("/", 1)[1]
    assert (await keyed(city, VEHICLE_1, local=True)).json()["speed"] == 10
    assert (await city.get(location)).json()["status"] == "failed"


async def test_brokers_that_register_each_other_write_once(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served, city_server: Served
) -> None:
    """Clause 4.3.6 (loop detection with the Via header, 6.3.18): two brokers registered as each
    other's inclusive sources for creations, each under the other's contextSourceAlias (the name it
    gives itself in Via), each create a new entity once: the forwarded request is not sent back
    (else it would come back as AlreadyExists)."""
    await register(city, neighbour.url, operations=WRITES, contextSourceAlias=identity_of(neighbour.settings))
    await register(
        other, city_server.url, operations=WRITES, contextSourceAlias=identity_of(city_server.settings)
    )
    response = await send(city, "POST", ENTITIES, vehicle(1, speed=speed(10, OLD)))
    assert response.status_code == 201, response.text
    for client in (city, other):
        assert (await keyed(client, VEHICLE_1, local=True)).json()["speed"] == 10


async def test_batch_operations_are_split_among_sources(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6 with 5.6.7-5.6.10 (batch create, upsert, update, delete): each entity of a batch
    goes where its registrations say (here the vehicles to a redirect source, the building here),
    each source sent one batch; the BatchOperationResult unites the answers."""
    batches = ["createBatch", "upsertBatch", "updateBatch", "deleteBatch", "mergeBatch"]
    await register(city, neighbour.url, mode="redirect", operations=batches)
    building = {
        "id": "urn:ngsi-ld:Building:1",
        "type": "Building",
        "name": {"type": "Property", "value": "x"},
    }
    items = [vehicle(1, speed=speed(10, OLD)), vehicle(2, speed=speed(20, OLD)), building]
    created = await send(city, "POST", f"{BATCH}/create", items)
    assert created.status_code == 201, created.text
    assert sorted(created.json()) == [building["id"], VEHICLE_1, "urn:ngsi-ld:Vehicle:2"]
    assert (await keyed(other, "urn:ngsi-ld:Vehicle:2")).json()["speed"] == 20
    problem(await keyed(city, "urn:ngsi-ld:Vehicle:2", local=True), 404, "ResourceNotFound")
    assert (await keyed(city, building["id"], local=True)).json()["name"] == "x"
    upserted = await send(city, "POST", f"{BATCH}/upsert?options=update", [vehicle(1, speed=speed(11, NEW))])
    assert upserted.status_code in (201, 204), upserted.text
    updated = await send(city, "POST", f"{BATCH}/update", [vehicle(2, speed=speed(22, NEW))])
    assert updated.status_code == 204, updated.text
    assert (await keyed(other, VEHICLE_1)).json()["speed"] == 11
    assert (await keyed(other, "urn:ngsi-ld:Vehicle:2")).json()["speed"] == 22
    again = await send(city, "POST", f"{BATCH}/create", [vehicle(2, speed=speed(1, NEW))])
    assert again.status_code == 207, again.text
    [error] = again.json()["errors"]
    assert error["entityId"] == "urn:ngsi-ld:Vehicle:2" and "registrationId" in error
    assert error["error"]["type"].endswith("AlreadyExists")
    deleted = await send(city, "POST", f"{BATCH}/delete", [VEHICLE_1, building["id"]])
    assert deleted.status_code == 204, deleted.text
    problem(await keyed(other, VEHICLE_1), 404, "ResourceNotFound")
    problem(await keyed(city, building["id"], local=True), 404, "ResourceNotFound")


async def test_temporal_reads_merge_the_sources_instances(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6 with 5.7.3 and 5.7.4 (6.24.3.1 for the POST form): a temporal retrieve and a
    temporal query (GET or POST) are also sent to
    sources whose registrations take retrieveTemporal / queryTemporal; the instances of one
    attribute are united in time order, and entities only a source holds join the answer."""
    await create(city, vehicle(1, speed=speed(10, OLD)))
    await create(other, vehicle(1, speed=speed(55, NEW)))
    await create(other, vehicle(3, speed=speed(30, NEW)))
    await register(city, neighbour.url, operations=["retrieveTemporal", "queryTemporal"])
    one = await city.get(f"{TEMPORAL}/{VEHICLE_1}", headers=KEYED)
    assert one.status_code == 200, one.text
    assert [item["value"] for item in one.json()["speed"]] == [10, 55]
    local = await city.get(f"{TEMPORAL}/{VEHICLE_1}?local=true", headers=KEYED)
    assert [item["value"] for item in local.json()["speed"]] == [10]
    query = f"{TEMPORAL}?type=Vehicle&timerel=after&timeAt=2025-01-01T00:00:00Z"
    listed = await city.get(query, headers=KEYED)
    assert listed.status_code == 200, listed.text
    by_id = {item["id"]: [i["value"] for i in item["speed"]] for item in listed.json()}
    assert by_id == {VEHICLE_1: [10, 55], "urn:ngsi-ld:Vehicle:3": [30]}
    only = await city.get(f"{TEMPORAL}/urn:ngsi-ld:Vehicle:3", headers=KEYED)
    assert [item["value"] for item in only.json()["speed"]] == [30]
    asked = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "temporalQ": {"timerel": "after", "timeAt": "2025-01-01T00:00:00Z"},
    }
    posted = await send(city, "POST", f"{V1}/temporal/entityOperations/query", asked)
    assert posted.status_code == 200, posted.text
    assert {item["id"]: [i["value"] for i in item["speed"]] for item in posted.json()} == by_id


async def test_type_and_attribute_details_are_united(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 5.7.7 (Retrieve Entity Type Information) and 5.7.10 (Retrieve Attribute Information)
    with 4.3.6: sources supporting retrieveEntityTypeInfo / retrieveAttrTypeInfo add their counts,
    attributes and types; a type only a source has is found; local=true reports this broker's."""
    await create(city, vehicle(1, speed=speed(10, OLD)))
    await create(other, vehicle(2, brandName={"type": "Property", "value": "Volvo"}))
    await create(other, {"id": "urn:ngsi-ld:Building:1", "type": "Building"})
    await register(city, neighbour.url)
    info = (await city.get(f"{V1}/types/Vehicle", headers=KEYED)).json()
    assert info["entityCount"] == 2
    assert sorted(item["attributeName"] for item in info["attributeDetails"]) == ["brandName", "speed"]
    assert (await city.get(f"{V1}/types/Vehicle?local=true", headers=KEYED)).json()["entityCount"] == 1
    assert (await city.get(f"{V1}/types/Building", headers=KEYED)).json()["entityCount"] == 1
    attribute = (await city.get(f"{V1}/attributes/brandName", headers=KEYED)).json()
    assert attribute["attributeCount"] == 1 and attribute["typeNames"] == ["Vehicle"]
    problem(await city.get(f"{V1}/attributes/brandName?local=true", headers=KEYED), 404, "ResourceNotFound")


async def test_a_read_only_redirect_source_takes_no_writes(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 4.3.6.2 (redirect) with 4.20: entities a redirect registration holds whose source
    takes no writes (retrieveOps) are written nowhere: their attributes are reported not updated
    with the registrationId (207), and an operation with no attribute to report is
    OperationNotSupported."""
    location = await register(city, neighbour.url, mode="redirect", operations=["retrieveOps"])
    response = await send(city, "POST", ENTITIES, vehicle(1, speed=speed(10, OLD)))
    assert response.status_code == 207, response.text
    [item] = response.json()["notUpdated"]
    assert item["attributeName"] == "speed" and item["registrationId"] == location.rsplit("/", 1)[1]
    problem(await keyed(city, VEHICLE_1, local=True), 404, "ResourceNotFound")
    problem(await keyed(other, VEHICLE_1), 404, "ResourceNotFound")
    problem(await send(city, "DELETE", f"{ENTITIES}/{VEHICLE_1}"), 422, "OperationNotSupported")


async def test_malformed_writes_with_sources_are_problems(
    city: httpx.AsyncClient, other: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 6.3.20 / 5.5.2 with 4.3.6: with sources registered for every write, a broken request
    is still a 4xx ProblemDetails (or a 207 reporting each source's refusal), never a 500, and
    nothing of it is stored at the source."""
    everything = [*WRITES, "mergeEntity", "replaceEntity", "replaceAttrs", "createBatch", "deleteBatch"]
    await register(city, neighbour.url, operations=everything)
    await register(city, neighbour.url, mode="redirect", operations=everything)
    broken: list[tuple[str, str, Any]] = [
        ("POST", ENTITIES, {"id": "urn:ngsi-ld:Vehicle:1", "type": 7}),
        ("POST", ENTITIES, {"id": "not a uri", "type": "Vehicle"}),
        ("POST", ENTITIES, {"id": VEHICLE_1, "type": "Vehicle", "speed": {"type": "Property"}}),
        ("POST", ENTITIES, [1, 2]),
        ("PATCH", f"{ENTITIES}/{VEHICLE_1}/attrs", [{"speed": 1}]),
        ("PATCH", f"{ENTITIES}/{VEHICLE_1}/attrs", {"@id": {"value": 1}}),
        ("PUT", f"{ENTITIES}/{VEHICLE_1}", {"id": "urn:ngsi-ld:Vehicle:2", "type": "Vehicle"}),
        ("PATCH", f"{ENTITIES}/{VEHICLE_1}/attrs/speed", "x"),
        ("POST", f"{BATCH}/create", [{"id": VEHICLE_1, "type": ["Vehicle", 3]}, "x", 5]),
        ("POST", f"{BATCH}/delete", [3, None]),
    ]
    for method, path, body in broken:
        response = await send(city, method, path, body)
        assert 400 <= response.status_code < 500 or response.status_code == 207, (method, path, response.text)
        if response.status_code != 207:
            assert response.json()["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
    stored = await other.get(f"{ENTITIES}?type=Vehicle&local=true", headers=KEYED)
    assert stored.json() == []


async def test_a_batch_delete_id_that_is_not_a_uri_is_its_error_with_or_without_sources(
    city: httpx.AsyncClient, neighbour: Served
) -> None:
    """Clause 5.6.10 deletes each entity as clause 5.6.6 does, whose id that is not a URI is a
    BadRequestData: in a batch that entity's error in the 207, the others deleted, whether context
    sources are registered or not (it was a 400 of the whole batch with sources registered)."""
    for registered in (False, True):
        if registered:
            await register(city, neighbour.url, mode="redirect", operations=["deleteBatch"])
        building = {
            "id": "urn:ngsi-ld:Building:1",
            "type": "Building",
            "name": {"type": "Property", "value": "x"},
        }
        assert (await send(city, "POST", ENTITIES, building)).status_code == 201
        deleted = await send(city, "POST", f"{BATCH}/delete", ["not a uri", building["id"]])
        assert deleted.status_code == 207, (registered, deleted.text)
        assert deleted.json()["success"] == [building["id"]]
        [error] = deleted.json()["errors"]
        assert error["entityId"] == "not a uri" and error["error"]["type"].endswith("/BadRequestData")
        problem(await keyed(city, building["id"], local=True), 404, "ResourceNotFound")
