"""ETSI NGSI-LD conformance: Provision/EntityAttributes, MergeEntity, ReplaceEntity and DeleteEntity."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import ENTITIES, JSON, LD, LINK, SUITE_CONTEXT, created, ld, new_id, problem, retrieve, vehicle

WITH_LINK = {**JSON, "Link": LINK}

MERGE_TARGET = {
    "name": [
        {"type": "Property", "value": "Eiffel Tower"},
        {"type": "Property", "value": "Tour Eiffel", "datasetId": "urn:ngsi-ld:Dataset:01"},
    ],
    "locatedAt": [
        {"type": "Relationship", "object": "urn:ngsi-ld:City:Paris"},
        {"type": "Relationship", "object": "urn:ngsi-ld:City:Lyon", "datasetId": "urn:ngsi-ld:Dataset:01"},
    ],
    "location": [
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.29, 48.85]}},
        {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [4.83, 45.76]},
            "datasetId": "urn:ngsi-ld:Dataset:01",
        },
    ],
    "street": [
        {"type": "LanguageProperty", "languageMap": {"fr": "Champ de Mars"}},
        {
            "type": "LanguageProperty",
            "languageMap": {"fr": "Place Bellecour"},
            "datasetId": "urn:ngsi-ld:Dataset:01",
        },
    ],
}
NULLS = {
    "name": {"type": "Property", "value": "urn:ngsi-ld:null"},
    "locatedAt": {"type": "Relationship", "object": "urn:ngsi-ld:null"},
    "location": {"type": "GeoProperty", "value": "urn:ngsi-ld:null"},
    "street": {"type": "LanguageProperty", "languageMap": {"@none": "urn:ngsi-ld:null"}},
}


@pytest.fixture
async def entity_id(client: httpx.AsyncClient) -> str:
    entity = vehicle()
    await created(client, entity)
    return str(entity["id"])


async def test_010_append_attributes(client: httpx.AsyncClient, entity_id: str) -> None:
    fragment = {"isParked": {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:1"}}
    response = await client.post(f"{ENTITIES}/{entity_id}/attrs/", json=fragment, headers=WITH_LINK)
    assert response.status_code == 204
    assert (await retrieve(client, entity_id)).json()["isParked"][
        "object"
    ] == "urn:ngsi-ld:OffStreetParking:1"


async def test_010_04_no_overwrite_is_207(client: httpx.AsyncClient, entity_id: str) -> None:
    fragment = {"speed": {"type": "Property", "value": 1}, "new": {"type": "Property", "value": 2}}
    response = await client.post(
        f"{ENTITIES}/{entity_id}/attrs", params={"options": "noOverwrite"}, json=fragment, headers=WITH_LINK
    )
    assert response.status_code == 207
    result = response.json()
    assert result["updated"] == ["new"]
    assert [item["attributeName"] for item in result["notUpdated"]] == ["speed"]
    assert all(item["reason"] for item in result["notUpdated"])


async def test_010_append_to_a_missing_entity(client: httpx.AsyncClient) -> None:
    fragment = {"speed": {"type": "Property", "value": 1}}
    problem(
        await client.post(f"{ENTITIES}/{new_id()}/attrs", json=fragment, headers=WITH_LINK),
        404,
        "ResourceNotFound",
    )


async def test_563_01_type_selector_gates_the_append(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    body = {"id": entity_id, "type": "Building", "name": {"type": "Property", "value": "x"}}
    assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201
    fragment = {"name": {"type": "Property", "value": "y"}}
    url = f"{ENTITIES}/{entity_id}/attrs"
    problem(
        await client.post(url, params={"type": "Vehicle"}, json=fragment, headers=JSON),
        404,
        "ResourceNotFound",
    )
    assert (await client.get(f"{ENTITIES}/{entity_id}")).json()["name"]["value"] == "x"
    assert (
        await client.post(url, params={"type": "Building"}, json=fragment, headers=JSON)
    ).status_code == 204
    assert (await client.get(f"{ENTITIES}/{entity_id}")).json()["name"]["value"] == "y"


async def test_011_01_update_existing_and_append_new_attributes(
    client: httpx.AsyncClient, entity_id: str
) -> None:
    """011_01_03: the suite expects attributes the entity lacks to be added (204), not reported."""
    fragment = {
        "speed": {"type": "Property", "value": 90},
        "isParked": {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:Downtown1"},
    }
    response = await client.patch(f"{ENTITIES}/{entity_id}/attrs/", json=fragment, headers=WITH_LINK)
    assert response.status_code == 204 and response.content == b""
    got = (await retrieve(client, entity_id)).json()
    assert got["speed"] == {"type": "Property", "value": 90}
    assert got["isParked"]["object"] == "urn:ngsi-ld:OffStreetParking:Downtown1"


async def test_011_01_04_change_the_type_of_an_attribute(client: httpx.AsyncClient, entity_id: str) -> None:
    fragment = {"brandName": {"type": "Relationship", "object": "urn:ngsi-ld:Brand:01"}}
    assert (
        await client.patch(f"{ENTITIES}/{entity_id}/attrs/", json=fragment, headers=WITH_LINK)
    ).status_code == 204
    assert (await retrieve(client, entity_id)).json()["brandName"] == fragment["brandName"]


@pytest.mark.parametrize("entity_id", ["", "thisisaninvaliduri"])
async def test_011_02_invalid_entity_id(client: httpx.AsyncClient, entity_id: str) -> None:
    fragment = {"speed": {"type": "Property", "value": 1}}
    problem(
        await client.patch(f"{ENTITIES}/{entity_id}/attrs/", json=fragment, headers=WITH_LINK),
        400,
        "BadRequestData",
    )


async def test_011_03_unknown_entity(client: httpx.AsyncClient) -> None:
    fragment = {"speed": {"type": "Property", "value": 1}}
    problem(
        await client.patch(f"{ENTITIES}/{new_id()}/attrs/", json=fragment, headers=WITH_LINK),
        404,
        "ResourceNotFound",
    )


async def test_011_04_and_010_05_invalid_fragment(client: httpx.AsyncClient, entity_id: str) -> None:
    broken = b'{"speed": {"type": "Property",, "value": 56}}'
    for method in ("PATCH", "POST"):
        response = await client.request(
            method, f"{ENTITIES}/{entity_id}/attrs/", content=broken, headers=WITH_LINK
        )
        problem(response, 400, "InvalidRequest")


async def test_011_05_update_scope(client: httpx.AsyncClient) -> None:
    scoped, bare = new_id("Building"), new_id("Building")
    for entity_id, extra in ((scoped, {"scope": "/Madrid/Gardens/ParqueNorte"}), (bare, {})):
        body = {"id": entity_id, "type": "Building", **extra}
        assert (await client.post(ENTITIES, json=body, headers=WITH_LINK)).status_code == 201
    fragment = {"scope": "/CompanyA/OrganizationB/UnitC"}
    assert (await client.patch(f"{ENTITIES}/{scoped}/attrs/", json=fragment, headers=JSON)).status_code == 204
    assert (await client.get(f"{ENTITIES}/{scoped}")).json()["scope"] == "/CompanyA/OrganizationB/UnitC"
    response = await client.patch(f"{ENTITIES}/{bare}/attrs/", json=fragment, headers=JSON)
    assert response.status_code == 207
    assert [item["attributeName"] for item in response.json()["notUpdated"]] == ["scope"]
    assert "scope" not in (await client.get(f"{ENTITIES}/{bare}")).json()


@pytest.mark.parametrize(
    ("case", "types", "expected"),
    [
        ("011_06_01 one type", "Vehicle", ["Building", "Vehicle"]),
        ("011_06_02 two types", ["Vehicle", "Car"], ["Building", "Vehicle", "Car"]),
        ("011_06_03 an existing type", "Building", "Building"),
        ("011_06_04 one new and one existing", ["Vehicle", "Building"], ["Building", "Vehicle"]),
    ],
)
async def test_011_06_update_adds_types(
    client: httpx.AsyncClient, case: str, types: Any, expected: Any
) -> None:
    entity_id = new_id("Building")
    assert (
        await client.post(ENTITIES, json={"id": entity_id, "type": "Building"}, headers=WITH_LINK)
    ).status_code == 201
    response = await client.patch(f"{ENTITIES}/{entity_id}/attrs/", json=ld({"type": types}), headers=LD)
    assert response.status_code == 204
    got = (await retrieve(client, entity_id)).json()["type"]
    assert got == expected


@pytest.mark.parametrize("name", list(NULLS))
@pytest.mark.parametrize("dataset", [None, "urn:ngsi-ld:Dataset:01"])
async def test_011_07_08_update_null_deletes(
    client: httpx.AsyncClient, name: str, dataset: str | None
) -> None:
    entity_id = new_id("Building")
    await created(client, {"id": entity_id, "type": "Building", name: MERGE_TARGET[name]})
    null = {**NULLS[name], **({"datasetId": dataset} if dataset else {})}
    response = await client.patch(f"{ENTITIES}/{entity_id}/attrs/", json=ld({name: null}), headers=LD)
    assert response.status_code == 204 and response.content == b""
    got = (await retrieve(client, entity_id)).json()
    assert got[name] == next(i for i in MERGE_TARGET[name] if i.get("datasetId") != dataset)


async def test_562_01_type_selector_gates_the_update(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    body = {"id": entity_id, "type": "Building", "name": {"type": "Property", "value": "x"}}
    assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201
    url = f"{ENTITIES}/{entity_id}/attrs/"
    fragment = {"name": {"type": "Property", "value": "y"}}
    problem(
        await client.patch(url, params={"type": "Vehicle"}, json=fragment, headers=JSON),
        404,
        "ResourceNotFound",
    )
    assert (await client.get(f"{ENTITIES}/{entity_id}")).json()["name"]["value"] == "x"
    assert (
        await client.patch(url, params={"type": "Building"}, json=fragment, headers=JSON)
    ).status_code == 204
    assert (await client.get(f"{ENTITIES}/{entity_id}")).json()["name"]["value"] == "y"


@pytest.fixture
async def temperature(client: httpx.AsyncClient) -> str:
    entity_id = new_id()
    body = {
        "id": entity_id,
        "type": "Vehicle",
        "temperature": {
            "type": "Property",
            "value": 25,
            "unitCode": "CEL",
            "observedAt": "2022-03-14T01:59:26.535Z",
        },
    }
    assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201
    return entity_id


async def test_558_01_01_partial_update_keeps_other_members(
    client: httpx.AsyncClient, temperature: str
) -> None:
    fragment = {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}
    response = await client.patch(f"{ENTITIES}/{temperature}/attrs/temperature", json=fragment, headers=JSON)
    assert response.status_code == 204
    got = (await client.get(f"{ENTITIES}/{temperature}")).json()["temperature"]
    assert got == {
        "type": "Property",
        "value": 100,
        "observedAt": "2022-03-14T13:00:00.000Z",
        "unitCode": "CEL",
    }


async def test_558_01_02_update_replaces_the_whole_attribute(
    client: httpx.AsyncClient, temperature: str
) -> None:
    fragment = {"temperature": {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}}
    assert (
        await client.patch(f"{ENTITIES}/{temperature}/attrs", json=fragment, headers=JSON)
    ).status_code == 204
    response = await client.get(f"{ENTITIES}/{temperature}")
    assert response.json()["temperature"]["value"] == 100
    assert "CEL" not in response.text


async def test_558_01_03_null_deletes_the_attribute(client: httpx.AsyncClient, temperature: str) -> None:
    fragment = {"temperature": {"type": "Property", "value": "urn:ngsi-ld:null"}}
    assert (
        await client.patch(f"{ENTITIES}/{temperature}/attrs", json=fragment, headers=JSON)
    ).status_code == 204
    response = await client.get(f"{ENTITIES}/{temperature}")
    assert "temperature" not in response.json()
    assert "urn:ngsi-ld:null" not in response.text


async def test_558_01_04_dataset_ids(client: httpx.AsyncClient, temperature: str) -> None:
    url = f"{ENTITIES}/{temperature}/attrs/"
    response = await client.patch(f"{url}temperature", json={"datasetId": "urn:ngsi-ld:null"}, headers=JSON)
    problem(response, 400, "BadRequestData")
    extra = {"temperature": {"type": "Property", "value": 30, "datasetId": "urn:ngsi-ld:Dataset:extra"}}
    assert (await client.patch(url, json=extra, headers=JSON)).status_code == 204
    instances = (await client.get(f"{ENTITIES}/{temperature}")).json()["temperature"]
    assert sorted(i["value"] for i in instances) == [25, 30]


@pytest.fixture
async def madrid_building(client: httpx.AsyncClient) -> str:
    entity_id = new_id()
    body = {
        "id": entity_id,
        "type": "Building",
        "scope": "/Madrid",
        "name": {"type": "Property", "value": "x"},
    }
    assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201
    return entity_id


async def test_564_01_01_scope_cannot_be_partially_updated(
    client: httpx.AsyncClient, madrid_building: str
) -> None:
    response = await client.patch(
        f"{ENTITIES}/{madrid_building}/attrs/scope", json={"value": "/Barcelona"}, headers=JSON
    )
    problem(response, 400, "BadRequestData")
    assert (await client.get(f"{ENTITIES}/{madrid_building}")).json()["scope"] == "/Madrid"


async def test_564_01_02_type_selector_gates_the_partial_update(
    client: httpx.AsyncClient, madrid_building: str
) -> None:
    url = f"{ENTITIES}/{madrid_building}/attrs/name"
    problem(
        await client.patch(url, params={"type": "Vehicle"}, json={"value": "y"}, headers=JSON),
        404,
        "ResourceNotFound",
    )
    assert (
        await client.patch(url, params={"type": "Building"}, json={"value": "y"}, headers=JSON)
    ).status_code == 204
    assert (await client.get(f"{ENTITIES}/{madrid_building}")).json()["name"]["value"] == "y"


async def test_565_01_delete_attribute_type_selector_and_scope(
    client: httpx.AsyncClient, madrid_building: str
) -> None:
    url = f"{ENTITIES}/{madrid_building}/attrs"
    problem(await client.delete(f"{url}/name", params={"type": "Vehicle"}), 404, "ResourceNotFound")
    assert (await client.get(f"{ENTITIES}/{madrid_building}")).json()["name"]["value"] == "x"
    assert (await client.delete(f"{url}/name", params={"type": "Building"})).status_code == 204
    assert (await client.delete(f"{url}/scope")).status_code == 204
    got = (await client.get(f"{ENTITIES}/{madrid_building}")).json()
    assert "scope" not in got and "name" not in got


async def test_013_delete_attribute(client: httpx.AsyncClient, entity_id: str) -> None:
    url = f"{ENTITIES}/{entity_id}/attrs/speed"
    assert (await client.delete(url, headers={"Link": LINK})).status_code == 204
    assert "speed" not in (await retrieve(client, entity_id)).json()
    problem(await client.delete(url, headers={"Link": LINK}), 404, "ResourceNotFound")


async def test_055_replace_attribute(client: httpx.AsyncClient, entity_id: str) -> None:
    url = f"{ENTITIES}/{entity_id}/attrs/speed"
    response = await client.put(
        url, json={"type": "Property", "value": 12, "unitCode": "KMH"}, headers=WITH_LINK
    )
    assert response.status_code == 204
    assert (await retrieve(client, entity_id)).json()["speed"] == {
        "type": "Property",
        "value": 12,
        "unitCode": "KMH",
    }
    problem(
        await client.put(
            f"{ENTITIES}/{entity_id}/attrs/missing", json={"type": "Property", "value": 1}, headers=WITH_LINK
        ),
        404,
        "ResourceNotFound",
    )


async def test_054_replace_entity(client: httpx.AsyncClient, entity_id: str) -> None:
    replacement = {"id": entity_id, "type": "Vehicle", "brandName": {"type": "Property", "value": "Volvo"}}
    assert (await client.put(f"{ENTITIES}/{entity_id}", json=ld(replacement), headers=LD)).status_code == 204
    assert (await retrieve(client, entity_id)).json() == replacement
    missing = {**replacement, "id": new_id()}
    problem(
        await client.put(f"{ENTITIES}/{missing['id']}", json=ld(missing), headers=LD), 404, "ResourceNotFound"
    )
    problem(
        await client.put(f"{ENTITIES}/{new_id()}", json=ld(replacement), headers=LD), 400, "BadRequestData"
    )


async def test_056_merge_entity(client: httpx.AsyncClient, entity_id: str) -> None:
    fragment = {
        "speed": {"type": "Property", "value": 100},
        "brandName": "urn:ngsi-ld:null",
        "@context": [SUITE_CONTEXT],
    }
    assert (await client.patch(f"{ENTITIES}/{entity_id}", json=fragment, headers=LD)).status_code == 204
    got = (await retrieve(client, entity_id)).json()
    assert got["speed"]["value"] == 100 and "brandName" not in got


async def test_554_01_03_null_inside_a_value_on_partial_update(client: httpx.AsyncClient) -> None:
    entity = vehicle(
        address={"type": "Property", "value": {"street": "Straße des 17. Juni", "country": "Germany"}}
    )
    await created(client, entity)
    fragment = {"value": {"country": "urn:ngsi-ld:null"}, "@context": [SUITE_CONTEXT]}
    response = await client.patch(f"{ENTITIES}/{entity['id']}/attrs/address", json=fragment, headers=LD)
    problem(response, 400, "BadRequestData")
    response = await retrieve(client, entity["id"])
    assert response.json()["address"]["value"]["country"] == "Germany"


async def test_554_01_04_merge_patches_inside_a_value(client: httpx.AsyncClient) -> None:
    address = {"street": "Straße des 17. Juni", "city": "Berlin", "country": "Germany"}
    entity = vehicle(address={"type": "Property", "value": address})
    await created(client, entity)
    patch = {"street": "Pariser Platz", "country": "urn:ngsi-ld:null"}
    fragment = {"address": {"type": "Property", "value": patch}, "@context": [SUITE_CONTEXT]}
    assert (await client.patch(f"{ENTITIES}/{entity['id']}", json=fragment, headers=LD)).status_code == 204
    response = await retrieve(client, entity["id"])
    assert response.json()["address"]["value"] == {"street": "Pariser Platz", "city": "Berlin"}
    assert "urn:ngsi-ld:null" not in response.text


async def test_002_delete_entity(client: httpx.AsyncClient, entity_id: str) -> None:
    response = await client.delete(f"{ENTITIES}/{entity_id}")
    assert response.status_code == 204
    problem(await client.delete(f"{ENTITIES}/{entity_id}"), 404, "ResourceNotFound")
    problem(await client.delete(f"{ENTITIES}/not-a-uri"), 400, "BadRequestData")


async def test_566_01_type_selector_gates_the_delete(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    assert (
        await client.post(ENTITIES, json={"id": entity_id, "type": "Building"}, headers=JSON)
    ).status_code == 201
    problem(
        await client.delete(f"{ENTITIES}/{entity_id}", params={"type": "Vehicle"}), 404, "ResourceNotFound"
    )
    assert (await client.get(f"{ENTITIES}/{entity_id}")).status_code == 200
    assert (await client.delete(f"{ENTITIES}/{entity_id}", params={"type": "Building"})).status_code == 204
    assert (await client.get(f"{ENTITIES}/{entity_id}")).status_code == 404


@pytest.mark.parametrize(
    ("case", "entity_id", "status", "error"),
    [
        ("056_02_01 an invalid id", "invalidUri", 400, "BadRequestData"),
        ("056_02_02 no id", "", 400, "BadRequestData"),
        ("056_02_03 a nonexistent id", "urn:ngsi-ld:Building:Nonexistent", 404, "ResourceNotFound"),
    ],
)
async def test_056_02_merge_with_a_faulty_id(
    client: httpx.AsyncClient, case: str, entity_id: str, status: int, error: str
) -> None:
    fragment = {"name": {"type": "Property", "value": "Eiffel Tower"}}
    problem(await client.patch(f"{ENTITIES}/{entity_id}", json=fragment, headers=WITH_LINK), status, error)


@pytest.mark.parametrize("name", list(NULLS))
@pytest.mark.parametrize("dataset", [None, "urn:ngsi-ld:Dataset:01"])
async def test_056_03_to_05_merge_null_deletes(
    client: httpx.AsyncClient, name: str, dataset: str | None
) -> None:
    """056_04 deletes the instance with a datasetId, 056_05 the default instance; the other stays."""
    entity_id = new_id("Building")
    await created(client, {"id": entity_id, "type": "Building", name: MERGE_TARGET[name]})
    null = {**NULLS[name], **({"datasetId": dataset} if dataset else {})}
    fragment = {"id": entity_id, "type": "Building", name: null}
    response = await client.patch(f"{ENTITIES}/{entity_id}", json=ld(fragment), headers=LD)
    assert response.status_code == 204 and response.content == b""
    got = (await retrieve(client, entity_id)).json()
    kept = [i for i in MERGE_TARGET[name] if i.get("datasetId") != dataset]
    assert got[name] == kept[0]
    assert "urn:ngsi-ld:null" not in str(got)


async def test_056_03_merge_null_deletes_a_single_instance_attribute(
    client: httpx.AsyncClient, entity_id: str
) -> None:
    fragment = {"brandName": {"type": "Property", "value": "urn:ngsi-ld:null"}}
    assert (await client.patch(f"{ENTITIES}/{entity_id}", json=ld(fragment), headers=LD)).status_code == 204
    assert "brandName" not in (await retrieve(client, entity_id)).json()


async def test_056_01_04_merge_a_property_with_partial_data(client: httpx.AsyncClient) -> None:
    entity_id = new_id("Building")
    quality = {"type": "Property", "value": 4, "unitCode": "C62", "observedAt": "2020-09-09T16:40:00.000Z"}
    await created(client, {"id": entity_id, "type": "Building", "airQualityLevel": quality})
    change = {"type": "Property", "value": 1, "observedAt": "2024-01-01T00:00:00.000Z"}
    fragment = {"id": entity_id, "type": "Building", "airQualityLevel": change}
    assert (await client.patch(f"{ENTITIES}/{entity_id}", json=ld(fragment), headers=LD)).status_code == 204
    got = (await retrieve(client, entity_id)).json()["airQualityLevel"]
    assert got == {**quality, "value": 1, "observedAt": "2024-01-01T00:00:00.000Z"}


async def test_056_01_01_merge_an_empty_entity(client: httpx.AsyncClient, entity_id: str) -> None:
    before = (await retrieve(client, entity_id)).json()
    fragment = {"id": entity_id, "type": "Vehicle"}
    assert (await client.patch(f"{ENTITIES}/{entity_id}", json=ld(fragment), headers=LD)).status_code == 204
    assert (await retrieve(client, entity_id)).json() == before


async def test_054_01_replace_keeps_created_at(client: httpx.AsyncClient, entity_id: str) -> None:
    created_at = (await retrieve(client, entity_id, options="sysAttrs")).json()["createdAt"]
    replacement = {"id": entity_id, "type": "Vehicle", "name": {"type": "Property", "value": "Car"}}
    response = await client.put(f"{ENTITIES}/{entity_id}", json=replacement, headers=WITH_LINK)
    assert response.status_code == 204 and response.content == b""
    got = (await retrieve(client, entity_id, options="sysAttrs")).json()
    assert got["createdAt"] == created_at
    assert "speed" not in got and got["name"]["value"] == "Car"


@pytest.mark.parametrize("entity_id", ["", "thisisaninvaliduri"])
async def test_010_02_append_with_an_invalid_entity_id(client: httpx.AsyncClient, entity_id: str) -> None:
    fragment = {"speed": {"type": "Property", "value": 1}}
    response = await client.post(f"{ENTITIES}/{entity_id}/attrs/", json=fragment, headers=WITH_LINK)
    problem(response, 400, "BadRequestData")


async def test_010_07_append_scope(client: httpx.AsyncClient) -> None:
    replaced, appended = new_id("Building"), new_id("Building")
    for entity_id in (replaced, appended):
        body = {"id": entity_id, "type": "Building", "scope": "/Madrid/Gardens/ParqueNorte"}
        assert (await client.post(ENTITIES, json=body, headers=WITH_LINK)).status_code == 201
    fragment = {"scope": "/CompanyA/OrganizationB/UnitC"}
    assert (
        await client.post(f"{ENTITIES}/{replaced}/attrs/", json=fragment, headers=JSON)
    ).status_code == 204
    assert (await client.get(f"{ENTITIES}/{replaced}")).json()["scope"] == "/CompanyA/OrganizationB/UnitC"
    url = f"{ENTITIES}/{appended}/attrs/"
    assert (
        await client.post(url, params={"options": "noOverwrite"}, json=fragment, headers=JSON)
    ).status_code == 204
    assert (await client.get(f"{ENTITIES}/{appended}")).json()["scope"] == [
        "/Madrid/Gardens/ParqueNorte",
        "/CompanyA/OrganizationB/UnitC",
    ]


@pytest.fixture
async def two_speeds(client: httpx.AsyncClient) -> str:
    entity_id = new_id()
    speed = [
        {"type": "Property", "value": 55, "source": {"type": "Property", "value": "Speedometer"}},
        {
            "type": "Property",
            "value": 54.5,
            "source": {"type": "Property", "value": "GPS"},
            "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed",
        },
    ]
    await created(client, {"id": entity_id, "type": "Vehicle", "speed": speed})
    return entity_id


async def test_012_01_partial_update_by_dataset_id(client: httpx.AsyncClient, two_speeds: str) -> None:
    fragment = {"value": 20, "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"}
    response = await client.patch(f"{ENTITIES}/{two_speeds}/attrs/speed", json=ld(fragment), headers=LD)
    assert response.status_code == 204 and response.content == b""
    speeds = (await retrieve(client, two_speeds)).json()["speed"]
    gps = next(s for s in speeds if s.get("datasetId"))
    assert gps["value"] == 20 and gps["source"]["value"] == "GPS"
    assert next(s for s in speeds if not s.get("datasetId"))["value"] == 55


@pytest.mark.parametrize(
    ("case", "target", "fragment"),
    [
        ("012_02_01 no entity id", "", {"value": 20}),
        ("012_02_02 an invalid entity id", "thisisaninvaliduri", {"value": 20}),
        (
            "012_02_03 another attribute type",
            None,
            {"type": "Relationship", "object": "urn:ngsi-ld:Entity:01"},
        ),
        ("012_02_04 an empty fragment", None, {}),
    ],
)
async def test_012_02_invalid_partial_updates(
    client: httpx.AsyncClient, two_speeds: str, case: str, target: str | None, fragment: dict[str, Any]
) -> None:
    entity_id = two_speeds if target is None else target
    response = await client.patch(f"{ENTITIES}/{entity_id}/attrs/speed", json=fragment, headers=WITH_LINK)
    problem(response, 400, "BadRequestData")


@pytest.mark.parametrize(
    ("case", "unknown_entity", "attr", "fragment"),
    [
        ("012_03_01 unknown entity", True, "speed", {"value": 1}),
        (
            "012_03_03 unknown datasetId",
            False,
            "speed",
            {"value": 1, "datasetId": "urn:ngsi-ld:Property:unknown"},
        ),
        ("012_03_04 unknown attribute", False, "isParked2", {"object": "urn:ngsi-ld:OffStreetParking:1"}),
    ],
)
async def test_012_03_partial_update_of_something_unknown(
    client: httpx.AsyncClient,
    two_speeds: str,
    case: str,
    unknown_entity: bool,
    attr: str,
    fragment: dict[str, Any],
) -> None:
    entity_id = new_id() if unknown_entity else two_speeds
    response = await client.patch(f"{ENTITIES}/{entity_id}/attrs/{attr}", json=fragment, headers=WITH_LINK)
    problem(response, 404, "ResourceNotFound")


async def test_012_04_partial_update_of_a_language_property(client: httpx.AsyncClient) -> None:
    entity_id = new_id("Building")
    street = {
        "type": "LanguageProperty",
        "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"},
        "source": {"type": "Property", "value": "Speedometer"},
    }
    await created(client, {"id": entity_id, "type": "Building", "street": street})
    fragment = {
        "languageMap": {"fr": "Grand Place", "es": "Gran Lugar"},
        "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:JohnDoe"},
    }
    response = await client.patch(f"{ENTITIES}/{entity_id}/attrs/street", json=ld(fragment), headers=LD)
    assert response.status_code == 204
    got = (await retrieve(client, entity_id)).json()["street"]
    assert got == {**street, **fragment}


@pytest.mark.parametrize("name", list(NULLS))
@pytest.mark.parametrize("dataset", [None, "urn:ngsi-ld:Dataset:01"])
async def test_012_05_to_07_partial_update_null_deletes(
    client: httpx.AsyncClient, name: str, dataset: str | None
) -> None:
    entity_id = new_id("Building")
    await created(client, {"id": entity_id, "type": "Building", name: MERGE_TARGET[name]})
    null = {**NULLS[name], **({"datasetId": dataset} if dataset else {})}
    response = await client.patch(f"{ENTITIES}/{entity_id}/attrs/{name}", json=ld(null), headers=LD)
    assert response.status_code == 204 and response.content == b""
    got = (await retrieve(client, entity_id)).json()
    assert got[name] == next(i for i in MERGE_TARGET[name] if i.get("datasetId") != dataset)


async def test_012_09_partial_update_of_a_vocab_property(client: httpx.AsyncClient) -> None:
    entity_id = new_id("Building")
    vocab = {"type": "VocabProperty", "vocab": "monument", "source": {"type": "Property", "value": "Guide"}}
    await created(client, {"id": entity_id, "type": "Building", "vocabProperty": vocab})
    response = await client.patch(
        f"{ENTITIES}/{entity_id}/attrs/vocabProperty", json=ld({"vocab": "sightseeing"}), headers=LD
    )
    assert response.status_code == 204
    assert (await retrieve(client, entity_id)).json()["vocabProperty"] == {**vocab, "vocab": "sightseeing"}


@pytest.mark.parametrize(
    ("case", "dataset", "delete_all", "left"),
    [
        (
            "013_01_01 the default instance",
            None,
            "false",
            [{"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"}],
        ),
        ("013_01_02 one datasetId", "urn:ngsi-ld:Dataset:gps", "false", [{"type": "Property", "value": 55}]),
        ("013_01_03 every instance", None, "true", []),
    ],
)
async def test_013_01_delete_attribute_instances(
    client: httpx.AsyncClient, case: str, dataset: str | None, delete_all: str, left: list[dict[str, Any]]
) -> None:
    entity_id = new_id()
    speed = [
        {"type": "Property", "value": 55},
        {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"},
    ]
    await created(client, {"id": entity_id, "type": "Vehicle", "speed": speed})
    params = {"deleteAll": delete_all, **({"datasetId": dataset} if dataset else {})}
    response = await client.delete(
        f"{ENTITIES}/{entity_id}/attrs/speed", params=params, headers={"Link": LINK}
    )
    assert response.status_code == 204 and response.content == b""
    got = (await retrieve(client, entity_id)).json()
    assert got.get("speed", []) == (left[0] if len(left) == 1 else left)


@pytest.mark.parametrize(
    ("case", "target", "attr", "status", "error"),
    [
        ("013_02_01 no entity id", "", "speed", 400, "BadRequestData"),
        ("013_02_02 an invalid entity id", "thisIsAnInvalidURI", "speed", 400, "BadRequestData"),
        ("013_02_03 no attribute name", None, "", 405, "OperationNotSupported"),
        ("013_03_02 an unknown attribute", None, "notFound", 404, "ResourceNotFound"),
    ],
)
async def test_013_02_03_delete_attribute_errors(
    client: httpx.AsyncClient,
    entity_id: str,
    case: str,
    target: str | None,
    attr: str,
    status: int,
    error: str,
) -> None:
    url = f"{ENTITIES}/{entity_id if target is None else target}/attrs/{attr}"
    problem(await client.delete(url, params={"deleteAll": "false"}), status, error)


async def test_013_03_unknown_entity_or_dataset(client: httpx.AsyncClient, two_speeds: str) -> None:
    unknown = await client.delete(
        f"{ENTITIES}/{new_id()}/attrs/speed", params={"datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"}
    )
    problem(unknown, 404, "ResourceNotFound")
    response = await client.delete(
        f"{ENTITIES}/{two_speeds}/attrs/speed",
        params={"datasetId": "urn:ngsi-ld:Property:notFound"},
        headers={"Link": LINK},
    )
    problem(response, 404, "ResourceNotFound")


async def test_055_02_replace_one_instance_keeps_created_at(
    client: httpx.AsyncClient, two_speeds: str
) -> None:
    before = (await retrieve(client, two_speeds, options="sysAttrs")).json()["speed"]
    created_at = next(s for s in before if "datasetId" not in s)["createdAt"]
    replacement = {"type": "Property", "value": 88}
    response = await client.put(f"{ENTITIES}/{two_speeds}/attrs/speed", json=replacement, headers=WITH_LINK)
    assert response.status_code == 204 and response.content == b""
    after = (await retrieve(client, two_speeds, options="sysAttrs")).json()["speed"]
    default = next(s for s in after if "datasetId" not in s)
    assert default["value"] == 88 and "source" not in default and default["createdAt"] == created_at
    assert next(s for s in after if "datasetId" in s)["value"] == 54.5
