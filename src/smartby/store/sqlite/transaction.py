"""A tenant's entities and their history inside the writer's open transaction."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import orjson

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity, Instance
from smartby.ngsild.subscription import Change
from smartby.records.notifications import PendingNotification
from smartby.store.base import Superseded, Transaction
from smartby.store.changelog import ChangeLog, removal_mark, replaced
from smartby.store.history_rows import (
    DELETED,
    HAS_OBSERVED,
    KIND_MASK,
    Clock,
    HistoryRow,
    deletion_row,
    instance_from_row,
    instance_number,
    instance_row,
)
from smartby.store.kinds import KIND_NAME
from smartby.store.rollup_plan import Bucket, hour_of
from smartby.store.sqlite import rollup
from smartby.store.sqlite.history import KnownSeries
from smartby.store.sqlite.rows import GEO_SLOTS, attribute_rows, geometry_slots
from smartby.store.sqlite.terms import Terms
from smartby.store.subscriptions import SubscriptionSQL

_IN_CHUNK = 500
DEFAULT_DATASET = 0


class SQLiteTransaction(Transaction):
    """Writes are buffered and sent with one executemany per table when the change is done (or
    before the next read), so a batch of a thousand entities costs a handful of statements.
    Keys (entity, temporal entity, instance numbers) are assigned here: the writer holds the
    database's write lock, so nobody else can take them.

    Every instance a change touches (its modifiedAt is new) is appended to history, and every
    instance that disappears gets a deletion row, in the same transaction as the current state.
    """

    def __init__(
        self, connection: sqlite3.Connection, tenant_id: int, terms: Terms, series: KnownSeries
    ) -> None:
        self._db = connection
        self._tenant = tenant_id
        self._terms = terms
        self._series = series
        self._new_series: dict[tuple[int, int, int], int] = {}
        self._clock = Clock()
        self._known: dict[str, tuple[int, int | None, Entity]] = {}
        self._next_pk: int | None = None
        self._next_tentity: int | None = None
        self._next_instance: int | None = None
        self._new_entities: list[tuple[int, int, str, bytes, int]] = []
        self._updated_entities: list[tuple[bytes, int]] = []
        self._linked_entities: list[tuple[int, int]] = []
        self._deleted_entities: list[tuple[int]] = []
        self._new_types: list[tuple[int, int, int]] = []
        self._deleted_types: list[tuple[int, int, int]] = []
        self._new_attrs: list[tuple[int, int, int, int, float | None, str | None]] = []
        self._deleted_attrs: list[tuple[int]] = []
        self._new_geo: list[tuple[int, float, float, float, float, int]] = []
        self._deleted_geo: list[tuple[int]] = []
        self._new_tentities: list[tuple[int, int, str, str, str | None, int, int]] = []
        self._updated_tentities: list[tuple[str, str | None, int, int | None, int]] = []
        self._new_ttypes: list[tuple[int, int, int]] = []
        self._deleted_ttypes: list[tuple[int]] = []
        self._history: list[HistoryRow] = []
        self._stale: set[Bucket] = set()
        """Rollup hours that lost or changed instances, to be summed up again from history."""
        self._tentities: dict[str, int] = {}
        self._buffered: set[str] = set()
        """Entities with index rows still in the buffers (a second change flushes them first)."""
        self._log = ChangeLog()
        self._outbox: list[tuple[Any, ...]] = []

    def _term(self, iri: str) -> int:
        term_id = self._terms.known.get(iri)
        return term_id if term_id is not None else self._terms.intern(self._db, iri)

    # -- current state ---------------------------------------------------------------------------

    def get(self, entity_id: str) -> Entity | None:
        known = self._known.get(entity_id)
        if known is not None:
            return _copy(known[2])
        self.flush()
        row = self._db.execute(
            "SELECT pk, temporal, doc FROM entity WHERE tenant_id = ? AND id = ?", (self._tenant, entity_id)
        ).fetchone()
        if row is None:
            return None
        entity: Entity = orjson.loads(row[2])
        self._known[entity_id] = (row[0], row[1], entity)
        return _copy(entity)

    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        found: dict[str, Entity] = {}
        unknown = [i for i in dict.fromkeys(entity_ids) if i not in self._known]
        for entity_id in entity_ids:
            known = self._known.get(entity_id)
            if known is not None:
                found[entity_id] = _copy(known[2])
        if unknown:
            self.flush()
        for start in range(0, len(unknown), _IN_CHUNK):
            chunk = unknown[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT pk, temporal, doc FROM entity WHERE tenant_id = ? AND id IN ({marks})",
                (self._tenant, *chunk),
            ).fetchall()
            for pk, tentity, doc in rows:
                entity: Entity = orjson.loads(doc)
                self._known[entity["id"]] = (pk, tentity, entity)
                found[entity["id"]] = _copy(entity)
        return found

    def _allocate(self, counter: str) -> int:
        if counter == "pk":
            if self._next_pk is None:
                self.flush()
                self._next_pk = self._scalar("SELECT coalesce(max(pk), 0) + 1 FROM entity")
            self._next_pk += 1
            return self._next_pk - 1
        if self._next_tentity is None:
            self.flush()
            self._next_tentity = self._scalar("SELECT coalesce(max(id), 0) + 1 FROM temporal_entity")
        self._next_tentity += 1
        return self._next_tentity - 1

    def _instance_numbers(self, count: int) -> int:
        """The first of `count` fresh instance numbers."""
        if self._next_instance is None:
            self._next_instance = self._scalar("SELECT value + 1 FROM counter WHERE name = 'instance'")
        first = self._next_instance
        self._next_instance += count
        return first

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._db.execute(sql, params).fetchone()[0])

    def insert(self, entity: Entity, earlier: Superseded | None = None) -> None:
        pk = self._allocate("pk")
        tentity = self._tentity(entity)
        self._buffered.add(entity["id"])
        self._new_entities.append((pk, self._tenant, entity["id"], orjson.dumps(entity), tentity))
        self._index(pk, entity, None)
        self._record(tentity, entity, None, earlier)
        self._known[entity["id"]] = (pk, tentity, entity)
        self._log.record(None, entity)

    def replace(self, entity: Entity, earlier: Superseded | None = None) -> None:
        if entity["id"] in self._buffered:
            self.flush()
        known = self._known.get(entity["id"])
        if known is None:
            self.get(entity["id"])
            known = self._known.get(entity["id"])
            if known is None:
                raise KeyError(entity["id"])
        pk, tentity, old = known
        if tentity is None:
            tentity = self._tentity(entity)
            self._linked_entities.append((tentity, pk))
        self._buffered.add(entity["id"])
        self._updated_entities.append((orjson.dumps(entity), pk))
        self._unindex(pk, old, types_changed=old["type"] != entity["type"])
        self._index(pk, entity, old)
        if old["type"] != entity["type"] or old.get("scope") != entity.get("scope"):
            self._update_tentity(tentity, entity, deleted_at=None)
        self._record(tentity, entity, old, earlier)
        self._known[entity["id"]] = (pk, tentity, entity)
        self._log.record(old, entity)

    def delete(self, entity_id: str, deleted_at: str | None = None) -> bool:
        if entity_id in self._buffered:
            self.flush()
        known = self._known.get(entity_id)
        if known is None:
            self.get(entity_id)
            known = self._known.get(entity_id)
            if known is None:
                return False
        pk, tentity, old = known
        if tentity is None:
            tentity = self._tentity(old)
        self._deleted_entities.append((pk,))
        self._unindex(pk, old, types_changed=True)
        when = self._clock(deleted_at or old.get("modifiedAt", "1970-01-01T00:00:00Z"))
        self._record_deletions(tentity, old, None, when)
        self._update_tentity(tentity, old, deleted_at=when)
        del self._known[entity_id]
        self._log.record(old, None)
        return True

    def _index(self, pk: int, entity: Entity, old: Entity | None) -> None:
        if old is None or old["type"] != entity["type"]:
            self._new_types.extend((self._tenant, self._term(t), pk) for t in entity["type"])
        attrs, geo = attribute_rows(pk, entity, self._term)
        self._new_attrs.extend(attrs)
        self._new_geo.extend(geo)

    def _unindex(self, pk: int, old: Entity, *, types_changed: bool) -> None:
        if types_changed:
            self._deleted_types.extend((self._tenant, self._term(t), pk) for t in old["type"])
        self._deleted_attrs.append((pk,))
        self._deleted_geo.extend((pk * GEO_SLOTS + ordinal,) for ordinal in geometry_slots(old))

    # -- history ---------------------------------------------------------------------------------

    def _tentity(self, entity: Entity, when: str | None = None) -> int:
        """The temporal entity of an entity id, created (or revived) as needed."""
        known = self._tentities.get(entity["id"])
        if known is not None:
            self._update_tentity(known, entity, deleted_at=None)
            return known
        row = self._db.execute(
            "SELECT id, types, scope, deleted_at FROM temporal_entity WHERE tenant_id = ? AND entity_id = ?",
            (self._tenant, entity["id"]),
        ).fetchone()
        types = orjson.dumps(entity["type"]).decode()
        scope = orjson.dumps(entity["scope"]).decode() if entity.get("scope") else None
        if row is None:
            tentity = self._allocate("tentity")
            stamp = self._clock(when or entity.get("createdAt") or "1970-01-01T00:00:00Z")
            self._new_tentities.append((tentity, self._tenant, entity["id"], types, scope, stamp, stamp))
            self._new_ttypes.extend((self._tenant, self._term(t), tentity) for t in entity["type"])
            self._tentities[entity["id"]] = tentity
            return tentity
        tentity = int(row[0])
        self._tentities[entity["id"]] = tentity
        if row[1] != types or row[2] != scope or row[3] is not None:
            self._update_tentity(tentity, entity, deleted_at=None)
        return tentity

    def _update_tentity(self, tentity: int, entity: Entity, *, deleted_at: int | None) -> None:
        types = orjson.dumps(entity["type"]).decode()
        scope = orjson.dumps(entity["scope"]).decode() if entity.get("scope") else None
        stamp = self._clock(entity.get("modifiedAt") or "1970-01-01T00:00:00Z")
        self._updated_tentities.append((types, scope, stamp, deleted_at, tentity))
        self._deleted_ttypes.append((tentity,))
        self._new_ttypes = [row for row in self._new_ttypes if row[2] != tentity]
        self._new_ttypes.extend((self._tenant, self._term(t), tentity) for t in entity["type"])

    def _record(
        self, tentity: int, entity: Entity, old: Entity | None, earlier: Superseded | None = None
    ) -> None:
        """Append every instance the change touched (after those it superseded); mark the ones it
        removed as deleted."""
        clock = self._clock
        touched: list[tuple[int, int, Instance, int]] = []
        for key, instances in (earlier or {}).items():
            for instance in instances:
                dataset = self._dataset(instance.get("datasetId"))
                touched.append(
                    (self._term(key), dataset, instance, clock(instance.get("modifiedAt") or _NEVER))
                )
        for key, instances in entity.items():
            if key in ENTITY_MEMBERS:
                continue
            before = _by_dataset(old.get(key, ())) if old is not None else {}
            for instance in instances:
                dataset = instance.get("datasetId")
                previous = before.get(dataset)
                stamp = instance.get("modifiedAt")
                if previous is not None and previous.get("modifiedAt") == stamp:
                    continue
                touched.append((self._term(key), self._dataset(dataset), instance, clock(stamp or _NEVER)))
        first = self._instance_numbers(len(touched)) if touched else 0
        term_id = self._term
        for offset, (name_id, dataset_id, instance, recorded) in enumerate(touched):
            self._append(
                instance_row(tentity, name_id, dataset_id, first + offset, instance, recorded, clock, term_id)
            )
        if old is not None:
            when = clock(entity.get("modifiedAt") or _NEVER)
            self._record_deletions(tentity, old, entity, when)

    def _record_deletions(self, tentity: int, old: Entity, new: Entity | None, when: int) -> None:
        gone: list[tuple[str, Instance]] = []
        for key, instances in old.items():
            if key in ENTITY_MEMBERS:
                continue
            remaining = _by_dataset(new.get(key, ())) if new is not None else {}
            gone.extend((key, i) for i in instances if i.get("datasetId") not in remaining)
        if not gone:
            return
        first = self._instance_numbers(len(gone))
        for offset, (key, instance) in enumerate(gone):
            self._append(
                deletion_row(
                    tentity,
                    self._term(key),
                    self._dataset(instance.get("datasetId")),
                    first + offset,
                    instance["type"],
                    when,
                )
            )

    def _append(self, row: HistoryRow) -> None:
        self._history.append(row)
        key = (row[0], row[1], row[2])
        kind = row[7] & KIND_MASK
        if self._series.needs(key, kind):
            self._new_series[key] = kind

    def _dataset(self, dataset: str | None) -> int:
        return DEFAULT_DATASET if dataset is None else self._term(dataset)

    # -- temporal API writes ---------------------------------------------------------------------

    def temporal_entity(self, entity_id: str) -> tuple[int, Entity] | None:
        """The temporal entity of an id: its number and its header (id, type, scope)."""
        self.flush()
        row = self._db.execute(
            "SELECT id, types, scope FROM temporal_entity WHERE tenant_id = ? AND entity_id = ?",
            (self._tenant, entity_id),
        ).fetchone()
        if row is None:
            return None
        header: Entity = {"id": entity_id, "type": orjson.loads(row[1])}
        if row[2] is not None:
            header["scope"] = orjson.loads(row[2])
        return int(row[0]), header

    def add_history(
        self,
        header: Entity,
        attributes: dict[str, list[Instance]],
        now: str,
        *,
        skip_existing: bool = False,
        replace_observed: bool = False,
    ) -> int:
        """Append instances to an entity's history (creating its temporal entity if needed); with
        `skip_existing`, an instance equal in time and value to one already recorded (or to another
        in the same call) is left out, so an import can be run again; with `replace_observed`, one
        observed at the same moment as a recorded instance of its series (or a later one in the same
        call) replaces it. Returns how many were added."""
        found = self.temporal_entity(header["id"])
        if found is not None:
            merged = list(dict.fromkeys([*found[1]["type"], *header["type"]]))
            header = {**found[1], **header, "type": merged}
        entity = {**header, "createdAt": now, "modifiedAt": now}
        tentity = self._tentity(entity, now)
        recorded = self._clock(now)
        rows = [
            instance_row(
                tentity,
                self._term(key),
                self._dataset(instance.get("datasetId")),
                0,
                instance,
                recorded,
                self._clock,
                self._term,
            )
            for key, instances in attributes.items()
            for instance in instances
        ]
        if skip_existing:
            rows = self._new_rows(rows, known_entity=found is not None)
        if replace_observed:
            rows = self._replacing(rows, known_entity=found is not None)
        first = self._instance_numbers(len(rows)) if rows else 0
        for offset, row in enumerate(rows):
            self._append((*row[:4], first + offset, *row[5:]))
        if rows:
            self._log.record_history(header, attributes)
        return len(rows)

    def _replacing(self, rows: list[HistoryRow], *, known_entity: bool) -> list[HistoryRow]:
        """The rows with the last of those observed at one moment of one series kept; the recorded
        instances they replace (observed then, not deletions) are deleted."""
        kept: dict[tuple[int, int, int, int], HistoryRow] = {}
        others: list[HistoryRow] = []
        for row in rows:
            if row[7] & HAS_OBSERVED:
                kept[(row[0], row[1], row[2], row[3])] = row
            else:
                others.append(row)
        if known_entity and kept:
            self.flush()
            self._db.executemany(
                "DELETE FROM history WHERE tentity = ? AND name_id = ? AND dataset_id = ? AND at = ? "
                f"AND kind & {HAS_OBSERVED} <> 0 AND kind & {DELETED} = 0",
                list(kept),
            )
            self._stale.update((t, n, d, hour_of(at)) for t, n, d, at in kept)
        return [*others, *kept.values()]

    def _new_rows(self, rows: list[HistoryRow], *, known_entity: bool) -> list[HistoryRow]:
        """The rows whose (series, time, value) is neither recorded yet nor repeated among them."""
        series: dict[tuple[int, int, int], list[HistoryRow]] = {}
        for row in rows:
            series.setdefault((row[0], row[1], row[2]), []).append(row)
        kept: list[HistoryRow] = []
        for (tentity, name_id, dataset_id), group in series.items():
            seen: set[tuple[int, Any, Any]] = set()
            if known_entity:
                self.flush()
                seen.update(
                    self._db.execute(
                        "SELECT at, num, value FROM history WHERE tentity = ? AND name_id = ? "
                        "AND dataset_id = ? AND at BETWEEN ? AND ?",
                        (tentity, name_id, dataset_id, min(r[3] for r in group), max(r[3] for r in group)),
                    ).fetchall()
                )
            for row in group:
                key = (row[3], row[8], row[9])
                if key not in seen:
                    seen.add(key)
                    kept.append(row)
        return kept

    def delete_history(self, entity_id: str) -> bool:
        found = self.temporal_entity(entity_id)
        if found is None:
            return False
        tentity = found[0]
        self._db.execute("DELETE FROM history WHERE tentity = ?", (tentity,))
        self._db.execute("DELETE FROM history_hour WHERE tentity = ?", (tentity,))
        names = self._db.execute(
            "DELETE FROM temporal_attr WHERE tentity = ? RETURNING name_id", (tentity,)
        ).fetchall()
        self._log.record_history_deletion(found[1], frozenset(self._terms.iri(self._db, n) for (n,) in names))
        self._series.forget()
        self._db.execute("DELETE FROM temporal_type WHERE tentity = ?", (tentity,))
        self._db.execute("DELETE FROM temporal_entity WHERE id = ?", (tentity,))
        self._db.execute("UPDATE entity SET temporal = NULL WHERE temporal = ?", (tentity,))
        for entity_key, (_, known_tentity, _) in list(self._known.items()):
            if known_tentity == tentity:
                del self._known[entity_key]
        self._tentities.pop(entity_id, None)
        return True

    def delete_attribute_history(
        self, entity_id: str, iri: str, dataset_id: str | None, delete_all: bool
    ) -> bool:
        found = self.temporal_entity(entity_id)
        name_id = self._terms.lookup(self._db, iri)
        if found is None or name_id is None:
            return False
        self._series.forget()
        params: tuple[int, ...]
        if delete_all:
            where, params = "tentity = ? AND name_id = ?", (found[0], name_id)
        else:
            dataset = DEFAULT_DATASET if dataset_id is None else self._terms.lookup(self._db, dataset_id)
            if dataset is None:
                return False
            where, params = "tentity = ? AND name_id = ? AND dataset_id = ?", (found[0], name_id, dataset)
        kind = self.kind_of(found[0], iri)
        self._db.execute(f"DELETE FROM temporal_attr WHERE {where}", params)
        self._db.execute(f"DELETE FROM history_hour WHERE {where}", params)
        removed = self._db.execute(f"DELETE FROM history WHERE {where}", params).rowcount > 0
        if removed and kind is not None:
            mark = removal_mark(kind, dataset_id=None if delete_all else dataset_id)
            self._log.record_removal(found[1], iri, [], [mark])
        return removed

    def _find_instance(
        self, entity_id: str, iri: str, instance_id: str
    ) -> tuple[int, int, int, int, int] | None:
        found = self.temporal_entity(entity_id)
        name_id = self._terms.lookup(self._db, iri)
        number = instance_number(instance_id)
        if found is None or name_id is None or number is None:
            return None
        row = self._db.execute(
            "SELECT dataset_id, at FROM history WHERE tentity = ? AND name_id = ? AND instance = ?",
            (found[0], name_id, number),
        ).fetchone()
        if row is None:
            return None
        return found[0], name_id, int(row[0]), int(row[1]), number

    def replace_instance(
        self, entity_id: str, iri: str, instance_id: str, instance: Instance, now: str
    ) -> bool:
        """Overwrite one recorded instance (PATCH .../attrs/{attr}/{instanceId})."""
        previous = self.instance(entity_id, iri, instance_id)
        located = self._find_instance(entity_id, iri, instance_id)
        if located is None or previous is None:
            return False
        tentity, name_id, dataset_id, at, number = located
        created = self._scalar(
            "SELECT created_at FROM history WHERE tentity = ? AND name_id = ? AND dataset_id = ? "
            "AND at = ? AND instance = ?",
            (tentity, name_id, dataset_id, at, number),
        )
        self._db.execute(
            _DELETE_INSTANCE,
            (tentity, name_id, dataset_id, at, number),
        )
        self._stale.add((tentity, name_id, dataset_id, hour_of(at)))
        row = instance_row(tentity, name_id, dataset_id, number, instance, created, self._clock, self._term)
        self._append((*row[:6], self._clock(now), *row[7:]))
        self._log.record_instance(self._header(entity_id), iri, previous, replaced(previous, instance, now))
        return True

    def instance(self, entity_id: str, iri: str, instance_id: str) -> Instance | None:
        """One recorded instance, by its instanceId."""
        located = self._find_instance(entity_id, iri, instance_id)
        if located is None:
            return None
        tentity, name_id, dataset_id, at, number = located
        row = self._db.execute(
            "SELECT created_at, modified_at, kind, num, value, unit_id, extra FROM history "
            "WHERE tentity = ? AND name_id = ? AND dataset_id = ? AND at = ? AND instance = ?",
            (tentity, name_id, dataset_id, at, number),
        ).fetchone()
        unit = self._terms.iri(self._db, row[5]) if row[5] is not None else None
        dataset = self._terms.iri(self._db, dataset_id) if dataset_id != DEFAULT_DATASET else None
        return instance_from_row(at, number, row[0], row[1], row[2], row[3], row[4], unit, row[6], dataset)

    def delete_instance(self, entity_id: str, iri: str, instance_id: str) -> bool:
        previous = self.instance(entity_id, iri, instance_id)
        located = self._find_instance(entity_id, iri, instance_id)
        if located is None or previous is None:
            return False
        tentity, name_id, dataset_id, at, number = located
        self._db.execute(
            _DELETE_INSTANCE,
            (tentity, name_id, dataset_id, at, number),
        )
        self._stale.add((tentity, name_id, dataset_id, hour_of(at)))
        mark = removal_mark(previous["type"], dataset_id=previous.get("datasetId"), instance_id=instance_id)
        self._log.record_removal(self._header(entity_id), iri, [previous], [mark])
        return True

    def kind_of(self, tentity: int, iri: str) -> str | None:
        """The attribute type an entity's history last recorded for an attribute."""
        name_id = self._terms.lookup(self._db, iri)
        if name_id is None:
            return None
        row = self._db.execute(
            "SELECT kind FROM history WHERE tentity = ? AND name_id = ? ORDER BY at DESC LIMIT 1",
            (tentity, name_id),
        ).fetchone()
        return None if row is None else KIND_NAME[int(row[0]) & KIND_MASK]

    # -- subscriptions ---------------------------------------------------------------------------

    def changes(self) -> list[Change]:
        return self._log.changes()

    def _header(self, entity_id: str) -> Entity:
        found = self.temporal_entity(entity_id)
        assert found is not None
        return found[1]

    def enqueue(self, notifications: Sequence[PendingNotification]) -> None:
        self._outbox.extend(OUTBOX.enqueue_rows(notifications, time.time()))

    # -- flushing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send the buffered writes; deletions of old index rows go before the new rows."""
        db = self._db
        hourly = rollup.summed(self._history, self._stale)
        steps: tuple[tuple[str, list[Any]], ...] = (
            ("DELETE FROM entity_type WHERE tenant_id = ? AND type_id = ? AND pk = ?", self._deleted_types),
            ("DELETE FROM attr WHERE pk = ?", self._deleted_attrs),
            ("DELETE FROM geo WHERE id = ?", self._deleted_geo),
            ("DELETE FROM entity WHERE pk = ?", self._deleted_entities),
            (
                "INSERT INTO temporal_entity (id, tenant_id, entity_id, types, scope, created_at, "
                "modified_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                self._new_tentities,
            ),
            (
                "UPDATE temporal_entity SET types = ?, scope = ?, modified_at = ?, deleted_at = ? "
                "WHERE id = ?",
                self._updated_tentities,
            ),
            ("DELETE FROM temporal_type WHERE tentity = ?", self._deleted_ttypes),
            (
                "INSERT OR IGNORE INTO temporal_type (tenant_id, type_id, tentity) VALUES (?, ?, ?)",
                self._new_ttypes,
            ),
            (
                "INSERT INTO entity (pk, tenant_id, id, doc, temporal) VALUES (?, ?, ?, ?, ?)",
                self._new_entities,
            ),
            ("UPDATE entity SET doc = ? WHERE pk = ?", self._updated_entities),
            ("UPDATE entity SET temporal = ? WHERE pk = ?", self._linked_entities),
            ("INSERT INTO entity_type (tenant_id, type_id, pk) VALUES (?, ?, ?)", self._new_types),
            (
                "INSERT INTO attr (pk, name_id, seq, kind, num, txt) VALUES (?, ?, ?, ?, ?, ?)",
                self._new_attrs,
            ),
            (
                "INSERT INTO geo (id, minx, maxx, miny, maxy, name_id) VALUES (?, ?, ?, ?, ?, ?)",
                self._new_geo,
            ),
            ("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._history),
        )
        for statement, rows in steps:
            if rows:
                db.executemany(statement, rows)
                rows.clear()
        rollup.add(db, hourly)
        if self._stale:
            rollup.recompute(db, self._stale)
            self._stale.clear()
        if self._new_series:
            db.executemany(
                "INSERT OR REPLACE INTO temporal_attr (tentity, name_id, dataset_id, kind) "
                "VALUES (?, ?, ?, ?)",
                [(*key, kind) for key, kind in self._new_series.items()],
            )
            for key, kind in self._new_series.items():
                self._series.remember(key, kind)
            self._new_series.clear()
        if self._next_instance is not None:
            db.execute("UPDATE counter SET value = ? WHERE name = 'instance'", (self._next_instance - 1,))
        if self._outbox:
            OUTBOX.insert(db, self._outbox)
            self._outbox.clear()
        self._buffered.clear()


_NEVER = "1970-01-01T00:00:00Z"
OUTBOX = SubscriptionSQL("?", skip_locked=False)
_DELETE_INSTANCE = (
    "DELETE FROM history WHERE tentity = ? AND name_id = ? AND dataset_id = ? AND at = ? AND instance = ?"
)


def _by_dataset(instances: Sequence[Instance]) -> dict[str | None, Instance]:
    return {instance.get("datasetId"): instance for instance in instances}


def _copy(entity: Entity) -> Entity:
    """A copy the broker may change without touching the transaction's remembered state."""
    copied: Entity = dict(entity)
    for key, value in entity.items():
        if isinstance(value, list):
            copied[key] = [dict(v) if isinstance(v, dict) else v for v in value]
    return copied
