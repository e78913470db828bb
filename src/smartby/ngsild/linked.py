"""Rendering entities with Linked Entity Retrieval (clause 4.5.23) and as GeoJSON: what query
responses and notifications share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity, Instance, Renderer
from smartby.ngsild.projection import Projection


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


@dataclass(frozen=True)
class LinkedView:
    """How the entities one hop away are shown (clauses 4.21, 4.5.23): their renderer, and for each
    Relationship (expanded name) that a projection names with braces, the view of the entities it
    links to. A linked entity no projection names is shown whole (`whole`)."""

    renderer: Renderer
    whole: Renderer
    links: Mapping[str, LinkedView] = field(default_factory=dict)

    def linked(self, relationship: str) -> LinkedView:
        return self.links.get(relationship) or LinkedView(self.whole, self.whole)


def projected_view(base: Renderer, pick: Projection | None, omit: Projection | None) -> LinkedView:
    """The view of a pick or omit with projections of linked entities: `base`'s form and options,
    each level with its own members. An omitted name with braces stays (only members of the
    entities it links to are omitted); a picked or omitted name with braces projects those."""
    whole = _renderer(base, None, set())

    def expand(name: str) -> str:
        return name if name in ENTITY_MEMBERS else base.ctx.expand(name)

    def level(picked: Projection | None, omitted: Projection | None) -> LinkedView:
        names = {expand(name) for name in picked.names} if picked is not None else None
        dropped = {expand(name) for name, inner in omitted.members if inner is None} if omitted else set()
        links: dict[str, LinkedView] = {}
        for name, inner in picked.members if picked is not None else ():
            if inner is not None:
                links[expand(name)] = level(inner, None)
        for name, inner in omitted.members if omitted is not None else ():
            if inner is not None:
                links[expand(name)] = level(None, inner)
        return LinkedView(_renderer(base, names, dropped), whole, links)

    return level(pick, omit)


def _renderer(base: Renderer, pick: set[str] | None, omit: set[str]) -> Renderer:
    return Renderer(
        base.ctx,
        form=base.form,
        sys_attrs=base.sys_attrs,
        pick=pick,
        omit=omit,
        lang=base.lang,
        dataset_ids=base.dataset_ids,
    )


def linked_view(
    renderer: Renderer,
    entities: list[Entity],
    linked: dict[str, Entity],
    join: str | None,
    hops: int,
    view: LinkedView | None = None,
) -> list[dict[str, Any]]:
    """Entities rendered with Linked Entity Retrieval (clause 4.5.23): `inline` puts each linked
    entity under its Relationship (as `entity`, or as the value when simplified), `flat` appends the
    linked entities to the list.

    Without a `view` every entity is rendered by `renderer`, and `flat` appends every linked entity.
    With one (a pick or omit, clause 4.21) each level is rendered as the view says, and only the
    entities linked through the Relationships it shows are added."""
    if view is not None:
        return _projected(view, entities, linked, join, hops)
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


def _projected(
    view: LinkedView, entities: list[Entity], linked: dict[str, Entity], join: str | None, hops: int
) -> list[dict[str, Any]]:
    if join == "inline":
        return [_inlined_view(view, entity, linked, hops) for entity in entities]
    rendered = [view.renderer.entity(entity) for entity in entities]
    if join != "flat":
        return rendered
    seen = {entity["id"] for entity in entities}
    frontier = [(entity, view) for entity in entities]
    for _ in range(hops):
        reached: list[tuple[Entity, LinkedView]] = []
        for entity, level in frontier:
            for iri, target in _links(level.renderer, entity):
                if target in linked and target not in seen:
                    seen.add(target)
                    reached.append((linked[target], level.linked(iri)))
        rendered += [level.renderer.entity(entity) for entity, level in reached]
        frontier = reached
    return rendered


def _inlined_view(view: LinkedView, entity: Entity, linked: dict[str, Entity], hops: int) -> dict[str, Any]:
    renderer = view.renderer
    out = renderer.entity(entity)
    if hops <= 0:
        return out
    for iri, instances in entity.items():
        if iri in ENTITY_MEMBERS or len(instances) != 1:
            continue
        name = renderer.ctx.compact(iri)
        target = instances[0].get("object") if instances[0].get("type") == "Relationship" else None
        if name not in out or not isinstance(target, str) or target not in linked:
            continue
        embedded = _inlined_view(view.linked(iri), linked[target], linked, hops - 1)
        if renderer.form == "keyValues":
            out[name] = embedded
        elif isinstance(out[name], dict):
            out[name] = {**out[name], "entity": embedded}
    return out


def _links(renderer: Renderer, entity: Entity) -> Iterator[tuple[str, str]]:
    """(Relationship, entity id) of every Relationship and ListRelationship the renderer shows."""
    for iri, instances in entity.items():
        if iri in ENTITY_MEMBERS or not renderer.wants(iri):
            continue
        for instance in instances:
            yield from ((iri, target) for target in _targets(instance))


def _targets(instance: Instance) -> list[str]:
    if instance.get("type") == "Relationship":
        value = instance.get("object")
        return [t for t in (value if isinstance(value, list) else [value]) if isinstance(t, str)]
    if instance.get("type") == "ListRelationship":
        return [t for item in instance.get("objectList", []) if isinstance(t := item.get("object"), str)]
    return []
