"""A citizen reporter's contact details: personal data kept apart from the report's entity.

The call (`ContactStore`) is declared here, below the layers that use it: the store implements it
(table `report_contact`, migration 0017), the services runtime hands it to services in their
`ServiceContext`, and no response, entity or notification ever carries what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id")
"""Open311 GeoReport v2's fields that name or reach a person (device_id and account_id identify one
too)."""


@dataclass(frozen=True)
class Contact:
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, field.name) is None for field in fields(self))


class ContactStore(Protocol):
    """Where a service keeps the contact of a report until the report closes."""

    async def keep_contact(self, tenant: str, report_id: str, contact: Contact, at: str) -> None:
        """Keep `contact` for the report (`at`: ISO 8601 UTC, when it was given)."""
        ...

    async def contact(self, tenant: str, report_id: str) -> Contact | None: ...

    async def forget_contact(self, tenant: str, report_id: str) -> bool:
        """Delete the report's contact; whether there was one."""
        ...

    async def forget_contacts_before(self, at: str) -> int:
        """Delete every contact given before `at` (ISO 8601 UTC); how many."""
        ...
