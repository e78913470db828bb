"""ETSI NGSI-LD conformance: temporal pagination (clause 6.3.10) in RetrieveTemporalEvolutionOfEntity
(020_13, 020_14) and QueryTemporalEvolutionOfEntities (021_15, 021_16).

The suite expects 206 Partial Content for twenty instances per attribute, so it assumes a broker
that sends fewer in one response; smartby sends SMARTBY_TEMPORAL_PAGE_SIZE, ten here.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from etsi import (
    LINK,
    TEMPORAL_QUERY,
    create_temporal,
    instances,
    new_id,
    query_temporal,
    retrieve_temporal,
    vehicle_history,
)

from smartby.settings import Settings

BEFORE = "2019-01-01T01:01:00Z"
AFTER = "2021-01-01T01:01:00Z"
LRT = "least recent timestamp"
MRT = "most recent timestamp"
CONTENT_RANGE = re.compile(r"([a-zA-Z\-]+) (.+?Z)-(.+Z)/(.+)")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"temporal_page_size": 10})


def minutes(first: int, count: int) -> list[tuple[int, str]]:
    """Values 1, 2, ... observed a minute apart from 01:`first`."""
    return [(n + 1, f"01:{first + n:02d}") for n in range(count)]


def twenty(entity_id: str | None = None) -> dict[str, Any]:
    """pagination/2020-01-vehicule-temporal-representation-twenty-instances.jsonld"""
    return {
        "id": entity_id or new_id(),
        "type": "Vehicle",
        "speed": instances("2020-01-01", *minutes(1, 20)),
        "fuelLevel": instances("2020-01-01", *minutes(3, 20)),
    }


def moments(entities: list[dict[str, Any]], form: str | None) -> list[str]:
    found = []
    for entity in entities:
        for name in ("speed", "fuelLevel"):
            if form == "temporalValues":
                found += [pair[1] for pair in entity[name]["values"]]
            else:
                found += [instance["observedAt"] for instance in entity[name]]
    return found


def check_range(
    response: httpx.Response, entities: list[dict[str, Any]], form: str | None, expected: dict[str, str]
) -> None:
    """The suite's check: 206, a date-time Content-Range whose start, end and size are the given
    times, the least or most recent time in the body, or lastN."""
    assert response.status_code == 206, response.text
    match = CONTENT_RANGE.fullmatch(response.headers["Content-Range"])
    assert match is not None, response.headers["Content-Range"]
    unit, start, end, size = match.groups()
    assert unit == "date-time"
    shown = moments(entities, form)
    meaning = {LRT: min(shown), MRT: max(shown)}
    if "start" in expected:
        assert start == meaning.get(expected["start"], expected["start"])
    if "end" in expected:
        assert end == meaning.get(expected["end"], expected["end"])
    if "size" in expected:
        assert size == expected["size"]


CASES = [
    ("01 no window", {}, {"size": "*", "start": LRT, "end": MRT}),
    ("02 lastN", {"lastN": "20"}, {"size": "20", "start": MRT, "end": LRT}),
    (
        "03 lastN before",
        {"lastN": "20", "timerel": "before", "timeAt": AFTER},
        {"size": "20", "start": AFTER, "end": LRT},
    ),
    (
        "04 lastN between",
        {"lastN": "20", "timerel": "between", "timeAt": BEFORE, "endTimeAt": AFTER},
        {"start": AFTER, "end": LRT},
    ),
    (
        "05 lastN after",
        {"lastN": "20", "timerel": "after", "timeAt": BEFORE},
        {"size": "20", "start": MRT, "end": LRT},
    ),
    ("06 before", {"timerel": "before", "timeAt": AFTER}, {"size": "*", "end": MRT}),
    (
        "07 between",
        {"timerel": "between", "timeAt": BEFORE, "endTimeAt": AFTER},
        {"start": BEFORE, "end": MRT},
    ),
    ("08 after", {"timerel": "after", "timeAt": BEFORE}, {"start": BEFORE, "end": MRT}),
    (
        "09 temporalValues after",
        {"options": "temporalValues", "timerel": "after", "timeAt": BEFORE},
        {"start": BEFORE, "end": MRT},
    ),
    (
        "10 temporalValues lastN between",
        {
            "options": "temporalValues",
            "lastN": "20",
            "timerel": "between",
            "timeAt": BEFORE,
            "endTimeAt": AFTER,
        },
        {"start": AFTER, "end": LRT},
    ),
]


@pytest.mark.parametrize(("case", "params", "expected"), CASES)
async def test_020_13_retrieve_pages(
    client: httpx.AsyncClient, case: str, params: dict[str, str], expected: dict[str, str]
) -> None:
    entity = twenty()
    await create_temporal(client, entity)
    response = await retrieve_temporal(client, entity["id"], **params)
    check_range(response, [response.json()], params.get("options"), expected)


@pytest.mark.parametrize(("case", "params", "expected"), CASES[2:])
async def test_021_15_query_pages(
    client: httpx.AsyncClient, case: str, params: dict[str, str], expected: dict[str, str]
) -> None:
    """021_15_01 to _08 are 020_13_03 to _10 on a query of this entity and the September vehicle,
    whose instances the page leaves out when they lie past its end (their attributes stay, empty)."""
    await create_temporal(client, twenty())
    await create_temporal(client, vehicle_history("2020-09-01"))
    response = await query_temporal(client, type="Vehicle", **params)
    body = response.json()
    assert len(body) == 2
    check_range(response, body, params.get("options"), expected)


def sixty() -> dict[str, Any]:
    """pagination/2020-01-vehicule-temporal-representation-sixty-instances.jsonld: 59 speeds on
    1 January, 59 fuel levels on 2 January."""
    return {
        "id": new_id(),
        "type": "Vehicle",
        "speed": instances("2020-01-01", *minutes(1, 59)),
        "fuelLevel": instances("2020-01-02", *minutes(1, 59)),
    }


@pytest.mark.parametrize(
    ("case", "params", "empty"),
    [
        ("020_14_01 forwards", {"timerel": "after", "timeAt": BEFORE}, "fuelLevel"),
        ("020_14_02 backwards", {"lastN": "100", "timerel": "before", "timeAt": AFTER}, "speed"),
    ],
)
async def test_020_14_unsynchronized_attributes(
    client: httpx.AsyncClient, case: str, params: dict[str, str], empty: str
) -> None:
    """The page ends before the other attribute's instances begin, so none of them is sent."""
    entity = sixty()
    await create_temporal(client, entity)
    response = await retrieve_temporal(client, entity["id"], **params)
    assert response.status_code == 206
    assert response.json()[empty] == []


async def test_021_16_01_query_with_post(client: httpx.AsyncClient) -> None:
    await create_temporal(client, twenty())
    await create_temporal(client, vehicle_history("2020-09-01"))
    body = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "temporalQ": {"timerel": "before", "timeAt": "2020-08-02T12:05:00Z"},
    }
    response = await client.post(
        TEMPORAL_QUERY, json=body, headers={"Content-Type": "application/json", "Link": LINK}
    )
    assert response.status_code == 206, response.text
    assert response.headers["Content-Range"].startswith("date-time ")
