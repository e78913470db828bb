"""ETSI NGSI-LD conformance: TP/NGSI-LD/ContextInformation/Provision/TemporalEntity and
TemporalEntityAttributes (create, upsert and delete a temporal evolution; add attributes, delete
an attribute, modify and delete one instance)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import (
    ENTITIES,
    JSON,
    LD,
    LINK,
    TEMPORAL,
    create_temporal,
    instances,
    ld,
    new_id,
    problem,
    retrieve_temporal,
    same,
)

FUEL_DATASET = "urn:ngsi-ld:Vehicle:12345-fuel"
DAY = "2020-09-01"
LINKED = {**JSON, "Link": LINK}


def representation(entity_id: str | None = None) -> dict[str, Any]:
    """vehicle-temporal-representation.jsonld: two speeds, three fuel levels (one in a dataset)."""
    return {
        "id": entity_id or new_id(),
        "type": "Vehicle",
        "speed": instances(DAY, (120, "12:03"), (80, "12:05")),
        "fuelLevel": [
            *instances(DAY, (67, "12:03"), (53, "13:05")),
            *instances(DAY, (40, "14:07"), datasetId=FUEL_DATASET),
        ],
    }


@pytest.fixture
async def entity(client: httpx.AsyncClient) -> dict[str, Any]:
    created_one = representation()
    await create_temporal(client, created_one)
    return created_one


async def history(client: httpx.AsyncClient, entity_id: str) -> dict[str, Any]:
    response = await retrieve_temporal(client, entity_id, headers={"Accept": "application/ld+json"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- CreateTemporalRepresentationOfEntity ----------------------------------------------------------


async def test_007_01_01_create_with_context(client: httpx.AsyncClient) -> None:
    entity = representation()
    response = await create_temporal(client, entity)
    assert response.text == ""
    same(await history(client, entity["id"]), entity, "@context")


async def test_007_01_02_create_without_context(client: httpx.AsyncClient) -> None:
    entity = {
        "id": new_id(),
        "type": "Vehicle",
        "speed": instances(DAY, (120, "12:03"), (80, "12:05"), (100, "12:07")),
        "fuelLevel": instances(DAY, (67, "12:03"), (53, "13:05"), (40, "14:07")),
    }
    response = await client.post(TEMPORAL, json=entity, headers=JSON)
    assert response.status_code == 201 and response.text == ""
    got = await client.get(f"{TEMPORAL}/{entity['id']}")
    same(got.json(), entity)


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("007_02_01 invalid JSON", b'{"id": "urn:ngsi-ld:Vehicle:8313926113148778",, "type": "Vehicle"}'),
        ("007_02_02 empty JSON", b""),
    ],
)
async def test_007_02_invalid_body(client: httpx.AsyncClient, case: str, body: bytes) -> None:
    problem(await client.post(TEMPORAL, content=body, headers=LD), 400, "InvalidRequest")


@pytest.mark.parametrize(
    ("case", "entity_id"), [("007_03_01 missing id", ""), ("007_03_02 invalid URI", "invalidId")]
)
async def test_007_03_invalid_id(client: httpx.AsyncClient, case: str, entity_id: str) -> None:
    entity = {**representation(), "id": entity_id}
    problem(await client.post(TEMPORAL, json=ld(entity), headers=LD), 400, "BadRequestData")


# -- UpdateTemporalRepresentationOfEntity ----------------------------------------------------------


async def test_008_01_01_upsert(client: httpx.AsyncClient) -> None:
    """An upsert adds the instances; one observed at the same moment as a recorded instance of the
    same attribute and datasetId replaces it (121 replaces 120 at 12:03)."""
    entity = representation()
    await create_temporal(client, entity)
    update = {
        "id": entity["id"],
        "type": "Vehicle",
        "speed": instances(DAY, (121, "12:03"), (80, "12:05"), (100, "12:07")),
        "fuelLevel": instances(DAY, (67, "12:03"), (53, "13:05"), (40, "14:07")),
    }
    response = await create_temporal(client, update, status=204)
    assert response.text == ""
    expected = {
        **update,
        "fuelLevel": [*update["fuelLevel"], *instances(DAY, (40, "14:07"), datasetId=FUEL_DATASET)],
    }
    same(await history(client, entity["id"]), expected, "@context")


async def test_5611_01_01_upsert_unions_types_and_accepts_deleted_instances(
    client: httpx.AsyncClient,
) -> None:
    entity_id = new_id()
    first = {"id": entity_id, "type": "Vehicle", "speed": instances("2026-01-01", (1, "00:00"))}
    assert (await client.post(TEMPORAL, json=first, headers=JSON)).status_code == 201
    second = {
        "id": entity_id,
        "type": ["Vehicle", "Truck"],
        "speed": instances("2026-01-02", ("urn:ngsi-ld:null", "00:00")),
    }
    assert (await client.post(TEMPORAL, json=second, headers=JSON)).status_code == 204
    got = await client.get(
        f"{TEMPORAL}/{entity_id}", params={"timerel": "before", "timeAt": "2030-01-01T00:00:00Z"}
    )
    assert got.status_code == 200
    assert sorted(got.json()["type"]) == ["Truck", "Vehicle"]
    assert len(got.json()["speed"]) == 2


async def test_5611_01_02_first_level_null_is_refused(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    body = {
        "id": entity_id,
        "type": "Vehicle",
        "expiresAt": "urn:ngsi-ld:null",
        "speed": instances("2026-01-01", (1, "00:00")),
    }
    problem(await client.post(TEMPORAL, json=body, headers=JSON), 400, "BadRequestData")
    got = await client.get(
        f"{TEMPORAL}/{entity_id}", params={"timerel": "before", "timeAt": "2030-01-01T00:00:00Z"}
    )
    assert got.status_code == 404


async def test_5611_01_03_null_in_a_fragment_removes(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    body = {
        "id": entity_id,
        "type": "Vehicle",
        "expiresAt": "2099-01-01T00:00:00Z",
        "speed": {"type": "Property", "value": 1},
    }
    assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201
    patched = await client.patch(
        f"{ENTITIES}/{entity_id}", json={"expiresAt": "urn:ngsi-ld:null"}, headers=JSON
    )
    assert patched.status_code == 204, patched.text
    got = await client.get(f"{ENTITIES}/{entity_id}")
    assert "expiresAt" not in got.json() and "urn:ngsi-ld:null" not in got.text


# -- DeleteTemporalRepresentationOfEntity ----------------------------------------------------------


async def test_009_01_01_delete(client: httpx.AsyncClient, entity: dict[str, Any]) -> None:
    response = await client.delete(f"{TEMPORAL}/{entity['id']}")
    assert response.status_code == 204 and response.text == ""
    assert (await retrieve_temporal(client, entity["id"])).status_code == 404


async def test_009_02_01_delete_without_id(client: httpx.AsyncClient) -> None:
    assert (await client.delete(f"{TEMPORAL}/")).status_code == 405


async def test_009_02_02_delete_invalid_id(client: httpx.AsyncClient) -> None:
    problem(await client.delete(f"{TEMPORAL}/invalidId"), 400, "BadRequestData")


async def test_009_03_01_delete_unknown(client: httpx.AsyncClient) -> None:
    problem(await client.delete(f"{TEMPORAL}/{new_id()}"), 404, "ResourceNotFound")


# -- AddAttributes -------------------------------------------------------------------------------

ADDED = {"added_attribute": instances(DAY, (120, "12:03"), (80, "12:05"), (100, "12:07"))}


async def test_014_01_01_add_attribute(client: httpx.AsyncClient, entity: dict[str, Any]) -> None:
    response = await client.post(f"{TEMPORAL}/{entity['id']}/attrs", json=ld(ADDED), headers=LD)
    assert response.status_code == 204 and response.text == ""
    same(await history(client, entity["id"]), {**entity, **ADDED}, "@context")


@pytest.mark.parametrize(
    ("case", "entity_id"), [("014_02_01 empty id", ""), ("014_02_02 invalid id", "thisIsAninvalidId")]
)
async def test_014_02_add_to_invalid_id(
    client: httpx.AsyncClient, entity: dict[str, Any], case: str, entity_id: str
) -> None:
    response = await client.post(f"{TEMPORAL}/{entity_id}/attrs", json=ld(ADDED), headers=LD)
    problem(response, 400, "BadRequestData")


async def test_014_03_01_add_to_unknown_entity(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{TEMPORAL}/{new_id()}/attrs", json=ld(ADDED), headers=LD)
    problem(response, 404, "ResourceNotFound")


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("014_04_01 invalid content", b'{"id": "urn:ngsi-ld:Vehicle:1",, "type": "Vehicle"}'),
        ("014_04_02 empty", b""),
    ],
)
async def test_014_04_add_invalid_content(
    client: httpx.AsyncClient, entity: dict[str, Any], case: str, body: bytes
) -> None:
    response = await client.post(f"{TEMPORAL}/{entity['id']}/attrs", content=body, headers=LD)
    problem(response, 400, "InvalidRequest")


# -- DeleteAttribute -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "params", "fuel_left"),
    [
        ("015_01_01 default instances", {"deleteAll": "false"}, [FUEL_DATASET]),
        ("015_01_02 one datasetId", {"deleteAll": "false", "datasetId": FUEL_DATASET}, [None, None]),
        ("015_01_03 deleteAll", {"deleteAll": "true"}, []),
    ],
)
async def test_015_01_delete_attribute(
    client: httpx.AsyncClient,
    entity: dict[str, Any],
    case: str,
    params: dict[str, str],
    fuel_left: list[str | None],
) -> None:
    response = await client.delete(
        f"{TEMPORAL}/{entity['id']}/attrs/fuelLevel", params=params, headers=LINKED
    )
    assert response.status_code == 204 and response.text == ""
    expected = {**entity, "fuelLevel": [i for i in entity["fuelLevel"] if i.get("datasetId") in fuel_left]}
    if not fuel_left:
        del expected["fuelLevel"]
    same(await history(client, entity["id"]), expected, "@context")


@pytest.mark.parametrize(
    ("case", "entity_id", "attr"),
    [
        ("015_02_01 missing entity id", "", "speed"),
        ("015_02_02 invalid entity id", "invalidId", "speed"),
        ("015_02_03 invalid attribute name", None, "invalid(Name"),
        ("015_04_01 percent-encoded ..", None, "%2e%2e"),
        ("015_04_02 doubly encoded ..", None, "%252e%252e"),
        ("015_04_03 percent-encoded .", None, "%2e"),
    ],
)
async def test_015_02_and_015_04_delete_attribute_bad_names(
    client: httpx.AsyncClient, entity: dict[str, Any], case: str, entity_id: str | None, attr: str
) -> None:
    target = entity["id"] if entity_id is None else entity_id
    response = await client.delete(
        f"{TEMPORAL}/{target}/attrs/{attr}", params={"deleteAll": "false"}, headers=JSON
    )
    problem(response, 400, "BadRequestData")
    assert (await retrieve_temporal(client, entity["id"])).status_code == 200


@pytest.mark.parametrize(
    ("case", "unknown_entity", "attr"),
    [
        ("015_03_01 unknown entity", True, "fuelLevel"),
        ("015_03_02 unknown attribute", False, "notExistingAttribute"),
    ],
)
async def test_015_03_delete_unknown(
    client: httpx.AsyncClient, entity: dict[str, Any], case: str, unknown_entity: bool, attr: str
) -> None:
    target = new_id() if unknown_entity else entity["id"]
    response = await client.delete(
        f"{TEMPORAL}/{target}/attrs/{attr}", params={"deleteAll": "false"}, headers=LINKED
    )
    problem(response, 404, "ResourceNotFound")


# -- PartialUpdateAttributeInstance and DeleteAttributeInstance ----------------------------------

FRAGMENT = {"type": "Property", "value": 129, "observedAt": f"{DAY}T12:03:00Z"}


async def first_speed(client: httpx.AsyncClient, entity_id: str) -> str:
    body = (await retrieve_temporal(client, entity_id, options="sysAttrs")).json()
    speeds = sorted(body["speed"], key=lambda instance: instance["observedAt"])
    return str(speeds[0]["instanceId"])


async def test_016_01_01_modify_instance(client: httpx.AsyncClient, entity: dict[str, Any]) -> None:
    instance_id = await first_speed(client, entity["id"])
    url = f"{TEMPORAL}/{entity['id']}/attrs/speed/{instance_id}"
    response = await client.patch(url, json=FRAGMENT, headers=LINKED)
    assert response.status_code == 204 and response.text == ""
    assert await first_speed(client, entity["id"]) == instance_id
    expected = {**entity, "speed": [FRAGMENT, *entity["speed"][1:]]}
    same(await history(client, entity["id"]), expected, "@context", "modifiedAt")


@pytest.mark.parametrize(
    ("case", "target", "attr", "instance", "status"),
    [
        ("016_02_01 invalid entity id", "invalidId", "speed", None, 400),
        ("016_02_02 missing entity id", "", "speed", None, 400),
        ("016_02_03 invalid instance id", None, "speed", "invalidId", 400),
        ("016_02_04 missing instance id", None, "speed", "", 405),
        ("016_02_05 invalid attribute name", None, "invalid(Id", None, 400),
        ("016_02_06 missing attribute name", None, "", None, 405),
        ("016_03_01 unknown entity", "unknown", "speed", None, 404),
        ("016_03_02 unknown attribute", None, "speed2", None, 404),
        ("016_03_03 unknown instance", None, "speed", "urn:ngsi-ld:01234567890123456789", 404),
    ],
)
async def test_016_02_and_016_03_modify_instance_errors(
    client: httpx.AsyncClient,
    entity: dict[str, Any],
    case: str,
    target: str | None,
    attr: str,
    instance: str | None,
    status: int,
) -> None:
    entity_id = entity["id"] if target is None else new_id() if target == "unknown" else target
    instance_id = await first_speed(client, entity["id"]) if instance is None else instance
    response = await client.patch(
        f"{TEMPORAL}/{entity_id}/attrs/{attr}/{instance_id}", json=FRAGMENT, headers=LINKED
    )
    assert response.status_code == status, response.text
    if status != 405:
        problem(response, status, "ResourceNotFound" if status == 404 else "BadRequestData")


async def test_017_01_01_delete_instance(client: httpx.AsyncClient, entity: dict[str, Any]) -> None:
    instance_id = await first_speed(client, entity["id"])
    response = await client.delete(
        f"{TEMPORAL}/{entity['id']}/attrs/speed/{instance_id}", headers={"Link": LINK}
    )
    assert response.status_code == 204 and response.text == ""
    same(await history(client, entity["id"]), {**entity, "speed": entity["speed"][1:]}, "@context")


@pytest.mark.parametrize(
    ("case", "target", "attr", "instance", "status"),
    [
        ("017_02_01 invalid entity id", "invalidId", "speed", None, 400),
        ("017_02_02 missing entity id", "", "speed", None, 400),
        ("017_02_03 invalid instance id", None, "speed", "invalidId", 400),
        ("017_02_04 invalid attribute name", None, "invalid(Name", None, 400),
        ("017_02_05 missing attribute name", None, "", None, 400),
        ("017_03_01 unknown entity", "unknown", "speed", None, 404),
        ("017_03_02 unknown attribute", None, "speed2", None, 404),
        ("017_03_03 unknown instance", None, "speed", "urn:ngsi-ld:01234567890123456789", 404),
    ],
)
async def test_017_02_and_017_03_delete_instance_errors(
    client: httpx.AsyncClient,
    entity: dict[str, Any],
    case: str,
    target: str | None,
    attr: str,
    instance: str | None,
    status: int,
) -> None:
    entity_id = entity["id"] if target is None else new_id() if target == "unknown" else target
    instance_id = await first_speed(client, entity["id"]) if instance is None else instance
    response = await client.delete(
        f"{TEMPORAL}/{entity_id}/attrs/{attr}/{instance_id}", headers={"Link": LINK}
    )
    problem(response, status, "ResourceNotFound" if status == 404 else "BadRequestData")
    assert (await retrieve_temporal(client, entity["id"])).status_code == 200
