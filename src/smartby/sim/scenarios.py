"""Replays of days the city should remember, for `smartby demo --scenario NAME`.

`cloudburst-2011`: the evening of 2 July 2011 over Copenhagen. DMI measured up to about 135 mm in
two hours at the Botanical Garden (Københavns Botaniske Have), most of it between about 20:00 and
22:00 local time (DMI, "Skybruddet over København lørdag den 2. juli 2011"; docs/testbed.md). The
testbed's rain is shaped after that: a cell passing from west to east, a cosine-squared pulse of two
hours at each place, 135 mm at the strongest districts and about 75 at the weakest, on top of the
recorded rain of the hour (the weekly synthetic cloudburst is off). Live streaming starts at 19:30
local time, so the demo shows the gauges' sums rising, the cloudburst and heavy rain Alerts, and the
basins filling, as it happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Scenario:
    name: str
    live_from: datetime
    """When live streaming starts (the demo's "now"); back-fill ends here."""
    rain_start: datetime
    """When the rain reaches the westernmost district."""
    duration: timedelta
    """How long it rains at one place."""
    total: float
    """mm at the strongest district."""
    description: str

    def rate(self, longitude: float, west: float, moment: datetime) -> float:
        """mm/h at this moment at a district of this longitude (`west`: the city's westernmost)."""
        delay = timedelta(minutes=(longitude - west) / 0.2 * 20)  # 20 minutes per 0.2° eastward
        share = (moment - self.rain_start - delay) / self.duration
        if not 0 <= share <= 1:
            return 0.0
        strength = 0.55 + 0.45 * math.cos((longitude - 12.58) * 14) ** 2
        peak = 2 * self.total / (self.duration.total_seconds() / 3600)  # the pulse's mean is half its peak
        return peak * strength * math.sin(math.pi * share) ** 2


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "cloudburst-2011",
            live_from=datetime(2011, 7, 2, 17, 30, tzinfo=UTC),
            rain_start=datetime(2011, 7, 2, 17, 50, tzinfo=UTC),
            duration=timedelta(hours=2),
            total=135.0,
            description="Copenhagen's cloudburst of 2 July 2011 (up to ~135 mm in two hours)",
        ),
    )
}
