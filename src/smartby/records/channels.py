"""Alert channels (docs/alert-channels.md): what a channel is, as kept inside its subscription.

Records only: the broker's `channels` checks and stores them, its notifier renders and sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["webhook", "email"]
KINDS: tuple[Kind, ...] = ("webhook", "email")


@dataclass(frozen=True)
class Channel:
    """How one channel turns an entity into a message and where the message goes: a webhook's URL
    (`target`, one) with its `headers` and `content_type`, or e-mail addresses (`target`, several)
    with a `subject` template."""

    name: str
    kind: Kind
    target: tuple[str, ...]
    template: str
    subject: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def document(self) -> dict[str, Any]:
        """The channel as its subscription keeps it (the `@channel` member)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "target": list(self.target),
            "template": self.template,
            "subject": self.subject,
            "headers": dict(self.headers),
            "contentType": self.content_type,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Channel:
        kind: Kind = "email" if document["kind"] == "email" else "webhook"
        return cls(
            name=document["name"],
            kind=kind,
            target=tuple(document["target"]),
            template=document["template"],
            subject=document.get("subject", ""),
            headers=dict(document.get("headers", {})),
            content_type=document.get("contentType", "application/json"),
        )


@dataclass(frozen=True)
class Message:
    """One rendered message: an e-mail's subject (empty for a webhook) and the body."""

    subject: str
    body: str
