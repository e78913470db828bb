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
    ENTITIES,
    LD,
    LINK,
    TEMPORAL,
    TEMPORAL_QUERY,
    create_temporal,
    instances,
    ld,
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


# -- following the pages (clause 6.3.10) -----------------------------------------------------------


async def ties(client: httpx.AsyncClient) -> str:
    """A Vehicle with 25 speeds and 25 fuel levels observed at the same minutes from 01:00 (equal
    moments across attributes), and two more speeds at 01:09 written through the entity API
    (equal moments within one attribute): 27 speeds, of which three at the tenth minute."""
    entity_id = new_id()
    await create_temporal(
        client,
        {
            "id": entity_id,
            "type": "Vehicle",
            "speed": instances("2020-01-01", *[(n, f"01:{n:02d}") for n in range(25)]),
            "fuelLevel": instances("2020-01-01", *[(100 + n, f"01:{n:02d}") for n in range(25)]),
        },
    )
    for value in (1000, 1001):
        speed = {"type": "Property", "value": value, "observedAt": "2020-01-01T01:09:00Z"}
        if value == 1000:
            response = await client.post(
                ENTITIES, json=ld({"id": entity_id, "type": "Vehicle", "speed": speed}), headers=LD
            )
            assert response.status_code == 201, response.text
        else:
            response = await client.patch(
                f"{ENTITIES}/{entity_id}/attrs", json=ld({"speed": speed}), headers=LD
            )
            assert response.status_code == 204, response.text
    return entity_id


def link_to(response: httpx.Response, rel: str) -> str | None:
    for value in response.headers.get_list("Link"):
        for part in value.split(", <"):
            if f'rel="{rel}"' in part:
                return part[part.index("<") + 1 if part.startswith("<") else 0 : part.index(">")]
    return None


def points(entities: list[dict[str, Any]], form: str | None) -> list[tuple[str, Any, str]]:
    """(attribute, value, moment) of every instance in a body."""
    found = []
    for entity in entities:
        for name in ("speed", "fuelLevel"):
            if name not in entity:
                continue
            if form == "temporalValues":
                found += [(name, value, moment) for value, moment in entity[name]["values"]]
            else:
                found += [(name, i["value"], i["observedAt"]) for i in entity[name]]
    return found


async def walk(
    client: httpx.AsyncClient, response: httpx.Response, form: str | None, rel: str
) -> tuple[list[tuple[str, Any, str]], list[str]]:
    """Every instance of every page, following the Link to the next page until a 200."""
    seen: list[tuple[str, Any, str]] = []
    ranges: list[str] = []
    for _ in range(20):
        body = response.json()
        entities = body if isinstance(body, list) else [body]
        seen += points(entities, form)
        if response.status_code == 200:
            assert "Content-Range" not in response.headers
            assert link_to(response, rel) is None
            return seen, ranges
        assert response.status_code == 206, response.text
        match = CONTENT_RANGE.fullmatch(response.headers["Content-Range"])
        assert match is not None
        ranges.append(response.headers["Content-Range"])
        moments = [moment for _, _, moment in points(entities, form)]
        assert match.group(3) == (max(moments) if rel == "intervalafter" else min(moments))
        following = link_to(response, rel)
        assert following is not None, response.headers
        response = await client.get(following, headers={"Link": LINK})
    raise AssertionError("more pages than instances")


EVERYTHING = sorted(
    [("speed", n, f"2020-01-01T01:{n:02d}:00Z") for n in range(25)]
    + [("speed", v, "2020-01-01T01:09:00Z") for v in (1000, 1001)]
    + [("fuelLevel", 100 + n, f"2020-01-01T01:{n:02d}:00Z") for n in range(25)]
)


@pytest.mark.parametrize("form", [None, "temporalValues"])
@pytest.mark.parametrize("operation", ["retrieve", "query"])
async def test_6310_forward_pages_follow_on(
    client: httpx.AsyncClient, operation: str, form: str | None
) -> None:
    """6.3.10: a response cut forwards (no lastN) is 206 with `Content-Range: date-time
    <start>-<end>/*`, `<end>` its latest instance; the next page (Link rel="intervalafter", timeAt
    just after `<end>`) goes on from there. Every instance comes once: a page ends between two
    moments, never among instances that share one."""
    entity_id = await ties(client)
    params = {"options": form} if form else {}
    if operation == "retrieve":
        first = await retrieve_temporal(client, entity_id, **params)
    else:
        first = await query_temporal(
            client, id=entity_id, type="Vehicle", timerel="after", timeAt=BEFORE, **params
        )
    seen, ranges = await walk(client, first, form, "intervalafter")
    assert sorted(seen) == EVERYTHING
    start = BEFORE if operation == "query" else "2020-01-01T01:00:00Z"
    assert ranges[0] == f"date-time {start}-2020-01-01T01:08:00Z/*", (
        "the page stops before the three 01:09 speeds"
    )
    assert ranges[1] == "date-time 2020-01-01T01:08:00.000001Z-2020-01-01T01:16:00Z/*"


@pytest.mark.parametrize("form", [None, "temporalValues"])
async def test_6310_backward_pages_follow_on(client: httpx.AsyncClient, form: str | None) -> None:
    """6.3.10: with lastN the pages run backwards, `Content-Range: date-time <start>-<end>/<lastN>`
    with `<end>` the earliest instance sent; the next page (Link rel="intervalbefore", before
    `<end>`, lastN less what was sent) goes on back. The attribute that fills the pages gets its
    lastN exactly, each instance once; `format=temporalValues` pages as `options` does (6.3.12)."""
    entity_id = await ties(client)
    params = {"format": form} if form else {}
    first = await retrieve_temporal(client, entity_id, lastN="22", **params)
    seen, ranges = await walk(client, first, form, "intervalbefore")
    assert len(seen) == len(set(seen))
    last_22 = [point for point in EVERYTHING if point[0] == "speed" and point[2] >= "2020-01-01T01:05"]
    assert len(last_22) == 22
    assert sorted(point for point in seen if point[0] == "speed") == last_22
    assert ranges[0] == "date-time 2020-01-01T01:24:00Z-2020-01-01T01:15:00Z/22"
    assert ranges[1] == "date-time 2020-01-01T01:15:00Z-2020-01-01T01:07:00Z/12"


async def test_6310_post_query_goes_on_from_the_range(client: httpx.AsyncClient) -> None:
    """6.3.10 with 5.7.4 through POST /temporal/entityOperations/query: the body cannot follow a
    Link, so the next page is the same Query whose temporalQ starts a microsecond after the
    Content-Range's end (`after` includes its timeAt)."""
    entity_id = await ties(client)
    seen: list[tuple[str, Any, str]] = []
    time_at = BEFORE
    for _ in range(10):
        body = {
            "type": "Query",
            "entities": [{"id": entity_id, "type": "Vehicle"}],
            "temporalQ": {"timerel": "after", "timeAt": time_at},
        }
        response = await client.post(
            TEMPORAL_QUERY, json=body, headers={"Content-Type": "application/json", "Link": LINK}
        )
        seen += points(response.json(), None)
        if response.status_code == 200:
            break
        assert response.status_code == 206
        match = CONTENT_RANGE.fullmatch(response.headers["Content-Range"])
        assert match is not None
        time_at = match.group(3).replace("Z", ".000001Z")
    assert sorted(seen) == EVERYTHING


async def test_6310_one_moment_fuller_than_a_page(client: httpx.AsyncClient) -> None:
    """6.3.10: twelve speeds observed at one moment, ten to a page: the page holds all twelve rather
    than split them (its range starts and ends at that moment), and the next page the rest."""
    entity_id = new_id()
    speed = {"type": "Property", "value": 0, "observedAt": "2020-01-01T01:00:00Z"}
    response = await client.post(
        ENTITIES, json=ld({"id": entity_id, "type": "Vehicle", "speed": speed}), headers=LD
    )
    assert response.status_code == 201, response.text
    for value in range(1, 12):
        path = f"{ENTITIES}/{entity_id}/attrs"
        response = await client.patch(path, json=ld({"speed": {**speed, "value": value}}), headers=LD)
        assert response.status_code == 204, response.text
    later = {"speed": instances("2020-01-01", *[(n, f"01:{n:02d}") for n in range(12, 17)])}
    response = await client.post(f"{TEMPORAL}/{entity_id}/attrs", json=ld(later), headers=LD)
    assert response.status_code == 204, response.text
    first = await retrieve_temporal(client, entity_id)
    assert first.status_code == 206
    assert first.headers["Content-Range"] == "date-time 2020-01-01T01:00:00Z-2020-01-01T01:00:00Z/*"
    assert sorted(i["value"] for i in first.json()["speed"]) == list(range(12))
    seen, _ = await walk(client, first, None, "intervalafter")
    assert sorted(value for _, value, _ in seen) == list(range(17))


@pytest.mark.parametrize(
    ("operation", "window"),
    [
        ("retrieve", {}),
        ("retrieve", {"timerel": "before", "timeAt": AFTER}),
        ("query", {"timerel": "after", "timeAt": "2020-01-01T01:00:00Z"}),
    ],
)
async def test_6310_aggregated_pages_follow_on(
    client: httpx.AsyncClient, operation: str, window: dict[str, str]
) -> None:
    """6.3.10 with the aggregated representation (4.5.19): at most ten periods of an attribute to a
    page, the Content-Range from the first period's start (or timeAt) to the last one's end; the
    next page (Link rel="intervalafter") starts where that period ended, with the same periods, so
    the pages' counts and sums add up to the whole history's."""
    entity_id = await ties(client)
    params = {"options": "aggregatedValues", "aggrMethods": "totalCount,sum", "aggrPeriodDuration": "PT1M"}
    if operation == "retrieve":
        response = await retrieve_temporal(client, entity_id, **params, **window)
    else:
        response = await query_temporal(client, id=entity_id, type="Vehicle", **params, **window)
    periods: dict[str, list[list[Any]]] = {"speed": [], "fuelLevel": []}
    ranges = []
    for _ in range(10):
        body = response.json()
        (entity,) = body if isinstance(body, list) else [body]
        for name, found in periods.items():
            found += [
                [count, total, start, end]
                for (count, start, end), (total, _, _) in zip(
                    entity[name]["totalCount"], entity[name]["sum"], strict=True
                )
            ]
        if response.status_code == 200:
            assert "Content-Range" not in response.headers
            break
        assert response.status_code == 206, response.text
        ranges.append(response.headers["Content-Range"])
        following = link_to(response, "intervalafter")
        assert following is not None
        response = await client.get(following, headers={"Link": LINK})
    assert ranges[0] == "date-time 2020-01-01T01:00:00Z-2020-01-01T01:10:00Z/*"
    assert ranges[1] == "date-time 2020-01-01T01:10:00Z-2020-01-01T01:20:00Z/*"
    assert [start for _, _, start, _ in periods["speed"]] == [f"2020-01-01T01:{n:02d}:00Z" for n in range(25)]
    assert sum(count for count, _, _, _ in periods["speed"]) == 27
    assert sum(total for _, total, _, _ in periods["speed"]) == sum(range(25)) + 1000 + 1001
    assert sum(total for _, total, _, _ in periods["fuelLevel"]) == sum(range(100, 125))
