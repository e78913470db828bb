"""Batches history instances per entity into `Broker.add_history`, leaving out what is recorded."""

from __future__ import annotations

from smartby.broker import Broker
from smartby.ingest.report import ImportReport
from smartby.ngsild.entity import Entity, Instance
from smartby.ngsild.errors import NgsiLdError


class HistoryWriter:
    """Collects instances per entity and writes them, `batch` instances at a time, one transaction
    per entity, with `skip_existing` so that an import can run again without adding anything twice."""

    def __init__(self, broker: Broker, tenant: str, report: ImportReport, batch: int = 5000) -> None:
        if batch < 1:
            raise ValueError("the batch size must be at least 1")
        self.broker = broker
        self.tenant = tenant
        self.report = report
        self.batch = batch
        self._pending: dict[str, tuple[Entity, dict[str, list[Instance]]]] = {}
        self._count = 0

    async def add(self, header: Entity, attributes: dict[str, Instance] | dict[str, list[Instance]]) -> None:
        """Queue instances of one entity (`header`: id, expanded types, optional scope)."""
        entity_id = header["id"]
        found = self._pending.get(entity_id)
        if found is None:
            found = self._pending[entity_id] = ({**header, "type": list(header["type"])}, {})
            self.report.entities.add(entity_id)
        else:
            kept = found[0]
            kept["type"].extend(t for t in header["type"] if t not in kept["type"])
            if "scope" in header:
                kept["scope"] = header["scope"]
        queued = found[1]
        for name, given in attributes.items():
            instances = given if isinstance(given, list) else [given]
            queued.setdefault(name, []).extend(instances)
            self._count += len(instances)
        if self._count >= self.batch:
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending, self._count = self._pending, {}, 0
        for header, attributes in pending.values():
            offered = sum(len(instances) for instances in attributes.values())
            self.report.offered += offered
            try:
                self.report.added += await self.broker.add_history(
                    self.tenant, header, attributes, skip_existing=True
                )
            except NgsiLdError as error:
                self.report.failed_instances += offered
                self.report.failed.append(f"{offered} instances of {header['id']}: {error.detail}")
