"""The expanded names the mobility service reads (TrafficFlowObserved as the Smart Data Models'
Transportation @context expands it; `averageTravelTime` is not in that context, so it is the
NGSI-LD default context's, as `smartby import` with the `aarhus-traffic` mapping stores it)."""

from __future__ import annotations

TRANSPORTATION_CONTEXT = "https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"

_T = "https://smartdatamodels.org/dataModel.Transportation/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"

TRAFFIC_FLOW = _T + "TrafficFlowObserved"
INTENSITY = _T + "intensity"
SPEED = _T + "averageVehicleSpeed"
TRAVEL_TIME = _DEFAULT + "averageTravelTime"
LANE_LENGTH = _T + "laneLength"
WATCHED = (INTENSITY, SPEED, TRAVEL_TIME)
