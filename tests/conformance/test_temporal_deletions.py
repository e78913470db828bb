"""Deleted attributes and entities in the temporal representation (ETSI GS CIM 009 V1.8.1 clauses
4.5.7, 4.5.8, 5.2.20 and 6.3.11: an attribute's deletion is an instance holding the NGSI-LD Null with
its deletedAt; a deleted entity's deletedAt is one of its system attributes, shown with sysAttrs)."""

from __future__ import annotations

from typing import Any

import httpx
from etsi import ENTITIES, LD, LINK, ld, new_id, query_temporal, retrieve_temporal

OBSERVED = "2020-01-01T00:00:00Z"


async def deleted_vehicle(client: httpx.AsyncClient) -> str:
    """A Vehicle with a speed and a brandName: the brandName deleted, then the whole entity."""
    entity_id = new_id()
    entity = {
        "id": entity_id,
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 3, "observedAt": OBSERVED},
        "brandName": {"type": "Property", "value": "Volvo"},
    }
    response = await client.post(ENTITIES, json=ld(entity), headers=LD)
    assert response.status_code == 201, response.text
    response = await client.delete(f"{ENTITIES}/{entity_id}/attrs/brandName", headers={"Link": LINK})
    assert response.status_code == 204, response.text
    response = await client.delete(f"{ENTITIES}/{entity_id}")
    assert response.status_code == 204, response.text
    return entity_id


async def body(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_deletions_are_instances_with_deleted_at(client: httpx.AsyncClient) -> None:
    """4.5.7, 5.2.20 and 6.3.11: with timeproperty=deletedAt each deleted attribute is an instance
    of the NGSI-LD Null and its deletedAt; with sysAttrs the entity shows its own deletedAt, later
    than the attribute deleted before it, and the same as the deletion it recorded of the
    attributes it still had."""
    entity_id = await deleted_vehicle(client)
    deletions = {"timeproperty": "deletedAt", "options": "sysAttrs"}
    got = await body(await retrieve_temporal(client, entity_id, **deletions))
    ((brand,),) = [got["brandName"]]
    ((speed,),) = [got["speed"]]
    assert brand["value"] == speed["value"] == "urn:ngsi-ld:null"
    assert got["deletedAt"] == speed["deletedAt"]
    assert got["deletedAt"] > brand["deletedAt"], "the entity was deleted after its brandName"
    values = await body(
        await retrieve_temporal(client, entity_id, timeproperty="deletedAt", options="temporalValues")
    )
    assert "deletedAt" not in values
    assert values["speed"] == {"type": "Property", "values": [["urn:ngsi-ld:null", got["deletedAt"]]]}


async def test_deleted_at_with_sys_attrs_and_not_without(client: httpx.AsyncClient) -> None:
    """6.3.11: a deleted entity's deletedAt is a system attribute of the temporal representation:
    shown with sysAttrs beside createdAt and modifiedAt, not without, neither in the plain
    observedAt view (whose instances are the values observed before the deletion) nor in the
    deletedAt one."""
    entity_id = await deleted_vehicle(client)
    plain = await body(await retrieve_temporal(client, entity_id))
    assert "deletedAt" not in plain
    assert [i["value"] for i in plain["speed"]] == [3]
    deletions = await body(await retrieve_temporal(client, entity_id, timeproperty="deletedAt"))
    assert "deletedAt" not in deletions
    system = await body(await retrieve_temporal(client, entity_id, options="sysAttrs"))
    assert system["deletedAt"] == deletions["speed"][0]["deletedAt"]
    assert system["createdAt"] <= system["modifiedAt"] <= system["deletedAt"]


async def test_query_finds_deleted_entities_by_deleted_at(client: httpx.AsyncClient) -> None:
    """5.7.4 with timeproperty=deletedAt: the query selects the entities with deletions in the
    window and, with sysAttrs (6.3.11), shows the deleted entity's deletedAt; a window before the
    deletion finds none."""
    entity_id = await deleted_vehicle(client)
    window = {"timerel": "after", "timeAt": OBSERVED, "timeproperty": "deletedAt", "options": "sysAttrs"}
    (found,) = await body(await query_temporal(client, id=entity_id, type="Vehicle", **window))
    assert found["id"] == entity_id and found["deletedAt"].endswith("Z")
    members = {"id", "type", "createdAt", "modifiedAt", "deletedAt"}
    assert {name for name in found if name not in members} == {"speed", "brandName"}
    before = {**window, "timerel": "before"}
    assert await body(await query_temporal(client, id=entity_id, type="Vehicle", **before)) == []
