"""Deleted attributes and entities in the temporal representation (ETSI GS CIM 009 V1.8.1 clauses
4.5.6 to 4.5.8 and 5.2.20: an attribute's deletion is an instance holding the NGSI-LD Null with its
deletedAt; a deleted entity carries its own deletedAt)."""

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
    """4.5.7 and 5.2.20: with timeproperty=deletedAt each deleted attribute is an instance of the
    NGSI-LD Null and its deletedAt; the entity's deletion shows its deletedAt at the top, later
    than the attribute deleted before it, and the same as the deletion it recorded of the
    attributes it still had."""
    entity_id = await deleted_vehicle(client)
    got = await body(await retrieve_temporal(client, entity_id, timeproperty="deletedAt"))
    ((brand,),) = [got["brandName"]]
    ((speed,),) = [got["speed"]]
    assert brand["value"] == speed["value"] == "urn:ngsi-ld:null"
    assert got["deletedAt"] == speed["deletedAt"]
    assert got["deletedAt"] > brand["deletedAt"], "the entity was deleted after its brandName"
    values = await body(
        await retrieve_temporal(client, entity_id, timeproperty="deletedAt", options="temporalValues")
    )
    assert values["deletedAt"] == got["deletedAt"]
    assert values["speed"] == {"type": "Property", "values": [["urn:ngsi-ld:null", got["deletedAt"]]]}


async def test_deleted_at_with_sys_attrs_and_not_without(client: httpx.AsyncClient) -> None:
    """5.2.20 and 4.8: a deleted entity's deletedAt is a system attribute: shown with sysAttrs
    beside createdAt and modifiedAt (and when deletions are what is asked for, above), not in the
    plain observedAt view, whose instances are the values observed before the deletion."""
    entity_id = await deleted_vehicle(client)
    plain = await body(await retrieve_temporal(client, entity_id))
    assert "deletedAt" not in plain
    assert [i["value"] for i in plain["speed"]] == [3]
    system = await body(await retrieve_temporal(client, entity_id, options="sysAttrs"))
    deletions = await body(await retrieve_temporal(client, entity_id, timeproperty="deletedAt"))
    assert system["deletedAt"] == deletions["deletedAt"]
    assert system["createdAt"] <= system["modifiedAt"] <= system["deletedAt"]


async def test_query_finds_deleted_entities_by_deleted_at(client: httpx.AsyncClient) -> None:
    """5.7.4 with timeproperty=deletedAt: the query selects the entities with deletions in the
    window and shows the deleted entity's deletedAt; a window before the deletion finds none."""
    entity_id = await deleted_vehicle(client)
    window = {"timerel": "after", "timeAt": OBSERVED, "timeproperty": "deletedAt"}
    (found,) = await body(await query_temporal(client, id=entity_id, type="Vehicle", **window))
    assert found["id"] == entity_id and found["deletedAt"].endswith("Z")
    assert {name for name in found if name not in ("id", "type", "deletedAt")} == {"speed", "brandName"}
    before = {**window, "timerel": "before"}
    assert await body(await query_temporal(client, id=entity_id, type="Vehicle", **before)) == []
