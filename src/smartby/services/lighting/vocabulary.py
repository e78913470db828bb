"""The expanded names the lighting service reads and writes (the internal form of entities).

Streetlights, groups and cabinets are read as the Smart Data Models' own @context expands them;
`LightingProgram`, `lightingClass` and the light's traffic segment come from smartby's lighting
@context (`LIGHTING_CONTEXT`, shipped in smartby/data/contexts and served at
/lighting/v1/context.jsonld).
"""

from __future__ import annotations

STREETLIGHTING_CONTEXT = "https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"
LIGHTING_CONTEXT = "https://smartby.org/contexts/lighting.jsonld"
TRANSPORTATION_CONTEXT = "https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"

_SL = "https://smartdatamodels.org/dataModel.Streetlighting/"
_OWN = "https://smartby.org/ns/lighting/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"

STREETLIGHT = _SL + "Streetlight"
GROUP = _SL + "StreetlightGroup"
CABINET = _SL + "StreetlightControlCabinet"
POWER_RATING = _SL + "powerRating"
POWER_CONSUMPTION = _SL + "powerConsumption"
ILLUMINANCE_LEVEL = _SL + "illuminanceLevel"
REF_STREETLIGHT = _SL + "refStreetlight"
REF_GROUP = _SL + "refStreetlightGroup"
REF_CABINET = _SL + "refStreetlightControlCabinet"
REF_DEVICE = _SL + "refDevice"
ACTIVE_PROGRAM = _SL + "activeProgramId"
ENERGY_CONSUMED = _SL + "energyConsumed"
STATUS = "https://uri.etsi.org/ngsi-ld/status"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"

PROGRAM = _OWN + "LightingProgram"
CALENDAR_RULES = _OWN + "calendarRules"
LIGHTING_CLASS = (_OWN + "lightingClass", _DEFAULT + "lightingClass")
"""smartby's term, and the one a client without smartby's @context gets (default context)."""
REF_ROAD_SEGMENT = "https://smartdatamodels.org/dataModel.Transportation/refRoadSegment"
NAME = "https://smartdatamodels.org/name"

TRAFFIC_FLOW = "https://smartdatamodels.org/dataModel.Transportation/TrafficFlowObserved"
INTENSITY = "https://smartdatamodels.org/dataModel.Transportation/intensity"
CO2_INTENSITY = (_DEFAULT + "co2Intensity", _DEFAULT + "co2Emission")
"""g/kWh of the grid: the testbed's GridSignal's `co2Intensity`, or the `co2Emission` of Energinet's
CO2Emis data imported with the `energinet-co2emis` mapping (docs/import.md), both in the core
context."""
