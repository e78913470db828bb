"""Local wall-clock times to UTC, with daylight saving time's repeated and skipped hours explicit.

When clocks go back (Denmark: the last Sunday of October, 03:00 CEST -> 02:00 CET) the local times
02:00-02:59 happen twice; when they go forward (the last Sunday of March, 02:00 -> 03:00) they
never happen. A local time alone cannot say which of the two it was: a UTC column can.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from smartby.ingest.mapping import Ambiguity


class AmbiguousTime(ValueError):
    """A local time that happens twice in its zone (and the policy is to refuse it)."""


class NonexistentTime(ValueError):
    """A local time that never happens in its zone (skipped when clocks go forward)."""


def is_ambiguous(moment: datetime, zone: tzinfo) -> bool:
    """True if the naive local time `moment` happens twice in `zone`."""
    early = moment.replace(tzinfo=zone, fold=0)
    late = moment.replace(tzinfo=zone, fold=1)
    return early.utcoffset() != late.utcoffset() and _exists(early, zone)


def to_utc(moment: datetime, zone: tzinfo, ambiguous: Ambiguity) -> datetime:
    """The UTC time of `moment`: as it is when it names its offset, else read as a local time in
    `zone`. A repeated local time is the earlier or the later of the two per `ambiguous`, or
    raises AmbiguousTime; a skipped one raises NonexistentTime. OverflowError past year 1 or 9999."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment.astimezone(UTC)
    early = moment.replace(tzinfo=zone, fold=0)
    late = moment.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early.astimezone(UTC)
    if not _exists(early, zone):
        raise NonexistentTime(f"{moment.isoformat()} does not exist in {zone} (clocks moved forward)")
    if ambiguous == "earlier":
        return early.astimezone(UTC)
    if ambiguous == "later":
        return late.astimezone(UTC)
    raise AmbiguousTime(
        f"{moment.isoformat()} happens twice in {zone} (clocks moved back): "
        f"{_utc_text(early)} or {_utc_text(late)}"
    )


def _exists(local: datetime, zone: tzinfo) -> bool:
    """Whether the aware local time reads the same after a round trip through UTC."""
    back = local.astimezone(UTC).astimezone(zone)
    return back.replace(tzinfo=None, fold=0) == local.replace(tzinfo=None, fold=0)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
