"""A spell during which a condition held (pure): what one Alert stands for."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Episode:
    start: datetime
    """The Alert's validFrom."""
    peak: float
    """The highest amount seen in it (mm, or a basin's fill)."""
    peak_at: datetime
    incomplete: bool = False
    """Some of its windows missed readings."""
    truncated: bool = False
    """It held already at the first moment judged: its start is not known."""
    end: datetime | None = None
    """The Alert's validTo; None while it holds."""

    def seen(self, amount: float, at: datetime, incomplete: bool) -> Episode:
        """The episode after one more moment in it."""
        higher = amount > self.peak
        return replace(
            self,
            peak=amount if higher else self.peak,
            peak_at=at if higher else self.peak_at,
            incomplete=self.incomplete or incomplete,
        )

    def ended(self, at: datetime) -> Episode:
        return replace(self, end=at)
