"""What an import did: rows read, instances added, duplicates skipped, bad rows, gaps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from smartby.ngsild.timestamps import from_micros

KEPT_PROBLEMS = 1000
"""Bad rows remembered with their reason (all are counted)."""


@dataclass(frozen=True)
class Problem:
    """A row (or entity) left out: where it is (a line, or an entity's position) and why."""

    position: int
    reason: str


@dataclass(frozen=True)
class Gap:
    """Missing slots in one entity's series: the interval grid from its first to its last time."""

    entity_id: str
    first: int
    last: int
    slots: int
    present: int
    off_grid: int

    @property
    def missing(self) -> int:
        return self.slots - self.present


class GapCounter:
    """Counts, per entity, the slots of a regular series (every `interval`) that hold no reading."""

    def __init__(self, interval: timedelta) -> None:
        self.step = interval // timedelta(microseconds=1)
        self.times: dict[str, set[int]] = {}

    def add(self, entity_id: str, at: int) -> None:
        found = self.times.get(entity_id)
        if found is None:
            found = self.times[entity_id] = set()
        found.add(at)

    def gaps(self) -> list[Gap]:
        result = []
        for entity_id, times in sorted(self.times.items()):
            first, last = min(times), max(times)
            on_grid = sum(1 for t in times if (t - first) % self.step == 0)
            slots = (last - first) // self.step + 1
            result.append(Gap(entity_id, first, last, slots, on_grid, len(times) - on_grid))
        return result


@dataclass
class ImportReport:
    """The outcome of one import; `unit` says what a position counts ("line" or "entity")."""

    source: str
    unit: str = "line"
    rows: int = 0
    loaded: int = 0
    filtered: int = 0
    bad: int = 0
    problems: list[Problem] = field(default_factory=list)
    offered: int = 0
    added: int = 0
    failed: list[str] = field(default_factory=list)
    failed_instances: int = 0
    entities: set[str] = field(default_factory=set)
    gaps: list[Gap] = field(default_factory=list)
    interval: timedelta | None = None
    fatal: str | None = None
    seconds: float = 0.0

    def reject(self, position: int, reason: str) -> None:
        self.bad += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(Problem(position, reason))

    def warn(self, position: int, reason: str) -> None:
        """Something left out of a row or entity that was loaded otherwise."""
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(Problem(position, reason))

    @property
    def skipped(self) -> int:
        """Instances offered but not added: already recorded, or repeated in the file."""
        return self.offered - self.added - self.failed_instances

    @property
    def ok(self) -> bool:
        """Something could be read: a good row (even one the filter left out, or one recorded
        before). Bad rows alone, or a file that cannot be read at all, are not."""
        return self.loaded + self.filtered > 0

    def summary(self, show: int = 10) -> list[str]:
        what = "rows" if self.unit == "line" else "entities"
        lines = [
            f"{self.source}: {self.rows} {what} read: {self.loaded} loaded, {self.bad} bad"
            + (f", {self.filtered} left out by the filter" if self.filtered else ""),
            f"{self.added} instances added to the history of {len(self.entities)} entities, "
            f"{self.skipped} duplicates skipped"
            + (f" ({self.added / self.seconds:,.0f} instances/s)" if self.seconds and self.added else ""),
        ]
        for problem in self.problems[:show]:
            lines.append(f"  {self.unit} {problem.position}: {problem.reason}")
        more = max(len(self.problems), self.bad) - show
        if more > 0:
            lines.append(f"  ... and {more} more")
        for failure in self.failed:
            lines.append(f"  not written: {failure}")
        if self.interval is not None:
            for gap in self.gaps:
                minutes = self.interval / timedelta(minutes=1)
                step = f"{minutes:g}-minute" if minutes < 60 else f"{minutes / 60:g}-hour"
                text = (
                    f"  gaps: {gap.entity_id}: {gap.missing} of {gap.slots} {step} slots empty "
                    f"between {from_micros(gap.first)} and {from_micros(gap.last)}"
                )
                if gap.off_grid:
                    text += f"; {gap.off_grid} readings off the {step} grid"
                lines.append(text)
        if self.fatal:
            lines.append(f"stopped: {self.fatal}")
        return lines
