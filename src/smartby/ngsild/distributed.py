"""Answers of distributed operations (clause 4.3.6): one entity as several context sources hold it,
merged into one, and the `Via` header that tells a request that went round in a loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity, Instance
from smartby.ngsild.errors import NgsiLdError
from smartby.ngsild.reads import TemporalEntity
from smartby.ngsild.registration import expand_operations, provides_id
from smartby.ngsild.temporal import instance_time
from smartby.ngsild.timestamps import parse_datetime


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


# -- distributed writes (clauses 4.3.6.2-4.3.6.4 with 5.6) ----------------------------------------


class SourceError(NgsiLdError):
    """What a context source answered when it refused a forwarded write: its ProblemDetails as
    given, and the registration it was asked under (BatchEntityError.registrationId, 5.2.17)."""

    status = 502
    title = "Context source error"

    def __init__(self, detail: str, registration_id: str, problem: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.registration_id = registration_id
        self.source_problem = dict(problem) if problem else None

    def problem(self) -> dict[str, Any]:
        return dict(self.source_problem) if self.source_problem else super().problem()

    @property
    def missing(self) -> bool:
        """Whether the source answered that it holds no such entity or attribute."""
        problem = self.source_problem or {}
        return str(problem.get("type", "")).endswith("ResourceNotFound")


@dataclass(frozen=True)
class Target:
    """A context source a write goes to, and which of the request's attributes (expanded names) it
    takes; None: all of them (an operation on the whole entity)."""

    registration: Mapping[str, Any]
    attrs: frozenset[str] | None


@dataclass(frozen=True)
class Refusal:
    """An attribute an exclusive or redirect source holds, but whose registration does not take the
    operation: it is written nowhere."""

    attribute: str
    registration_id: str


@dataclass
class WritePlan:
    """Where one write of one entity goes: the sources, the attributes this broker must not write
    (held by exclusive or redirect sources), and whether this broker takes part at all."""

    targets: list[Target] = field(default_factory=list)
    withheld: set[str] = field(default_factory=set)
    refused: list[Refusal] = field(default_factory=list)
    local: bool = True


def _covered(
    document: Mapping[str, Any], entity_id: str, types: Sequence[str] | None
) -> tuple[bool, frozenset[str] | None]:
    """Whether a registration registers an entity, and which of its attributes (None: every one).
    Without known types only the id is matched, as a retrieve by id does."""
    names: set[str] = set()
    found = False
    for info in document["information"]:
        entities = info.get("entities")
        if entities and not any(
            provides_id(entity, entity_id) and (types is None or entity["type"] in types)
            for entity in entities
        ):
            continue
        found = True
        listed = [*info.get("propertyNames", ()), *info.get("relationshipNames", ())]
        if not listed:
            return True, None
        names.update(listed)
    return found, frozenset(names)


def plan_write(
    registrations: Sequence[Mapping[str, Any]],
    operation: str,
    entity_id: str,
    types: Sequence[str] | None,
    attrs: frozenset[str] | None,
    moment: datetime,
) -> WritePlan:
    """Clause 4.3.6: where a write of `attrs` (None: the whole entity, as a deletion) of one entity
    goes. Auxiliary registrations never take writes; an inclusive one takes the attributes it
    registers if it supports the operation, and this broker writes them too; an exclusive or
    redirect one takes them instead of this broker (a redirect one registering the whole entity
    takes all of it), and where it does not support the operation they are refused. A registration
    that registers none of the attributes is not concerned."""
    plan = WritePlan()
    for document in registrations:
        mode = document.get("mode", "inclusive")
        if mode == "auxiliary":
            continue
        if "expiresAt" in document and parse_datetime(document["expiresAt"]) <= moment:
            continue
        found, registered = _covered(document, entity_id, types)
        if not found:
            continue
        held: frozenset[str] | None
        if attrs is None:
            held = None if registered is None else registered
        else:
            held = attrs if registered is None else attrs & registered
            if not held and attrs:
                continue
        supports = operation in expand_operations(document.get("operations", ()))
        if supports:
            plan.targets.append(Target(document, None if attrs is None else held))
        if mode in ("exclusive", "redirect"):
            if registered is None and mode == "redirect":
                plan.local = False
            if held is not None:
                plan.withheld.update(held)
                if not supports:
                    plan.refused.extend(Refusal(name, document["id"]) for name in sorted(held))
    if attrs and attrs <= plan.withheld:
        plan.local = False
    return plan


def merge_temporal(
    local: Sequence[TemporalEntity], remote: Sequence[TemporalEntity], timeproperty: str, last_n: int | None
) -> list[TemporalEntity]:
    """Temporal entities of this broker and of context sources as one list (this broker's first,
    in their order, then the sources' new ones): the instances of each attribute united, one
    instance per datasetId and moment (this broker's winning), ordered by time; with `last_n`
    only the newest so many of each attribute are kept (clause 6.3.10)."""
    merged: dict[str, TemporalEntity] = {}
    for entity in [*local, *remote]:
        held = merged.get(entity.id)
        if held is None:
            merged[entity.id] = TemporalEntity(
                entity.id,
                list(entity.types),
                entity.scope,
                {name: list(instances) for name, instances in entity.attributes.items()},
                dict(entity.system),
            )
            continue
        held.types.extend(kind for kind in entity.types if kind not in held.types)
        for name, instances in entity.attributes.items():
            kept = held.attributes.setdefault(name, [])
            seen = {(item.get("datasetId"), instance_time(item, timeproperty)) for item in kept}
            kept.extend(
                item
                for item in instances
                if (item.get("datasetId"), instance_time(item, timeproperty)) not in seen
            )
    for entity in merged.values():
        for name, instances in entity.attributes.items():
            instances.sort(key=lambda item: str(instance_time(item, timeproperty) or ""))
            if last_n is not None:
                entity.attributes[name] = instances[-last_n:]
    return list(merged.values())
