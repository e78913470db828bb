"""A tenant's entities and their history inside one write transaction, on either backend.

Every entity id has a key, taken the first time a write names the id and kept for good
(`entity_key`): the entity's current state and its history hang off it, and a creation `ordinal`
orders queries. Writes are buffered and sent per table when the change is done (or before a read
that needs them), so a batch of a thousand entities costs a handful of statements. Every instance a
change touches (its modifiedAt is new) is appended to history, and every instance that disappears
gets a deletion row, in the same transaction as the current state; the hourly rollup follows.

A backend subclass says how the rows it reads are locked (`_take`), where keys, ordinals and
instance numbers come from, and how buffered rows are sent (`_insert`, `_send_history`, the rollup).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from smartby.ngsild.entity import ENTITY_MEMBERS, Entity, Instance
from smartby.ngsild.subscription import Change
from smartby.records.audit import AuditRecord
from smartby.records.notifications import PendingNotification
from smartby.records.service_feed import FedChange
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
from smartby.store.sql.audit import AuditSQL
from smartby.store.sql.dialect import Dialect
from smartby.store.sql.geo import GeoLayout
from smartby.store.sql.index_rows import ATTR_COLUMNS, attribute_rows
from smartby.store.sql.outbox import OutboxSQL
from smartby.store.sql.series import KnownSeries
from smartby.store.sql.service_feed import ServiceFeedSQL
from smartby.store.sql.temporal import Terms

DEFAULT_DATASET = 0
IN_CHUNK = 500
"""Ids per statement when many are read at once."""
_NEVER = "1970-01-01T00:00:00Z"
_READ = (
    "SELECT k.id, k.key, e.ordinal, e.doc, t.types, t.scope, t.deleted_at FROM entity_key k "
    "LEFT JOIN entity e ON e.key = k.key LEFT JOIN temporal_entity t ON t.key = k.key "
    "WHERE k.tenant_id = ? AND "
)
"""What a transaction reads of the ids it handles: key, current state, temporal entity."""
_INSTANCE = "key = ? AND name_id = ? AND dataset_id = ? AND at = ? AND instance = ?"
_ATTR_CONFLICT = (
    "ON CONFLICT (key, name_id, seq) DO UPDATE SET tenant_id = excluded.tenant_id, kind = excluded.kind, "
    "num = excluded.num, txt = excluded.txt"
)


@dataclass(frozen=True)
class Mark:
    """A transaction's buffered state when a change of a group began (`SQLTransaction.mark`)."""

    state: dict[str, Any]
    sent: int


@dataclass(frozen=True)
class Outcome:
    """How one change of a group went: its result, or the exception it raised."""

    ok: bool
    value: Any


def run_changes(tx: SQLTransaction, changes: Sequence[Callable[[Any], Any]]) -> list[Outcome] | None:
    """Run changes one after another in one transaction, each seeing what those before it did; a
    change that raises is undone alone (what it left in the buffers is dropped) and the others stay.
    None when a change that raised had already sent writes: then only a transaction of its own can
    undo it, and the caller runs the changes one per transaction."""
    outcomes: list[Outcome] = []
    for change in changes:
        mark = tx.mark()
        try:
            outcomes.append(Outcome(True, change(tx)))
        except Exception as error:
            if tx.sent_since(mark):
                return None
            tx.restore(mark)
            outcomes.append(Outcome(False, error))
    return outcomes


TemporalState = tuple[str, str | None, int | None]
"""What a transaction knows of a temporal entity: types and scope (JSON), deletion time."""
Located = tuple[int, int, int, int, int]
"""One history row: key, name_id, dataset_id, at, instance."""


class SQLTransaction(Transaction):
    claims_first = False
    """Whether an id expected to be new is claimed before it is looked up (the claim tells whether
    it exists, where claiming is an INSERT that may conflict)."""

    def __init__(
        self,
        connection: Any,
        tenant_id: int,
        dialect: Dialect,
        terms: Terms,
        term_id: Callable[[str], int],
        series: KnownSeries,
        geo: GeoLayout,
        outbox: OutboxSQL,
    ) -> None:
        self._db = connection
        self._tenant = tenant_id
        self._dialect = dialect
        self._terms = terms
        self._term = term_id
        self._series = series
        self._geo = geo
        self._outbox_sql = outbox
        self._feed_sql = ServiceFeedSQL(dialect)
        self._audit_sql = AuditSQL(dialect)
        self.epoch = series.epoch
        self.learned: dict[tuple[int, int, int], int] = {}
        """Series written by this transaction, for the cache once it commits."""
        self._new_series: dict[tuple[int, int, int], int] = {}
        self._clock = Clock()
        self._keys: dict[str, int] = {}
        """Entity ids whose key this transaction holds (locked, where the backend locks)."""
        self._claimed: set[int] = set()
        """Keys this transaction took for ids that had none."""
        self._used: set[int] = set()
        self._known: dict[str, tuple[int, int | None, Entity]] = {}
        """Current entities by id: key, ordinal (None until the new entity is sent), state."""
        self._temporal: dict[int, TemporalState | None] = {}
        # Buffers by entity key: a second change of an entity in the same transaction replaces what
        # the first one left waiting, so a batch naming an entity twice, or a group of PATCHes of
        # one entity, sends the entity's final state once.
        self._new_entities: dict[int, tuple[str, bytes]] = {}
        """Entities to insert: key -> (id, document)."""
        self._updated_entities: dict[int, bytes] = {}
        self._deleted_entities: list[int] = []
        self._new_types: list[tuple[int, int]] = []
        self._deleted_types: list[tuple[int, int, int]] = []
        self._attr_rows: dict[int, list[tuple[Any, ...]]] = {}
        """All the index rows of an entity, written after its stored rows (if any) are deleted."""
        self._deleted_attrs: set[int] = set()
        """Entities whose stored index rows are deleted (all of them)."""
        self._attr_changes: dict[
            int, tuple[dict[tuple[int, int], tuple[Any, ...]], set[tuple[int, int]]]
        ] = {}
        """Per entity whose other attributes stay: the index rows of changed attributes, written over
        the stored rows of the same (name_id, seq), and the (name_id, seq) they no longer have."""
        self._geo_rows: dict[int, list[tuple[Any, ...]]] = {}
        self._deleted_geo: dict[int, Entity] = {}
        """Entities whose stored geometries go: key -> the entity as its geometries were stored."""
        self._tentities: dict[int, tuple[Any, ...]] = {}
        self._ttypes: dict[int, list[int]] = {}
        """The types to record for a temporal entity (replacing those recorded)."""
        self._fresh: set[int] = set()
        """Keys whose temporal entity this transaction made (no temporal_type rows to replace)."""
        self._history: list[HistoryRow] = []
        self._stale: set[Bucket] = set()
        """Rollup hours that lost or changed instances, to be summed up again from history."""
        self._buffered: set[str] = set()
        """Entities with rows still in the buffers (an insert or a delete of one flushes them first)."""
        self._log = ChangeLog()
        self._outbox: list[tuple[Any, ...]] = []
        self._fed: list[tuple[Any, ...]] = []
        self._audited: list[AuditRecord] = []
        self._sent = 0
        """Statements sent that write (a change that fails after one cannot be undone in memory)."""

    # -- several changes in one transaction --------------------------------------------------------

    def mark(self) -> Mark:
        """Begin a change of its own in this transaction (a group of changes shares one): a fresh
        log of what it changes, and the state `restore` goes back to if it fails."""
        state: dict[str, Any] = {}
        for name, value in vars(self).items():
            if name == "_attr_changes":
                state[name] = {key: (dict(rows), set(gone)) for key, (rows, gone) in value.items()}
            elif isinstance(value, dict | set | list):
                state[name] = value.copy()
        self._log = ChangeLog()
        return Mark(state, self._sent)

    def restore(self, mark: Mark) -> None:
        """Undo what a change did since `mark` (it sent nothing that writes: `sent_since`). Keys it
        took for ids stay taken, to be given back at commit if unused."""
        claimed = self._claimed
        for name, value in mark.state.items():
            setattr(self, name, value)
        self._claimed |= claimed

    def sent_since(self, mark: Mark) -> bool:
        return self._sent != mark.sent

    # -- what a backend provides -------------------------------------------------------------------

    def _take(self, ids: list[str]) -> None:
        """Hold the existing key rows of `ids` and read what they hold (`_took`)."""
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            condition, params = self._dialect.any_of("k.id", chunk)
            self._took(self._execute(_READ + condition, (self._tenant, *params), read=True).fetchall())

    def _claim(self, ids: list[str]) -> None:
        """Give ids without a key row one (and hold it): `_keys`, `_claimed`, `_temporal` learn them."""
        raise NotImplementedError

    def _ordinals(self, count: int) -> list[int]:
        """`count` new creation ordinals, ascending."""
        raise NotImplementedError

    def _instance_numbers(self, count: int) -> int | None:
        """The first of `count` fresh instance numbers, or None where the table numbers its rows."""
        raise NotImplementedError

    def _insert(self, table: str, columns: Sequence[str], rows: list[Any], conflict: str = "") -> None:
        """Insert rows (and empty the list); `conflict` is an ON CONFLICT clause."""
        raise NotImplementedError

    def _send_history(self, rows: list[HistoryRow], stale: set[Bucket]) -> None:
        """Insert history rows and add them to the rollup (but for the hours in `stale`)."""
        raise NotImplementedError

    def _recompute(self, stale: set[Bucket]) -> None:
        """Sum these rollup hours up again from history."""
        raise NotImplementedError

    def _keys_used(self) -> None:
        """Called while sending: the claimed keys now in `_used` must be kept."""

    def _flushed(self) -> None:
        """Called at the end of each flush."""

    # -- plumbing ------------------------------------------------------------------------------------

    def _execute(self, sql: str, params: Sequence[Any] = (), *, read: bool = False) -> Any:
        if not read:
            self._sent += 1
        options = self._dialect.read_options if read else {}
        return self._db.execute(self._dialect.sql(sql), params, **options)

    def _executemany(self, sql: str, rows: Sequence[Any]) -> None:
        self._sent += 1
        self._db.cursor().executemany(self._dialect.sql(sql), rows)

    def _took(self, rows: Sequence[Any], locked: set[int] | None = None) -> None:
        """Remember what `_READ` read (only the rows of `locked` keys, when given)."""
        for entity_id, key, ordinal, doc, types, scope, deleted_at in rows:
            if locked is not None and key not in locked:
                continue  # made by a transaction that committed between lock and read
            self._keys[entity_id] = key
            if doc is not None:
                self._known[entity_id] = (key, ordinal, orjson.loads(doc))
            self._temporal[key] = None if types is None else (types, scope, deleted_at)

    def _load(self, ids: Sequence[str], *, claim: bool = True, new: bool = False) -> None:
        """Hold the key rows of `ids` and read the current state and temporal entity of those that
        have one; with `claim`, give ids without a key row one. With `new` (the ids are expected not
        to exist yet) and `claims_first`, claim them before looking. No buffered row concerns these
        ids (buffers only hold rows of held ids): no flush needed."""
        keys = self._keys
        if len(ids) == 1:
            if ids[0] in keys:
                return
            wanted = list(ids)
        else:
            wanted = sorted({entity_id for entity_id in ids if entity_id not in keys})
            if not wanted:
                return
        if not (new and self.claims_first):
            self._take(wanted)
        missing = [entity_id for entity_id in wanted if entity_id not in self._keys]
        if missing and claim:
            self._claim(missing)

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
        self._new_entities[key] = (entity_id, orjson.dumps(entity))
        term = self._term
        self._new_types.extend((term(t), key) for t in entity["type"])
        self._index(key, entity)
        self._tentity(key, entity)
        self._record(key, entity, None, earlier)
        self._known[entity_id] = (key, None, entity)
        self._log.record(None, entity)

    def replace(self, entity: Entity, earlier: Superseded | None = None) -> None:
        entity_id = entity["id"]
        known = self._known.get(entity_id)
        if entity_id in self._buffered and (known is None or known[2]["type"] != entity["type"]):
            self.flush()  # a type change needs the entity's ordinal, which a new entity gets when sent
            known = None
        if known is None:
            self._load((entity_id,))
            known = self._known.get(entity_id)
        if known is None:
            raise KeyError(entity_id)
        key, ordinal, old = known
        self._buffered.add(entity_id)
        document = orjson.dumps(entity)
        pending = self._new_entities.get(key)
        if pending is not None:
            self._new_entities[key] = (entity_id, document)
        else:
            self._updated_entities[key] = document
        if old["type"] != entity["type"]:
            assert ordinal is not None
            self._deleted_types.extend((self._tenant, self._term(t), ordinal) for t in old["type"])
            self._new_types.extend((self._term(t), key) for t in entity["type"])
        self._reindex(key, old, entity)
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
        self._deleted_attrs.add(key)
        self._deleted_geo[key] = old
        if self._temporal.get(key) is None:
            self._tentity(key, old)
        when = self._clock(deleted_at or old.get("modifiedAt", _NEVER))
        self._record_deletions(key, old, None, when)
        self._update_tentity(key, old, deleted_at=when)
        del self._known[entity_id]
        self._log.record(old, None)
        return True

    def _index(self, key: int, entity: Entity) -> None:
        self._attr_rows[key] = attribute_rows(self._tenant, key, entity, self._term)
        self._geo_rows[key] = self._geo.rows(self._tenant, key, entity, self._term)

    def _reindex(self, key: int, old: Entity, new: Entity) -> None:
        """Replace the index rows of the attributes that changed (a PATCH of one attribute rewrites
        that attribute's rows, not the entity's); geometries go and come as a whole."""
        names = {name for name in (*old, *new) if name not in ENTITY_MEMBERS}
        changed = [name for name in names if old.get(name) != new.get(name)]
        if not changed:
            return
        stored = key not in self._new_entities
        if key in self._attr_rows or len(changed) == len(names):
            if stored:
                self._deleted_attrs.add(key)
            self._attr_rows[key] = attribute_rows(self._tenant, key, new, self._term)
            self._attr_changes.pop(key, None)
        else:
            term = self._term
            written, gone = self._attr_changes.setdefault(key, ({}, set()))
            for row in attribute_rows(self._tenant, key, old, term, changed):
                gone.add((row[1], row[2]))
                written.pop((row[1], row[2]), None)
            for row in attribute_rows(self._tenant, key, new, term, changed):
                gone.discard((row[1], row[2]))
                written[(row[1], row[2])] = row
        if any(
            instance["type"] == "GeoProperty"
            for name in changed
            for instances in (old.get(name, ()), new.get(name, ()))
            for instance in instances
        ):
            if stored:
                self._deleted_geo.setdefault(key, old)
            self._geo_rows[key] = self._geo.rows(self._tenant, key, new, self._term)

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
            self._fresh.add(key)
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
        clock, term = self._clock, self._term
        touched: list[tuple[int, int, Instance, int]] = []
        for name, instances in (earlier or {}).items():
            name_id = term(name)
            for instance in instances:
                dataset = instance.get("datasetId")
                touched.append(
                    (
                        name_id,
                        DEFAULT_DATASET if dataset is None else term(dataset),
                        instance,
                        clock(instance.get("modifiedAt") or _NEVER),
                    )
                )
        for name, instances in entity.items():
            if name in ENTITY_MEMBERS:
                continue
            before = old.get(name) if old is not None else None
            if before is not None and len(before) == 1 and len(instances) == 1:
                previous: Instance | None = before[0]
                if previous is not None and previous.get("datasetId") != instances[0].get("datasetId"):
                    previous = None
                instance = instances[0]
                stamp = instance.get("modifiedAt")
                if previous is not None and previous.get("modifiedAt") == stamp:
                    continue
                dataset = instance.get("datasetId")
                touched.append(
                    (
                        term(name),
                        DEFAULT_DATASET if dataset is None else term(dataset),
                        instance,
                        clock(stamp or _NEVER),
                    )
                )
                continue
            by_dataset = _by_dataset(before) if before else {}
            for instance in instances:
                dataset = instance.get("datasetId")
                previous = by_dataset.get(dataset)
                stamp = instance.get("modifiedAt")
                if previous is not None and previous.get("modifiedAt") == stamp:
                    continue
                touched.append(
                    (
                        term(name),
                        DEFAULT_DATASET if dataset is None else term(dataset),
                        instance,
                        clock(stamp or _NEVER),
                    )
                )
        if touched:
            first = self._instance_numbers(len(touched)) or 0
            step = 1 if first else 0
            self._append_rows(
                [
                    instance_row(
                        key, name_id, dataset_id, first + offset * step, instance, recorded, clock, term
                    )
                    for offset, (name_id, dataset_id, instance, recorded) in enumerate(touched)
                ]
            )
        if old is not None:
            when = clock(entity.get("modifiedAt") or _NEVER)
            self._record_deletions(key, old, entity, when)

    def _record_deletions(self, key: int, old: Entity, new: Entity | None, when: int) -> None:
        gone: list[tuple[str, Instance]] = []
        for name, instances in old.items():
            if name in ENTITY_MEMBERS:
                continue
            after = new.get(name) if new is not None else None
            if after is None:
                gone.extend((name, instance) for instance in instances)
                continue
            if len(after) == 1 and len(instances) == 1:
                if after[0].get("datasetId") != instances[0].get("datasetId"):
                    gone.append((name, instances[0]))
                continue
            remaining = _by_dataset(after)
            gone.extend((name, i) for i in instances if i.get("datasetId") not in remaining)
        if not gone:
            return
        first = self._instance_numbers(len(gone)) or 0
        step = 1 if first else 0
        self._append_rows(
            [
                deletion_row(
                    key,
                    self._term(name),
                    self._dataset(instance.get("datasetId")),
                    first + offset * step,
                    instance["type"],
                    when,
                )
                for offset, (name, instance) in enumerate(gone)
            ]
        )

    def _before_append(self, rows: list[HistoryRow]) -> None:
        """Called with the history rows this transaction is about to append."""

    def _append_rows(self, rows: list[HistoryRow]) -> None:
        """Append history rows, and note the series they start (or whose attribute type changes)."""
        self._before_append(rows)
        self._history.extend(rows)
        known, learned, new_series = self._series.kinds, self.learned, self._new_series
        for row in rows:
            series = (row[0], row[1], row[2])
            kind = row[7] & KIND_MASK
            if known.get(series) != kind and learned.get(series) != kind:
                new_series[series] = kind

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
            instance_row(
                key,
                self._term(name),
                self._dataset(instance.get("datasetId")),
                0,
                instance,
                recorded,
                self._clock,
                self._term,
            )
            for name, instances in attributes.items()
            for instance in instances
        ]
        if skip_existing:
            rows = self._new_rows(rows, known_entity=found is not None)
        if replace_observed:
            rows = self._replacing(rows, known_entity=found is not None)
        first = self._instance_numbers(len(rows)) if rows else None
        if first is not None:
            rows = [(*row[:4], first + offset, *row[5:]) for offset, row in enumerate(rows)]
        self._append_rows(rows)
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
            self._unpack_at(list(kept))
            self._executemany(
                "DELETE FROM history WHERE key = ? AND name_id = ? AND dataset_id = ? AND at = ? "
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
        number = self._dialect.number
        for (key, name_id, dataset_id), group in series.items():
            seen: set[tuple[int, Any, Any]] = set()
            if known_entity:
                self.flush()
                recorded = self._execute(
                    f"SELECT at, num, value FROM {self._history_rows} h WHERE key = ? AND name_id = ? "
                    "AND dataset_id = ? "
                    "AND at BETWEEN ? AND ?",
                    (key, name_id, dataset_id, min(r[3] for r in group), max(r[3] for r in group)),
                ).fetchall()
                seen.update((at, number(num), value) for at, num, value in recorded)
            for row in group:
                identity = (row[3], row[8], row[9])
                if identity not in seen:
                    seen.add(identity)
                    kept.append(row)
        return kept

    _history_rows = "history"
    """History's rows as reads select them (PostgreSQL adds its packed days, `pack.py`)."""

    def _unpack(self, where: str, params: Sequence[Any]) -> None:
        """Turn the packed days `where` selects (a condition on `c`, a history_chunk row) back into
        history rows, before instances of them change (PostgreSQL; SQLite packs nothing)."""

    def _unpack_at(self, moments: list[tuple[int, int, int, int]]) -> None:
        """Unpack (as `_unpack`) the packed days that hold these (key, name_id, dataset_id, at)."""

    def _drop_packed(self, where: str, params: Sequence[Any]) -> int:
        """Delete the packed days `where` selects (as `_unpack`); how many there were."""
        return 0

    def _forget_series(self) -> None:
        self._series.forget()
        self.learned.clear()

    def delete_history(self, entity_id: str) -> bool:
        found = self.temporal_entity(entity_id)
        if found is None:
            return False
        key = found[0]
        self.flush()
        self._execute("DELETE FROM history WHERE key = ?", (key,))
        self._drop_packed("c.key = ?", (key,))
        self._execute("DELETE FROM history_hour WHERE key = ?", (key,))
        names = self._execute("DELETE FROM temporal_attr WHERE key = ? RETURNING name_id", (key,)).fetchall()
        self._log.record_history_deletion(found[1], frozenset(self._terms.iri(self._db, n) for (n,) in names))
        self._forget_series()
        self._execute("DELETE FROM temporal_type WHERE key = ?", (key,))
        self._execute("DELETE FROM temporal_entity WHERE key = ?", (key,))
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
        self._forget_series()
        params: tuple[int, ...]
        if delete_all:
            where, params = "key = ? AND name_id = ?", (found[0], name_id)
            packed_where = "c.key = ? AND c.name_id = ?"
        else:
            dataset = DEFAULT_DATASET if dataset_id is None else self._terms.lookup(self._db, dataset_id)
            if dataset is None:
                return False
            where, params = "key = ? AND name_id = ? AND dataset_id = ?", (found[0], name_id, dataset)
            packed_where = "c.key = ? AND c.name_id = ? AND c.dataset_id = ?"
        kind = self.kind_of(found[0], iri)
        self._execute(f"DELETE FROM temporal_attr WHERE {where}", params)
        self._execute(f"DELETE FROM history_hour WHERE {where}", params)
        removed = self._execute(f"DELETE FROM history WHERE {where}", params).rowcount > 0
        removed = self._drop_packed(packed_where, params) > 0 or removed
        if removed and kind is not None:
            mark = removal_mark(kind, dataset_id=None if delete_all else dataset_id)
            self._log.record_removal(found[1], iri, [], [mark])
        return bool(removed)

    def _find_instance(self, entity_id: str, iri: str, instance_id: str) -> Located | None:
        found = self.temporal_entity(entity_id)
        name_id = self._terms.lookup(self._db, iri)
        number = instance_number(instance_id)
        if found is None or name_id is None or number is None:
            return None
        self.flush()
        self._unpack(
            "c.key = ? AND c.name_id = ? AND c.first_instance <= ? AND c.last_instance >= ?",
            (found[0], name_id, number, number),
        )
        row = self._execute(
            "SELECT dataset_id, at FROM history WHERE key = ? AND name_id = ? AND instance = ?",
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
        deleted = self._execute(
            f"DELETE FROM history WHERE {_INSTANCE} RETURNING created_at", located
        ).fetchone()
        assert deleted is not None
        self._stale.add((key, name_id, dataset_id, hour_of(at)))
        row = instance_row(
            key, name_id, dataset_id, number, instance, int(deleted[0]), self._clock, self._term
        )
        self._append_rows([(*row[:6], self._clock(now), *row[7:])])
        self._log.record_instance(self._header(entity_id), iri, previous, replaced(previous, instance, now))
        return True

    def instance(self, entity_id: str, iri: str, instance_id: str) -> Instance | None:
        """One recorded instance, by its instanceId."""
        located = self._find_instance(entity_id, iri, instance_id)
        if located is None:
            return None
        _, _, dataset_id, at, number = located
        row = self._execute(
            "SELECT created_at, modified_at, kind, num, value, unit_id, extra FROM history "
            f"WHERE {_INSTANCE}",
            located,
        ).fetchone()
        assert row is not None
        unit = self._terms.iri(self._db, row[5]) if row[5] is not None else None
        dataset = self._terms.iri(self._db, dataset_id) if dataset_id != DEFAULT_DATASET else None
        num = self._dialect.number(row[3])
        return instance_from_row(at, number, row[0], row[1], row[2], num, row[4], unit, row[6], dataset)

    def delete_instance(self, entity_id: str, iri: str, instance_id: str) -> bool:
        previous = self.instance(entity_id, iri, instance_id)
        located = self._find_instance(entity_id, iri, instance_id)
        if located is None or previous is None:
            return False
        self._execute(f"DELETE FROM history WHERE {_INSTANCE}", located)
        key, name_id, dataset_id, at, _ = located
        self._stale.add((key, name_id, dataset_id, hour_of(at)))
        mark = removal_mark(previous["type"], dataset_id=previous.get("datasetId"), instance_id=instance_id)
        self._log.record_removal(self._header(entity_id), iri, [previous], [mark])
        return True

    def kind_of(self, key: int, iri: str) -> str | None:
        """The attribute type an entity's history last recorded for an attribute."""
        name_id = self._terms.lookup(self._db, iri)
        if name_id is None:
            return None
        self.flush()
        row = self._execute(
            f"SELECT kind FROM {self._history_rows} h WHERE key = ? AND name_id = ? ORDER BY at DESC LIMIT 1",
            (key, name_id),
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
        self._outbox.extend(self._outbox_sql.enqueue_rows(notifications, time.time()))

    def feed(self, changes: Sequence[FedChange]) -> None:
        self._fed.extend(self._feed_sql.rows(changes, time.time()))

    def audit(self, record: AuditRecord) -> None:
        self._audited.append(record)

    # -- flushing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send the buffered writes; deletions of old rows go before the new rows."""
        self._send()

    def _send(self) -> None:
        self._sent += 1
        dialect = self._dialect
        if self._deleted_types:
            self._executemany(
                "DELETE FROM entity_type WHERE tenant_id = ? AND type_id = ? AND ordinal = ?",
                self._deleted_types,
            )
            self._deleted_types.clear()
        if self._deleted_attrs:
            condition, params = dialect.any_of("key", sorted(self._deleted_attrs))
            self._execute(f"DELETE FROM attr WHERE {condition}", params)
            self._deleted_attrs.clear()
        gone = [(key, *row) for key, (_, rows) in self._attr_changes.items() for row in rows]
        if gone:
            self._executemany("DELETE FROM attr WHERE key = ? AND name_id = ? AND seq = ?", gone)
        if self._deleted_geo:
            self._geo.remove(self._db, list(self._deleted_geo.items()))
            self._deleted_geo.clear()
        if self._deleted_entities:
            condition, params = dialect.any_of("key", self._deleted_entities)
            self._execute(f"DELETE FROM entity WHERE {condition}", params)
            self._deleted_entities.clear()
        self._keys_used()
        if self._tentities:
            self._executemany(
                "INSERT INTO temporal_entity (key, tenant_id, entity_id, types, scope, created_at, "
                "modified_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET types = excluded.types, scope = excluded.scope, "
                "modified_at = excluded.modified_at, deleted_at = excluded.deleted_at",
                list(self._tentities.values()),
            )
            self._tentities.clear()
        if self._ttypes:
            replaced_keys = [key for key in self._ttypes if key not in self._fresh]
            if replaced_keys:
                condition, params = dialect.any_of("key", replaced_keys)
                self._execute(f"DELETE FROM temporal_type WHERE {condition}", params)
            self._insert(
                "temporal_type",
                ("tenant_id", "type_id", "key"),
                [(self._tenant, t, key) for key, types in self._ttypes.items() for t in dict.fromkeys(types)],
            )
            self._ttypes.clear()
            self._fresh.clear()
        if self._new_entities:
            self._insert_entities()
        if self._updated_entities:
            self._executemany(
                "UPDATE entity SET doc = ? WHERE key = ?",
                [(document, key) for key, document in self._updated_entities.items()],
            )
            self._updated_entities.clear()
        if self._new_types:
            ordinals = {key: ordinal for key, ordinal, _ in self._known.values() if ordinal is not None}
            self._insert(
                "entity_type",
                ("tenant_id", "type_id", "ordinal", "key"),
                [(self._tenant, type_id, ordinals[key], key) for type_id, key in self._new_types],
            )
            self._new_types.clear()
        self._insert("attr", ATTR_COLUMNS, [row for rows in self._attr_rows.values() for row in rows])
        self._attr_rows.clear()
        written = [row for rows, _ in self._attr_changes.values() for row in rows.values()]
        self._insert("attr", ATTR_COLUMNS, written, _ATTR_CONFLICT)
        self._attr_changes.clear()
        self._insert(
            self._geo.table, self._geo.columns, [row for rows in self._geo_rows.values() for row in rows]
        )
        self._geo_rows.clear()
        if self._history:
            self._send_history(self._history, self._stale)
            self._history.clear()
        if self._stale:
            self._recompute(self._stale)
            self._stale.clear()
        if self._new_series:
            self._executemany(
                "INSERT INTO temporal_attr (key, name_id, dataset_id, tenant_id, kind) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (key, name_id, dataset_id) DO UPDATE SET kind = excluded.kind",
                [(*series, self._tenant, kind) for series, kind in self._new_series.items()],
            )
            self.learned.update(self._new_series)
            self._new_series.clear()
        if self._outbox:
            self._outbox_sql.insert(self._db, self._outbox)
            self._outbox.clear()
        if self._fed:
            self._feed_sql.insert(self._db, self._fed)
            self._fed.clear()
        if self._audited:
            self._audit_sql.insert(self._db, self._audited)
            self._audited.clear()
        self._buffered.clear()
        self._flushed()

    def _insert_entities(self) -> None:
        """Send new entities with ordinals taken now, in the order they were inserted."""
        ordinals = self._ordinals(len(self._new_entities))
        rows = []
        for (key, (entity_id, doc)), ordinal in zip(self._new_entities.items(), ordinals, strict=True):
            rows.append((key, self._tenant, ordinal, entity_id, doc))
            known = self._known.get(entity_id)
            if known is not None and known[0] == key:
                self._known[entity_id] = (key, ordinal, known[2])
        self._insert("entity", ("key", "tenant_id", "ordinal", "id", "doc"), rows)
        self._new_entities.clear()

    def finish(self) -> None:
        """Send what is left; the transaction is then committed by the backend."""
        self.flush()


def _by_dataset(instances: Sequence[Instance]) -> dict[str | None, Instance]:
    return {instance.get("datasetId"): instance for instance in instances}


def _copy(entity: Entity) -> Entity:
    """A copy the broker may change without touching the transaction's remembered state."""
    copied: Entity = dict(entity)
    for key, value in entity.items():
        if isinstance(value, list):
            copied[key] = [dict(v) if isinstance(v, dict) else v for v in value]
    return copied
