"""What one write transaction changed, kept by both backends' transactions for subscriptions."""

from __future__ import annotations

from smartby.ngsild.entity import NULL_URI, VALUE_MEMBER, Entity, Instance
from smartby.ngsild.subscription import Change
from smartby.ngsild.timestamps import format_datetime, now, to_micros

_HEADER = ("id", "type", "scope")


def removal_mark(kind: str, *, dataset_id: str | None = None, instance_id: str | None = None) -> Instance:
    """How a notification shows instances removed from history: as the temporal representation
    shows a deletion, the NGSI-LD Null with deletedAt (and the datasetId, instanceId removed)."""
    mark: Instance = {"type": kind, VALUE_MEMBER[kind]: NULL_URI}
    if dataset_id is not None:
        mark["datasetId"] = dataset_id
    if instance_id is not None:
        mark["instanceId"] = instance_id
    mark["deletedAt"] = format_datetime(now())
    return mark


def replaced(previous: Instance, instance: Instance, at: str) -> Instance:
    """A recorded instance after it was overwritten with `instance` at `at`."""
    return {
        **instance,
        "instanceId": previous["instanceId"],
        "createdAt": previous["createdAt"],
        "modifiedAt": at,
    }


def _moment(instance: Instance) -> int:
    """When an instance holds (observedAt, else modifiedAt), in microseconds; the earliest if neither.
    Compared as times, not as text: `...:00Z` and `...:00.500Z` keep the precision they came with."""
    text = instance.get("observedAt") or instance.get("modifiedAt")
    return to_micros(text) if text else -(2**63)


class ChangeLog:
    """Per entity id, the state before the transaction's first change and after its last one.

    The states are the transaction's own objects, not copies: a transaction never changes an entity
    it has stored (the broker works on copies), so holding references costs nothing on the write path.

    Writes to history alone (the temporal API) are kept as what they did to the entity's temporal
    representation: the instances written or removed, and the attributes concerned.
    """

    def __init__(self) -> None:
        self._entries: dict[str, Change] = {}

    def record(self, before: Entity | None, after: Entity | None) -> None:
        entity = after if after is not None else before
        assert entity is not None
        known = self._entries.get(entity["id"])
        first = known.before if known is not None and known.attributes is None else before
        self._entries[entity["id"]] = Change(first, after)

    def record_history(self, header: Entity, attributes: dict[str, list[Instance]]) -> None:
        """Instances appended to history: an update of those attributes, the entity shown with the
        latest instance written per attribute and datasetId."""
        state: Entity = {key: value for key, value in header.items() if key in _HEADER}
        for name, instances in attributes.items():
            latest: dict[object, tuple[int, Instance]] = {}
            for instance in instances:
                key = instance.get("datasetId")
                moment = _moment(instance)
                shown = latest.get(key)
                if shown is None or moment >= shown[0]:
                    latest[key] = (moment, instance)
            if latest:
                state[name] = [instance for _, instance in latest.values()]
        self._history(header, state, state, updated=frozenset(attributes))

    def record_instance(self, header: Entity, name: str, before: Instance, after: Instance) -> None:
        """One recorded instance replaced by another (its previous value is known): an update."""
        self._history(header, {name: [before]}, {name: [after]}, updated=frozenset({name}))

    def record_removal(self, header: Entity, name: str, gone: list[Instance], marks: list[Instance]) -> None:
        """Instances of an attribute removed from history (`gone`, those whose values are known;
        `marks` show the removal as history shows a deletion): a deletion of that attribute."""
        self._history(header, {name: gone} if gone else {}, {name: marks}, removed=frozenset({name}))

    def record_history_deletion(self, header: Entity, names: frozenset[str]) -> None:
        """An entity's whole temporal representation removed: a deletion of the entity."""
        known = self._entries.get(header["id"])
        if known is not None and known.attributes is None:
            return
        before = {key: value for key, value in header.items() if key in _HEADER}
        self._entries[header["id"]] = Change(before, None, frozenset(), names)

    def _history(
        self,
        header: Entity,
        before: Entity,
        after: Entity,
        *,
        updated: frozenset[str] = frozenset(),
        removed: frozenset[str] = frozenset(),
    ) -> None:
        known = self._entries.get(header["id"])
        if known is not None and known.attributes is None:
            return  # The current state changed too; its diff tells more than the history write.
        head: Entity = {key: value for key, value in header.items() if key in _HEADER}
        if known is not None and known.before is not None and known.after is not None:
            # Another history write to the entity in this transaction: the first previous values
            # stay, the latest instances win.
            before = {**head, **before, **{k: v for k, v in known.before.items() if k not in _HEADER}}
            after = {**known.after, **after}
            updated = (known.attributes or frozenset()) | updated
            removed = known.removed | removed
        self._entries[header["id"]] = Change({**head, **before}, {**head, **after}, updated, removed)

    def changes(self) -> list[Change]:
        return [
            change
            for change in self._entries.values()
            if change.before is not None or change.after is not None
        ]
