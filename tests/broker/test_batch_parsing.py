"""A large batch is parsed in slices, other requests running between them (issue 13: no request
takes the server down; 10,000 entities took a second of the event loop in one piece)."""

from __future__ import annotations

import asyncio
from typing import Any

from smartby.broker import Broker
from smartby.broker.batch_result import BatchResult
from smartby.broker.broker import PARSE_SLICE
from smartby.ngsild.context import DEFAULT_VOCAB, Context
from smartby.ngsild.entity import Entity, parse_entity


async def test_other_work_runs_while_a_large_batch_is_parsed(broker: Broker) -> None:
    ctx = await broker.context(None)
    bodies = [{"id": f"urn:ngsi-ld:Counter:{n}", "type": "Counter", "n": n} for n in range(5 * PARSE_SLICE)]
    parsed_so_far = 0
    seen_by_others: list[int] = []

    def parse(body: Any, own: Context) -> Entity:
        nonlocal parsed_so_far
        parsed_so_far += 1
        return parse_entity(body, own, key_values=True)

    async def other_request() -> None:
        while parsed_so_far < len(bodies):
            seen_by_others.append(parsed_so_far)
            await asyncio.sleep(0)

    other = asyncio.create_task(other_request())
    await asyncio.sleep(0)  # the other request starts first, as it would on a busy server
    entities = await Broker._parse_batch(ctx, bodies, True, BatchResult(), parse)
    await other
    assert [e["id"] for e in entities] == [b["id"] for b in bodies]
    between = [count for count in seen_by_others if 0 < count < len(bodies)]
    assert between == [PARSE_SLICE * k for k in range(1, 5)]


async def test_a_large_batch_upsert_still_writes_every_entity(broker: Broker) -> None:
    ctx = await broker.context(None)
    bodies = [
        {"id": f"urn:ngsi-ld:Counter:{n}", "type": "Counter", "n": n} for n in range(3 * PARSE_SLICE + 7)
    ]
    result = await broker.batch_upsert("", ctx, bodies, key_values=True)
    assert not result.errors and len(result.success) == len(bodies)
    last = await broker.retrieve_entity("", bodies[-1]["id"])
    assert last[DEFAULT_VOCAB + "n"][0]["value"] == len(bodies) - 1
