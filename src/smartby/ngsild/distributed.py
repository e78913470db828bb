"""Answers of distributed operations (clause 4.3.6): one entity as several context sources hold it,
merged into one, and the `Via` header that tells a request that went round in a loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity, Instance


@dataclass(frozen=True)
class Part:
    """One source's view of an entity. An auxiliary part only fills in attributes no other part has;
    an exclusive part (`exclusive` names its attributes) alone provides those attributes, and
    nothing else."""

    entity: Entity
    auxiliary: bool = False
    exclusive: frozenset[str] | None = None


def _stamp(instance: Instance) -> str:
    """When an instance was true: its observedAt, else its modifiedAt ("" if neither is known)."""
    return str(instance.get("observedAt") or instance.get("modifiedAt") or "")


def merge_entities(parts: Sequence[Part]) -> Entity:
    """One entity from several sources' views of it (the first part first). Types and scopes are
    united; of the instances of an attribute with one datasetId, the newest (observedAt, else
    modifiedAt) wins, an earlier part winning a tie; attributes of auxiliary parts count only where
    no other part has the attribute; an attribute an exclusive part holds comes from exclusive parts
    alone."""
    if not parts:
        raise ValueError("Nothing to merge")
    ordered = [part for part in parts if not part.auxiliary] + [part for part in parts if part.auxiliary]
    first = ordered[0].entity
    merged: Entity = {"id": first["id"], "type": []}
    chosen: dict[str, dict[str | None, Instance]] = {}
    from_main: set[str] = set()
    owned: set[str] = set()
    for part in ordered:
        if part.exclusive is not None:
            owned.update(part.exclusive)
    for part in ordered:
        entity = part.entity
        for kind in entity.get("type", ()):
            if kind not in merged["type"]:
                merged["type"].append(kind)
        for scope in entity.get("scope", ()):
            merged.setdefault("scope", [])
            if scope not in merged["scope"]:
                merged["scope"].append(scope)
        for member in ("createdAt", "modifiedAt"):
            if member in entity and member not in merged:
                merged[member] = entity[member]
        for name, instances in entity.items():
            if name in ENTITY_MEMBERS:
                continue
            if part.exclusive is not None and name not in part.exclusive:
                continue
            if part.exclusive is None and name in owned:
                continue
            if part.auxiliary and name in from_main:
                continue
            if not part.auxiliary:
                from_main.add(name)
            slots = chosen.setdefault(name, {})
            for instance in instances:
                key = instance.get("datasetId")
                held = slots.get(key)
                if held is None or _stamp(instance) > _stamp(held):
                    slots[key] = instance
    for name, slots in chosen.items():
        merged[name] = list(slots.values())
    return merged


def via_entries(header: str | None) -> list[str]:
    """The entries of a Via header (RFC 9110 clause 7.6.3), each `protocol received-by`."""
    if not header:
        return []
    return [entry.strip() for entry in header.split(",") if entry.strip()]


def passed(header: str | None, identity: str) -> bool:
    """Whether a request carrying this Via header has passed the broker named `identity` already."""
    return any(entry.split()[-1] == identity for entry in via_entries(header) if entry.split())


def via_with(header: str | None, identity: str) -> str:
    """The Via header of a request forwarded by the broker named `identity`."""
    return ", ".join([*via_entries(header), f"1.1 {identity}"])
