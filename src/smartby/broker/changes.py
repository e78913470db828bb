"""How NGSI-LD operations change an entity, as pure functions on the internal form.

Each function takes the current entity (a copy the caller owns), changes it in place and stamps
createdAt/modifiedAt; the broker runs them inside a store transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from smartby.ngsild.entity import ENTITY_MEMBERS, INSTANCE_MEMBERS, NULL_URI, VALUE_MEMBER, Entity, Instance
from smartby.ngsild.errors import BadRequestData, ResourceNotFound

Attributes = dict[str, list[Instance]]


@dataclass
class AttributeOutcome:
    """Which attributes an update changed and which it did not (with the reason)."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.not_updated


def is_delete(instance: Instance) -> bool:
    member = VALUE_MEMBER.get(instance.get("type", ""), "value")
    return instance.get(member) == NULL_URI


def stamp(instance: Instance, now: str, created: str | None = None) -> Instance:
    """Set createdAt/modifiedAt on an instance and its sub-attributes."""
    instance["createdAt"] = created or instance.get("createdAt") or now
    instance["modifiedAt"] = now
    for key, sub in instance.items():
        if key not in INSTANCE_MEMBERS and isinstance(sub, dict):
            stamp(sub, now, sub.get("createdAt"))
    return instance


def _reject_nulls(iri: str, instances: list[Instance]) -> None:
    for instance in instances:
        if is_delete(instance) or not instance.get("type"):
            raise BadRequestData(f"Attribute {iri} needs a full value here (no null, no fragment)")


def new_entity(entity: Entity, now: str) -> Entity:
    """Stamp a parsed entity as created now (parsing a whole entity never yields nulls)."""
    entity["createdAt"] = now
    entity["modifiedAt"] = now
    for key, instances in entity.items():
        if key not in ENTITY_MEMBERS:
            for instance in instances:
                stamp(instance, now, now)
    return entity


def replace_entity(old: Entity, new: Entity, now: str) -> Entity:
    """PUT /entities/{id}: everything but id and createdAt comes from `new`."""
    replaced = new_entity(new, now)
    replaced["createdAt"] = old.get("createdAt", now)
    return replaced


def _find(instances: list[Instance], dataset_id: str | None) -> int | None:
    for position, instance in enumerate(instances):
        if instance.get("datasetId") == dataset_id:
            return position
    return None


def append_attributes(
    entity: Entity, attributes: Attributes, now: str, *, overwrite: bool
) -> AttributeOutcome:
    """POST /entities/{id}/attrs (and batch update): add attributes, replacing existing ones unless
    `overwrite` is False."""
    outcome = AttributeOutcome()
    for iri, instances in attributes.items():
        _reject_nulls(iri, instances)
        current = entity.setdefault(iri, [])
        changed = False
        for instance in instances:
            position = _find(current, instance.get("datasetId"))
            if position is None:
                current.append(stamp(instance, now, now))
                changed = True
            elif overwrite:
                current[position] = stamp(instance, now, current[position].get("createdAt"))
                changed = True
        if changed:
            outcome.updated.append(iri)
        else:
            outcome.not_updated.append((iri, "attribute exists and noOverwrite was requested"))
        if not current:
            del entity[iri]
    _touch(entity, outcome, now)
    return outcome


def update_attributes(entity: Entity, attributes: Attributes, now: str) -> AttributeOutcome:
    """PATCH /entities/{id}/attrs: replace the instances that exist, add the others (as the ETSI test
    suite expects, TP 011_01_03 and 558_01_04), delete those given the NGSI-LD Null."""
    outcome = AttributeOutcome()
    for iri, instances in attributes.items():
        current = entity.setdefault(iri, [])
        changed = False
        for instance in instances:
            position = _find(current, instance.get("datasetId"))
            if position is None:
                # An instance with a new datasetId is added alongside the others (clause 5.5.8).
                if not is_delete(instance) and instance.get("type"):
                    current.append(stamp(instance, now, now))
                    changed = True
                continue
            if is_delete(instance):
                del current[position]
            else:
                _reject_nulls(iri, [instance])
                current[position] = stamp(instance, now, current[position].get("createdAt"))
            changed = True
        if changed:
            outcome.updated.append(iri)
        else:
            outcome.not_updated.append((iri, "no instance to delete with that datasetId exists"))
        if not current:
            del entity[iri]
    _touch(entity, outcome, now)
    return outcome


def update_scopes(entity: Entity, scopes: list[str], now: str, outcome: AttributeOutcome) -> None:
    """Update Attributes with a scope (TP 011_05): replaces existing scopes, adds none."""
    if "scope" not in entity:
        outcome.not_updated.append(("scope", "the entity has no scope to update"))
        return
    entity["scope"] = list(scopes)
    entity["modifiedAt"] = now
    outcome.updated.append("scope")


def add_types(entity: Entity, types: list[str], now: str) -> None:
    """Types given to an update are added to the entity's types (clause 4.16)."""
    added = [t for t in types if t not in entity["type"]]
    if added:
        entity["type"] = entity["type"] + added
        entity["modifiedAt"] = now


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 merge of a value, with the NGSI-LD Null (or JSON null) removing a member."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None or value == NULL_URI:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def merge_instance(old: Instance, fragment: Instance, now: str, *, merge_values: bool = False) -> Instance:
    """Merge-patch one instance: members given replace, sub-attributes merge, nulls delete. With
    `merge_values` (Merge Entity, clause 5.5.12) an object value is merged into the old one."""
    merged = dict(old)
    new_kind = fragment.get("type")
    if new_kind and new_kind != old.get("type"):
        if VALUE_MEMBER[new_kind] not in fragment:
            raise BadRequestData(f"Changing an attribute to a {new_kind} needs its {VALUE_MEMBER[new_kind]}")
        merged.pop(VALUE_MEMBER[old["type"]], None)
        merged["type"] = new_kind
    for key, value in fragment.items():
        if key in ("type", "createdAt", "modifiedAt"):
            continue
        if key == "value" and merge_values and isinstance(value, dict) and merged.get("type") == "Property":
            merged[key] = merge_patch(old.get(key) if old.get("type") == "Property" else None, value)
        elif key in INSTANCE_MEMBERS:
            merged[key] = value
        elif isinstance(value, dict) and is_delete(value):
            merged.pop(key, None)
        elif key in merged and isinstance(merged[key], dict):
            merged[key] = merge_instance(merged[key], value, now, merge_values=merge_values)
        else:
            if not value.get("type"):
                raise BadRequestData(f"Sub-attribute {key} does not exist and needs a type and value")
            merged[key] = stamp(value, now, now)
    merged["modifiedAt"] = now
    return merged


def merge_entity(entity: Entity, attributes: Attributes, now: str, types: list[str] | None = None) -> None:
    """PATCH /entities/{id} (merge-patch): add new attributes, merge existing, delete nulls."""
    if types:
        for entity_type in types:
            if entity_type not in entity["type"]:
                entity["type"].append(entity_type)
    for iri, instances in attributes.items():
        current = entity.setdefault(iri, [])
        for instance in instances:
            position = _find(current, instance.get("datasetId"))
            if is_delete(instance):
                if position is not None:
                    del current[position]
            elif position is None:
                if not instance.get("type"):
                    raise BadRequestData(f"Attribute {iri} does not exist and needs a type and value")
                if instance.get("type") == "Property" and isinstance(instance.get("value"), dict):
                    instance["value"] = merge_patch(None, instance["value"])
                current.append(stamp(instance, now, now))
            else:
                current[position] = merge_instance(current[position], instance, now, merge_values=True)
        if not current:
            del entity[iri]
    entity["modifiedAt"] = now


def partial_update(
    entity: Entity, iri: str, fragment: Instance, now: str, *, given_type: str | None = None
) -> None:
    """PATCH /entities/{id}/attrs/{attr}: merge the fragment into the instance with its datasetId.
    A `given_type` (the type the client wrote) must be the instance's own (TP 012_02_03)."""
    current = entity.get(iri)
    position = None if current is None else _find(current, fragment.get("datasetId"))
    if current is None or position is None:
        raise ResourceNotFound(f"Entity {entity['id']} has no attribute {iri} with that datasetId")
    if given_type is not None and given_type != current[position].get("type"):
        raise BadRequestData(f"Attribute {iri} is a {current[position].get('type')}, not a {given_type}")
    if is_delete(fragment):
        del current[position]
        if not current:
            del entity[iri]
    else:
        current[position] = merge_instance(current[position], fragment, now)
    entity["modifiedAt"] = now


def replace_attribute(entity: Entity, iri: str, instance: Instance, now: str) -> None:
    """PUT /entities/{id}/attrs/{attr}: replace the instance with the same datasetId."""
    _reject_nulls(iri, [instance])
    current = entity.get(iri)
    position = None if current is None else _find(current, instance.get("datasetId"))
    if current is None or position is None:
        raise ResourceNotFound(f"Entity {entity['id']} has no attribute {iri} with that datasetId")
    current[position] = stamp(instance, now, current[position].get("createdAt"))
    entity["modifiedAt"] = now


def delete_attribute(entity: Entity, iri: str, dataset_id: str | None, delete_all: bool, now: str) -> None:
    current = entity.get(iri)
    if current is None:
        raise ResourceNotFound(f"Entity {entity['id']} has no attribute {iri}")
    if delete_all:
        del entity[iri]
    else:
        position = _find(current, dataset_id)
        if position is None:
            raise ResourceNotFound(
                f"Entity {entity['id']} has no instance of {iri} with datasetId {dataset_id}"
            )
        del current[position]
        if not current:
            del entity[iri]
    entity["modifiedAt"] = now


def purge_attributes(entity: Entity, keep: Collection[str] | None, drop: Collection[str], now: str) -> bool:
    """Purge Entities with `keep` or `drop` (clause 5.6.21 of V1.9.1): the attributes named in
    `drop` go, or all but those named in `keep`; whether the entity changed."""
    names = [name for name in entity if name not in ENTITY_MEMBERS]
    gone = (
        [name for name in names if name not in keep] if keep is not None else [n for n in names if n in drop]
    )
    for name in gone:
        del entity[name]
    if gone:
        entity["modifiedAt"] = now
    return bool(gone)


def append_scopes(entity: Entity, scopes: list[str], now: str, *, overwrite: bool) -> None:
    """Append Attributes with a scope (clause 5.6.3): replace the scopes, or with noOverwrite add them."""
    if overwrite or "scope" not in entity:
        entity["scope"] = list(scopes)
    else:
        entity["scope"] = entity["scope"] + [s for s in scopes if s not in entity["scope"]]
    entity["modifiedAt"] = now


def delete_scope(entity: Entity, now: str) -> None:
    """Delete Attribute on `scope` (clause 5.6.5.4) removes the entity's scopes."""
    if "scope" not in entity:
        raise ResourceNotFound(f"Entity {entity['id']} has no scope")
    del entity["scope"]
    entity["modifiedAt"] = now


def upsert_update(entity: Entity, new: Entity, now: str) -> None:
    """Batch upsert with options=update: types are added and attributes appended or overwritten."""
    for entity_type in new["type"]:
        if entity_type not in entity["type"]:
            entity["type"].append(entity_type)
    if "scope" in new:
        entity["scope"] = new["scope"]
    attributes = {k: v for k, v in new.items() if k not in ENTITY_MEMBERS}
    append_attributes(entity, attributes, now, overwrite=True)
    entity["modifiedAt"] = now


def _touch(entity: Entity, outcome: AttributeOutcome, now: str) -> None:
    if outcome.updated:
        entity["modifiedAt"] = now


def strip_system(value: Any) -> Any:
    """The entity without createdAt/modifiedAt anywhere (to compare content)."""
    if isinstance(value, dict):
        return {k: strip_system(v) for k, v in value.items() if k not in ("createdAt", "modifiedAt")}
    if isinstance(value, list):
        return [strip_system(v) for v in value]
    return value
