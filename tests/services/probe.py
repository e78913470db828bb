"""A third-party service for the runtime's tests, registered through an entry point like any other.

It watches `Probe` entities' `count`. For each change it handles it creates `Handled:<id>:<count>`
(with the claim's attempt number); a change handled a second time finds that entity there and
creates a `Duplicate:...` instead, so a test sees any double handling in the database. A change whose
`hang` is true stalls its first attempt until the process is killed. Its job `tick` creates
`Tick:<due>` each period (and a `Duplicate:` when one period runs twice). Period: PROBE_PERIOD seconds.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from datetime import datetime

from smartby.ngsild.entity import instance_value
from smartby.ngsild.errors import AlreadyExists
from smartby.ngsild.timestamps import micros_of
from smartby.services.runtime import ServiceContext
from smartby.services.service import Job, Service, ServiceChange
from smartby.settings import Settings

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
PROBE = DEFAULT + "Probe"
COUNT = DEFAULT + "count"
HANG = DEFAULT + "hang"


async def _mark(ctx: ServiceContext, tenant: str, entity_id: str, body: dict[str, object]) -> None:
    core = await ctx.broker.context(None)
    try:
        await ctx.broker.create_entity(tenant, core, {"id": entity_id, "type": "Mark", **body})
    except AlreadyExists:
        duplicate = f"urn:ngsi-ld:Duplicate:{uuid.uuid4().hex}"
        await ctx.broker.create_entity(
            tenant,
            core,
            {"id": duplicate, "type": "Duplicate", "of": {"type": "Property", "value": entity_id}},
        )


def _value(entity: dict[str, object] | None, name: str) -> object:
    instances = (entity or {}).get(name)
    return instance_value(instances[0]) if isinstance(instances, list) and instances else None


async def handle(ctx: ServiceContext, changes: Sequence[ServiceChange]) -> None:
    for change in changes:
        if _value(change.after, HANG) is True and change.attempts == 1:
            await asyncio.sleep(3600)
        suffix = change.entity_id.rsplit(":", 1)[-1]
        await _mark(
            ctx,
            change.tenant,
            f"urn:ngsi-ld:Handled:{suffix}:{_value(change.after, COUNT)}",
            {"attempts": {"type": "Property", "value": change.attempts}},
        )


async def tick(ctx: ServiceContext, due: datetime) -> None:
    await _mark(
        ctx, "", f"urn:ngsi-ld:Tick:{micros_of(due)}", {"pid": {"type": "Property", "value": os.getpid()}}
    )


def service(settings: Settings) -> Service:
    return Service(
        name="probe",
        description="Test probe: marks every change and every period it handles",
        types=(PROBE,),
        attributes=(COUNT, HANG),
        handle=handle,
        jobs=(Job("tick", float(os.environ.get("PROBE_PERIOD", "3600")), tick),),
    )


def not_a_service(settings: Settings) -> object:
    return "not a service"
