"""What the ETSI NGSI-LD test suite's keywords do, for the conformance tests beside this file.

The suite's entities use its own @context (Vehicle, Building, speed, brandName, ...); smartby finds
it in `contexts/`, as a city would give it with SMARTBY_CONTEXT_DIR, so nothing is fetched.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import orjson

from smartby.ngsild.errors import ERRORS_BASE

V1 = "/ngsi-ld/v1"
ENTITIES = f"{V1}/entities"
SUITE_CONTEXT = (
    "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/"
    "ngsi-ld-test-suite-compound.jsonld"
)
SUITE = "https://ngsi-ld-test-suite/context#"
LINK = f'<{SUITE_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
LD = {"Content-Type": "application/ld+json"}
JSON = {"Content-Type": "application/json"}
WITH_LINK = {"Link": LINK}
UNKNOWN_CONTEXT = "https://unreachable.example/ngsi-ld/unretrievable-context.jsonld"

_numbers = itertools.count(1)


def new_id(kind: str = "Vehicle") -> str:
    """Like the suite's `Generate Random <kind> Entity Id`."""
    return f"urn:ngsi-ld:{kind}:{next(_numbers):016d}"


def problem(response: httpx.Response, status: int, type_name: str) -> dict[str, Any]:
    """The response is a ProblemDetails of that NGSI-LD error type, with a title."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["type"] == ERRORS_BASE + type_name, body
    assert body["title"]
    return body


def ld(entity: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The entity as a JSON-LD body carrying the suite's @context (or `context`)."""
    return {**entity, "@context": [SUITE_CONTEXT] if context is None else context}


async def create(client: httpx.AsyncClient, entity: dict[str, Any], **headers: str) -> httpx.Response:
    """`Create Entity From JSON-LD Content`: POST with the suite's @context in the body, to
    `entities/` with the trailing slash the suite writes."""
    return await client.post(f"{ENTITIES}/", json=ld(entity), headers={**LD, **headers})


async def created(client: httpx.AsyncClient, entity: dict[str, Any]) -> None:
    response = await create(client, entity)
    assert response.status_code == 201, response.text


async def retrieve(
    client: httpx.AsyncClient, entity_id: str, *, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    """`Retrieve Entity` with the suite's @context in a Link header."""
    return await client.get(
        f"{ENTITIES}/{entity_id}", params=params, headers={**WITH_LINK, **(headers or {})}
    )


async def query(
    client: httpx.AsyncClient, *, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    """`Query Entities` with the suite's @context in a Link header."""
    return await client.get(ENTITIES, params=params, headers={**WITH_LINK, **(headers or {})})


def vehicle(entity_id: str | None = None, **attributes: Any) -> dict[str, Any]:
    """The suite's vehicle-simple-attributes, cut down: a brandName and a speed."""
    entity: dict[str, Any] = {
        "id": entity_id or new_id("Vehicle"),
        "type": "Vehicle",
        "brandName": {"type": "Property", "value": "Mercedes"},
        "speed": {"type": "Property", "value": 80},
    }
    entity.update(attributes)
    return entity


def building(entity_id: str | None = None, **attributes: Any) -> dict[str, Any]:
    """The suite's building-simple-attributes, cut down."""
    entity: dict[str, Any] = {
        "id": entity_id or new_id("Building"),
        "type": "Building",
        "name": {"type": "Property", "value": "Eiffel Tower"},
        "subCategory": {"type": "Property", "value": "tourism"},
        "airQualityLevel": {"type": "Property", "value": 4, "unitCode": "C62"},
    }
    entity.update(attributes)
    return entity


# -- the temporal API ---------------------------------------------------------------------------

TEMPORAL = f"{V1}/temporal/entities"
TEMPORAL_QUERY = f"{V1}/temporal/entityOperations/query"


def instances(day: str, *points: tuple[Any, str], **members: Any) -> list[dict[str, Any]]:
    """Property instances observed on `day` at the given "HH:MM" times, like the suite's files."""
    return [
        {"type": "Property", "value": value, "observedAt": f"{day}T{moment}:00Z", **members}
        for value, moment in points
    ]


def vehicle_history(
    day: str = "2020-08-01", entity_id: str | None = None, kind: str = "Vehicle"
) -> dict[str, Any]:
    """The suite's 2020-08-vehicle-temporal-representation (and its 2020-09 and bus twins)."""
    speeds = {"Vehicle": (120, 80, 100), "Bus": (45, 25, 67)}[kind]
    fuel = {"Vehicle": (67, 53, 40), "Bus": (210, 145, 124)}[kind]
    return {
        "id": entity_id or new_id(kind),
        "type": kind,
        "speed": instances(day, *zip(speeds, ("12:03", "12:05", "12:07"), strict=True)),
        "fuelLevel": instances(day, *zip(fuel, ("12:03", "13:05", "14:07"), strict=True)),
    }


async def create_temporal(
    client: httpx.AsyncClient, entity: dict[str, Any], *, status: int = 201
) -> httpx.Response:
    """`Create Temporal Representation Of Entity`: POST /temporal/entities with the suite's @context
    in the body."""
    response = await client.post(TEMPORAL, json=ld(entity), headers=LD)
    assert response.status_code == status, response.text
    return response


async def retrieve_temporal(
    client: httpx.AsyncClient, entity_id: str, *, headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    """`Retrieve Temporal Representation Of Entity` with the suite's @context in a Link header."""
    return await client.get(
        f"{TEMPORAL}/{entity_id}", params=params, headers={**WITH_LINK, **(headers or {})}
    )


async def query_temporal(
    client: httpx.AsyncClient, *, headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    """`Query Temporal Representation Of Entities` with the suite's @context in a Link header."""
    return await client.get(TEMPORAL, params=params, headers={**WITH_LINK, **(headers or {})})


def without(data: Any, *keys: str) -> Any:
    """`data` with the members named `keys` left out at every depth (the suite ignores instanceId)."""
    if isinstance(data, dict):
        return {key: without(value, *keys) for key, value in data.items() if key not in keys}
    if isinstance(data, list):
        return [without(item, *keys) for item in data]
    return data


def unordered(data: Any) -> Any:
    """A form of `data` where the order of arrays does not count (as the suite compares, with
    DeepDiff's ignore_order); numbers keep their type, so 80 and 80.0 differ."""
    if isinstance(data, dict):
        return {key: unordered(value) for key, value in data.items()}
    if isinstance(data, list):
        items = [unordered(item) for item in data]
        return sorted(items, key=lambda item: orjson.dumps(item, option=orjson.OPT_SORT_KEYS))
    return data


def same(actual: Any, expected: Any, *ignored: str) -> None:
    """The suite's `Check ... EntityTemporal element`: equal but for array order and `instanceId`."""
    keys = ("instanceId", *ignored)
    assert unordered(without(actual, *keys)) == unordered(without(expected, *keys)), actual
