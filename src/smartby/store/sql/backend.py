"""The store both backends are: reads, queries, history, discovery and the outbox in SQL written once.

A backend subclass opens its connections and says how work reaches them: `_read` (a connection that
reads), `_within` (a read a client asked for, on its connection: stopped once it has run
`query_timeout` seconds, QueryTimedOut, or once its `ReadStop` is asked, when the client went away:
`_bounded` asks it), `_write` (a short transaction of its own), `_transact` (a change, in a transaction
that holds what it reads), `_outbox` (claims and outcomes of notifications), and where its strategies differ
(`_stream` for a scan that stops early, `_lock_keys` before pruning).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import orjson

from smartby.metrics import READS_STOPPED
from smartby.ngsild.entity import Entity
from smartby.ngsild.reads import (
    AggregatedEntity,
    AttributeInfo,
    Buckets,
    EntityQuery,
    HistoryQuery,
    QueryResult,
    TemporalEntity,
    TypeInfo,
)
from smartby.records import audit
from smartby.records.notifications import (
    ClaimedNotification,
    DeliveryOutcome,
    PendingNotification,
    StoredSubscription,
)
from smartby.records.service_feed import ClaimedChange
from smartby.store.base import Transaction
from smartby.store.history_rows import KIND_MASK
from smartby.store.kinds import KIND_NAME
from smartby.store.sql.audit import AuditTables
from smartby.store.sql.commands import CommandTables
from smartby.store.sql.contacts import ContactTables
from smartby.store.sql.contexts import ContextTables
from smartby.store.sql.devices import DeviceTables
from smartby.store.sql.dialect import Dialect
from smartby.store.sql.filters import Compiled, Lookups, compile_query
from smartby.store.sql.geo import GeoLayout
from smartby.store.sql.keys import KeyTables
from smartby.store.sql.outbox import OutboxSQL
from smartby.store.sql.registrations import RegistrationTables
from smartby.store.sql.series import KnownSeries
from smartby.store.sql.service_feed import ServiceFeedSQL
from smartby.store.sql.temporal import HistoryReader, Page
from smartby.store.sql.terms import Terms

T = TypeVar("T")
log = logging.getLogger("smartby.store")


def timed_out(budget: float) -> str:
    """The detail of a QueryTimedOut."""
    return (
        f"The query ran longer than {budget:g} s (SMARTBY_QUERY_TIMEOUT) and was stopped; "
        "narrow it (type, q, a smaller limit or time range)"
    )


class ReadStopped(Exception):
    """A read stopped because no one waits for it any more (its client went away)."""


class ReadStop:
    """Asks a read running in a worker thread to stop: the task that awaited it was cancelled (its
    client went away). The backend looks at `asked` where it can (SQLite's progress handler) and
    `hold`s a way to stop its connection at once while the read runs (PostgreSQL's cancel)."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self._lock = threading.Lock()
        self._cancel: Callable[[], object] | None = None

    def hold(self, cancel: Callable[[], object]) -> None:
        with self._lock:
            self._cancel = cancel
            if self.asked.is_set():
                cancel()

    def release(self) -> None:
        """The read is over: `ask` no longer reaches its connection (which may serve another)."""
        with self._lock:
            self._cancel = None

    def ask(self) -> None:
        with self._lock:
            self.asked.set()
            if self._cancel is not None:
                self._cancel()


PRUNE_CHUNK = 200
"""Entities whose old history one prune transaction deletes."""
_GET = "SELECT e.doc FROM entity_key k JOIN entity e ON e.key = k.key WHERE k.tenant_id = ? AND k.id = ?"


class SQLStore(
    DeviceTables, CommandTables, ContextTables, RegistrationTables, KeyTables, AuditTables, ContactTables
):
    url: str
    geo: GeoLayout

    def __init__(self, dialect: Dialect, terms: Terms) -> None:
        self.dialect = dialect
        self.terms = terms
        self.series = KnownSeries()
        self.history_reader = HistoryReader(dialect, terms)
        self.outbox = OutboxSQL(dialect)
        self.service_feed = ServiceFeedSQL(dialect)
        self._tenants: dict[str, int] = {}
        self.query_timeout = 0.0
        """Seconds a query, history read or aggregation may run (`_bounded`); 0: no limit."""

    # -- what a backend provides -----------------------------------------------------------------

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def transact(self, tenant: str, change: Callable[[Transaction], T], ids: Sequence[str] = ()) -> T:
        """Run `change` in one transaction on `tenant` (created on first write) and commit it;
        `ids` name the entities it touches, if known (changes may then share a transaction).

        If `change` raises, nothing it did is kept and the exception reaches the caller."""
        raise NotImplementedError

    def _within(self, db: Any, fn: Callable[[Any], T], stop: ReadStop) -> T:
        """`fn(db)` in a reader's thread, stopped with QueryTimedOut once it has run `query_timeout`
        seconds, and with ReadStopped once `stop` is asked."""
        raise NotImplementedError

    async def _bounded(self, fn: Callable[[Any], T]) -> T:
        """A read a client asked for (`_within`). If the task awaiting it is cancelled (the API
        cancels a request's handler when its client goes), the read is stopped in its thread too,
        rather than running on to the end of its budget and holding a reader all that time."""
        stop = ReadStop()
        try:
            return await self._read(lambda db: self._within(db, fn, stop))
        except asyncio.CancelledError:
            READS_STOPPED.inc()
            try:  # off the event loop: a PostgreSQL cancel opens a connection to the server
                asyncio.get_running_loop().run_in_executor(None, _ask, stop)
            except RuntimeError:  # the loop's executor is shut down: the process is stopping
                _ask(stop)
            raise

    async def _outbox(self, fn: Callable[[Any], T]) -> T:
        """Run `fn` in a transaction for claims and outcomes of notifications."""
        return await self._write(fn)

    def watch_outbox(self, wake: Callable[[], None]) -> None:
        """From now until the store closes, call `wake` (on this event loop) when a transaction of
        any process that queued notifications commits; a backend that cannot tell does nothing."""

    def _stream(self, db: Any, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        """The rows of a query read as they are consumed (a scan may stop early)."""
        yield from db.execute(self.dialect.sql(sql), params, **self.dialect.read_options)

    def _lock_keys(self, db: Any, keys: list[int]) -> None:
        """Hold these entities as a write holds them, in a transaction that prunes their history."""

    def _prune_rollup(self, db: Any, keys: list[int], before: int) -> None:
        raise NotImplementedError

    async def pack_older_than(self, seconds: float) -> int | None:
        """Pack the history of whole days older than `seconds`; how many instances were packed, or
        None for a backend that keeps history as it is (SQLite)."""
        return None

    def _prune_packed(self, db: Any, keys: list[int], before: int) -> int:
        """Prune packed history as `_prune` does history (a backend that packs it); how many
        instances went."""
        return 0

    # -- tenants ---------------------------------------------------------------------------------

    def _execute(self, db: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return db.execute(self.dialect.sql(sql), params)

    def _tenant_id(self, db: Any, tenant: str) -> int | None:
        tenant_id = self._tenants.get(tenant)
        if tenant_id is None:
            row = self._execute(db, "SELECT id FROM tenant WHERE name = ?", (tenant,)).fetchone()
            if row is None:
                return None
            tenant_id = self._tenants[tenant] = int(row[0])
        return tenant_id

    def _tenant_for_write(self, db: Any, tenant: str) -> int:
        """The tenant's id, the tenant made if it is new (not cached: the transaction may roll back)."""
        tenant_id = self._tenants.get(tenant)
        if tenant_id is not None:
            return tenant_id
        row = self._execute(
            db, "INSERT INTO tenant (name) VALUES (?) ON CONFLICT (name) DO NOTHING RETURNING id", (tenant,)
        ).fetchone()
        if row is None:
            row = self._execute(db, "SELECT id FROM tenant WHERE name = ?", (tenant,)).fetchone()
        assert row is not None
        return int(row[0])

    async def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._tenants:
            return True
        return await self._read(lambda db: self._tenant_id(db, tenant) is not None)

    async def ping(self) -> None:
        await self._read(lambda db: db.execute("SELECT 1").fetchone())

    async def tenants(self) -> list[str]:
        return await self._read(
            lambda db: [str(row[0]) for row in db.execute("SELECT name FROM tenant ORDER BY name")]
        )

    # -- entities --------------------------------------------------------------------------------

    def _get_entity(self, db: Any, tenant: str, entity_id: str) -> Entity | None:
        tenant_id = self._tenant_id(db, tenant)
        if tenant_id is None:
            return None
        row = db.execute(
            self.dialect.sql(_GET), (tenant_id, entity_id), **self.dialect.read_options
        ).fetchone()
        if row is None:
            return None
        entity: Entity = orjson.loads(row[0])
        return entity

    async def get_entity(self, tenant: str, entity_id: str) -> Entity | None:
        return await self._read(lambda db: self._get_entity(db, tenant, entity_id))

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryResult:
        return await self._bounded(lambda db: self._query(db, tenant, query))

    def _compile(self, db: Any, tenant_id: int, query: EntityQuery) -> Compiled:
        lookups = Lookups(self.dialect, db, tenant_id, lambda iri: self.terms.lookup(db, iri))
        return compile_query(
            query, lookups, lambda geo, name_id: self.geo.condition(db, tenant_id, geo, name_id)
        )

    def _query(self, db: Any, tenant: str, query: EntityQuery) -> QueryResult:
        tenant_id = self._tenant_id(db, tenant)
        if tenant_id is None:
            return QueryResult([], 0 if query.count else None)
        compiled = self._compile(db, tenant_id, query)
        sql = self.dialect.sql
        if compiled.exact:
            entities: list[Entity] = []
            if query.limit > 0:
                rows = db.execute(
                    sql(f"{compiled.select('e.doc')} ORDER BY {compiled.order} LIMIT ? OFFSET ?"),
                    (*compiled.params, *compiled.order_params, query.limit, query.offset),
                    **self.dialect.read_options,
                )
                entities = [orjson.loads(doc) for (doc,) in rows]
            count = None
            if query.count:
                found = db.execute(sql(compiled.select("count(*)")), compiled.params).fetchone()
                count = int(found[0]) if found is not None else 0
            return QueryResult(entities, count)
        page: list[Entity] = []
        matched = 0
        rows = self._stream(
            db,
            f"{compiled.select('e.doc')} ORDER BY {compiled.order}",
            [*compiled.params, *compiled.order_params],
        )
        for (doc,) in rows:
            entity = orjson.loads(doc)
            if not compiled.matches(entity):
                continue
            if query.offset <= matched < query.offset + query.limit:
                page.append(entity)
            matched += 1
            if not query.count and matched >= query.offset + query.limit:
                break
        close = getattr(rows, "close", None)
        if close is not None:
            close()
        return QueryResult(page, matched if query.count else None)

    # -- history ---------------------------------------------------------------------------------

    def _page(self, db: Any, tenant: str, query: HistoryQuery) -> tuple[Page, int | None]:
        """The page of temporal entities a history query selects, and their number if asked."""
        tenant_id = self._tenant_id(db, tenant)
        if tenant_id is None:
            return [], 0 if query.count else None

        def current(selection: EntityQuery) -> set[str]:
            return {entity["id"] for entity in self._query(db, tenant, selection).entities}

        return self.history_reader.select_entities(db, tenant_id, query, current)

    async def history(self, tenant: str, query: HistoryQuery) -> tuple[list[TemporalEntity], int | None]:
        """One page of entities with their history, and the number of matching entities if asked."""

        def run(db: Any) -> tuple[list[TemporalEntity], int | None]:
            page, count = self._page(db, tenant, query)
            return self.history_reader.read_history(db, query, page), count

        return await self._bounded(run)

    async def aggregate(
        self, tenant: str, query: HistoryQuery, methods: tuple[str, ...], buckets: Buckets
    ) -> tuple[list[AggregatedEntity], int | None]:
        def run(db: Any) -> tuple[list[AggregatedEntity], int | None]:
            page, count = self._page(db, tenant, query)
            return self.history_reader.aggregate(db, query, page, methods, buckets), count

        return await self._bounded(run)

    async def prune_history(self, tenant: str, entity_type: str, before: int) -> int:
        """Delete history of entities of `entity_type` (an IRI, or a bare type name that ends a type
        IRI after `/` or `#`) recorded before `before` (microseconds), a chunk of entities per
        transaction so that writers never wait long; how many instances went."""

        def entities(db: Any) -> list[int]:
            tenant_id = self._tenant_id(db, tenant)
            if tenant_id is None:
                return []
            rows = self._execute(
                db,
                "SELECT DISTINCT tt.key FROM temporal_type tt JOIN term ON term.id = tt.type_id "
                "WHERE tt.tenant_id = ? AND (term.iri = ? OR substr(term.iri, length(term.iri) - length(?)) "
                "IN (?, ?)) ORDER BY tt.key",
                (tenant_id, entity_type, entity_type, "/" + entity_type, "#" + entity_type),
            )
            return [int(row[0]) for row in rows]

        keys = await self._read(entities)
        removed = 0
        for start in range(0, len(keys), PRUNE_CHUNK):
            chunk = keys[start : start + PRUNE_CHUNK]
            removed += await self._write(lambda db, chunk=chunk: self._prune(db, chunk, before))  # type: ignore[misc]
        return removed

    def _prune(self, db: Any, keys: list[int], before: int) -> int:
        """Delete these entities' instances before `before`, and their rollup with them; how many
        went. The entities are held as a write holds them, so that no write adds to an hour between
        the rollup's and history's deletions."""
        self._lock_keys(db, keys)
        packed = self._prune_packed(db, keys, before)
        condition, params = self.dialect.any_of("key", keys)
        removed = self._execute(
            db, f"DELETE FROM history WHERE {condition} AND at < ?", (*params, before)
        ).rowcount
        self._prune_rollup(db, keys, before)
        return int(removed) + packed

    # -- discovery -------------------------------------------------------------------------------

    async def entity_types(self, tenant: str) -> list[TypeInfo]:
        def run(db: Any) -> list[TypeInfo]:
            tenant_id = self._tenant_id(db, tenant)
            if tenant_id is None:
                return []
            counts = self._execute(
                db,
                "SELECT type_id, count(*) FROM entity_type WHERE tenant_id = ? GROUP BY type_id",
                (tenant_id,),
            ).fetchall()
            attributes: dict[int, dict[str, set[str]]] = {}
            for type_id, name_id, kind in self._execute(
                db,
                "SELECT DISTINCT t.type_id, a.name_id, a.kind FROM entity_type t "
                "JOIN attr a ON a.key = t.key "
                "WHERE t.tenant_id = ?",
                (tenant_id,),
            ):
                names = attributes.setdefault(type_id, {})
                names.setdefault(self.terms.iri(db, name_id), set()).add(KIND_NAME[kind & KIND_MASK])
            return sorted(
                (
                    TypeInfo(self.terms.iri(db, type_id), int(count), attributes.get(type_id, {}))
                    for type_id, count in counts
                ),
                key=lambda info: info.type,
            )

        return await self._read(run)

    async def attributes(self, tenant: str) -> list[AttributeInfo]:
        def run(db: Any) -> list[AttributeInfo]:
            tenant_id = self._tenant_id(db, tenant)
            if tenant_id is None:
                return []
            found: dict[int, tuple[set[int], set[int], set[str]]] = {}
            for name_id, key, kind, type_id in self._execute(
                db,
                "SELECT a.name_id, a.key, a.kind, t.type_id FROM attr a JOIN entity_type t ON t.key = a.key "
                "WHERE t.tenant_id = ?",
                (tenant_id,),
            ):
                keys, types, kinds = found.setdefault(name_id, (set(), set(), set()))
                keys.add(key)
                types.add(type_id)
                kinds.add(KIND_NAME[kind & KIND_MASK])
            return sorted(
                (
                    AttributeInfo(
                        self.terms.iri(db, name_id), len(keys), {self.terms.iri(db, t) for t in types}, kinds
                    )
                    for name_id, (keys, types, kinds) in found.items()
                ),
                key=lambda info: info.name,
            )

        return await self._read(run)

    # -- subscriptions and the notification outbox --------------------------------------------------

    async def create_subscription(self, subscription: StoredSubscription) -> bool:
        entry = audit.change(subscription.tenant, "subscription.create", subscription.id)
        return await self._audited(lambda db: self.outbox.create(db, subscription), entry)

    async def get_subscription(self, tenant: str, subscription_id: str) -> StoredSubscription | None:
        return await self._read(lambda db: self.outbox.get(db, tenant, subscription_id))

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[StoredSubscription], int | None]:
        return await self._read(lambda db: self.outbox.page(db, tenant, limit, offset, count))

    async def replace_subscription(
        self, tenant: str, subscription_id: str, document: dict[str, Any], modified_at: str
    ) -> bool:
        return await self._audited(
            lambda db: self.outbox.replace(db, tenant, subscription_id, document, modified_at),
            audit.change(tenant, "subscription.update", subscription_id),
        )

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        entry = audit.change(tenant, "subscription.delete", subscription_id)
        return await self._audited(lambda db: self.outbox.delete(db, tenant, subscription_id), entry)

    async def all_subscriptions(self) -> tuple[int, list[StoredSubscription]]:
        return await self._read(self.outbox.everything)

    async def subscription_version(self) -> int:
        return await self._read(self.outbox.version)

    async def enqueue_notifications(self, notifications: Sequence[PendingNotification]) -> None:
        rows = self.outbox.enqueue_rows(notifications, time.time())
        await self._write(lambda db: self.outbox.insert(db, rows))

    async def claim_periodic(self, now: float) -> list[tuple[str, str]]:
        return await self._write(lambda db: self.outbox.claim_periodic(db, now))

    async def claim_notifications(self, now: float, limit: int, lease: float) -> list[ClaimedNotification]:
        return await self._outbox(lambda db: self.outbox.claim(db, now, limit, lease))

    async def settle_notifications(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        await self._outbox(lambda db: self.outbox.settle(db, outcomes))

    async def pending_notifications(self) -> int:
        return await self._read(self.outbox.pending)

    # -- city services: their change feeds and job leases ----------------------------------------

    async def claim_service_changes(
        self, service: str, now: float, limit: int, lease: float
    ) -> list[ClaimedChange]:
        return await self._write(lambda db: self.service_feed.claim(db, service, now, limit, lease))

    async def settle_service_changes(self, ids: Sequence[int]) -> None:
        await self._write(lambda db: self.service_feed.settle(db, ids))

    async def release_service_changes(self, ids: Sequence[int]) -> None:
        await self._write(lambda db: self.service_feed.release(db, ids))

    async def pending_service_changes(self, service: str) -> int:
        return await self._read(lambda db: self.service_feed.pending(db, service))

    async def claim_service_job(
        self, service: str, job: str, due: float, wall: float, lease: float, holder: str
    ) -> float | None:
        return await self._write(
            lambda db: self.service_feed.claim_job(db, service, job, due, wall, lease, holder)
        )

    async def finish_service_job(self, service: str, job: str, holder: str, next_due: float) -> bool:
        return await self._write(lambda db: self.service_feed.finish_job(db, service, job, holder, next_due))

    async def service_job_runs(self, service: str, job: str) -> int:
        return await self._read(lambda db: self.service_feed.job_runs(db, service, job))


def _ask(stop: ReadStop) -> None:
    try:
        stop.ask()
    except Exception as error:  # the read then runs to its budget, as it would have without this
        log.warning("A read whose client went away could not be stopped: %s", error)
