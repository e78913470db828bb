"""Device readings into context: the hot path of ingestion, one transaction for a whole batch.

A batch may hold several readings of one attribute of one entity (a device that buffers, or a
busy one). History keeps every reading; the current state takes the last one, and the entity is
written once per batch, so its indexes and document are rebuilt once, not once per reading.
Subscriptions see one change per entity and batch: the entity as the batch left it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from smartby.broker.changes import stamp as stamp_instance
from smartby.broker.transaction import Transaction
from smartby.ngsild.entity import Entity, Instance

LOCATION = "https://uri.etsi.org/ngsi-ld/location"


@dataclass
class EntityReadings:
    """What one batch observed of one entity, in the internal form: Property instances by expanded
    attribute name, oldest first (the last becomes the current value); `location` is set when the
    batch creates the entity; `defaults` (a device's `reportingInterval`) where the entity has none."""

    id: str
    type: str
    attributes: dict[str, list[Instance]] = field(default_factory=dict)
    location: Instance | None = None
    defaults: dict[str, Instance] = field(default_factory=dict)


def write_readings(tx: Transaction, batch: Sequence[EntityReadings], now: str) -> None:
    """Apply a batch (one EntityReadings per entity id) in `tx`: entities that do not exist are
    created with the reading's type and location; existing ones get the type added if missing; both
    get the `defaults` they lack, and their default instance of each attribute overwritten (other
    datasetIds stay)."""
    existing = tx.get_many([readings.id for readings in batch])
    for readings in batch:
        current = existing.get(readings.id)
        entity: Entity
        if current is None:
            entity = {"id": readings.id, "type": [readings.type], "createdAt": now}
            if readings.location is not None:
                entity[LOCATION] = [stamp_instance(dict(readings.location), now, now)]
        else:
            entity = current
            if readings.type not in entity["type"]:
                entity["type"].append(readings.type)
        for iri, instance in readings.defaults.items():
            if iri not in entity:
                entity[iri] = [stamp_instance(dict(instance), now, now)]
        earlier: dict[str, list[Instance]] = {}
        for iri, instances in readings.attributes.items():
            for instance in instances:
                instance["createdAt"] = instance["modifiedAt"] = now
            final = instances[-1]
            held = entity.get(iri)
            if held is None:
                entity[iri] = [final]
            else:
                position = next((n for n, i in enumerate(held) if i.get("datasetId") is None), None)
                if position is None:
                    held.append(final)
                else:
                    final["createdAt"] = held[position].get("createdAt", now)
                    held[position] = final
            if len(instances) > 1:
                earlier[iri] = instances[:-1]
        entity["modifiedAt"] = now
        if current is None:
            tx.insert(entity, earlier)
        else:
            tx.replace(entity, earlier)
