"""The lighting service's endpoints: a group's schedule for a date, and smartby's lighting @context."""

from __future__ import annotations

import json
import re
from datetime import date
from importlib import resources
from typing import Any

from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import BadRequestData, ResourceNotFound
from smartby.services.lighting.inventory import lighting
from smartby.services.lighting.schedule import day_schedule
from smartby.services.runtime import ServiceContext
from smartby.services.service import ServiceRequest, ServiceResponse

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CONTEXT_FILE = "smartby-lighting.context.jsonld"


def _date(text: str | None) -> date:
    if text is None:
        raise BadRequestData("date is required (YYYY-MM-DD)")
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"date must be a date YYYY-MM-DD, not {text!r}") from None


async def schedule(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /lighting/v1/schedule?group=ID&date=YYYY-MM-DD: the group's switching events that day
    (its program's steps at its place, in time order, as UTC)."""
    unknown = set(request.query) - {"group", "date"}
    if unknown:
        raise BadRequestData(f"Unknown parameter {sorted(unknown)[0]!r} (group and date are known)")
    group_id = request.query.get("group")
    if group_id is None:
        raise BadRequestData("group is required (a StreetlightGroup's id)")
    check_entity_id(group_id, "group")
    day = _date(request.query.get("date"))
    city = await lighting(ctx.broker, request.tenant)
    group = city.groups.get(group_id)
    if group is None:
        raise ResourceNotFound(f"No StreetlightGroup {group_id}")
    program = city.program_of(group)
    switches = day_schedule(program, day, group.place, ctx.settings.lighting_timezone)
    return ServiceResponse([switch.as_json() for switch in switches])


def lighting_context() -> Any:
    text = (resources.files("smartby.data") / "contexts" / CONTEXT_FILE).read_text(encoding="utf-8")
    return json.loads(text)


async def context_document(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /lighting/v1/context.jsonld: the @context of LightingProgram and lightingClass."""
    return ServiceResponse(lighting_context())
