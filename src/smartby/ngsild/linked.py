"""Rendering entities with Linked Entity Retrieval (clause 4.5.23) and as GeoJSON: what query
responses and notifications share."""

from __future__ import annotations

from typing import Any

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity, Renderer


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def linked_view(
    renderer: Renderer, entities: list[Entity], linked: dict[str, Entity], join: str | None, hops: int
) -> list[dict[str, Any]]:
    """Entities rendered with Linked Entity Retrieval (clause 4.5.23): `inline` puts each linked
    entity under its Relationship (as `entity`, or as the value when simplified), `flat` appends the
    linked entities to the list."""
    if join == "inline":
        return [_inlined(renderer, entity, linked, hops) for entity in entities]
    rendered = [renderer.entity(entity) for entity in entities]
    if join == "flat":
        shown = {entity["id"] for entity in entities}
        rendered += [renderer.entity(e) for e in linked.values() if e["id"] not in shown]
    return rendered


def _inlined(renderer: Renderer, entity: Entity, linked: dict[str, Entity], hops: int) -> dict[str, Any]:
    out = renderer.entity(entity)
    if hops <= 0:
        return out
    for iri, instances in entity.items():
        name = renderer.ctx.compact(iri) if iri not in ENTITY_MEMBERS else None
        if name is None or name not in out or len(instances) != 1:
            continue
        target = instances[0].get("object") if instances[0].get("type") == "Relationship" else None
        if not isinstance(target, str) or target not in linked:
            continue
        embedded = _inlined(renderer, linked[target], linked, hops - 1)
        if renderer.form == "keyValues":
            out[name] = embedded
        elif isinstance(out[name], dict):
            out[name] = {**out[name], "entity": embedded}
    return out
