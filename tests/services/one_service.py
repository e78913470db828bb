"""One city service alone on a runtime whose clock the test sets, over assembled parts: what the
lighting, climate and mobility tests stand on (their `Town`, `Rainy` and `City` add their entities)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from services.set_clock import SetClock
from services.test_freshness import alerts
from smartby.assembly import Assembly, assemble
from smartby.broker import Broker
from smartby.services.runtime import Runtime, ServiceContext
from smartby.services.service import Service
from smartby.settings import Settings


@dataclass
class OneService:
    parts: Assembly
    runtime: Runtime
    clock: SetClock
    name: str = ""
    """The service the test is about (empty: the only one)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, settings: Settings, name: str, start: str, also: Sequence[str] = ()
    ) -> AsyncIterator[Self]:
        """The service `name` alone (or with the services `also` names), its clock at `start`, on an
        open broker until the block ends."""
        settings = settings.model_copy(update={"services": [name, *also]})
        parts = assemble(settings)
        clock = SetClock(datetime.fromisoformat(start))
        runtime = Runtime(
            parts.broker, parts.services.services, settings, clock, contacts=parts.services.contacts
        )
        parts = dataclasses.replace(parts, services=runtime)  # the app over these parts: this clock
        await parts.broker.open()
        try:
            yield cls(parts, runtime, clock, name)
        finally:
            await parts.broker.close()

    @property
    def broker(self) -> Broker:
        return self.parts.broker

    @property
    def service(self) -> Service:
        if not self.name:
            [service] = self.runtime.services
            return service
        return next(service for service in self.runtime.services if service.name == self.name)

    @property
    def context(self) -> ServiceContext:
        return self.runtime.context(self.service.name)

    async def run(self, job: str, at: datetime) -> None:
        """Run a job of the service as of `at` on the clock (it is due then)."""
        self.clock.moment = at
        [chosen] = [j for j in self.service.jobs if j.name == job]
        await chosen.run(self.context, at)

    async def feed(self) -> int:
        """Handle the service's feed until it is empty; how many changes were handled."""
        handled = 0
        while count := await self.runtime.handle_batch(self.service):
            handled += count
        return handled

    async def alerts(self) -> list[dict[str, Any]]:
        """Every Alert, as a client reads them with the Smart Data Models' @context (keyValues)."""
        found: list[dict[str, Any]] = await alerts(self.parts)
        return found
