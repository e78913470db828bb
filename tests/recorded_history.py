"""Reading back what an import recorded, for the import tests."""

from __future__ import annotations

from typing import Any

from smartby.broker import Broker
from smartby.ngsild.reads import EntitySelector, HistoryQuery

SDM = "https://smartdatamodels.org/dataModel.Transportation/"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


async def stored(broker: Broker, entity_id: str, tenant: str = "") -> dict[str, list[dict[str, Any]]]:
    """Every history instance of one entity, by expanded attribute name, oldest first."""
    query = HistoryQuery(selectors=(EntitySelector(ids=(entity_id,)),))
    found, _ = await broker.store.history(tenant, query)
    assert len(found) == 1, f"no history for {entity_id}"
    return found[0].attributes


def by_time(instances: list[dict[str, Any]]) -> dict[str, Any]:
    """The value of each instance by its observedAt (each time must occur once)."""
    values = {instance["observedAt"]: instance["value"] for instance in instances}
    assert len(values) == len(instances), "two instances at one time"
    return values
