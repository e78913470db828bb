"""The expanded names the energy service reads (the internal form of entities), as the testbed
writes them (docs/testbed.md): `Building` with the Smart Data Models' Building @context (`heatedArea`
is not in it, so it is the NGSI-LD default context's), heat meters as `SmartMeteringObservation`
with the Device @context (`refBuilding` the default context's), outdoor temperature from
`WeatherObserved` with the Weather @context."""

from __future__ import annotations

BUILDING_CONTEXT = "https://smart-data-models.github.io/dataModel.Building/context.jsonld"
DEVICE_CONTEXT = "https://smart-data-models.github.io/dataModel.Device/context.jsonld"
WEATHER_CONTEXT = "https://smart-data-models.github.io/dataModel.Weather/context.jsonld"

_BUILDING = "https://smartdatamodels.org/dataModel.Building/"
_DEVICE = "https://smartdatamodels.org/dataModel.Device/"
_WEATHER = "https://smartdatamodels.org/dataModel.Weather/"
_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"

BUILDING = _BUILDING + "Building"
CATEGORY = _BUILDING + "category"
HEATED_AREA = _DEFAULT + "heatedArea"
METER = _DEVICE + "SmartMeteringObservation"
METER_TYPE = _DEVICE + "meterType"
REF_BUILDING = _DEFAULT + "refBuilding"
TOTAL_CONSUMPTION = _DEVICE + "totalConsumption"
WEATHER_OBSERVED = _WEATHER + "WeatherObserved"
TEMPERATURE = _WEATHER + "temperature"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
