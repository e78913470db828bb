"""What one write transaction changed, kept by both backends' transactions for subscriptions."""

from __future__ import annotations

from smartby.ngsild.entity import Entity, Instance
from smartby.ngsild.subscription import Change


class ChangeLog:
    """Per entity id, the state before the transaction's first change and after its last one.

    The states are the transaction's own objects, not copies: a transaction never changes an entity
    it has stored (the broker works on copies), so holding references costs nothing on the write path.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Entity | None, Entity | None, frozenset[str] | None]] = {}

    def record(self, before: Entity | None, after: Entity | None) -> None:
        entity = after if after is not None else before
        assert entity is not None
        known = self._entries.get(entity["id"])
        first = known[0] if known is not None else before
        self._entries[entity["id"]] = (first, after, None)

    def record_history(self, header: Entity, attributes: dict[str, list[Instance]]) -> None:
        """Instances appended to history (the temporal API): an update of those attributes, the
        entity shown with the latest instance written per attribute and datasetId."""
        state: Entity = {key: value for key, value in header.items() if key in ("id", "type", "scope")}
        for name, instances in attributes.items():
            latest: dict[object, Instance] = {}
            for instance in instances:
                key = instance.get("datasetId")
                moment = instance.get("observedAt") or instance.get("modifiedAt") or ""
                shown = latest.get(key)
                if shown is None or moment >= (shown.get("observedAt") or shown.get("modifiedAt") or ""):
                    latest[key] = instance
            if latest:
                state[name] = list(latest.values())
        known = self._entries.get(header["id"])
        if known is not None and known[2] is None:
            return  # The current state changed too; its diff tells more than the history append.
        names = frozenset(attributes) | (known[2] if known is not None and known[2] else frozenset())
        self._entries[header["id"]] = (state, state, names)

    def changes(self) -> list[Change]:
        return [
            Change(before, after, names)
            for before, after, names in self._entries.values()
            if before is not None or after is not None
        ]
