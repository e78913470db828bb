"""The BatchOperationResult of a batch operation (clause 5.2.16)."""

from __future__ import annotations

from dataclasses import dataclass, field

from smartby.ngsild.errors import NgsiLdError


@dataclass
class BatchResult:
    """The BatchOperationResult of clause 5.2.16: ids that succeeded, and errors per entity."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiLdError]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def fail(self, entity_id: str, error: NgsiLdError) -> None:
        self.errors.append((entity_id, error))
