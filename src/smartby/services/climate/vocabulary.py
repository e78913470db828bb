"""The expanded names the climate service reads and writes (the internal form of entities).

Rain gauges are `WeatherObserved` entities as the Smart Data Models' Weather @context expands them;
sewer basins and overflow chambers `FloodMonitoring` entities as the Environment @context does.
"""

from __future__ import annotations

WEATHER_CONTEXT = "https://smart-data-models.github.io/dataModel.Weather/context.jsonld"
ENVIRONMENT_CONTEXT = "https://smart-data-models.github.io/dataModel.Environment/context.jsonld"

_WEATHER = "https://smartdatamodels.org/dataModel.Weather/"
_ENVIRONMENT = "https://smartdatamodels.org/dataModel.Environment/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"

WEATHER_OBSERVED = _WEATHER + "WeatherObserved"
PRECIPITATION = _WEATHER + "precipitation"
FLOOD_MONITORING = _ENVIRONMENT + "FloodMonitoring"
CURRENT_LEVEL = _ENVIRONMENT + "currentLevel"
DANGER_LEVEL = _ENVIRONMENT + "dangerLevel"
REPORTING_INTERVAL = _DEFAULT + "reportingInterval"
"""Seconds between two readings of a gauge, when its entity says (the default context's term)."""
