"""Where lights' new level goes: a `dim` command to each light's device, or its target
`illuminanceLevel`.

A light with a device (its `refDevice`) gets `dim` through the commands of the services' context
(docs/commands.md) when this smartby has them; a light without one, or a smartby without commands,
gets its target `illuminanceLevel` written through the broker (observed at the step's moment), as
the Streetlight model keeps the level a light is set to. The lights of one step are written in one
batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from smartby.ngsild.timestamps import format_datetime
from smartby.services.lighting.vocabulary import STREETLIGHTING_CONTEXT
from smartby.services.runtime import ServiceContext

log = logging.getLogger("smartby.services.lighting")


class Commands(Protocol):
    async def send(self, device_id: str, command: str, value: Any, *, expires_at: datetime) -> Any: ...


async def dim(
    ctx: ServiceContext,
    tenant: str,
    lights: Sequence[tuple[str, str | None, float]],
    at: datetime,
    expires_at: datetime,
) -> dict[str, int]:
    """Set each (light id, device or None, level) as of `at`; how many went by command and by
    attribute."""
    commands: Commands | None = getattr(ctx, "commands", None)
    written: list[dict[str, Any]] = []
    sent = 0
    for light_id, device, level in lights:
        if device is not None and commands is not None:
            await commands.send(device, "dim", level, expires_at=expires_at)
            sent += 1
            continue
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
