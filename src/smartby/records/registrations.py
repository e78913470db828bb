"""What the broker keeps of context source registrations (clause 5.2.9). Records only: the store
keeps them, the broker's registrations decide what they mean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredRegistration:
    """A registration as kept: the checked document (names expanded), when it was made and last
    changed, and the counters of the distributed operations it took part in."""

    tenant: str
    id: str
    document: dict[str, Any]
    created_at: str
    modified_at: str
    times_sent: int = 0
    times_failed: int = 0
    last_success: str | None = None
    last_failure: str | None = None
