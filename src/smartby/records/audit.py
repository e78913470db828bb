"""What the audit log keeps (docs/audit.md): one record per change, refusal or audited read, and who
is acting in the code under way.

Records only. The API says who acts (`acting`, from the key or token a request presents), the broker
and the store (keys, tenants, subscriptions, registrations, @contexts, the device registry) write a
record in the transaction of the change it records, the API's audit layer writes refusals, failures
and audited reads in small batches.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

SYSTEM = "system"
"""The actor of what no request, device or city service asked for (start-up, retention, the CLI)."""
CLI = "cli"
"""The actor of `smartby keys`, `smartby tenants` and `smartby audit` (whoever runs them on the host)."""
ANONYMOUS = "anonymous"
"""The actor of a request while authentication is off."""
OK = "ok"
PARTIAL = "partial"
"""A batch some of whose entities failed (`detail` lists them)."""
REFUSED = "refused"
"""Access control said no (401, 403, the 404 that hides another tenant's resources, 429)."""
MOST_TARGETS = 1000
"""Most entity ids one record lists; the rest are counted in `detail`."""


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the audit log."""

    at: str
    """When, ISO 8601 UTC with microseconds (`2026-12-07T17:38:04.123456Z`): sorts as it reads."""
    actor: str
    """Who: a key's owner, a token's subject, `device:<id>`, `service:<name>`, `anonymous`, `system`."""
    tenant: str
    operation: str
    """What: `METHOD /route/{template}` for a request, a dotted name otherwise (`readings.record`)."""
    target: str
    """On what: entity ids separated by spaces, or the request's path."""
    outcome: str
    """`ok`, `partial`, `refused <status>`, or `<status> <error type>`."""
    detail: str | None = None
    id: int | None = None


@dataclass
class Action:
    """Who is acting in the code under way, and on what; `recorded` once a transaction recorded it."""

    actor: str = SYSTEM
    tenant: str | None = None
    operation: str | None = None
    target: str | None = None
    recorded: bool = field(default=False)


ACTION: contextvars.ContextVar[Action | None] = contextvars.ContextVar("smartby_audit_action", default=None)


def current() -> Action:
    """The action under way (a fresh `system` one outside any)."""
    action = ACTION.get()
    return Action() if action is None else action


@contextlib.contextmanager
def acting(action: Action) -> Iterator[Action]:
    """Run a block as `action` (a request, a city service's handler, a CLI command)."""
    token = ACTION.set(action)
    try:
        yield action
    finally:
        ACTION.reset(token)


def timestamp(moment: datetime | None = None) -> str:
    """`at` of a record made now (or at `moment`)."""
    moment = datetime.now(UTC) if moment is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(
    tenant: str,
    operation: str,
    target: str,
    outcome: str = OK,
    detail: str | None = None,
    *,
    actor: str | None = None,
) -> AuditRecord:
    """A record made now by the current action's actor (or `actor`)."""
    return AuditRecord(
        timestamp(), current().actor if actor is None else actor, tenant, operation, target, outcome, detail
    )


def change(tenant: str, operation: str, target: str) -> AuditRecord:
    """The record of a change made now by the current action: under its operation (a request's
    `METHOD /route`) or, outside a request, `operation`."""
    return record(tenant, current().operation or operation, target)


def targets(ids: list[str]) -> tuple[str, str | None]:
    """The `target` naming entity ids (at most MOST_TARGETS), and a detail counting the others."""
    if len(ids) <= MOST_TARGETS:
        return " ".join(ids), None
    return " ".join(ids[:MOST_TARGETS]), f"and {len(ids) - MOST_TARGETS} more entities"


@dataclass(frozen=True)
class AuditFilter:
    """What `GET /admin/v1/audit` asks for: each field None means any."""

    since: str | None = None
    until: str | None = None
    actor: str | None = None
    tenant: str | None = None
    operation: str | None = None
    target: str | None = None
    """An entity id or path the record's target names (one of its space-separated parts)."""
    outcome: str | None = None
    limit: int = 100
    offset: int = 0
