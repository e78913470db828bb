"""Where lights' new level goes: a `dim` command to each light's device, or its target
`illuminanceLevel`.

A light with a device (its `refDevice`: `urn:ngsi-ld:Device:{id}` names smartby's device `{id}`)
gets `dim` through the commands of the services' context (docs/commands.md), expiring when the
program's next step comes; a light without one, one whose device smartby does not know, or a
runtime without commands, gets its target `illuminanceLevel` written through the broker (observed
at the step's moment), as the Streetlight model keeps the level a light is set to. The lights of one
step are written in one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from smartby.ngsild.errors import BadRequestData, OperationNotSupported, ResourceNotFound
from smartby.ngsild.timestamps import format_datetime
from smartby.services.lighting.vocabulary import STREETLIGHTING_CONTEXT
from smartby.services.runtime import ServiceContext

log = logging.getLogger("smartby.services.lighting")


DEVICE_PREFIX = "urn:ngsi-ld:Device:"


def device_id(reference: str) -> str:
    """smartby's device id a light's `refDevice` names."""
    return reference.removeprefix(DEVICE_PREFIX)


def wall_expiry(ctx: ServiceContext, expires_at: datetime) -> datetime | None:
    """The services' clock may run faster than the wall (a demo at 60x) or replay the past: a
    command expires when the clock reaches `expires_at`, said in wall time; None (the default
    lifetime) when the clock is there already."""
    remaining = (expires_at - ctx.clock.now()).total_seconds()
    if remaining <= 0:
        return None
    speed = float(getattr(ctx.clock, "speed", 1.0))
    return datetime.now(UTC) + timedelta(seconds=remaining / speed)


async def dim(
    ctx: ServiceContext,
    tenant: str,
    lights: Sequence[tuple[str, str | None, float]],
    at: datetime,
    expires_at: datetime,
) -> dict[str, int]:
    """Set each (light id, device or None, level) as of `at`; how many went by command and by
    attribute."""
    written: list[dict[str, Any]] = []
    sent = 0
    commands = True
    expiry = wall_expiry(ctx, expires_at)
    for light_id, device, level in lights:
        if device is not None and commands:
            try:
                await ctx.commands.send(device_id(device), "dim", level, expires_at=expiry, tenant=tenant)
                sent += 1
                continue
            except OperationNotSupported:
                commands = False  # a runtime without commands to devices: levels as attributes
            except (ResourceNotFound, BadRequestData) as refused:
                log.warning("Could not dim %s through its device %s: %s", light_id, device, refused)
        written.append(
            {
                "id": light_id,
                "type": "Streetlight",
                "illuminanceLevel": {"type": "Property", "value": level, "observedAt": format_datetime(at)},
            }
        )
    if written:
        context = await ctx.broker.context([STREETLIGHTING_CONTEXT])
        result = await ctx.broker.batch_merge(tenant, context, written)
        for entity_id, error in result.errors:
            log.warning("Could not set the level of %s: %s", entity_id, error)
    return {"command": sent, "attribute": len(written)}
