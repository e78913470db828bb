"""ISO 8601 date-times as NGSI-LD uses them (always rendered in UTC with a `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime

from smartby.ngsild.errors import BadRequestData


def parse_datetime(text: str, what: str = "date-time") -> datetime:
    """Parse an ISO 8601 date-time; a time without zone is taken as UTC."""
    if not isinstance(text, str) or len(text) < 10:
        raise BadRequestData(f"{what} is not an ISO 8601 date-time: {text!r}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestData(f"{what} is not an ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def format_datetime(moment: datetime) -> str:
    """Render as `2024-01-31T12:00:00.123456Z` (microseconds only when present)."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_datetime(text: str, what: str = "date-time") -> str:
    """Validate and re-render a date-time in the canonical UTC form."""
    return format_datetime(parse_datetime(text, what))


def now() -> datetime:
    return datetime.now(UTC)
