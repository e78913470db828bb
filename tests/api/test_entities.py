"""Entity operations through the HTTP API on a real SQLite file."""

from __future__ import annotations

from typing import Any

import httpx

from smartby.ngsild.errors import ERRORS_BASE

V1 = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}


def light(number: int = 1, **extra: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Streetlight:{number}",
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on"},
        "illuminance": {
            "type": "Property",
            "value": 120,
            "unitCode": "LUX",
            "observedAt": "2024-05-01T20:00:00Z",
        },
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [12.5683, 55.6761]}},
        "refCabinet": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightControlCabinet:7"},
    }
    entity.update(extra)
    return entity


async def create(client: httpx.AsyncClient, entity: dict[str, Any], **headers: str) -> httpx.Response:
    response = await client.post(f"{V1}/entities", json=entity, headers={**JSON, **headers})
    assert response.status_code == 201, response.text
    return response


def problem_type(response: httpx.Response) -> str:
    body = response.json()
    assert body["status"] == response.status_code
    assert body["title"] and body["detail"]
    return str(body["type"]).removeprefix(ERRORS_BASE)


async def test_create_then_retrieve_normalized(client: httpx.AsyncClient) -> None:
    response = await create(client, light())
    assert response.headers["location"] == f"{V1}/entities/urn:ngsi-ld:Streetlight:1"
    got = await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:1")
    assert got.status_code == 200
    assert got.json() == light()
    assert "ngsi-ld-core-context" in got.headers["link"]


async def test_create_twice_is_already_exists(client: httpx.AsyncClient) -> None:
    await create(client, light())
    again = await client.post(f"{V1}/entities", json=light(), headers=JSON)
    assert again.status_code == 409
    assert problem_type(again) == "AlreadyExists"


async def test_key_values_and_concise_output(client: httpx.AsyncClient) -> None:
    await create(client, light())
    kv = (
        await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:1", params={"options": "keyValues"})
    ).json()
    assert kv == {
        "id": "urn:ngsi-ld:Streetlight:1",
        "type": "Streetlight",
        "powerState": "on",
        "illuminance": 120,
        "location": {"type": "Point", "coordinates": [12.5683, 55.6761]},
        "refCabinet": "urn:ngsi-ld:StreetlightControlCabinet:7",
    }
    concise = (
        await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:1", params={"format": "concise"})
    ).json()
    assert concise["powerState"] == "on"
    assert concise["illuminance"] == {"value": 120, "unitCode": "LUX", "observedAt": "2024-05-01T20:00:00Z"}
    assert concise["refCabinet"] == {"object": "urn:ngsi-ld:StreetlightControlCabinet:7"}
    assert concise["location"] == {"type": "Point", "coordinates": [12.5683, 55.6761]}


async def test_concise_and_key_values_input_round_trip(client: httpx.AsyncClient) -> None:
    concise = {
        "id": "urn:ngsi-ld:Streetlight:2",
        "type": "Streetlight",
        "powerState": "off",
        "illuminance": {"value": 0, "unitCode": "LUX"},
        "location": {"type": "Point", "coordinates": [10.2039, 56.1629]},
        "refCabinet": {"object": "urn:ngsi-ld:StreetlightControlCabinet:8"},
        "name": {"languageMap": {"da": "Gadelys", "en": "Street light"}},
    }
    await create(client, concise)
    got = (await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:2")).json()
    assert got["powerState"] == {"type": "Property", "value": "off"}
    assert got["location"]["type"] == "GeoProperty"
    assert got["refCabinet"] == {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightControlCabinet:8"}
    assert got["name"] == {"type": "LanguageProperty", "languageMap": {"da": "Gadelys", "en": "Street light"}}
    danish = (await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:2", params={"lang": "da"})).json()
    assert danish["name"] == {"type": "Property", "value": "Gadelys", "lang": "da"}
    kv_in = {
        "id": "urn:ngsi-ld:Streetlight:3",
        "type": "Streetlight",
        "powerState": "on",
        "lanternHeight": 10,
    }
    response = await client.post(f"{V1}/entities", params={"options": "keyValues"}, json=kv_in, headers=JSON)
    assert response.status_code == 201
    got = (
        await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:3", params={"options": "keyValues"})
    ).json()
    assert got == kv_in


async def test_sys_attrs(client: httpx.AsyncClient) -> None:
    await create(client, light())
    plain = (await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:1")).json()
    assert "createdAt" not in plain and "createdAt" not in plain["powerState"]
    with_sys = (
        await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:1", params={"options": "sysAttrs"})
    ).json()
    assert with_sys["createdAt"].endswith("Z") and with_sys["modifiedAt"] >= with_sys["createdAt"]
    assert with_sys["powerState"]["createdAt"] == with_sys["createdAt"]


async def test_system_timestamps_are_ignored_but_cannot_name_an_attribute(client: httpx.AsyncClient) -> None:
    stamp = "2016-06-29T15:59:09.224Z"
    await create(client, light(createdAt=stamp, modifiedAt=stamp))
    url = f"{V1}/entities/urn:ngsi-ld:Streetlight:1"
    assert (await client.get(url, params={"options": "sysAttrs"})).json()["createdAt"] != stamp
    as_attribute = {"type": "Property", "value": stamp}
    refused = [
        await client.post(f"{V1}/entities", json=light(2, modifiedAt=as_attribute), headers=JSON),
        await client.post(f"{url}/attrs", json={"createdAt": as_attribute}, headers=JSON),
        await client.patch(f"{url}/attrs", json=light(modifiedAt=as_attribute), headers=JSON),
    ]
    for response in refused:
        assert response.status_code == 400 and problem_type(response) == "BadRequestData"
        assert "is an NGSI-LD core member and cannot name an attribute" in response.json()["detail"]
    assert (await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:2")).status_code == 404


async def test_update_append_and_partial_update(client: httpx.AsyncClient) -> None:
    await create(client, light())
    url = f"{V1}/entities/urn:ngsi-ld:Streetlight:1"
    patched = await client.patch(
        f"{url}/attrs",
        json={"powerState": {"type": "Property", "value": "off"}, "missing": {"value": 1}},
        headers=JSON,
    )
    # ETSI TP 011_01_03: an attribute the entity lacks is added, not reported as not updated.
    assert patched.status_code == 204
    assert (await client.get(url)).json()["missing"] == {"type": "Property", "value": 1}
    appended = await client.post(
        f"{url}/attrs",
        params={"options": "noOverwrite"},
        json={"powerState": {"value": "on"}, "dimLevel": {"value": 40}},
        headers=JSON,
    )
    assert appended.status_code == 207
    got = (await client.get(url)).json()
    assert got["powerState"]["value"] == "off"
    assert got["dimLevel"] == {"type": "Property", "value": 40}
    partial = await client.patch(f"{url}/attrs/illuminance", json={"value": 80}, headers=JSON)
    assert partial.status_code == 204
    got = (await client.get(url)).json()
    assert got["illuminance"] == {
        "type": "Property",
        "value": 80,
        "unitCode": "LUX",
        "observedAt": "2024-05-01T20:00:00Z",
    }
    missing = await client.patch(f"{url}/attrs/nothing", json={"value": 1}, headers=JSON)
    assert missing.status_code == 404 and problem_type(missing) == "ResourceNotFound"


async def test_merge_patch_adds_merges_and_deletes(client: httpx.AsyncClient) -> None:
    await create(client, light())
    url = f"{V1}/entities/urn:ngsi-ld:Streetlight:1"
    merged = await client.patch(
        url,
        json={"illuminance": {"value": 95}, "powerState": "urn:ngsi-ld:null", "status": {"value": "ok"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert merged.status_code == 204, merged.text
    got = (await client.get(url)).json()
    assert "powerState" not in got
    assert got["status"] == {"type": "Property", "value": "ok"}
    assert got["illuminance"]["value"] == 95 and got["illuminance"]["unitCode"] == "LUX"


async def test_replace_entity_and_attribute(client: httpx.AsyncClient) -> None:
    await create(client, light())
    url = f"{V1}/entities/urn:ngsi-ld:Streetlight:1"
    before = (await client.get(url, params={"options": "sysAttrs"})).json()
    replaced = await client.put(
        url, json={"type": "Streetlight", "status": {"value": "defectiveLamp"}}, headers=JSON
    )
    assert replaced.status_code == 204
    after = (await client.get(url, params={"options": "sysAttrs"})).json()
    assert set(after) == {"id", "type", "status", "createdAt", "modifiedAt"}
    assert after["createdAt"] == before["createdAt"]
    put_attr = await client.put(f"{url}/attrs/status", json={"type": "Property", "value": "ok"}, headers=JSON)
    assert put_attr.status_code == 204
    assert (await client.get(url)).json()["status"] == {"type": "Property", "value": "ok"}


async def test_multi_attributes_with_dataset_ids(client: httpx.AsyncClient) -> None:
    entity = light(
        illuminance=[
            {"type": "Property", "value": 120},
            {"type": "Property", "value": 118, "datasetId": "urn:ngsi-ld:Dataset:sensor-b"},
        ]
    )
    await create(client, entity)
    url = f"{V1}/entities/urn:ngsi-ld:Streetlight:1"
    got = (await client.get(url)).json()
    assert got["illuminance"] == entity["illuminance"]
    only_b = (await client.get(url, params={"datasetId": "urn:ngsi-ld:Dataset:sensor-b"})).json()
    assert only_b["illuminance"] == {
        "type": "Property",
        "value": 118,
        "datasetId": "urn:ngsi-ld:Dataset:sensor-b",
    }
    deleted = await client.delete(
        f"{url}/attrs/illuminance", params={"datasetId": "urn:ngsi-ld:Dataset:sensor-b"}
    )
    assert deleted.status_code == 204
    assert (await client.get(url)).json()["illuminance"] == {"type": "Property", "value": 120}
    await client.delete(f"{url}/attrs/illuminance", params={"deleteAll": "true"})
    assert "illuminance" not in (await client.get(url)).json()


async def test_delete_entity(client: httpx.AsyncClient) -> None:
    await create(client, light())
    url = f"{V1}/entities/urn:ngsi-ld:Streetlight:1"
    assert (await client.delete(url)).status_code == 204
    gone = await client.get(url)
    assert gone.status_code == 404 and problem_type(gone) == "ResourceNotFound"
    assert (await client.delete(url)).status_code == 404


async def test_user_context_from_link_header(client: httpx.AsyncClient) -> None:
    url = "https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld"
    link = f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'

    await create(client, light(), Link=link)
    compact = await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:1", headers={"Link": link})
    assert compact.json()["powerState"]["value"] == "on"
    expanded = (await client.get(f"{V1}/entities/urn:ngsi-ld:Streetlight:1")).json()
    assert "https://smartdatamodels.org/dataModel.Streetlighting/powerState" in expanded
    assert expanded["type"] == "https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"


async def test_json_ld_body_and_response(client: httpx.AsyncClient) -> None:
    context = "https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"
    body = {**light(), "@context": context}
    response = await client.post(f"{V1}/entities", json=body, headers={"Content-Type": "application/ld+json"})
    assert response.status_code == 201
    link = f'<{context}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    got = await client.get(
        f"{V1}/entities/urn:ngsi-ld:Streetlight:1", headers={"Accept": "application/ld+json", "Link": link}
    )
    assert got.headers["content-type"].startswith("application/ld+json")
    assert got.json()["@context"] == context
    assert got.json()["powerState"]["value"] == "on"


async def test_tenants_are_isolated(client: httpx.AsyncClient) -> None:
    await create(client, light(), **{"NGSILD-Tenant": "aarhus"})
    url = f"{V1}/entities/urn:ngsi-ld:Streetlight:1"
    assert (await client.get(url, headers={"NGSILD-Tenant": "aarhus"})).status_code == 200
    assert (await client.get(url)).status_code == 404
    unknown = await client.get(url, headers={"NGSILD-Tenant": "odense"})
    assert unknown.status_code == 404 and problem_type(unknown) == "NonexistentTenant"
    listed = await client.get(f"{V1}/entities", params={"type": "Streetlight"})
    assert listed.json() == []
