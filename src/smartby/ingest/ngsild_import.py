"""Loading NGSI-LD entities (temporal representation, or normalized) into entity history."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from smartby.broker import Broker
from smartby.ingest.history_writer import HistoryWriter
from smartby.ingest.report import ImportReport
from smartby.ngsild.context import Context
from smartby.ngsild.entity import ENTITY_INPUT_MEMBERS, Entity, Instance
from smartby.ngsild.errors import NgsiLdError
from smartby.ngsild.temporal import parse_temporal_entity


class DocumentError(ValueError):
    """A file that is not a JSON array of entities."""


@dataclass
class EntityHistory:
    """One entity of the file as history: header, instances by expanded name, and what was left out."""

    header: Entity
    attributes: dict[str, list[Instance]]
    untimed: list[str] = field(default_factory=list)


def read_entities(data: bytes) -> list[Any]:
    """The entities of a JSON document: an array of them, or a single one."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise DocumentError(f"not JSON: {error}") from None
    if isinstance(document, dict):
        return [document]
    if not isinstance(document, list):
        raise DocumentError("expected a JSON array of entities")
    return document


def _with_times(body: dict[str, Any]) -> dict[str, Any]:
    """Instances without observedAt take the modifiedAt (else createdAt) they were exported with."""
    timed: dict[str, Any] = {}
    for name, raw in body.items():
        if name in ENTITY_INPUT_MEMBERS:
            timed[name] = raw
            continue
        items = raw if isinstance(raw, list) else [raw]
        fixed = []
        for item in items:
            if isinstance(item, dict) and "observedAt" not in item:
                stamp = item.get("modifiedAt", item.get("createdAt"))
                if isinstance(stamp, str):
                    item = {**item, "observedAt": stamp}
            fixed.append(item)
        timed[name] = fixed if isinstance(raw, list) else fixed[0]
    return timed


def entity_history(body: Any, ctx: Context) -> EntityHistory:
    """The history one entity of the file holds: each instance with a time (observedAt, or the
    modifiedAt/createdAt it was exported with). Instances with no time are named in `untimed`.
    NgsiLdError when the entity is not valid NGSI-LD."""
    if isinstance(body, dict):
        body = _with_times(body)
    parsed = parse_temporal_entity(body, ctx)
    header: Entity = {"id": parsed.id, "type": parsed.types}
    if parsed.scope is not None:
        header["scope"] = parsed.scope
    history = EntityHistory(header, {})
    for iri, instances in parsed.attributes.items():
        timed = [instance for instance in instances if "observedAt" in instance]
        if len(timed) < len(instances):
            history.untimed.append(ctx.compact(iri))
        if timed:
            history.attributes[iri] = timed
    return history


async def import_ngsild(
    broker: Broker, tenant: str, path: Path, *, context: Any = None, batch: int = 5000
) -> ImportReport:
    """Append the history held by a JSON array of NGSI-LD entities. Each entity's own @context is
    used, else `context` (a URL), else the core context. Bad entities are reported by position."""
    started = time.perf_counter()
    report = ImportReport(source=path.name, unit="entity")
    try:
        bodies = read_entities(path.read_bytes())
    except (OSError, DocumentError) as error:
        report.fatal = str(error)
        return report
    writer = HistoryWriter(broker, tenant, report, batch)
    for position, body in enumerate(bodies, start=1):
        report.rows += 1
        try:
            own = body.get("@context", context) if isinstance(body, dict) else context
            history = entity_history(body, await broker.context(own, tenant))
        except NgsiLdError as error:
            report.reject(position, error.detail)
            continue
        untimed = f"{history.header['id']}: instances of {', '.join(history.untimed)} have no observedAt"
        if not history.attributes:
            report.reject(position, untimed if history.untimed else f"{history.header['id']}: no attributes")
            continue
        if history.untimed:
            report.warn(position, untimed + " (left out)")
        report.loaded += 1
        await writer.add(history.header, history.attributes)
    await writer.flush()
    report.seconds = time.perf_counter() - started
    return report
