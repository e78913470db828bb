"""What the broker keeps of subscriptions, and the notifications on their way out (the outbox).

Records only: the store keeps them, the broker's subscriptions and notifier decide what they mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredSubscription:
    """A subscription as kept: the checked document (its subscriber's terms, with the @context they
    wrote it with under "@context") and the delivery counters behind its status members."""

    tenant: str
    id: str
    document: dict[str, Any]
    created_at: str
    modified_at: str
    times_sent: int = 0
    times_failed: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    last_failure_reason: str | None = None
    """Why the last failed delivery failed (alert channels show it)."""


@dataclass(frozen=True)
class PendingNotification:
    """A notification to put in the outbox: for whom, what (JSON), and from when it may be sent
    (seconds since the epoch)."""

    tenant: str
    subscription_id: str
    payload: dict[str, Any]
    due_at: float


@dataclass(frozen=True)
class ClaimedNotification:
    """An outbox row claimed for one delivery attempt (`attempts` counts this one)."""

    id: int
    tenant: str
    subscription_id: str
    payload: dict[str, Any]
    created_at: float
    attempts: int


@dataclass(frozen=True)
class DeliveryOutcome:
    """How one attempt went. A failure with `retry_at` comes due again then; without, it is dropped.
    One not `attempted` (put back unsent, or dropped because its subscription is gone) does not
    count in the subscription's status nor as an attempt."""

    notification: ClaimedNotification
    at: str
    success: bool
    retry_at: float | None = None
    attempted: bool = True
    reason: str | None = None
    """Why an attempt failed, as its subscription's status shows it."""
