"""A tenant's entities and their history inside one PostgreSQL transaction.

The semantics are the SQLite transaction's (`smartby.store.sqlite.transaction`): writes are buffered
and sent per table when the change is done (or before the next read), every instance a change
touches is appended to history and every instance it removes gets a deletion row, in the same
transaction as the current state.

What differs is how several writers share one database. Each entity id has a row in `entity_key`
holding the entity's key; a transaction locks the rows of the ids it reads (`SELECT ... FOR UPDATE`,
in id order), so a read-modify-write of an entity is atomic across processes. An id without a row
gets one first (`INSERT ... ON CONFLICT DO NOTHING`, then the lock), so two transactions creating the
same entity take turns and the second sees the first's entity. Keys, ordinals and instance numbers
come from sequences.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg

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
from smartby.store.postgres import rollup
from smartby.store.postgres.history import COLUMNS, KnownSeries, Row, from_numeric, table_row
from smartby.store.postgres.partitions import Partitions
from smartby.store.postgres.rows import attribute_rows
from smartby.store.postgres.terms import Terms
from smartby.store.rollup_plan import Bucket, hour_of
from smartby.store.subscriptions import SubscriptionSQL

DEFAULT_DATASET = 0
COPY_ROWS = 64
"""From this many buffered rows on, a table's rows are sent with COPY instead of executemany."""
_NEVER = "1970-01-01T00:00:00Z"
OUTBOX = SubscriptionSQL("%s", skip_locked=True)
_ATTR_COLUMNS = ("key", "name_id", "seq", "tenant_id", "kind", "num", "txt")
_GEO_COLUMNS = ("key", "tenant_id", "name_id", "shape", "geom")
_ENTITY_COLUMNS = ("key", "tenant_id", "ordinal", "id", "doc")
_CASTS = {("history", "num"): "::numeric", ("geo", "geom"): "::geometry"}
"""Parameters sent as text that a column takes as another type. Only history's `num` (exact
numeric text): attr's `num` is a double sent as one, which a cast through numeric would round to
15 digits (and past the largest double, for numbers near it)."""

TemporalState = tuple[str, str | None, int | None]
"""What a transaction knows of a temporal entity: types and scope (JSON), deletion time."""


class PostgresTransaction(Transaction):
    def __init__(
        self,
        connection: psycopg.Connection,
        tenant_id: int,
        terms: Terms,
        series: KnownSeries,
        partitions: Partitions,
    ) -> None:
        self._db = connection
        self._tenant = tenant_id
        self._terms = terms
        self._series = series
        self._partitions = partitions
        self.epoch = series.epoch
        self.learned: dict[tuple[int, int, int], int] = {}
        """Series written by this transaction, for the cache once it commits."""
        self._new_series: dict[tuple[int, int, int], int] = {}
        self._clock = Clock()
        self._keys: dict[str, int] = {}
        """Entity ids whose key row this transaction holds locked."""
        self._claimed: set[int] = set()
        self._used: set[int] = set()
        self._known: dict[str, tuple[int, int | None, Entity]] = {}
        """Current entities by id: key, ordinal (None until the new entity is sent), state."""
        self._temporal: dict[int, TemporalState | None] = {}
        self._new_entities: list[tuple[int, str, bytes]] = []
        self._updated_entities: list[tuple[bytes, int]] = []
        self._deleted_entities: list[int] = []
        self._new_types: list[tuple[int, int]] = []
        self._deleted_types: list[tuple[int, int, int]] = []
        self._new_attrs: list[tuple[Any, ...]] = []
        self._deleted_attrs: list[int] = []
        self._new_geo: list[tuple[Any, ...]] = []
        self._deleted_geo: list[int] = []
        self._tentities: dict[int, tuple[Any, ...]] = {}
        self._ttypes: dict[int, list[int]] = {}
        """The types to record for a temporal entity (replacing those recorded)."""
        self._history: list[Row] = []
        self._stale: set[Bucket] = set()
        """Rollup hours that lost or changed instances, to be summed up again from history."""
        self._buffered: set[str] = set()
        """Entities with rows still in the buffers (a second change flushes them first)."""
        self._log = ChangeLog()
        self._outbox: list[tuple[Any, ...]] = []

    def _term(self, iri: str) -> int:
        term_id = self._terms.known.get(iri)
        return term_id if term_id is not None else self._terms.intern(iri)

    # -- keys and locks ----------------------------------------------------------------------------

    def _load(self, ids: Sequence[str], *, claim: bool = True, new: bool = False) -> None:
        """Lock the key rows of `ids` (in id order) and read the current state and temporal entity
        of those that have one, in one round trip; with `claim`, give ids without a key row one
        first. With `new` (the ids are expected not to exist yet), try to claim them before looking.
        No buffered row concerns these ids (buffers only hold rows of locked ids): no flush needed."""
        wanted = sorted(set(ids) - self._keys.keys())
        if not wanted:
            return
        if not new:
            self._take(wanted)
        missing = [entity_id for entity_id in wanted if entity_id not in self._keys]
        if missing and claim:
            added = self._db.execute(
                "INSERT INTO entity_key (tenant_id, id) SELECT %s, i FROM unnest(%s::text[]) AS i ORDER BY i "
                "ON CONFLICT DO NOTHING RETURNING id, key",
                (self._tenant, missing),
            ).fetchall()
            for entity_id, key in added:
                self._keys[entity_id] = key
                self._claimed.add(key)
                self._temporal[key] = None
            # Rows another transaction added (it has committed), or that were there: lock them too.
            self._take([entity_id for entity_id in missing if entity_id not in self._keys])

    def _take(self, ids: list[str]) -> None:
        """Lock the existing key rows of `ids` and read what they hold: two statements in one
        pipeline. The read is a statement of its own, after the lock is granted, so that it sees
        what a transaction that held the lock before committed (a join in the locking statement
        would read the entity as it was when that statement began)."""
        if not ids:
            return
        with self._db.pipeline():
            lock = self._db.execute(
                "SELECT key FROM entity_key WHERE tenant_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE",
                (self._tenant, ids),
            )
            read = self._db.execute(
                "SELECT k.id, k.key, e.ordinal, e.doc, t.types, t.scope, t.deleted_at FROM entity_key k "
                "LEFT JOIN entity e ON e.key = k.key LEFT JOIN temporal_entity t ON t.key = k.key "
                "WHERE k.tenant_id = %s AND k.id = ANY(%s)",
                (self._tenant, ids),
                binary=True,
            )
        locked = {row[0] for row in lock.fetchall()}
        for entity_id, key, ordinal, doc, types, scope, deleted_at in read.fetchall():
            if key not in locked:
                continue  # made by a transaction that committed between the two statements
            self._keys[entity_id] = key
            if doc is not None:
                self._known[entity_id] = (key, ordinal, orjson.loads(doc))
            self._temporal[key] = None if types is None else (types, scope, deleted_at)

    # -- current state ---------------------------------------------------------------------------

    def get(self, entity_id: str) -> Entity | None:
        self._load((entity_id,))
        known = self._known.get(entity_id)
        return _copy(known[2]) if known is not None else None

    def get_many(self, entity_ids: Sequence[str]) -> dict[str, Entity]:
        self._load(entity_ids)
        found: dict[str, Entity] = {}
        for entity_id in entity_ids:
            known = self._known.get(entity_id)
            if known is not None:
                found[entity_id] = _copy(known[2])
        return found

    def insert(self, entity: Entity, earlier: Superseded | None = None) -> None:
        entity_id = entity["id"]
        if entity_id in self._buffered:
            self.flush()
        self._load((entity_id,), new=True)
        key = self._keys[entity_id]
        self._used.add(key)
        self._buffered.add(entity_id)
        self._new_entities.append((key, entity_id, orjson.dumps(entity)))
        self._new_types.extend((self._term(t), key) for t in entity["type"])
        self._index(key, entity)
        self._tentity(key, entity)
        self._record(key, entity, None, earlier)
        self._known[entity_id] = (key, None, entity)
        self._log.record(None, entity)

    def replace(self, entity: Entity, earlier: Superseded | None = None) -> None:
        entity_id = entity["id"]
        if entity_id in self._buffered:
            self.flush()
        self._load((entity_id,))
        known = self._known.get(entity_id)
        if known is None:
            raise KeyError(entity_id)
        key, ordinal, old = known
        assert ordinal is not None
        self._buffered.add(entity_id)
        self._updated_entities.append((orjson.dumps(entity), key))
        if old["type"] != entity["type"]:
            self._deleted_types.extend((self._tenant, self._term(t), ordinal) for t in old["type"])
            self._new_types.extend((self._term(t), key) for t in entity["type"])
        self._unindex(key)
        self._index(key, entity)
        if self._temporal.get(key) is None:
            self._tentity(key, entity)
        elif old["type"] != entity["type"] or old.get("scope") != entity.get("scope"):
            self._update_tentity(key, entity, deleted_at=None)
        self._record(key, entity, old, earlier)
        self._known[entity_id] = (key, ordinal, entity)
        self._log.record(old, entity)

    def delete(self, entity_id: str, deleted_at: str | None = None) -> bool:
        if entity_id in self._buffered:
            self.flush()
        self._load((entity_id,))
        known = self._known.get(entity_id)
        if known is None:
            return False
        key, ordinal, old = known
        assert ordinal is not None
        self._deleted_entities.append(key)
        self._deleted_types.extend((self._tenant, self._term(t), ordinal) for t in old["type"])
        self._unindex(key)
        if self._temporal.get(key) is None:
            self._tentity(key, old)
        when = self._clock(deleted_at or old.get("modifiedAt", _NEVER))
        self._record_deletions(key, old, None, when)
        self._update_tentity(key, old, deleted_at=when)
        del self._known[entity_id]
        self._log.record(old, None)
        return True

    def _index(self, key: int, entity: Entity) -> None:
        attrs, geometries = attribute_rows(self._tenant, key, entity, self._term)
        self._new_attrs.extend(attrs)
        self._new_geo.extend(geometries)

    def _unindex(self, key: int) -> None:
        self._deleted_attrs.append(key)
        self._deleted_geo.append(key)

    # -- history ---------------------------------------------------------------------------------

    def _tentity(self, key: int, entity: Entity, when: str | None = None) -> None:
        """Make sure the entity's temporal entity exists (created, or revived after a deletion)."""
        types = orjson.dumps(entity["type"]).decode()
        scope = orjson.dumps(entity["scope"]).decode() if entity.get("scope") else None
        state = self._temporal.get(key)
        self._used.add(key)
        if state is None:
            stamp = self._clock(when or entity.get("createdAt") or _NEVER)
            self._tentities[key] = (key, self._tenant, entity["id"], types, scope, stamp, stamp, None)
            self._ttypes[key] = [self._term(t) for t in entity["type"]]
            self._temporal[key] = (types, scope, None)
        elif state != (types, scope, None):
            self._update_tentity(key, entity, deleted_at=None)

    def _update_tentity(self, key: int, entity: Entity, *, deleted_at: int | None) -> None:
        types = orjson.dumps(entity["type"]).decode()
        scope = orjson.dumps(entity["scope"]).decode() if entity.get("scope") else None
        stamp = self._clock(entity.get("modifiedAt") or _NEVER)
        pending = self._tentities.get(key)
        created = pending[5] if pending is not None else stamp
        self._tentities[key] = (key, self._tenant, entity["id"], types, scope, created, stamp, deleted_at)
        self._ttypes[key] = [self._term(t) for t in entity["type"]]
        self._temporal[key] = (types, scope, deleted_at)

    def _record(
        self, key: int, entity: Entity, old: Entity | None, earlier: Superseded | None = None
    ) -> None:
        """Append every instance the change touched (after those it superseded); mark the ones it
        removed as deleted."""
        clock = self._clock
        for name, instances in (earlier or {}).items():
            for instance in instances:
                recorded = clock(instance.get("modifiedAt") or _NEVER)
                self._append(self._instance_row(key, name, instance, recorded))
        for name, instances in entity.items():
            if name in ENTITY_MEMBERS:
                continue
            before = _by_dataset(old.get(name, ())) if old is not None else {}
            for instance in instances:
                dataset = instance.get("datasetId")
                previous = before.get(dataset)
                stamp = instance.get("modifiedAt")
                if previous is not None and previous.get("modifiedAt") == stamp:
                    continue
                self._append(self._instance_row(key, name, instance, clock(stamp or _NEVER)))
        if old is not None:
            when = clock(entity.get("modifiedAt") or _NEVER)
            self._record_deletions(key, old, entity, when)

    def _record_deletions(self, key: int, old: Entity, new: Entity | None, when: int) -> None:
        for name, instances in old.items():
            if name in ENTITY_MEMBERS:
                continue
            remaining = _by_dataset(new.get(name, ())) if new is not None else {}
            for instance in instances:
                if instance.get("datasetId") not in remaining:
                    dataset = self._dataset(instance.get("datasetId"))
                    self._append(deletion_row(key, self._term(name), dataset, 0, instance["type"], when))

    def _instance_row(self, key: int, name: str, instance: Instance, recorded: int) -> HistoryRow:
        """A history row of `instance` of attribute `name`, recorded at `recorded` (its instance
        number comes from the table's sequence)."""
        return instance_row(
            key,
            self._term(name),
            self._dataset(instance.get("datasetId")),
            0,
            instance,
            recorded,
            self._clock,
            self._term,
        )

    def _append(self, row: HistoryRow) -> None:
        if not self._partitions.covers(row[3]):
            self._partitions.ensure((row[3],))
        self._history.append(table_row(self._tenant, row))
        series = (row[0], row[1], row[2])
        kind = row[7] & KIND_MASK
        if self._series.needs(series, kind) and self.learned.get(series) != kind:
            self._new_series[series] = kind

    def _dataset(self, dataset: str | None) -> int:
        return DEFAULT_DATASET if dataset is None else self._term(dataset)

    # -- temporal API writes ---------------------------------------------------------------------

    def _temporal_key(self, entity_id: str, *, claim: bool = False) -> int | None:
        self._load((entity_id,), claim=claim)
        return self._keys.get(entity_id)

    def temporal_entity(self, entity_id: str) -> tuple[int, Entity] | None:
        """The temporal entity of an id: its key and its header (id, type, scope)."""
        key = self._temporal_key(entity_id)
        state = self._temporal.get(key) if key is not None else None
        if key is None or state is None:
            return None
        header: Entity = {"id": entity_id, "type": orjson.loads(state[0])}
        if state[1] is not None:
            header["scope"] = orjson.loads(state[1])
        return key, header

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
        key = self._temporal_key(header["id"], claim=True)
        assert key is not None
        found = self.temporal_entity(header["id"])
        if found is not None:
            merged = list(dict.fromkeys([*found[1]["type"], *header["type"]]))
            header = {**found[1], **header, "type": merged}
        entity = {**header, "createdAt": now, "modifiedAt": now}
        self._tentity(key, entity, now)
        recorded = self._clock(now)
        rows = [
            self._instance_row(key, name, instance, recorded)
            for name, instances in attributes.items()
            for instance in instances
        ]
        self._partitions.ensure(row[3] for row in rows)
        if skip_existing:
            rows = self._new_rows(rows, known_entity=found is not None)
        if replace_observed:
            rows = self._replacing(rows, known_entity=found is not None)
        for row in rows:
            self._append(row)
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
            self._db.cursor().executemany(
                "DELETE FROM history WHERE key = %s AND name_id = %s AND dataset_id = %s AND at = %s "
                f"AND kind & {HAS_OBSERVED} <> 0 AND kind & {DELETED} = 0",
                list(kept),
            )
            self._stale.update((k, n, d, hour_of(at)) for k, n, d, at in kept)
        return [*others, *kept.values()]

    def _new_rows(self, rows: list[HistoryRow], *, known_entity: bool) -> list[HistoryRow]:
        """The rows whose (series, time, value) is neither recorded yet nor repeated among them."""
        series: dict[tuple[int, int, int], list[HistoryRow]] = {}
        for row in rows:
            series.setdefault((row[0], row[1], row[2]), []).append(row)
        kept: list[HistoryRow] = []
        for (key, name_id, dataset_id), group in series.items():
            seen: set[tuple[int, Any, Any]] = set()
            if known_entity:
                self.flush()
                recorded = self._db.execute(
                    "SELECT at, num, value FROM history WHERE key = %s AND name_id = %s AND dataset_id = %s "
                    "AND at BETWEEN %s AND %s",
                    (key, name_id, dataset_id, min(r[3] for r in group), max(r[3] for r in group)),
                ).fetchall()
                seen.update(
                    (at, None if num is None else from_numeric(num), value) for at, num, value in recorded
                )
            for row in group:
                identity = (row[3], row[8], row[9])
                if identity not in seen:
                    seen.add(identity)
                    kept.append(row)
        return kept

    def delete_history(self, entity_id: str) -> bool:
        found = self.temporal_entity(entity_id)
        if found is None:
            return False
        key = found[0]
        self.flush()
        self._db.execute("DELETE FROM history WHERE key = %s", (key,))
        self._db.execute("DELETE FROM history_hour WHERE key = %s", (key,))
        names = self._db.execute(
            "DELETE FROM temporal_attr WHERE key = %s RETURNING name_id", (key,)
        ).fetchall()
        self._log.record_history_deletion(found[1], frozenset(self._terms.iri(self._db, n) for (n,) in names))
        self._series.forget()
        self.learned.clear()
        self._db.execute("DELETE FROM temporal_type WHERE key = %s", (key,))
        self._db.execute("DELETE FROM temporal_entity WHERE key = %s", (key,))
        self._temporal[key] = None
        return True

    def delete_attribute_history(
        self, entity_id: str, iri: str, dataset_id: str | None, delete_all: bool
    ) -> bool:
        found = self.temporal_entity(entity_id)
        name_id = self._terms.lookup(self._db, iri)
        if found is None or name_id is None:
            return False
        self.flush()
        self._series.forget()
        self.learned.clear()
        params: tuple[int, ...]
        if delete_all:
            where, params = "key = %s AND name_id = %s", (found[0], name_id)
        else:
            dataset = DEFAULT_DATASET if dataset_id is None else self._terms.lookup(self._db, dataset_id)
            if dataset is None:
                return False
            where, params = "key = %s AND name_id = %s AND dataset_id = %s", (found[0], name_id, dataset)
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
        self.flush()
        row = self._db.execute(
            "SELECT dataset_id, at FROM history WHERE key = %s AND name_id = %s AND instance = %s",
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
        key, name_id, dataset_id, at, number = located
        deleted = self._db.execute(
            f"{_DELETE_INSTANCE} RETURNING created_at", (key, name_id, dataset_id, at, number)
        ).fetchone()
        assert deleted is not None
        self._stale.add((key, name_id, dataset_id, hour_of(at)))
        row = instance_row(
            key, name_id, dataset_id, number, instance, int(deleted[0]), self._clock, self._term
        )
        self._append((*row[:6], self._clock(now), *row[7:]))
        self._log.record_instance(self._header(entity_id), iri, previous, replaced(previous, instance, now))
        return True

    def instance(self, entity_id: str, iri: str, instance_id: str) -> Instance | None:
        """One recorded instance, by its instanceId."""
        located = self._find_instance(entity_id, iri, instance_id)
        if located is None:
            return None
        _, _, dataset_id, at, number = located
        row = self._db.execute(
            "SELECT created_at, modified_at, kind, num, value, unit_id, extra FROM history "
            "WHERE key = %s AND name_id = %s AND dataset_id = %s AND at = %s AND instance = %s",
            located,
        ).fetchone()
        assert row is not None
        unit = self._terms.iri(self._db, row[5]) if row[5] is not None else None
        dataset = self._terms.iri(self._db, dataset_id) if dataset_id != DEFAULT_DATASET else None
        num = from_numeric(row[3]) if row[3] is not None else None
        return instance_from_row(at, number, row[0], row[1], row[2], num, row[4], unit, row[6], dataset)

    def delete_instance(self, entity_id: str, iri: str, instance_id: str) -> bool:
        previous = self.instance(entity_id, iri, instance_id)
        located = self._find_instance(entity_id, iri, instance_id)
        if located is None or previous is None:
            return False
        self._db.execute(_DELETE_INSTANCE, located)
        key, name_id, dataset_id, at, _ = located
        self._stale.add((key, name_id, dataset_id, hour_of(at)))
        mark = removal_mark(previous["type"], dataset_id=previous.get("datasetId"), instance_id=instance_id)
        self._log.record_removal(self._header(entity_id), iri, [previous], [mark])
        return True

    def kind_of(self, tentity: int, iri: str) -> str | None:
        """The attribute type an entity's history last recorded for an attribute."""
        name_id = self._terms.lookup(self._db, iri)
        if name_id is None:
            return None
        self.flush()
        row = self._db.execute(
            "SELECT kind FROM history WHERE key = %s AND name_id = %s ORDER BY at DESC LIMIT 1",
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
        """Send the buffered writes; deletions of old rows go before the new rows. Small writes
        (every table's rows under COPY_ROWS, which COPY would send and a pipeline cannot) go as one
        pipeline: all statements, then one wait for their results, not one wait each."""
        if self._copies():
            self._send()
        else:
            with self._db.pipeline():
                self._send()

    def _copies(self) -> bool:
        """Whether a buffer holds enough rows to go by COPY."""
        type_rows = sum(len(set(types)) for types in self._ttypes.values())
        return (
            max(
                len(self._new_entities),
                len(self._new_types),
                len(self._new_attrs),
                len(self._new_geo),
                len(self._history),
                type_rows,
            )
            >= COPY_ROWS
        )

    def _send(self) -> None:
        db = self._db
        if self._deleted_types:
            db.cursor().executemany(
                "DELETE FROM entity_type WHERE tenant_id = %s AND type_id = %s AND ordinal = %s",
                self._deleted_types,
            )
            self._deleted_types.clear()
        for table, keys in (
            ("attr", self._deleted_attrs),
            ("geo", self._deleted_geo),
            ("entity", self._deleted_entities),
        ):
            if keys:
                db.execute(f"DELETE FROM {table} WHERE key = ANY(%s)", (keys,))
                keys.clear()
        if self._tentities:
            db.cursor().executemany(
                "INSERT INTO temporal_entity (key, tenant_id, entity_id, types, scope, created_at, "
                "modified_at, deleted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET types = excluded.types, scope = excluded.scope, "
                "modified_at = excluded.modified_at, deleted_at = excluded.deleted_at",
                list(self._tentities.values()),
            )
            self._tentities.clear()
        if self._ttypes:
            db.execute("DELETE FROM temporal_type WHERE key = ANY(%s)", (list(self._ttypes),))
            self._insert(
                "temporal_type",
                ("tenant_id", "type_id", "key"),
                [(self._tenant, t, key) for key, types in self._ttypes.items() for t in dict.fromkeys(types)],
            )
            self._ttypes.clear()
        if self._new_entities:
            self._insert_entities()
        if self._updated_entities:
            db.cursor().executemany("UPDATE entity SET doc = %s WHERE key = %s", self._updated_entities)
            self._updated_entities.clear()
        if self._new_types:
            ordinals = {key: ordinal for key, ordinal, _ in self._known.values() if ordinal is not None}
            self._insert(
                "entity_type",
                ("tenant_id", "type_id", "ordinal", "key"),
                [(self._tenant, type_id, ordinals[key], key) for type_id, key in self._new_types],
            )
            self._new_types.clear()
        self._insert("attr", _ATTR_COLUMNS, self._new_attrs)
        self._insert("geo", _GEO_COLUMNS, self._new_geo)
        if self._history:
            numbered = [row for row in self._history if row[2] is not None]
            fresh = [row[:2] + row[3:] for row in self._history if row[2] is None]
            self._insert("history", COLUMNS, numbered)
            self._insert("history", COLUMNS[:2] + COLUMNS[3:], fresh)
            rollup.add(db, self._history, self._stale)
            self._history.clear()
        if self._stale:
            rollup.recompute(db, self._stale)
            self._stale.clear()
        if self._new_series:
            db.cursor().executemany(
                "INSERT INTO temporal_attr (key, name_id, dataset_id, tenant_id, kind) "
                "VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (key, name_id, dataset_id) DO UPDATE SET kind = excluded.kind",
                [(*series, self._tenant, kind) for series, kind in self._new_series.items()],
            )
            self.learned.update(self._new_series)
            self._new_series.clear()
        if self._outbox:
            OUTBOX.insert(db, self._outbox)
            self._outbox.clear()
        self._buffered.clear()

    def _insert_entities(self) -> None:
        """Send new entities with ordinals taken now, in the order they were inserted."""
        count = len(self._new_entities)
        ordinals = [
            int(row[0])
            for row in self._db.execute(
                "SELECT nextval('entity_ordinal_seq') FROM generate_series(1, %s) ORDER BY 1", (count,)
            )
        ]
        rows = []
        for (key, entity_id, doc), ordinal in zip(self._new_entities, ordinals, strict=True):
            rows.append((key, self._tenant, ordinal, entity_id, doc))
            known = self._known.get(entity_id)
            if known is not None and known[0] == key:
                self._known[entity_id] = (key, ordinal, known[2])
        self._insert("entity", _ENTITY_COLUMNS, rows)
        self._new_entities.clear()

    def _insert(self, table: str, columns: Sequence[str], rows: list[Any]) -> None:
        """Insert rows with one executemany, or with COPY when there are many."""
        if not rows:
            return
        names = ", ".join(columns)
        if len(rows) >= COPY_ROWS:
            with self._db.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(f"%s{_CASTS.get((table, column), '')}" for column in columns)
            self._db.cursor().executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        rows.clear()

    def finish(self) -> None:
        """Flush, and give back the keys this transaction took for ids it did not use."""
        self.flush()
        unused = self._claimed - self._used
        if unused:
            self._db.execute("DELETE FROM entity_key WHERE key = ANY(%s)", (sorted(unused),))


_DELETE_INSTANCE = (
    "DELETE FROM history WHERE key = %s AND name_id = %s AND dataset_id = %s AND at = %s AND instance = %s"
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
