"""Episodes made Alerts: one Alert per source and episode, opened when it begins, updated while it
grows (severity, description) and closed (validTo) when it ends.

Judging the same readings again changes nothing: an episode's Alert is found by its validFrom among
the source's open alerts, and `Results.open_alert` opens none for an episode whose Alert exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smartby.ngsild.entity import Entity
from smartby.ngsild.errors import ResourceNotFound
from smartby.ngsild.timestamps import parse_datetime
from smartby.services.climate.episodes import Episode
from smartby.services.results import ALERT_CONTEXT, VALID_FROM, first_value
from smartby.services.runtime import ServiceContext

_ALERT = "https://smartdatamodels.org/dataModel.Alert/"
SEVERITY = _ALERT + "severity"
VALID_TO = "https://smartdatamodels.org/dataModel.Alert/validTo"
DESCRIPTION = "http://purl.org/dc/terms/description"
CATEGORY = "weather"


@dataclass(frozen=True)
class Problem:
    sub_category: str
    severity: Callable[[Episode], str]
    description: Callable[[Episode], str]


def _moment(value: object) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("@value")
    return parse_datetime(value) if isinstance(value, str) else None


def valid_from(alert: Entity) -> datetime | None:
    return _moment(first_value(alert, VALID_FROM))


def _matches(found: Sequence[Episode], alerts: Sequence[Entity]) -> dict[int, Entity]:
    """The open Alert of each episode, by the episode's index: the one begun when it began, or, for
    an episode whose start was not judged, the one begun before."""
    by_start = {valid_from(alert): alert for alert in alerts}
    matched: dict[int, Entity] = {}
    for index, episode in enumerate(found):
        alert = by_start.get(episode.start)
        if alert is None and episode.truncated:
            earlier = [a for a in alerts if (valid_from(a) or episode.start) < episode.start]
            alert = earlier[0] if earlier else None
        if alert is not None:
            matched[index] = alert
    return matched


async def reconcile(
    ctx: ServiceContext,
    tenant: str,
    source: str,
    problem: Problem,
    found: Sequence[Episode],
    as_of: datetime,
) -> None:
    """Make the source's Alerts of `problem` what the episodes judged up to `as_of` say."""
    alerts = await ctx.results.open_alerts(tenant, source=source, sub_category=problem.sub_category)
    matched = _matches(found, alerts)
    kept = {alert["id"] for alert in matched.values()}
    for stale in alerts:
        if stale["id"] not in kept:  # its episode is no longer there: over
            await ctx.results.close_alert(tenant, stale["id"], as_of)
    for index, episode in enumerate(found):
        alert = matched.get(index)
        if alert is None:
            if episode.truncated:
                continue
            alert_id = await ctx.results.open_alert(
                tenant,
                source=source,
                sub_category=problem.sub_category,
                category=CATEGORY,
                severity=problem.severity(episode),
                description=problem.description(episode),
                valid_from=episode.start,
                issued=as_of,
            )
            if alert_id is None:  # its Alert exists (judged before), or a later one is open
                await _amend(ctx, tenant, source, problem, episode)
                continue
        else:
            alert_id = alert["id"]
            await _update(ctx, tenant, alert, problem, episode)
        if episode.end is not None:
            await ctx.results.close_alert(tenant, alert_id, episode.end)


async def _amend(ctx: ServiceContext, tenant: str, source: str, problem: Problem, episode: Episode) -> None:
    """An episode whose Alert was closed before: its end as judged now (reopened while it goes on,
    when the clock's judgement closed it before later readings came), its severity and description."""
    alert_id = ctx.results.alert_id(source, problem.sub_category, episode.start)
    try:
        alert = await ctx.broker.retrieve_entity(tenant, alert_id)
    except ResourceNotFound:
        return
    await _update(ctx, tenant, alert, problem, episode)
    ended = _moment(first_value(alert, VALID_TO))
    if ended == episode.end:
        return
    if episode.end is not None:
        await ctx.results.close_alert(tenant, alert_id, episode.end)
    else:
        context = await ctx.broker.context([ALERT_CONTEXT])
        await ctx.broker.delete_attribute(tenant, alert_id, context, "validTo")


async def _update(
    ctx: ServiceContext, tenant: str, alert: Entity, problem: Problem, episode: Episode
) -> None:
    """While the episode grows: its severity and description, when they changed."""
    severity, description = problem.severity(episode), problem.description(episode)
    if first_value(alert, SEVERITY) == severity and first_value(alert, DESCRIPTION) == description:
        return
    body: dict[str, Any] = {
        "severity": {"type": "Property", "value": severity},
        "description": {"type": "Property", "value": description},
    }
    await ctx.broker.merge_entity(tenant, alert["id"], await ctx.broker.context([ALERT_CONTEXT]), body)
