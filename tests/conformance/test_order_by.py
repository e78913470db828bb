"""NGSI-LD conformance: ordering the answers of entity and temporal queries (`orderBy`).

V1.8.1 leaves the order of a query's answers to the broker (clause 5.5.9 asks only that pages do
not overlap); `orderBy` is Entity Ordering, clause 4.23 of V1.9.1 with the OrderingParams of clause
5.2.43, which these tests are written from.
"""

from __future__ import annotations

from typing import Any

import httpx
from etsi import (
    JSON,
    LINK,
    TEMPORAL_QUERY,
    V1,
    WITH_LINK,
    create_temporal,
    created,
    new_id,
    problem,
    query,
    query_temporal,
    vehicle,
)

QUERY = f"{V1}/entityOperations/query"


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entity["id"] for entity in response.json()]


async def fleet(client: httpx.AsyncClient) -> dict[str, str]:
    """Five vehicles: speeds 30, 120, 75, a string, and none; brands to break ties with."""
    made: dict[str, str] = {}
    for name, attributes in (
        (
            "slow",
            {"speed": {"type": "Property", "value": 30}, "brandName": {"type": "Property", "value": "Volvo"}},
        ),
        (
            "fast",
            {"speed": {"type": "Property", "value": 120}, "brandName": {"type": "Property", "value": "Audi"}},
        ),
        (
            "mid",
            {"speed": {"type": "Property", "value": 75}, "brandName": {"type": "Property", "value": "Volvo"}},
        ),
        ("text", {"speed": {"type": "Property", "value": "unknown"}}),
        ("none", {}),
    ):
        entity = vehicle(**attributes)
        if name == "none":
            del entity["speed"]
        await created(client, entity)
        made[name] = entity["id"]
    return made


async def test_4_23_ascending_and_descending_by_attribute(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 4.23: entities ordered by an attribute's value, ascending by default or with
    `;asc`, reversed with `;desc`; numbers before strings, and entities without the attribute come
    last in either direction."""
    made = await fleet(client)
    order = ["slow", "mid", "fast", "text", "none"]
    assert ids(await query(client, type="Vehicle", orderBy="speed")) == [made[n] for n in order]
    assert ids(await query(client, type="Vehicle", orderBy="speed;asc")) == [made[n] for n in order]
    descending = ["text", "fast", "mid", "slow", "none"]
    assert ids(await query(client, type="Vehicle", orderBy="speed;desc")) == [made[n] for n in descending]


async def test_4_23_several_keys_break_ties(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 4.23: each further key orders the entities the keys before it leave equal."""
    made = await fleet(client)
    response = await query(client, type="Vehicle", orderBy="brandName;desc,speed;desc")
    # Volvo (mid 75, slow 30), Mercedes (text, none keep the default brand), Audi (fast).
    got = ids(response)
    assert got[:2] == [made["mid"], made["slow"]]
    assert set(got[2:4]) == {made["text"], made["none"]}
    assert got[4] == made["fast"]
    by_brand_then_id = ids(await query(client, type="Vehicle", orderBy="brandName,id;desc"))
    mercedes = sorted([made["text"], made["none"]], reverse=True)
    volvo = sorted([made["slow"], made["mid"]], reverse=True)
    assert by_brand_then_id == [made["fast"], *mercedes, *volvo]


async def test_5_5_9_pages_follow_the_order(client: httpx.AsyncClient) -> None:
    """V1.8.1 clause 5.5.9 with V1.9.1 clause 4.23: limit and offset cut pages out of the ordered
    answer, and the count is the number of all matches."""
    made = await fleet(client)
    pages = []
    for offset in (0, 2, 4):
        response = await query(
            client, type="Vehicle", orderBy="speed;desc", limit="2", offset=str(offset), count="true"
        )
        assert response.headers["ngsild-results-count"] == "5"
        pages.extend(ids(response))
    assert pages == [made[n] for n in ("text", "fast", "mid", "slow", "none")]


async def test_4_23_order_with_a_query_decided_in_python(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 4.23 with a `q` (clause 4.9) the broker partly decides outside SQL: the
    ordering still holds, page by page."""
    made = await fleet(client)
    first = ids(await query(client, type="Vehicle", q="speed!=75", orderBy="speed;desc", limit="2"))
    second = ids(
        await query(client, type="Vehicle", q="speed!=75", orderBy="speed;desc", limit="2", offset="2")
    )
    assert first + second == [made["text"], made["fast"], made["slow"]]


async def test_4_23_entity_members(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 4.23: `id`, `createdAt` and `modifiedAt` order as the entity's own members."""
    made = await fleet(client)
    everyone = list(made.values())
    assert ids(await query(client, type="Vehicle", orderBy="id;desc")) == sorted(everyone, reverse=True)
    assert ids(await query(client, type="Vehicle", orderBy="createdAt;desc")) == everyone[::-1]
    response = await client.patch(
        f"{V1}/entities/{made['slow']}/attrs",
        json={"speed": {"type": "Property", "value": 31}},
        headers={**JSON, "Link": LINK},
    )
    assert response.status_code == 204, response.text
    assert ids(await query(client, type="Vehicle", orderBy="modifiedAt"))[-1] == made["slow"]
    assert ids(await query(client, type="Vehicle", orderBy="modifiedAt;desc"))[0] == made["slow"]


async def test_4_23_sub_attribute_and_member_paths(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 4.23 with the attribute paths of clause 4.9: a sub-attribute (`speed.accuracy`)
    and an instance member (`speed.observedAt`) order as a plain attribute does."""
    times = ["2024-05-01T10:00:00Z", "2024-05-01T09:00:00.5Z", "2024-05-01T09:00:00Z"]
    accuracies = [0.5, 2, 1]
    made = []
    for moment, accuracy in zip(times, accuracies, strict=True):
        entity = vehicle(
            speed={
                "type": "Property",
                "value": 50,
                "observedAt": moment,
                "accuracy": {"type": "Property", "value": accuracy},
            }
        )
        await created(client, entity)
        made.append(entity["id"])
    assert ids(await query(client, type="Vehicle", orderBy="speed.observedAt")) == [made[2], made[1], made[0]]
    assert ids(await query(client, type="Vehicle", orderBy="speed.accuracy;desc")) == [
        made[1],
        made[2],
        made[0],
    ]


async def test_4_23_post_query(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 4.23 on the Query Entities of clause 5.7.2 sent as POST /entityOperations/query."""
    made = await fleet(client)
    response = await client.post(
        QUERY,
        params={"orderBy": "speed;desc", "limit": "3"},
        json={"type": "Query", "entities": [{"type": "Vehicle"}]},
        headers={**JSON, "Link": LINK},
    )
    assert ids(response) == [made["text"], made["fast"], made["mid"]]


async def test_4_23_malformed_order_is_bad_request(client: httpx.AsyncClient) -> None:
    """V1.8.1 clause 5.5.2 and 6.3.2: a query parameter that cannot be read is a 400 with a
    ProblemDetails; an orderBy (V1.9.1 clause 4.23) with an unknown direction, an empty key or a
    key that is not an attribute path cannot be read."""
    for bad in ("speed;up", "", "speed,,id", "speed==3", "speed;asc;desc", "(speed)"):
        problem(await query(client, type="Vehicle", orderBy=bad), 400, "BadRequestData")
    response = await client.post(
        QUERY,
        params={"orderBy": "speed;sideways"},
        json={"type": "Query", "entities": [{"type": "Vehicle"}]},
        headers={**JSON, "Link": LINK},
    )
    problem(response, 400, "BadRequestData")


def speeds(*values: int) -> list[dict[str, Any]]:
    return [
        {"type": "Property", "value": value, "observedAt": f"2020-08-01T12:0{i}:00Z"}
        for i, value in enumerate(values)
    ]


async def test_4_23_temporal_query_order(client: httpx.AsyncClient) -> None:
    """V1.9.1 clause 4.23 on Query Temporal Evolution of Entities (V1.8.1 clause 5.7.4), GET and
    POST: temporal entities ordered by id and by an attribute of their current state."""
    made = []
    for values in ((10, 20), (5, 90), (50, 1)):
        entity = {"id": new_id("Vehicle"), "type": "Vehicle", "speed": speeds(*values)}
        await create_temporal(client, entity)
        made.append(entity["id"])
        current = {"id": entity["id"], "type": "Vehicle", "speed": {"type": "Property", "value": values[-1]}}
        await created(client, current)
    window = {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}
    response = await query_temporal(client, type="Vehicle", orderBy="id;desc", **window)
    assert ids(response) == sorted(made, reverse=True)
    response = await query_temporal(client, type="Vehicle", orderBy="speed", limit="2", **window)
    assert ids(response) == [made[2], made[0]]
    response = await client.post(
        TEMPORAL_QUERY,
        params={"orderBy": "speed;desc"},
        json={"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": window},
        headers={**JSON, **WITH_LINK},
    )
    assert ids(response) == [made[1], made[0], made[2]]
    problem(await query_temporal(client, type="Vehicle", orderBy="speed;up", **window), 400, "BadRequestData")


async def test_4_23_odd_keys_never_fail_the_server(client: httpx.AsyncClient) -> None:
    """V1.8.1 clause 5.5.2 with V1.9.1 clause 4.23: whatever the keys name (quotes, brackets, IRIs,
    non-ASCII, names nobody uses), the answer is an ordered 200 or a 400, never a server error."""
    made = await fleet(client)
    for key in (
        'a"b',
        'speed[x"y]',
        "speed[ø]",
        "https://example.org/a.b",
        "speed.observedAt;desc",
        "speed.unitCode",
        "speed[0]",
        "brandName.unknown.deeper[key];desc",
        "scope,type",
        "ʃpeed",
    ):
        response = await query(client, type="Vehicle", orderBy=key)
        assert response.status_code in (200, 400), (key, response.text)
        if response.status_code == 200:
            assert sorted(ids(response)) == sorted(made.values())
