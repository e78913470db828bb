"""Sun times for lighting programs: sunrise, sunset and civil twilight, from `astral`.

An event of a local date at a place, in UTC; None where the sun does not reach that angle that day
(far north in summer, say), so a step on it is skipped that day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from astral import Observer
from astral import sun as astral_sun

CIVIL = 6.0
"""Degrees below the horizon of civil dawn and dusk."""


def sun_event(event: str, day: date, latitude: float, longitude: float, zone: str) -> datetime | None:
    """When `event` (sunrise, sunset, civilDawn, civilDusk) happens on the local `day` at the place."""
    observer = Observer(latitude=latitude, longitude=longitude)
    tz = ZoneInfo(zone)
    try:
        match event:
            case "sunrise":
                moment = astral_sun.sunrise(observer, day, tzinfo=tz)
            case "sunset":
                moment = astral_sun.sunset(observer, day, tzinfo=tz)
            case "civilDawn":
                moment = astral_sun.dawn(observer, day, tzinfo=tz, depression=CIVIL)
            case "civilDusk":
                moment = astral_sun.dusk(observer, day, tzinfo=tz, depression=CIVIL)
            case _:
                raise ValueError(f"no sun event {event!r}")
    except ValueError:
        if event not in ("sunrise", "sunset", "civilDawn", "civilDusk"):
            raise
        return None
    return moment.astimezone(UTC)
