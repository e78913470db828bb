"""pick and omit through Linked Entity Retrieval: the Attribute projection language (ETSI GS CIM 009
V1.8.1 clause 4.21) naming members of linked entities (clause 4.5.23, `join` and `joinLevel`), on
Retrieve Entity (5.7.1), Query Entities (5.7.2) and its POST form (5.7.2 via 6.23)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import JSON, LINK, V1, created, problem, query, retrieve

BUILDING = "urn:ngsi-ld:Building:lp-1"
CITY = "urn:ngsi-ld:City:lp-1"
COUNTRY = "urn:ngsi-ld:Country:lp-1"
PERSON = "urn:ngsi-ld:Person:lp-1"


def rel(target: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Relationship", "object": target, **extra}


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


@pytest.fixture
async def town(client: httpx.AsyncClient) -> None:
    """A building locatedAt a city locatedAt a country, and owned by a person."""
    await created(
        client,
        {
            "id": BUILDING,
            "type": "Building",
            "name": prop("Town hall"),
            "locatedAt": rel(CITY),
            "owner": rel(PERSON),
        },
    )
    await created(
        client,
        {
            "id": CITY,
            "type": "City",
            "name": prop("Aarhus"),
            "population": prop(367095),
            "locatedAt": rel(COUNTRY),
        },
    )
    await created(client, {"id": COUNTRY, "type": "Country", "name": prop("Denmark")})
    await created(client, {"id": PERSON, "type": "Person", "name": prop("Anna"), "age": prop(41)})


async def building(client: httpx.AsyncClient, operation: str, **params: str) -> Any:
    if operation == "retrieve":
        response = await retrieve(client, BUILDING, **params)
    else:
        response = await query(client, type="Building", **params)
    assert response.status_code == 200, response.text
    body = response.json()
    return body if operation == "retrieve" or params.get("join") == "flat" else body[0]


OPERATIONS = pytest.mark.parametrize("operation", ["retrieve", "query"])


@OPERATIONS
async def test_pick_names_members_of_the_linked_entity(
    client: httpx.AsyncClient, town: None, operation: str
) -> None:
    """4.21 with 4.5.23: `locatedAt{name}` keeps of the city only its name; the building keeps what
    its own pick names (`owner` not named: neither it nor its person)."""
    got = await building(client, operation, pick="id,name,locatedAt{name}", join="inline")
    assert got == {
        "id": BUILDING,
        "name": prop("Town hall"),
        "locatedAt": rel(CITY, entity={"name": prop("Aarhus")}),
    }


@OPERATIONS
async def test_pick_two_hops_deep(client: httpx.AsyncClient, town: None, operation: str) -> None:
    """4.21: braces within braces project the entities two hops away (joinLevel 2)."""
    got = await building(
        client, operation, pick="locatedAt{id,locatedAt{name}}", join="inline", joinLevel="2"
    )
    assert got == {
        "locatedAt": rel(
            CITY, entity={"id": CITY, "locatedAt": rel(COUNTRY, entity={"name": prop("Denmark")})}
        )
    }


async def test_a_relationship_picked_without_braces_links_the_whole_entity(
    client: httpx.AsyncClient, town: None
) -> None:
    """4.21: a Relationship named without braces brings its linked entity whole."""
    got = await building(client, "retrieve", pick="id,locatedAt", join="inline")
    assert got["locatedAt"]["entity"] == {
        "id": CITY,
        "type": "City",
        "name": prop("Aarhus"),
        "population": prop(367095),
        "locatedAt": rel(COUNTRY),
    }
    assert set(got) == {"id", "locatedAt"}


@OPERATIONS
async def test_omit_of_the_linking_entity_keeps_the_linked_ones(
    client: httpx.AsyncClient, town: None, operation: str
) -> None:
    """4.21: `omit=name` removes the building's own name; the entities it links to keep theirs."""
    got = await building(client, operation, omit="name", join="inline")
    assert "name" not in got
    assert got["locatedAt"]["entity"]["name"] == prop("Aarhus")
    assert got["owner"]["entity"]["name"] == prop("Anna")


@OPERATIONS
async def test_omit_with_braces_keeps_the_relationship(
    client: httpx.AsyncClient, town: None, operation: str
) -> None:
    """4.21: `omit=locatedAt{population},owner` keeps locatedAt and omits the city's population;
    the owner Relationship goes, and its person with it."""
    got = await building(client, operation, omit="locatedAt{population},owner", join="inline")
    assert set(got) == {"id", "type", "name", "locatedAt"}
    assert got["locatedAt"]["entity"] == {
        "id": CITY,
        "type": "City",
        "name": prop("Aarhus"),
        "locatedAt": rel(COUNTRY),
    }


async def test_flat_join_projects_each_linked_entity(client: httpx.AsyncClient, town: None) -> None:
    """4.5.23 flat with 4.21: the linked entities follow in the list, each as the projection of the
    Relationship that reached it; only Relationships the projection keeps bring entities."""
    got = await building(client, "query", pick="id,locatedAt{id,name}", join="flat")
    assert got == [{"id": BUILDING, "locatedAt": rel(CITY)}, {"id": CITY, "name": prop("Aarhus")}]
    got = await building(client, "retrieve", pick="id,owner{id,age}", join="flat")
    assert got == [{"id": BUILDING, "owner": rel(PERSON)}, {"id": PERSON, "age": prop(41)}]


async def test_simplified_inline_projection(client: httpx.AsyncClient, town: None) -> None:
    """4.5.23 in the simplified representation: the projected linked entity is the Relationship's
    value."""
    got = await building(client, "query", pick="name,owner{name}", join="inline", options="keyValues")
    assert got == {"name": "Town hall", "owner": {"name": "Anna"}}


async def test_post_query_projects_linked_entities(client: httpx.AsyncClient, town: None) -> None:
    """5.7.2 through POST /entityOperations/query: the Query's pick takes the same projections."""
    body = {
        "type": "Query",
        "entities": [{"type": "Building"}],
        "pick": ["id", "locatedAt{name,locatedAt{name}}"],
        "join": "inline",
        "joinLevel": 2,
    }
    response = await client.post(f"{V1}/entityOperations/query", json=body, headers={**JSON, "Link": LINK})
    assert response.status_code == 200, response.text
    (got,) = response.json()
    country = rel(COUNTRY, entity={"name": prop("Denmark")})
    assert got == {
        "id": BUILDING,
        "locatedAt": rel(CITY, entity={"name": prop("Aarhus"), "locatedAt": country}),
    }
    deeper = {**body, "joinLevel": 1}
    response = await client.post(f"{V1}/entityOperations/query", json=deeper, headers={**JSON, "Link": LINK})
    problem(response, 400, "BadRequestData")


@pytest.mark.parametrize(
    "params",
    [
        {"pick": "locatedAt{name}"},
        {"omit": "locatedAt{name}"},
        {"pick": "locatedAt{locatedAt{name}}", "join": "inline"},
        {"pick": "locatedAt{name", "join": "inline"},
    ],
)
async def test_projections_of_linked_entities_need_a_join_deep_enough(
    client: httpx.AsyncClient, town: None, params: dict[str, str]
) -> None:
    """4.21 and 4.5.23: braces without join, more levels of braces than joinLevel, or a malformed
    projection are BadRequestData, on retrieval as on query."""
    problem(await retrieve(client, BUILDING, **params), 400, "BadRequestData")
    problem(await query(client, type="Building", **params), 400, "BadRequestData")
