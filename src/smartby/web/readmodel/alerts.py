"""The services' results as the dashboard shows them: open alerts (newest first), a device's
alerts (open and closed), and the services' indicators, read through the broker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartby.broker import Broker
from smartby.broker.queries import entity_query, selector
from smartby.ngsild.entity import Entity, instance_value
from smartby.services.lighting.vocabulary import STREETLIGHTING_CONTEXT
from smartby.services.results import ALERT_CONTEXT, KPI_CONTEXT

SDM = "https://smartdatamodels.org/"
ALERT = SDM + "dataModel.Alert/"
KPI = SDM + "dataModel.KeyPerformanceIndicator/"
LIMIT = 1000


@dataclass(frozen=True)
class AlertView:
    id: str
    source: str | None
    category: str | None
    sub_category: str | None
    severity: str | None
    description: str | None
    provider: str | None
    valid_from: str | None
    valid_to: str | None
    date_issued: str | None

    def view(self) -> dict[str, str | None]:
        """As the page reads it: the Smart Data Models' names."""
        return {
            "id": self.id,
            "source": self.source,
            "category": self.category,
            "subCategory": self.sub_category,
            "severity": self.severity,
            "description": self.description,
            "provider": self.provider,
            "validFrom": self.valid_from,
            "validTo": self.valid_to,
            "dateIssued": self.date_issued,
        }


@dataclass(frozen=True)
class IndicatorView:
    id: str
    name: str | None
    value: float | None
    provider: str | None
    observed_at: str | None
    description: str | None

    def view(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "value": self.value,
            "provider": self.provider,
            "observedAt": self.observed_at,
            "description": self.description,
        }


def _value(entity: Entity, name: str) -> Any:
    instances = entity.get(name) or []
    if not instances:
        return None
    found = instance_value(instances[0])
    if isinstance(found, dict) and "@value" in found:
        return found["@value"]
    return found


def _text(entity: Entity, name: str) -> str | None:
    found = _value(entity, name)
    return None if found is None else str(found)


def alert_view(entity: Entity) -> AlertView:
    return AlertView(
        entity["id"],
        _text(entity, ALERT + "alertSource"),
        _text(entity, ALERT + "category"),
        _text(entity, ALERT + "subCategory"),
        _text(entity, ALERT + "severity"),
        _text(entity, "http://purl.org/dc/terms/description"),
        _text(entity, SDM + "dataProvider"),
        _text(entity, SDM + "validFrom"),
        _text(entity, ALERT + "validTo"),
        _text(entity, ALERT + "dateIssued"),
    )


async def _alerts(broker: Broker, tenant: str, q: str) -> list[AlertView]:
    ctx = await broker.context([ALERT_CONTEXT])
    query = entity_query(ctx, selectors=[selector(ctx, types="Alert")], q=q, limit=LIMIT)
    found = [alert_view(e) for e in (await broker.query_entities(tenant, query)).entities]
    return sorted(found, key=lambda alert: (alert.valid_from or "", alert.id), reverse=True)


async def open_alerts(broker: Broker, tenant: str) -> list[AlertView]:
    """The open alerts (no validTo), newest first."""
    return await _alerts(broker, tenant, "!validTo")


async def device_alerts(broker: Broker, tenant: str, device_id: str) -> list[AlertView]:
    """A device's alerts, open and closed, newest first."""
    quoted = device_id.replace("\\", "\\\\").replace('"', '\\"')
    return await _alerts(broker, tenant, f'alertSource=="{quoted}"')


async def indicators(broker: Broker, tenant: str) -> list[IndicatorView]:
    # Indicators of one group of street lights (lighting's, docs/lighting.md) or of one building
    # (energy's, docs/renovation.md) are queried, not tiles.
    ctx = await broker.context([KPI_CONTEXT, STREETLIGHTING_CONTEXT])
    query = entity_query(
        ctx,
        selectors=[selector(ctx, types="KeyPerformanceIndicator")],
        q="!refStreetlightGroup;!refBuilding",
        limit=LIMIT,
    )
    found = []
    for entity in (await broker.query_entities(tenant, query)).entities:
        value = _value(entity, KPI + "kpiValue")
        kpi = (entity.get(KPI + "kpiValue") or [{}])[0]
        found.append(
            IndicatorView(
                entity["id"],
                _text(entity, SDM + "name"),
                float(value) if isinstance(value, int | float) else None,
                _text(entity, SDM + "dataProvider"),
                kpi.get("observedAt"),
                _text(entity, "http://purl.org/dc/terms/description"),
            )
        )
    return sorted(found, key=lambda indicator: indicator.id)
