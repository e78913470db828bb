"""What services conclude, written back through the broker as Smart Data Models entities.

`Alert` for what a person must act on: one open alert per source and problem (subCategory) and
service (`dataProvider`); while it is open (no `validTo`) the same problem opens no other, and when
the problem ends it gets its `validTo` and stays as history. `KeyPerformanceIndicator` for measures,
one entity per service and indicator, its `kpiValue` history the series.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from smartby.broker import Broker
from smartby.broker.queries import entity_query, selector
from smartby.ngsild.context import Context
from smartby.ngsild.entity import Entity, instance_value
from smartby.ngsild.errors import AlreadyExists, ResourceNotFound
from smartby.ngsild.timestamps import format_datetime, micros_of

ALERT_CONTEXT = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
KPI_CONTEXT = "https://smart-data-models.github.io/dataModel.KeyPerformanceIndicator/context.jsonld"
ALERT_TYPE = "https://smartdatamodels.org/dataModel.Alert/Alert"
KPI_TYPE = "https://smartdatamodels.org/dataModel.KeyPerformanceIndicator/KeyPerformanceIndicator"
ALERT_SOURCE = "https://smartdatamodels.org/dataModel.Alert/alertSource"
SUB_CATEGORY = "https://smartdatamodels.org/dataModel.Alert/subCategory"
VALID_FROM = "https://smartdatamodels.org/validFrom"
PAGE = 1000


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _moment(value: datetime) -> dict[str, Any]:
    return _property({"@type": "DateTime", "@value": format_datetime(value)})


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def first_value(entity: Entity, name: str) -> Any:
    instances = entity.get(name) or []
    return instance_value(instances[0]) if instances else None


class Results:
    """Alerts and indicators of one service (its name is their `dataProvider`)."""

    def __init__(self, broker: Broker, service: str) -> None:
        self.broker = broker
        self.service = service

    async def _context(self, url: str) -> Context:
        return await self.broker.context([url])

    async def open_alerts(
        self, tenant: str, *, source: str | None = None, sub_category: str | None = None
    ) -> list[Entity]:
        """This service's open alerts (no validTo), of one source and problem if given."""
        ctx = await self._context(ALERT_CONTEXT)
        terms = [f"dataProvider=={_quoted(self.service)}", "!validTo"]
        if source is not None:
            terms.append(f"alertSource=={_quoted(source)}")
        if sub_category is not None:
            terms.append(f"subCategory=={_quoted(sub_category)}")
        found: list[Entity] = []
        while True:
            query = entity_query(
                ctx,
                selectors=[selector(ctx, types="Alert")],
                q=";".join(terms),
                limit=PAGE,
                offset=len(found),
            )
            page = (await self.broker.query_entities(tenant, query)).entities
            found.extend(page)
            if len(page) < PAGE:
                return found

    async def open_alert(
        self,
        tenant: str,
        *,
        source: str,
        sub_category: str,
        category: str,
        severity: str,
        description: str,
        valid_from: datetime,
        issued: datetime,
        location: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Open an alert unless this service has one open for the source and problem; its id, or
        None when one was open (`location`: a GeoJSON geometry, where the problem is). The id is
        made of the source, problem and `valid_from`, so that two processes that see the same
        problem begin at the same moment open one alert between them."""
        if await self.open_alerts(tenant, source=source, sub_category=sub_category):
            return None
        alert_id = self.alert_id(source, sub_category, valid_from)
        body = {
            "id": alert_id,
            "type": "Alert",
            "category": _property(category),
            "subCategory": _property(sub_category),
            "severity": _property(severity),
            "alertSource": _property(source),
            "description": _property(description),
            "dataProvider": _property(self.service),
            "dateIssued": _moment(issued),
            "validFrom": _moment(valid_from),
        }
        if location is not None:
            body["location"] = {"type": "GeoProperty", "value": dict(location)}
        try:
            await self.broker.create_entity(tenant, await self._context(ALERT_CONTEXT), body)
        except AlreadyExists:
            return None
        return alert_id

    def alert_id(self, source: str, sub_category: str, valid_from: datetime) -> str:
        """The id `open_alert` gives the alert of this source and problem begun at `valid_from`."""
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        return f"urn:ngsi-ld:Alert:{self.service}:{sub_category}:{digest}:{micros_of(valid_from)}"

    async def close_alert(self, tenant: str, alert_id: str, valid_to: datetime) -> bool:
        """Give an open alert its validTo (it stays, as history); False if it is gone."""
        try:
            await self.broker.merge_entity(
                tenant, alert_id, await self._context(ALERT_CONTEXT), {"validTo": _moment(valid_to)}
            )
        except ResourceNotFound:
            return False
        return True

    async def indicator(
        self,
        tenant: str,
        *,
        key: str,
        name: str,
        value: float,
        period: tuple[datetime, datetime],
        frequency: str,
        formula: str,
        description: str,
        at: datetime,
        extra: Mapping[str, Any] | None = None,
        contexts: Sequence[str] = (),
    ) -> str:
        """Write the indicator `key` of this service (created the first time, updated after: the
        kpiValue's history is the series, each value observed at `at`). `extra`: further attributes
        (normalized, e.g. `aggregatedData`), their names expanded with the KPI @context and then
        `contexts`."""
        kpi_id = f"urn:ngsi-ld:KeyPerformanceIndicator:{self.service}:{key}"
        body = {
            "id": kpi_id,
            "type": "KeyPerformanceIndicator",
            "name": _property(name),
            "description": _property(description),
            "category": _property(["quantitative"]),
            "kpiValue": {"type": "Property", "value": value, "observedAt": format_datetime(at)},
            "calculationPeriod": _property(
                {"from": format_datetime(period[0]), "to": format_datetime(period[1])}
            ),
            "calculationFrequency": _property(frequency),
            "calculationFormula": _property(formula),
            "dataProvider": _property(self.service),
            "dateModified": _moment(at),
            **(extra or {}),
        }
        context = await self.broker.context([KPI_CONTEXT, *contexts]) if contexts else None
        result = await self.broker.batch_upsert(
            tenant, context or await self._context(KPI_CONTEXT), [body], mode="update"
        )
        for _, error in result.errors:
            raise error
        return kpi_id
