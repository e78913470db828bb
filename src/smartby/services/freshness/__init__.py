"""Data freshness: the built-in service that proves the runtime end to end.

A device (any entity with attributes that carry `observedAt`, but this service's own results) that
has observed nothing for `SMARTBY_FRESHNESS_MAX_SILENCE` seconds of the services' clock gets an
`Alert` (subCategory `deviceNotReporting`, `validFrom` the moment its silence passed the limit); a
reading observed after its silence began closes the alert (`validTo`). Every check also writes a
`KeyPerformanceIndicator`, the share of devices reporting. Everything is judged by `observedAt`, so a
back-fill is judged as of its time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from smartby.broker import DEFAULT_TENANT
from smartby.ngsild.entity import ENTITY_MEMBERS, Entity
from smartby.ngsild.reads import EntityQuery
from smartby.ngsild.timestamps import parse_datetime
from smartby.services.results import (
    ALERT_SOURCE,
    ALERT_TYPE,
    KPI_TYPE,
    VALID_FROM,
    first_value,
)
from smartby.services.runtime import ServiceContext
from smartby.services.service import Endpoint, Job, Service, ServiceChange, ServiceRequest, ServiceResponse
from smartby.settings import Settings

NAME = "freshness"
PROBLEM = "deviceNotReporting"
PAGE = 1000


def last_observed(entity: Entity | None) -> datetime | None:
    """The latest observedAt of any attribute instance of an entity."""
    if entity is None:
        return None
    latest: datetime | None = None
    for name, instances in entity.items():
        if name in ENTITY_MEMBERS or not isinstance(instances, list):
            continue
        for instance in instances:
            text = instance.get("observedAt") if isinstance(instance, dict) else None
            if text:
                moment = parse_datetime(text)
                if latest is None or moment > latest:
                    latest = moment
    return latest


def _moment(value: object) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("@value")
    return parse_datetime(value) if isinstance(value, str) else None


async def _tenants(ctx: ServiceContext) -> list[str]:
    return list(dict.fromkeys([DEFAULT_TENANT, *await ctx.broker.tenants()]))


async def _devices(ctx: ServiceContext, tenant: str) -> dict[str, datetime]:
    """Every device of a tenant with its latest observedAt."""
    found: dict[str, datetime] = {}
    offset = 0
    ignored = {ALERT_TYPE, KPI_TYPE}
    while True:
        page = (await ctx.broker.query_entities(tenant, EntityQuery(limit=PAGE, offset=offset))).entities
        for entity in page:
            if ignored & set(entity.get("type", ())):
                continue
            latest = last_observed(entity)
            if latest is not None:
                found[entity["id"]] = latest
        if len(page) < PAGE:
            return found
        offset += PAGE


async def check(ctx: ServiceContext, due: datetime | None = None) -> None:
    """Open an alert for each device silent too long, close those of devices reporting again, and
    write the share of devices reporting."""
    silence = timedelta(seconds=ctx.settings.freshness_max_silence)
    now = ctx.clock.now()
    for tenant in await _tenants(ctx):
        devices = await _devices(ctx, tenant)
        if not devices:
            continue
        open_alerts = {first_value(a, ALERT_SOURCE): a for a in await ctx.results.open_alerts(tenant)}
        reporting = 0
        for device, latest in sorted(devices.items()):
            began = latest + silence
            if began <= now:
                if device not in open_alerts:
                    await ctx.results.open_alert(
                        tenant,
                        source=device,
                        sub_category=PROBLEM,
                        category="technical",
                        severity="medium",
                        description=f"{device} has observed nothing since {latest.isoformat()}",
                        valid_from=began,
                        issued=now,
                    )
                continue
            reporting += 1
            alert = open_alerts.get(device)
            if alert is not None:
                await _close(ctx, tenant, alert, latest)
        await ctx.results.indicator(
            tenant,
            key="devices-reporting",
            name="Devices reporting",
            value=round(reporting / len(devices), 6),
            period=(now - silence, now),
            frequency=f"every {ctx.settings.freshness_period:g} s",
            formula=f"devices with an observedAt in the last {silence.total_seconds():g} s / devices",
            description="Share of the devices that observed something within the allowed silence",
            at=now,
        )


async def _close(ctx: ServiceContext, tenant: str, alert: Entity, observed: datetime) -> None:
    began = _moment(first_value(alert, VALID_FROM))
    if began is None:
        return
    silence = timedelta(seconds=ctx.settings.freshness_max_silence)
    if observed > began - silence:  # observed after the silence began: it is over
        await ctx.results.close_alert(tenant, alert["id"], max(observed, began))


async def on_changes(ctx: ServiceContext, changes: Sequence[ServiceChange]) -> None:
    """A reading of a device with an open alert closes it at once (not at the next check)."""
    latest: dict[tuple[str, str], datetime] = {}
    for change in changes:
        observed = last_observed(change.after)
        key = (change.tenant, change.entity_id)
        if observed is not None and (key not in latest or observed > latest[key]):
            latest[key] = observed
    for tenant in sorted({tenant for tenant, _ in latest}):
        for alert in await ctx.results.open_alerts(tenant):
            source = first_value(alert, ALERT_SOURCE)
            observed_at = latest.get((tenant, source))
            if observed_at is not None:
                await _close(ctx, tenant, alert, observed_at)


async def status(ctx: ServiceContext, request: ServiceRequest) -> ServiceResponse:
    """GET /freshness/v1/status: the devices of the tenant, which are silent, and since when."""
    silence = timedelta(seconds=ctx.settings.freshness_max_silence)
    now = ctx.clock.now()
    devices = await _devices(ctx, request.tenant)
    silent = {device: latest for device, latest in devices.items() if latest + silence <= now}
    return ServiceResponse(
        {
            "at": now.isoformat(),
            "devices": len(devices),
            "reporting": len(devices) - len(silent),
            "silent": [
                {"id": device, "lastObservedAt": latest.isoformat()}
                for device, latest in sorted(silent.items())
            ],
        }
    )


def service(settings: Settings) -> Service:
    return Service(
        name=NAME,
        description="Alerts for devices that stopped reporting; the share of devices reporting",
        ignored=(ALERT_TYPE, KPI_TYPE),
        brief=True,
        handle=on_changes,
        jobs=(Job("check", settings.freshness_period, check),),
        endpoints=(Endpoint("GET", "/status", status, "Devices and those not reporting"),),
    )
