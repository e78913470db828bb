"""Tests for services/lighting/schedule.py and sun.py: a group's switching events at Copenhagen on
midwinter and midsummer days, against astral computed here and against what is known of the sun."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import sun

from smartby.services.lighting.program import DUSK_TO_DAWN, parse_program
from smartby.services.lighting.schedule import Place, day_schedule, level_at

COPENHAGEN = Place(55.6761, 12.5683)
ZONE = "Europe/Copenhagen"
MIDWINTER, MIDSUMMER = date(2026, 12, 21), date(2026, 6, 21)


def astral_times(day: date) -> dict[str, datetime]:
    times = sun(Observer(COPENHAGEN.latitude, COPENHAGEN.longitude), date=day, tzinfo=ZoneInfo(ZONE))
    return {name: moment.astimezone(UTC).replace(microsecond=0) for name, moment in times.items()}


def test_dusk_to_dawn_at_copenhagen_midwinter() -> None:
    sunrise, sunset = day_schedule(DUSK_TO_DAWN, MIDWINTER, COPENHAGEN, ZONE)
    expected = astral_times(MIDWINTER)
    assert (sunrise.at, sunrise.level, sunrise.reason) == (expected["sunrise"], 0.0, "sunrise+0")
    assert (sunset.at, sunset.level, sunset.reason) == (expected["sunset"], 1.0, "sunset+0")
    # Copenhagen's shortest day: sunrise about 08:37 local (07:37 UTC), sunset about 15:38 (14:38 UTC)
    assert datetime(2026, 12, 21, 14, 33, tzinfo=UTC) < sunset.at < datetime(2026, 12, 21, 14, 43, tzinfo=UTC)
    assert datetime(2026, 12, 21, 7, 32, tzinfo=UTC) < sunrise.at < datetime(2026, 12, 21, 7, 42, tzinfo=UTC)
    assert timedelta(hours=6, minutes=50) < sunset.at - sunrise.at < timedelta(hours=7, minutes=10)


def test_dusk_to_dawn_at_copenhagen_midsummer() -> None:
    sunrise, sunset = day_schedule(DUSK_TO_DAWN, MIDSUMMER, COPENHAGEN, ZONE)
    expected = astral_times(MIDSUMMER)
    assert (sunrise.at, sunset.at) == (expected["sunrise"], expected["sunset"])
    # the longest day: sunrise about 04:25 local (02:25 UTC), sunset about 21:57 (19:57 UTC)
    assert datetime(2026, 6, 21, 2, 20, tzinfo=UTC) < sunrise.at < datetime(2026, 6, 21, 2, 30, tzinfo=UTC)
    assert datetime(2026, 6, 21, 19, 52, tzinfo=UTC) < sunset.at < datetime(2026, 6, 21, 20, 2, tzinfo=UTC)
    assert timedelta(hours=17, minutes=20) < sunset.at - sunrise.at < timedelta(hours=17, minutes=45)


def test_steps_of_fixed_local_times_and_twilight_with_offsets() -> None:
    program = parse_program(
        "urn:ngsi-ld:LightingProgram:night",
        [
            {
                "steps": [
                    {"event": "civilDusk", "offset": -10, "level": 1},
                    {"time": "23:30", "level": 0.5},
                    {"time": "05:00", "level": 0.8},
                    {"event": "civilDawn", "offset": 15, "level": 0},
                ]
            }
        ],
    )
    for day, utc_offset in ((MIDWINTER, 1), (MIDSUMMER, 2)):
        expected = astral_times(day)
        found = {s.reason: s for s in day_schedule(program, day, COPENHAGEN, ZONE)}
        assert found["civilDusk-10"].at == expected["dusk"] - timedelta(minutes=10)
        assert found["civilDawn+15"].at == expected["dawn"] + timedelta(minutes=15)
        assert found["23:30"].at == datetime.combine(day, time(23 - utc_offset, 30), UTC)
        assert found["05:00"].at == datetime.combine(day, time(5 - utc_offset), UTC)
        ordered = day_schedule(program, day, COPENHAGEN, ZONE)
        assert [s.at for s in ordered] == sorted(s.at for s in ordered)
    # midwinter: civil dusk is about 40 minutes after sunset
    dusk = astral_times(MIDWINTER)["dusk"]
    assert timedelta(minutes=35) < dusk - astral_times(MIDWINTER)["sunset"] < timedelta(minutes=50)


def test_the_level_holds_until_the_next_step_over_midnight() -> None:
    sunset = astral_times(MIDWINTER)["sunset"]
    sunrise_after = astral_times(MIDWINTER + timedelta(days=1))["sunrise"]
    assert level_at(DUSK_TO_DAWN, COPENHAGEN, ZONE, sunset - timedelta(seconds=1)) == 0.0
    assert level_at(DUSK_TO_DAWN, COPENHAGEN, ZONE, sunset) == 1.0
    assert level_at(DUSK_TO_DAWN, COPENHAGEN, ZONE, datetime(2026, 12, 22, 0, 0, tzinfo=UTC)) == 1.0
    assert level_at(DUSK_TO_DAWN, COPENHAGEN, ZONE, sunrise_after - timedelta(seconds=1)) == 1.0
    assert level_at(DUSK_TO_DAWN, COPENHAGEN, ZONE, sunrise_after) == 0.0
