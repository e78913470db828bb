"""The services runtime: it feeds each service its changes and runs its periodic jobs.

Changes come from the service's durable feed (`broker.feed`), claimed in batches with a lease and
settled once the handler returned: a service stopped cleanly resumes with the first change it had
not handled, one that crashed gets the batch it was handling again when the lease ends (at least
once). A periodic job runs when its lease row in the database says it is due and no other process
holds it, so that of several processes (workers of `smartby serve`, `smartby services run`) one runs
each period. Time is the runtime's `Clock`, the one the testbed runs on in a demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smartby.broker import Broker
from smartby.broker.feed import Watch
from smartby.ngsild.errors import OperationNotSupported
from smartby.records import audit
from smartby.records.commands import CommandRecord, CommandSender
from smartby.records.contacts import Contact, ContactStore
from smartby.services.clock import Clock, WallClock
from smartby.services.results import Results
from smartby.services.service import Job, Service
from smartby.settings import Settings

log = logging.getLogger("smartby.services")


class NoCommands:
    """The command sender of a runtime built without device ingestion: every command is refused."""

    async def send(
        self,
        device_id: str,
        name: str,
        value: Any,
        *,
        expires_at: datetime | None = None,
        tenant: str = "",
    ) -> CommandRecord:
        raise OperationNotSupported("This services runtime was built without commands to devices")


class NoContacts:
    """The contact store of a runtime built without a store: personal data is refused."""

    async def keep_contact(self, tenant: str, report_id: str, contact: Contact, at: str) -> None:
        raise OperationNotSupported("This services runtime was built without a contact store")

    async def contact(self, tenant: str, report_id: str) -> Contact | None:
        return None

    async def forget_contact(self, tenant: str, report_id: str) -> bool:
        return False

    async def forget_contacts_before(self, at: str) -> int:
        return 0


@dataclass(frozen=True)
class ServiceContext:
    """What a service's handler, jobs and endpoints get: the broker to read and write context, the
    clock, the settings, its results (alerts and indicators) under its name, and `commands`, to
    send commands to devices (docs/commands.md):
    `await context.commands.send(device_id, name, value, expires_at=..., tenant=...)`, and
    `contacts`, where personal data given with a citizen's report is kept apart from context."""

    service: Service
    broker: Broker
    clock: Clock
    settings: Settings
    results: Results
    commands: CommandSender = field(default_factory=NoCommands)
    contacts: ContactStore = field(default_factory=NoContacts)


def watch_of(service: Service) -> Watch:
    return Watch(
        service.name,
        frozenset(service.types),
        frozenset(service.attributes),
        frozenset(service.ignored),
        service.brief,
    )


def declare(broker: Broker, services: Sequence[Service]) -> None:
    """Feed these services the changes this process writes (every writing process declares them,
    whether or not it runs them)."""
    broker.feed.watch(watch_of(service) for service in services if service.watches)


class Runtime:
    def __init__(
        self,
        broker: Broker,
        services: Sequence[Service],
        settings: Settings,
        clock: Clock | None = None,
        commands: CommandSender | None = None,
        contacts: ContactStore | None = None,
    ) -> None:
        self.broker = broker
        self.services = list(services)
        self.settings = settings
        self.clock: Clock = clock or WallClock()
        self.commands: CommandSender = commands or NoCommands()
        self.contacts: ContactStore = contacts or NoContacts()
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.contexts = {
            service.name: ServiceContext(
                service,
                broker,
                self.clock,
                settings,
                Results(broker, service.name),
                self.commands,
                self.contacts,
            )
            for service in self.services
        }
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        declare(broker, self.services)

    def context(self, name: str) -> ServiceContext:
        return self.contexts[name]

    def start(self) -> None:
        self._stopping.clear()
        for service in self.services:
            if service.handle is not None:
                self._spawn(self._feed(service), f"smartby-service-{service.name}")
            for job in service.jobs:
                self._spawn(self._job(service, job), f"smartby-service-{service.name}-{job.name}")

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(work))
        self._tasks[-1].set_name(name)

    async def stop(self) -> None:
        """Stop cleanly: a batch or job being handled is finished and settled first. One that takes
        longer than a lease is cancelled: its lease ends, and it is handled again (at least once)."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.settings.services_lease)
        for task in late:
            log.warning("%s did not finish within a lease; cancelled", task.get_name())
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _wait(
        self, seconds: float, clock_seconds: float | None = None, arrivals: asyncio.Event | None = None
    ) -> None:
        """Wait `seconds` of wall time (or `clock_seconds` of the clock's, if sooner), or until stopped
        or `arrivals` is set."""
        waits: list[asyncio.Future[object]] = [
            asyncio.ensure_future(self._stopping.wait()),
            asyncio.ensure_future(asyncio.sleep(seconds)),
        ]
        if clock_seconds is not None:
            waits.append(asyncio.ensure_future(self.clock.sleep(clock_seconds)))
        if arrivals is not None:
            waits.append(asyncio.ensure_future(arrivals.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting

    # -- the feed ----------------------------------------------------------------------------------

    async def handle_batch(self, service: Service) -> int:
        """Claim one batch of the service's changes, handle and settle it; how many there were."""
        assert service.handle is not None
        feed = self.broker.feed
        batch = await feed.claim(
            service.name, self.settings.services_batch_size, self.settings.services_lease
        )
        if not batch:
            return 0
        try:
            with audit.acting(audit.Action(actor=f"service:{service.name}")):
                await service.handle(self.contexts[service.name], batch)
        except Exception:
            # Left claimed: the batch comes again when its lease ends.
            log.exception("Service %s failed on a batch of %d changes", service.name, len(batch))
            return 0
        await feed.settle(batch)
        return len(batch)

    async def _feed(self, service: Service) -> None:
        arrivals = self.broker.feed.arrivals(service.name)
        while not self._stopping.is_set():
            arrivals.clear()
            try:
                handled = await self.handle_batch(service)
            except Exception:
                log.exception("Service %s could not take its changes", service.name)
                handled = 0
            if not handled:
                # Changes this process writes wake it at once; other processes' at the next poll.
                await self._wait(self.settings.services_poll_interval, arrivals=arrivals)

    # -- periodic jobs -----------------------------------------------------------------------------

    async def run_job(self, service: Service, job: Job) -> bool:
        """Run the job if it is due and no other process holds it; whether it ran."""
        feed = self.broker.feed
        now = self.clock.now().timestamp()
        due = await feed.claim_job(service.name, job.name, now, self.settings.services_lease, self.holder)
        if due is None:
            return False
        try:
            with audit.acting(audit.Action(actor=f"service:{service.name}")):
                await job.run(self.contexts[service.name], datetime.fromtimestamp(due, UTC))
        except Exception:
            log.exception("Job %s/%s failed", service.name, job.name)
        finally:
            after = due + job.period
            await feed.finish_job(
                service.name, job.name, self.holder, after if after > now else now + job.period
            )
        return True

    async def _job(self, service: Service, job: Job) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_job(service, job)
            except Exception:
                log.exception("Job %s/%s could not be claimed", service.name, job.name)
            await self._wait(self.settings.services_poll_interval, job.period)
