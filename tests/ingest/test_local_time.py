"""Local times to UTC around daylight saving time, checked against zoneinfo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.ingest.local_time import AmbiguousTime, NonexistentTime, is_ambiguous, to_utc
from smartby.ingest.mapping import Ambiguity

CPH = ZoneInfo("Europe/Copenhagen")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_summer_and_winter_times() -> None:
    assert to_utc(datetime(2014, 8, 1, 7, 50), CPH, "raise") == utc("2014-08-01T05:50:00")
    assert to_utc(datetime(2024, 1, 1, 0, 0), CPH, "raise") == utc("2023-12-31T23:00:00")


def test_the_repeated_hour_follows_the_policy() -> None:
    local = datetime(2024, 10, 27, 2, 0)
    assert is_ambiguous(local, CPH)
    assert to_utc(local, CPH, "earlier") == utc("2024-10-27T00:00:00")
    assert to_utc(local, CPH, "later") == utc("2024-10-27T01:00:00")
    with pytest.raises(AmbiguousTime, match="2024-10-27T00:00:00Z or 2024-10-27T01:00:00Z"):
        to_utc(local, CPH, "raise")
    assert not is_ambiguous(datetime(2024, 10, 27, 3, 0), CPH)
    assert to_utc(datetime(2024, 10, 27, 3, 0), CPH, "raise") == utc("2024-10-27T02:00:00")
    assert to_utc(datetime(2024, 10, 27, 1, 59), CPH, "raise") == utc("2024-10-26T23:59:00")


@pytest.mark.parametrize("policy", ["earlier", "later", "raise"])
def test_a_skipped_time_is_refused_whatever_the_policy(policy: Ambiguity) -> None:
    with pytest.raises(NonexistentTime, match="does not exist"):
        to_utc(datetime(2024, 3, 31, 2, 30), CPH, policy)
    assert to_utc(datetime(2024, 3, 31, 3, 0), CPH, policy) == utc("2024-03-31T01:00:00")


def test_a_time_with_an_offset_keeps_it() -> None:
    moment = datetime(2024, 10, 27, 2, 0, tzinfo=ZoneInfo("Etc/GMT-1"))
    assert to_utc(moment, CPH, "raise") == utc("2024-10-27T01:00:00")


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)))
def test_every_instant_comes_back_from_its_local_time(naive: datetime) -> None:
    instant = naive.replace(tzinfo=UTC)
    local = instant.astimezone(CPH)
    wall = local.replace(tzinfo=None)
    policy: Ambiguity
    if is_ambiguous(wall, CPH):
        policy = "later" if local.fold else "earlier"
        with pytest.raises(AmbiguousTime):
            to_utc(wall, CPH, "raise")
    else:
        policy = "raise"
        assert to_utc(wall, CPH, "earlier") == to_utc(wall, CPH, "later")
    found = to_utc(wall, CPH, policy)
    assert found == instant and found.utcoffset() == timedelta(0)
