"""ETSI NGSI-LD conformance: Consumption/Discovery (/types and /attributes, TPs 022-027, 577, 5710)."""

from __future__ import annotations

import httpx
import pytest
from etsi import JSON, LINK, SUITE, V1, building, created, problem, vehicle

WITH_LINK = {"Link": LINK}


@pytest.fixture
async def two_buildings_and_a_vehicle(client: httpx.AsyncClient) -> None:
    await created(client, building())
    await created(client, building())
    await created(client, vehicle())


async def test_022_01_entity_types(client: httpx.AsyncClient, two_buildings_and_a_vehicle: None) -> None:
    compact = (await client.get(f"{V1}/types", headers=WITH_LINK)).json()
    assert compact["type"] == "EntityTypeList" and compact["id"].startswith("urn:ngsi-ld:EntityTypeList:")
    assert compact["typeList"] == ["Building", "Vehicle"]
    expanded = (await client.get(f"{V1}/types")).json()
    assert expanded["typeList"] == [SUITE + "Building", SUITE + "Vehicle"]


async def test_023_01_entity_type_details(
    client: httpx.AsyncClient, two_buildings_and_a_vehicle: None
) -> None:
    details = (await client.get(f"{V1}/types", params={"details": "true"}, headers=WITH_LINK)).json()
    building_type = next(t for t in details if t["typeName"] == "Building")
    assert building_type == {
        "id": SUITE + "Building",
        "type": "EntityType",
        "typeName": "Building",
        "attributeNames": ["airQualityLevel", "name", "subCategory"],
    }


@pytest.mark.parametrize("name", ["Building", "https%3A%2F%2Fngsi-ld-test-suite%2Fcontext%23Building"])
async def test_024_02_entity_type_info(
    client: httpx.AsyncClient, two_buildings_and_a_vehicle: None, name: str
) -> None:
    info = (await client.get(f"{V1}/types/{name}", headers=WITH_LINK)).json()
    assert info["id"] == SUITE + "Building" and info["type"] == "EntityTypeInfo"
    assert info["typeName"] == "Building" and info["entityCount"] == 2
    assert {a["attributeName"]: a["attributeTypes"] for a in info["attributeDetails"]} == {
        "name": ["Property"],
        "subCategory": ["Property"],
        "airQualityLevel": ["Property"],
    }


async def test_577_01_01_unknown_type(client: httpx.AsyncClient) -> None:
    problem(await client.get(f"{V1}/types/NoSuchType12345", headers=WITH_LINK), 404, "ResourceNotFound")


async def test_577_01_02_undefined_parameter(
    client: httpx.AsyncClient, two_buildings_and_a_vehicle: None
) -> None:
    problem(await client.get(f"{V1}/types/Building", params={"details": "true"}), 400, "InvalidRequest")


async def test_577_01_03_types_are_per_tenant(client: httpx.AsyncClient) -> None:
    a, b = {"NGSILD-Tenant": "tp577a"}, {"NGSILD-Tenant": "tp577b"}
    body_a = {"id": "urn:ngsi-ld:Building:577a", "type": "TenantAType"}
    body_b = {"id": "urn:ngsi-ld:Building:577b", "type": "Building"}
    assert (await client.post(f"{V1}/entities", json=body_a, headers={**JSON, **a})).status_code == 201
    assert (await client.post(f"{V1}/entities", json=body_b, headers={**JSON, **b})).status_code == 201
    assert "TenantAType" in (await client.get(f"{V1}/types", headers=a)).json()["typeList"]
    assert "TenantAType" not in (await client.get(f"{V1}/types", headers=b)).json()["typeList"]
    problem(await client.get(f"{V1}/types/TenantAType", headers=b), 404, "ResourceNotFound")


async def test_025_026_027_attributes(client: httpx.AsyncClient, two_buildings_and_a_vehicle: None) -> None:
    listed = (await client.get(f"{V1}/attributes", headers=WITH_LINK)).json()
    assert listed["type"] == "AttributeList"
    assert listed["attributeList"] == ["airQualityLevel", "brandName", "name", "speed", "subCategory"]
    details = (await client.get(f"{V1}/attributes", params={"details": "true"}, headers=WITH_LINK)).json()
    speed = next(a for a in details if a["attributeName"] == "speed")
    assert speed == {
        "id": SUITE + "speed",
        "type": "Attribute",
        "attributeName": "speed",
        "typeNames": ["Vehicle"],
    }
    info = (await client.get(f"{V1}/attributes/name", headers=WITH_LINK)).json()
    assert (
        info["attributeCount"] == 2
        and info["attributeTypes"] == ["Property"]
        and info["typeNames"] == ["Building"]
    )


async def test_5710_01_attribute_edges(client: httpx.AsyncClient, two_buildings_and_a_vehicle: None) -> None:
    problem(
        await client.get(f"{V1}/attributes/noSuchAttribute12345", headers=WITH_LINK), 404, "ResourceNotFound"
    )
    listed = (await client.get(f"{V1}/attributes", headers=WITH_LINK)).json()["attributeList"]
    for member in ("id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"):
        assert member not in listed
        problem(await client.get(f"{V1}/attributes/{member}", headers=WITH_LINK), 404, "ResourceNotFound")
    problem(await client.get(f"{V1}/attributes", params={"limit": "5"}), 400, "InvalidRequest")
    problem(await client.get(f"{V1}/attributes/name", params={"details": "true"}), 400, "InvalidRequest")
