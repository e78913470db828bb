"""ETSI NGSI-LD conformance: TP/NGSI-LD/ContextInformation/Provision/BatchEntities."""

from __future__ import annotations

import httpx
import pytest
from etsi import JSON, LD, LINK, SUITE, V1, building, ld, new_id, problem, query, retrieve, vehicle

OPERATIONS = f"{V1}/entityOperations"


async def test_003_01_batch_create(client: httpx.AsyncClient) -> None:
    entities = [ld(building()), ld(building())]
    response = await client.post(f"{OPERATIONS}/create", json=entities, headers=LD)
    assert response.status_code == 201
    assert response.json() == [e["id"] for e in entities]


async def test_003_02_batch_create_with_an_existing_and_an_invalid_entity(client: httpx.AsyncClient) -> None:
    existing = ld(building())
    assert (await client.post(f"{OPERATIONS}/create", json=[existing], headers=LD)).status_code == 201
    fresh = ld(building())
    invalid = ld({"id": "not-a-uri", "type": "Building"})
    response = await client.post(f"{OPERATIONS}/create", json=[existing, fresh, invalid], headers=LD)
    assert response.status_code == 207
    result = response.json()
    assert result["success"] == [fresh["id"]]
    errors = {e["entityId"]: e["error"]["type"].rsplit("/", 1)[1] for e in result["errors"]}
    assert errors == {existing["id"]: "AlreadyExists", "not-a-uri": "BadRequestData"}


async def test_003_entities_may_carry_different_contexts(client: httpx.AsyncClient) -> None:
    """Each entity of a JSON-LD batch is read with its own @context."""
    suite = ld(vehicle())
    core = {
        "id": new_id(),
        "type": "Vehicle",
        "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    }
    response = await client.post(f"{OPERATIONS}/create", json=[suite, core], headers=LD)
    assert response.status_code == 201
    assert [e["id"] for e in (await query(client, type="Vehicle")).json()] == [suite["id"]]


async def test_004_upsert_creates_and_replaces(client: httpx.AsyncClient) -> None:
    existing = vehicle()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(existing)], headers=LD)).status_code == 201
    replacement = {"id": existing["id"], "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
    fresh = vehicle()
    response = await client.post(f"{OPERATIONS}/upsert", json=[ld(replacement), ld(fresh)], headers=LD)
    assert response.status_code == 201
    assert response.json() == [fresh["id"]]
    assert (await retrieve(client, existing["id"])).json() == replacement
    again = await client.post(f"{OPERATIONS}/upsert", json=[ld(replacement)], headers=LD)
    assert again.status_code == 204


async def test_004_upsert_with_update_option(client: httpx.AsyncClient) -> None:
    existing = vehicle()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(existing)], headers=LD)).status_code == 201
    update = {"id": existing["id"], "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
    response = await client.post(
        f"{OPERATIONS}/upsert", params={"options": "update"}, json=[ld(update)], headers=LD
    )
    assert response.status_code == 204
    got = (await retrieve(client, existing["id"])).json()
    assert got["speed"]["value"] == 1 and got["brandName"]["value"] == "Mercedes"


async def test_005_update(client: httpx.AsyncClient) -> None:
    existing = vehicle()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(existing)], headers=LD)).status_code == 201
    update = {"id": existing["id"], "type": "Vehicle", "speed": {"type": "Property", "value": 5}}
    missing = {"id": new_id(), "type": "Vehicle", "speed": {"type": "Property", "value": 5}}
    response = await client.post(f"{OPERATIONS}/update", json=[ld(update), ld(missing)], headers=LD)
    assert response.status_code == 207
    assert response.json()["success"] == [existing["id"]]
    assert [e["entityId"] for e in response.json()["errors"]] == [missing["id"]]
    assert (await retrieve(client, existing["id"])).json()["speed"]["value"] == 5


async def test_057_merge(client: httpx.AsyncClient) -> None:
    existing = vehicle()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(existing)], headers=LD)).status_code == 201
    patch = {
        "id": existing["id"],
        "type": "Vehicle",
        "brandName": "urn:ngsi-ld:null",
        "speed": {"type": "Property", "value": 7},
    }
    response = await client.post(f"{OPERATIONS}/merge", json=[ld(patch)], headers=LD)
    assert response.status_code == 204
    got = (await retrieve(client, existing["id"])).json()
    assert got["speed"]["value"] == 7 and "brandName" not in got


async def test_006_delete(client: httpx.AsyncClient) -> None:
    existing = building()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(existing)], headers=LD)).status_code == 201
    missing = new_id("Building")
    response = await client.post(f"{OPERATIONS}/delete", json=[existing["id"], missing], headers=LD)
    assert response.status_code == 207
    assert response.json()["success"] == [existing["id"]]
    assert response.json()["errors"][0]["entityId"] == missing
    assert (await retrieve(client, existing["id"])).status_code == 404


async def test_a_batch_delete_of_other_than_ids_is_a_bad_request(client: httpx.AsyncClient) -> None:
    """An array holding something else than strings is not a list of entity ids: 400, not a 207
    with an error for an entity that has no id (found by schemathesis' negative_data_rejection)."""
    entity = building()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(entity)], headers=LD)).status_code == 201
    for body in ([["x"]], [entity["id"], 7], [{"id": entity["id"]}]):
        response = await client.post(f"{OPERATIONS}/delete", json=body, headers=LD)
        assert response.status_code == 400, response.text
        assert response.json()["type"].endswith("/BadRequestData")
    assert (await retrieve(client, entity["id"])).status_code == 200
    assert _error_types(await client.post(f"{OPERATIONS}/delete", json=["T"], headers=LD)) == {
        "T": "BadRequestData"
    }


def _error_types(response: httpx.Response) -> dict[str, str]:
    return {e["entityId"]: e["error"]["type"].rsplit("/", 1)[1] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("case", "body", "error"),
    [
        ("003_03_01 invalid JSON", b'[{"id": "urn:ngsi-ld:Building:1", "type":', "InvalidRequest"),
        ("003_03_02 / 567_01 an empty array", b"[]", "BadRequestData"),
        (
            "567_01_01 a null item",
            b'[{"id": "urn:ngsi-ld:Vehicle:567", "type": "Vehicle"}, null]',
            "BadRequestData",
        ),
    ],
)
@pytest.mark.parametrize("operation", ["create", "upsert", "update", "merge", "delete"])
async def test_invalid_batches_fail_whole(
    client: httpx.AsyncClient, operation: str, case: str, body: bytes, error: str
) -> None:
    """003_03, 567_01, 5620_01_01/02: the whole request fails, nothing is written."""
    problem(await client.post(f"{OPERATIONS}/{operation}", content=body, headers=JSON), 400, error)
    assert (await client.get(f"{V1}/entities/urn:ngsi-ld:Vehicle:567")).status_code == 404


async def test_003_04_context_from_the_link_header(client: httpx.AsyncClient) -> None:
    entity = {
        "id": new_id("Building"),
        "type": "Building",
        "almostFull": {"type": "Property", "value": False},
    }
    response = await client.post(f"{OPERATIONS}/create", json=[entity], headers={**JSON, "Link": LINK})
    assert response.status_code == 201
    assert "almostFull" in (await retrieve(client, entity["id"])).json()
    assert SUITE + "almostFull" in (await client.get(f"{V1}/entities/{entity['id']}")).json()


async def test_003_05_default_context(client: httpx.AsyncClient) -> None:
    entity = {
        "id": new_id("Building"),
        "type": "Building",
        "almostFull": {"type": "Property", "value": False},
    }
    assert (await client.post(f"{OPERATIONS}/create", json=[entity], headers=JSON)).status_code == 201
    assert "almostFull" in (await client.get(f"{V1}/entities/{entity['id']}")).json()
    assert "ngsi-ld:default-context/almostFull" in (await retrieve(client, entity["id"])).json()


async def test_003_06_context_in_a_json_batch_fails_per_entity(client: httpx.AsyncClient) -> None:
    with_context, plain = ld(building()), building()
    response = await client.post(f"{OPERATIONS}/create", json=[with_context, plain], headers=JSON)
    assert response.status_code == 207
    assert response.json()["success"] == [plain["id"]]
    assert _error_types(response) == {with_context["id"]: "BadRequestData"}


async def test_003_08_json_ld_entity_without_context_fails_alone(client: httpx.AsyncClient) -> None:
    bare, good = building(), ld(building())
    response = await client.post(f"{OPERATIONS}/create", json=[bare, good], headers=LD)
    assert response.status_code == 207
    assert response.json()["success"] == [good["id"]]
    assert _error_types(response) == {bare["id"]: "BadRequestData"}


async def test_003_09_json_ld_batch_with_a_link_header(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{OPERATIONS}/create", json=[ld(building())], headers={**LD, "Link": LINK})
    problem(response, 400, "BadRequestData")


async def test_003_10_the_same_id_twice(client: httpx.AsyncClient) -> None:
    first, second = ld(building()), ld(building())
    response = await client.post(f"{OPERATIONS}/create", json=[first, second, first], headers=LD)
    assert response.status_code == 207
    assert sorted(response.json()["success"]) == sorted([first["id"], second["id"]])
    assert _error_types(response) == {first["id"]: "AlreadyExists"}


async def test_004_07_upsert_the_same_id_twice(client: httpx.AsyncClient) -> None:
    first, second = ld(building()), ld(building())
    response = await client.post(f"{OPERATIONS}/upsert", json=[first, second, first], headers=LD)
    assert response.status_code == 201
    assert sorted(response.json()) == sorted([first["id"], second["id"]])


async def test_466_01_later_duplicate_determines_the_final_state(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    first = {
        "id": entity_id,
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 1},
        "old": {"type": "Property", "value": True},
    }
    second = {"id": entity_id, "type": "Vehicle", "speed": {"type": "Property", "value": 2}}
    response = await client.post(f"{OPERATIONS}/upsert", json=[ld(first), ld(second)], headers=LD)
    assert response.status_code in (201, 204)
    got = (await retrieve(client, entity_id)).json()
    assert got["speed"]["value"] == 2 and "old" not in got


async def test_004_08_upsert_replaces_types(client: httpx.AsyncClient) -> None:
    entity = building()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(entity)], headers=LD)).status_code == 201
    retyped = {"id": entity["id"], "type": ["Building", "Vehicle"]}
    response = await client.post(f"{OPERATIONS}/upsert", json=[ld(retyped)], headers=LD)
    assert response.status_code == 204 and response.content == b""
    assert (await retrieve(client, entity["id"])).json() == retyped


async def test_005_02_update_with_no_overwrite(client: httpx.AsyncClient) -> None:
    entity = building()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(entity)], headers=LD)).status_code == 201
    new_only = {
        "id": entity["id"],
        "type": "Building",
        "locatedAt": {"type": "Relationship", "object": "urn:ngsi-ld:City:Paris"},
    }
    url = f"{OPERATIONS}/update"
    assert (
        await client.post(url, params={"options": "noOverwrite"}, json=[ld(new_only)], headers=LD)
    ).status_code == 204
    existing = {"id": entity["id"], "type": "Building", "name": {"type": "Property", "value": "Other"}}
    response = await client.post(url, params={"options": "noOverwrite"}, json=[ld(existing)], headers=LD)
    assert response.status_code == 207
    assert _error_types(response) == {entity["id"]: "BadRequestData"}
    got = (await retrieve(client, entity["id"])).json()
    assert got["name"]["value"] == "Eiffel Tower" and got["locatedAt"]["object"] == "urn:ngsi-ld:City:Paris"


async def test_006_04_delete_the_same_id_twice(client: httpx.AsyncClient) -> None:
    entity = building()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(entity)], headers=LD)).status_code == 201
    response = await client.post(f"{OPERATIONS}/delete", json=[entity["id"], entity["id"]], headers=LD)
    assert response.status_code == 207
    assert response.json()["success"] == [entity["id"]]
    assert _error_types(response) == {entity["id"]: "ResourceNotFound"}


async def test_5620_01_03_batch_merge_null_deletes(client: httpx.AsyncClient) -> None:
    entity = building()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(entity)], headers=LD)).status_code == 201
    fragment = {"id": entity["id"], "type": "Building", "subCategory": "urn:ngsi-ld:null"}
    response = await client.post(f"{OPERATIONS}/merge", json=[ld(fragment)], headers=LD)
    assert response.status_code == 204 and response.content == b""
    got = await retrieve(client, entity["id"])
    assert (
        "subCategory" not in got.text and "urn:ngsi-ld:null" not in got.text and "airQualityLevel" in got.text
    )


async def test_057_02_batch_merge_with_a_missing_entity(client: httpx.AsyncClient) -> None:
    entity = building()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(entity)], headers=LD)).status_code == 201
    patch = {
        "id": entity["id"],
        "type": "Building",
        "locatedAt": {"type": "Relationship", "object": "urn:ngsi-ld:City:Paris"},
    }
    missing = {**patch, "id": new_id("Building")}
    response = await client.post(f"{OPERATIONS}/merge", json=[ld(patch), ld(missing)], headers=LD)
    assert response.status_code == 207
    assert response.json()["success"] == [entity["id"]]
    assert _error_types(response) == {missing["id"]: "ResourceNotFound"}
    assert (await retrieve(client, entity["id"])).json()["locatedAt"]["object"] == "urn:ngsi-ld:City:Paris"


async def test_the_same_id_twice_in_update_and_merge(client: httpx.AsyncClient) -> None:
    """Duplicates are applied in order (clause 4.6.6) and written once, for every batch operation."""
    entity = vehicle()
    assert (await client.post(f"{OPERATIONS}/create", json=[ld(entity)], headers=LD)).status_code == 201
    first = {"id": entity["id"], "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
    second = {"id": entity["id"], "type": "Vehicle", "speed": {"type": "Property", "value": 2}}
    for operation in ("update", "merge"):
        response = await client.post(f"{OPERATIONS}/{operation}", json=[ld(first), ld(second)], headers=LD)
        assert response.status_code == 204, response.text
        assert (await retrieve(client, entity["id"])).json()["speed"]["value"] == 2
