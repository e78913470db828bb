"""ETSI NGSI-LD conformance: TP/NGSI-LD/ContextInformation/Consumption/TemporalEntity/
RetrieveTemporalEvolutionOfEntity (020_*, 459_01, 5731_01).

Not covered: 020_13 and 020_14 are in test_temporal_pagination.py; 020_19, 020_20 and 456_01 need
the temporal evolution of an entity's scope, which smartby does not keep (scope is a member of the
entity, not an attribute with history). In 020_17 and 020_18 the suite deletes an attribute with
the entity API from an entity it created only with POST /temporal/entities; smartby keeps the
current state apart from the temporal evolution (a history import does not create entities), so
these tests also create the current entity first.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import (
    ENTITIES,
    LINK,
    SUITE,
    TEMPORAL,
    create_temporal,
    instances,
    ld,
    new_id,
    problem,
    retrieve_temporal,
    same,
    vehicle_history,
)

DAY = "2020-08-01"


@pytest.fixture
async def vehicle(client: httpx.AsyncClient) -> dict[str, Any]:
    """2020-08-vehicle-temporal-representation.jsonld, created through the temporal API."""
    entity = vehicle_history(DAY)
    await create_temporal(client, entity)
    return entity


async def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_020_01_01_retrieve_without_context(client: httpx.AsyncClient, vehicle: dict[str, Any]) -> None:
    got = await ok(await client.get(f"{TEMPORAL}/{vehicle['id']}"))
    expected = {
        "id": vehicle["id"],
        "type": SUITE + "Vehicle",
        SUITE + "speed": vehicle["speed"],
        SUITE + "fuelLevel": vehicle["fuelLevel"],
    }
    same(got, expected)


async def test_020_02_01_retrieve_with_context(client: httpx.AsyncClient, vehicle: dict[str, Any]) -> None:
    same(await ok(await retrieve_temporal(client, vehicle["id"])), vehicle)


@pytest.mark.parametrize(
    ("case", "attrs", "names"),
    [
        ("020_03_01 one attribute", "fuelLevel", ["fuelLevel"]),
        ("020_03_02 two", "fuelLevel,speed", ["fuelLevel", "speed"]),
    ],
)
async def test_020_03_attrs(
    client: httpx.AsyncClient, vehicle: dict[str, Any], case: str, attrs: str, names: list[str]
) -> None:
    got = await ok(await retrieve_temporal(client, vehicle["id"], attrs=attrs))
    same(got, {"id": vehicle["id"], "type": "Vehicle", **{name: vehicle[name] for name in names}})


@pytest.mark.parametrize(
    ("case", "window", "speeds", "fuels"),
    [
        ("020_04_01 after", {"timerel": "after", "timeAt": f"{DAY}T13:03:00Z"}, [], [1, 2]),
        ("020_04_02 before", {"timerel": "before", "timeAt": f"{DAY}T12:05:00Z"}, [0], [0]),
        (
            "020_04_03 between",
            {"timerel": "between", "timeAt": f"{DAY}T12:00:00Z", "endTimeAt": f"{DAY}T13:00:00Z"},
            [0, 1, 2],
            [0],
        ),
    ],
)
async def test_020_04_time_window(
    client: httpx.AsyncClient,
    vehicle: dict[str, Any],
    case: str,
    window: dict[str, str],
    speeds: list[int],
    fuels: list[int],
) -> None:
    got = await ok(await retrieve_temporal(client, vehicle["id"], **window))
    expected: dict[str, Any] = {"id": vehicle["id"], "type": "Vehicle"}
    if speeds:
        expected["speed"] = [vehicle["speed"][i] for i in speeds]
    expected["fuelLevel"] = [vehicle["fuelLevel"][i] for i in fuels]
    same(got, expected)


MANY = {
    "speed": instances(DAY, (85, "12:25"), (105, "12:27"), (120, "12:29"), (125, "12:31"), (130, "12:35")),
    "fuelLevel": instances(DAY, (35, "20:05"), (31, "20:07"), (28, "21:03"), (24, "21:05"), (19, "22:07")),
}


@pytest.mark.parametrize(("case", "last_n", "kept"), [("020_05_01 some", 4, 4), ("020_05_02 all", 7, 5)])
async def test_020_05_last_n(client: httpx.AsyncClient, case: str, last_n: int, kept: int) -> None:
    entity = {"id": new_id(), "type": "Vehicle", **MANY}
    await create_temporal(client, entity)
    got = await ok(await retrieve_temporal(client, entity["id"], lastN=str(last_n)))
    same(got, {**entity, "speed": MANY["speed"][-kept:], "fuelLevel": MANY["fuelLevel"][-kept:]})


async def test_020_06_01_invalid_id(client: httpx.AsyncClient) -> None:
    problem(await client.get(f"{TEMPORAL}/invalidUri"), 400, "BadRequestData")


async def test_020_07_01_unknown_entity(client: httpx.AsyncClient) -> None:
    problem(await client.get(f"{TEMPORAL}/urn:ngsi-ld:Vehicle:unknowEntity"), 404, "ResourceNotFound")


async def test_020_08_01_unknown_attribute(client: httpx.AsyncClient, vehicle: dict[str, Any]) -> None:
    problem(await retrieve_temporal(client, vehicle["id"], attrs="unknownAttribute"), 404, "ResourceNotFound")


@pytest.mark.parametrize(
    ("case", "window"),
    [
        ("020_09_01 after without timeAt", {"timerel": "after"}),
        ("020_09_02 before without timeAt", {"timerel": "before"}),
        ("020_09_03 between without endTimeAt", {"timerel": "between", "timeAt": f"{DAY}T12:00:00Z"}),
    ],
)
async def test_020_09_invalid_window(
    client: httpx.AsyncClient, vehicle: dict[str, Any], case: str, window: dict[str, str]
) -> None:
    problem(await client.get(f"{TEMPORAL}/{vehicle['id']}", params=window), 400, "BadRequestData")


def pairs(series: list[dict[str, Any]]) -> list[list[Any]]:
    return [[instance["value"], instance["observedAt"]] for instance in series]


async def test_020_10_01_temporal_values(client: httpx.AsyncClient, vehicle: dict[str, Any]) -> None:
    """The values keep their type: integers stay integers, as in this case (021_14 and 021_18
    write them as floats; see test_temporal_query.py)."""
    got = await ok(await retrieve_temporal(client, vehicle["id"], options="temporalValues"))
    expected = {
        "id": vehicle["id"],
        "type": "Vehicle",
        "speed": {"type": "Property", "values": pairs(vehicle["speed"])},
        "fuelLevel": {"type": "Property", "values": pairs(vehicle["fuelLevel"])},
    }
    same(got, expected)


def hours(day: str, *rows: tuple[float, str, str]) -> list[list[Any]]:
    return [[value, f"{day}T{start}:00Z", f"{day}T{end}:00Z"] for value, start, end in rows]


AVG_SPEED = hours(DAY, (100.0, "12:03", "13:03"))
AVG_FUEL = hours(DAY, (67.0, "12:03", "13:03"), (53.0, "13:03", "14:03"), (40.0, "14:03", "15:03"))
MAX_SPEED = hours(DAY, (120.0, "12:03", "13:03"))
ONE_DAY = [f"{DAY}T12:03:00Z", "2020-08-02T12:03:00Z"]

AGGREGATED = [
    (
        "01 avg PT1H",
        "avg",
        "PT1H",
        None,
        {"speed": {"avg": AVG_SPEED}, "fuelLevel": {"avg": AVG_FUEL}},
    ),
    ("02 avg PT1H of fuelLevel", "avg", "PT1H", "fuelLevel", {"fuelLevel": {"avg": AVG_FUEL}}),
    (
        "03 avg,max PT1H",
        "avg,max",
        "PT1H",
        None,
        {"speed": {"avg": AVG_SPEED, "max": MAX_SPEED}, "fuelLevel": {"avg": AVG_FUEL, "max": AVG_FUEL}},
    ),
    (
        "04 min,max P1D",
        "min,max",
        "P1D",
        None,
        {
            "speed": {"min": [[80.0, *ONE_DAY]], "max": [[120.0, *ONE_DAY]]},
            "fuelLevel": {"min": [[40.0, *ONE_DAY]], "max": [[67.0, *ONE_DAY]]},
        },
    ),
]


def aggregated(entity_id: str, attributes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": entity_id, "type": "Vehicle"}
    for name, methods in attributes.items():
        body[name] = {"type": "Property", **methods}
    return body


@pytest.mark.parametrize(("case", "methods", "period", "attrs", "expected"), AGGREGATED)
async def test_020_11_aggregated(
    client: httpx.AsyncClient,
    vehicle: dict[str, Any],
    case: str,
    methods: str,
    period: str,
    attrs: str | None,
    expected: dict[str, dict[str, Any]],
) -> None:
    """020_11_03 and _04 name expectation files the suite does not hold; their content is in
    vehicle-temporal-representation-020-11-03.json and -04.json."""
    params = {"options": "aggregatedValues", "aggrMethods": methods, "aggrPeriodDuration": period}
    if attrs:
        params["attrs"] = attrs
    got = await ok(await retrieve_temporal(client, vehicle["id"], **params))
    same(got, aggregated(vehicle["id"], expected))


STREET = [
    ({"fr": "Grand Place", "nl": "Grote Markt"}, "12:03"),
    ({"fr": "Grand Place", "nl": "Grote Markt", "es": "Gran Mercado"}, "12:05"),
    ({"fr": "Grand Marché", "nl": "Grote Markt", "es": "Gran Lugar", "it": "Grande Mercato"}, "12:07"),
]


def typed(kind: str, member: str, points: list[tuple[Any, str]]) -> list[dict[str, Any]]:
    return [{"type": kind, member: value, "observedAt": f"{DAY}T{moment}:00Z"} for value, moment in points]


@pytest.mark.parametrize(
    ("case", "name", "kind", "member", "points", "simplified"),
    [
        ("020_12 LanguageProperty", "street", "LanguageProperty", "languageMap", STREET, "languageMaps"),
        (
            "020_15 JsonProperty",
            "speed",
            "JsonProperty",
            "json",
            [({"value": 120}, "12:03"), ({"value": 80}, "12:05"), ({"value": 100}, "12:07")],
            "jsons",
        ),
        (
            "020_16 VocabProperty",
            "vocabProperty",
            "VocabProperty",
            "vocab",
            [("monument", "12:03"), ("sightseeing", "12:05"), (["monument", "sightseeing"], "12:07")],
            "vocabs",
        ),
    ],
)
async def test_020_12_020_15_020_16_attribute_types(
    client: httpx.AsyncClient,
    case: str,
    name: str,
    kind: str,
    member: str,
    points: list[tuple[Any, str]],
    simplified: str,
) -> None:
    """_01: the normalized representation; _02: the simplified one, where these types keep their
    value wrapped as in the keyValues form ({"languageMap": ...}, {"json": ...}, {"vocab": ...})."""
    entity = {"id": new_id(), "type": "Vehicle", name: typed(kind, member, points)}
    await create_temporal(client, entity)
    same(await ok(await retrieve_temporal(client, entity["id"])), entity)
    got = await ok(await retrieve_temporal(client, entity["id"], options="temporalValues"))
    values = [[{member: value}, f"{DAY}T{moment}:00Z"] for value, moment in points]
    same(got, {"id": entity["id"], "type": "Vehicle", name: {"type": kind, simplified: values}})


DIFFERENT_TYPES = {
    "isParkedIn": [
        {
            "type": "Relationship",
            "object": "urn:ngsi-ld:OffStreetParking:Commerce",
            "observedAt": "2024-12-01T12:00:00Z",
        },
        {
            "type": "Relationship",
            "object": "urn:ngsi-ld:OffStreetParking:Graslin",
            "observedAt": "2024-12-05T12:00:00Z",
        },
    ],
    "name": [
        {
            "type": "LanguageProperty",
            "languageMap": {"fr": "Ma voiture", "en": "My vehicle"},
            "observedAt": "2024-12-01T12:00:00Z",
        },
        {
            "type": "LanguageProperty",
            "languageMap": {"fr": "Ma jolie voiture", "en": "My pretty vehicle"},
            "observedAt": "2024-12-05T12:00:00Z",
        },
    ],
    "fuelLevel": instances(DAY, (67, "12:03"), (53, "13:05")),
}
DELETIONS = [
    ("01 Property", "fuelLevel", "Property", "value", "urn:ngsi-ld:null", "values"),
    ("02 Relationship", "isParkedIn", "Relationship", "object", "urn:ngsi-ld:null", "objects"),
    (
        "03 LanguageProperty",
        "name",
        "LanguageProperty",
        "languageMap",
        {"@none": "urn:ngsi-ld:null"},
        "languageMaps",
    ),
]


@pytest.fixture
async def different_types(client: httpx.AsyncClient) -> str:
    """vehicle-temporal-representation-different-attributes-types.jsonld, and the current entity
    with the latest instances (see the module docstring)."""
    entity_id = new_id()
    current = {
        "id": entity_id,
        "type": "Vehicle",
        **{name: series[-1] for name, series in DIFFERENT_TYPES.items()},
    }
    response = await client.post(ENTITIES, json=ld(current), headers={"Content-Type": "application/ld+json"})
    assert response.status_code == 201, response.text
    await create_temporal(client, {"id": entity_id, "type": "Vehicle", **DIFFERENT_TYPES}, status=204)
    return entity_id


@pytest.mark.parametrize(("case", "name", "kind", "member", "null", "simplified"), DELETIONS)
async def test_020_17_and_020_18_deleted_attribute(
    client: httpx.AsyncClient,
    different_types: str,
    case: str,
    name: str,
    kind: str,
    member: str,
    null: Any,
    simplified: str,
) -> None:
    """020_17_xx: the normalized representation of the deletion; 020_18_xx: the simplified one."""
    deleted = await client.delete(f"{ENTITIES}/{different_types}/attrs/{name}", headers={"Link": LINK})
    assert deleted.status_code == 204, deleted.text
    got = await ok(await retrieve_temporal(client, different_types, timeproperty="deletedAt"))
    assert got[name][0]["deletedAt"].endswith("Z")
    same(got, {"id": different_types, "type": "Vehicle", name: [{"type": kind, member: null}]}, "deletedAt")
    got = await ok(
        await retrieve_temporal(client, different_types, timeproperty="deletedAt", options="temporalValues")
    )
    ((_, moment),) = got[name][simplified]
    assert moment.endswith("Z")
    expected_value = null if kind != "LanguageProperty" else {member: null}
    assert got == {
        "id": different_types,
        "type": "Vehicle",
        name: {"type": kind, simplified: [[expected_value, moment]]},
    }


PICKED = [
    ("020_21_01 pick an attribute", {"pick": "speed"}, ["speed"]),
    ("020_21_02 omit an attribute", {"omit": "speed"}, ["id", "type", "fuelLevel"]),
    ("020_21_03 pick attribute and core member", {"pick": "id,speed"}, ["id", "speed"]),
    ("020_21_04 omit attribute and core member", {"omit": "type,speed"}, ["id", "fuelLevel"]),
]


@pytest.mark.parametrize(("case", "params", "members"), PICKED)
async def test_020_21_pick_and_omit(
    client: httpx.AsyncClient, vehicle: dict[str, Any], case: str, params: dict[str, str], members: list[str]
) -> None:
    got = await ok(await retrieve_temporal(client, vehicle["id"], **params))
    same(got, {member: vehicle[member] for member in members})


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("020_22_01 same member in pick and omit", {"pick": "speed", "omit": "speed"}),
        ("020_22_02 pick and attrs", {"pick": "speed", "attrs": "fuelLevel"}),
        ("020_22_03 omit and attrs", {"omit": "speed", "attrs": "fuelLevel"}),
        ("5731_01_01 linked entity projection", {"pick": "owner{name}"}),
    ],
)
async def test_020_22_invalid_pick_and_omit(
    client: httpx.AsyncClient, vehicle: dict[str, Any], case: str, params: dict[str, str]
) -> None:
    response = await retrieve_temporal(
        client, vehicle["id"], headers={"Accept": "application/json"}, **params
    )
    problem(response, 400, "BadRequestData")


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("020_23_01 unmatched pick", {"pick": "unknown"}),
        ("020_23_02 omit everything", {"omit": "id,type,fuelLevel,speed"}),
    ],
)
async def test_020_23_nothing_left(
    client: httpx.AsyncClient, vehicle: dict[str, Any], case: str, params: dict[str, str]
) -> None:
    response = await retrieve_temporal(
        client, vehicle["id"], headers={"Accept": "application/json"}, **params
    )
    problem(response, 404, "ResourceNotFound")


async def test_459_01_simplified_geo_and_list_types(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    body = {
        "id": entity_id,
        "type": "Vehicle",
        "location": [
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [1.0, 2.0]},
                "observedAt": "2026-08-10T00:00:01Z",
            },
            {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [3.0, 4.0]},
                "observedAt": "2026-08-10T00:00:02Z",
            },
        ],
        "tyreTreadDepths": {
            "type": "ListProperty",
            "valueList": [1.2, 3.4],
            "observedAt": "2026-08-10T00:00:01Z",
        },
        "route": {
            "type": "ListRelationship",
            "objectList": ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"],
            "observedAt": "2026-08-10T00:00:01Z",
        },
    }
    await create_temporal(client, body)
    got = await ok(await retrieve_temporal(client, entity_id, options="temporalValues"))
    assert got["location"]["type"] == "GeoProperty" and set(got["location"]) == {"type", "values"}
    assert [pair[0]["type"] for pair in got["location"]["values"]] == ["Point", "Point"]
    assert got["tyreTreadDepths"] == {
        "type": "ListProperty",
        "valueLists": [[[1.2, 3.4], "2026-08-10T00:00:01Z"]],
    }
    assert got["route"] == {
        "type": "ListRelationship",
        "objectLists": [[["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"], "2026-08-10T00:00:01Z"]],
    }


async def test_5731_01_01_linked_projection_before_lookup(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{TEMPORAL}/urn:ngsi-ld:Building:5731",
        params={"pick": "owner{name}"},
        headers={"Accept": "application/ld+json"},
    )
    problem(response, 400, "BadRequestData")
