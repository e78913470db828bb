"""Every FIWARE Smart Data Model example through the HTTP API: create it, read it back normalized and as
keyValues, compare with the model's key-values example and validate against the model's JSON Schema.

The upstream files disagree with NGSI-LD, with each other and with their schemas in places. Each such
place is listed in a table below, and each table is checked against the files, so an entry that
upstream fixes (or a new fault) fails a test instead of going stale. So is a schema that needs a file
the shared data lacks (MISSING_SHARED_SCHEMAS).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from published_data import SHARED_DATA
from smartby.ngsild.errors import ERRORS_BASE

V1 = "/ngsi-ld/v1"
LD_JSON = {"Content-Type": "application/ld+json"}
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
CORE_CONTEXT_PREFIX = "https://uri.etsi.org/ngsi-ld/"

SMART_DATA_MODELS = SHARED_DATA / "smart-data-models"
MODELS = {
    path.parent.name: path.parent
    for path in sorted(SMART_DATA_MODELS.glob("dataModel.*/*/example-normalized.jsonld"))
}
GITHUB_IO = "https://smart-data-models.github.io/"
RAW_GITHUB = "https://raw.githubusercontent.com/smart-data-models/"
SHARED_SCHEMAS = {
    GITHUB_IO + "data-models/common-schema.json": "common-schema.json",
    GITHUB_IO + "dataModel.Device/device-schema.json": "device-schema.json",
    GITHUB_IO + "dataModel.Environment/Environment-schema.json": "Environment-schema.json",
    GITHUB_IO + "dataModel.Weather/weather-schema.json": "weather-schema.json",
}
# `$ref` targets a model's schema needs that the shared data does not hold: that schema cannot be
# checked offline. Each stays checked to be missing, so adding the file fails a test until it moves
# to SHARED_SCHEMAS.
MISSING_SHARED_SCHEMAS = {
    # Common-Alert (description, dateIssued, validFrom, validTo, severity, category, alertSource) is in
    # the root of the dataModel.Alert repository, which shared-schemas/ has no copy of.
    "Alert": GITHUB_IO + "dataModel.Alert/alert-schema.json",
}


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------------
# Upstream faults that make a normalized example invalid NGSI-LD: smartby must reject each one with
# 400 BadRequestData naming the member at fault. The rest of the tests run on the example with every
# listed fault repaired in the smallest way.


def as_property(attribute: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Property", "value": attribute.get("value", attribute.get("object"))}


def single_point(attribute: dict[str, Any]) -> dict[str, Any]:
    (position,) = attribute["value"]["coordinates"]
    return {**attribute, "value": {**attribute["value"], "coordinates": position}}


def as_geo_property(attribute: dict[str, Any]) -> dict[str, Any]:
    return {**attribute, "type": "GeoProperty"}


def urn(entity_id: str) -> str:
    return "urn:ngsi-ld:WeatherForecast:" + entity_id


ISSUE_TRACKING_CONTEXT = RAW_GITHUB + "dataModel.IssueTracking/master/context.jsonld"


def with_open311_prefix(context: list[str]) -> list[Any]:
    """The @context with the IssueTracking context inline and the "open311" prefix defined, so that
    its terms open311:metadata and open311:type expand to the IRIs it maps them to."""
    document = read(SMART_DATA_MODELS / "dataModel.IssueTracking" / "context.jsonld")
    prefix = "https://smartdatamodels.org/dataModel.IssueTracking/open311:"
    inline = {**document["@context"], "open311": prefix}
    return [inline if item == ISSUE_TRACKING_CONTEXT else item for item in context]


@dataclass(frozen=True)
class Rejected:
    member: str
    """The attribute (or "id", or "@context") at fault."""
    detail: str
    """What smartby's ProblemDetails says about it, besides naming it."""
    repair: Callable[[Any], Any] | None
    """The smallest change that makes it valid NGSI-LD; None: leave the member out."""


# FloodMonitoring's normalized example types three attributes "string": a JSON Schema type leaked
# into the attribute's NGSI-LD type, which must be Property,
# Relationship, GeoProperty, LanguageProperty, VocabProperty, ListProperty, ListRelationship or
# JsonProperty (clause 4.5); smartby cannot guess what was meant, so it rejects the example.
STRING_TYPE = "unknown type 'string'"
REJECTED: dict[str, list[Rejected]] = {
    "FloodMonitoring": [
        Rejected("floodLevelStatus", STRING_TYPE, as_property),
        Rejected("observationDateTime", STRING_TYPE, as_property),
        Rejected("stationID", STRING_TYPE, as_property),
    ],
    # A GeoJSON Point holds one position; the example nests it in an extra array.
    "SolarEnergy": [Rejected("location", "a Point needs 1", single_point)],
    # A Relationship's object must be a URI; this one is a date-time (the key-values example has it
    # as a plain date-time Property value).
    "WaterObserved": [Rejected("dateObserved", "must point to a URI", as_property)],
    # An NGSI-LD entity id must be a URI (clause 4.5.1); the example's id has no scheme.
    "WeatherForecast": [Rejected("id", "must be a URI", urn)],
    # "value" is a core NGSI-LD term (ngsi-ld:hasValue) and the core @context wins over the model's,
    # so an attribute cannot be named so.
    "Device": [Rejected("value", "core member", None)],
    # location is a core GeoProperty (clause 4.7.1); the example types it as a Property.
    "DeviceMeasurement": [Rejected("location", "is a GeoProperty", as_geo_property)],
    # modifiedAt is the core, system-generated time of the entity's last change (ngsi-ld:modifiedAt,
    # clause 4.8): the broker sets it, so an attribute cannot be named so. The example gives it as a
    # Property holding a typed date-time (the key-values example as a plain date-time).
    "KeyPerformanceIndicator": [Rejected("modifiedAt", "core member", None)],
    # The model's @context is invalid JSON-LD 1.1: its terms "open311:metadata" and "open311:type" have
    # the form of a compact IRI whose prefix it does not define (so each is an absolute IRI of the
    # scheme "open311") and map to other IRIs ("invalid IRI mapping", JSON-LD 1.1 API, Create Term
    # Definition). Every JSON-LD 1.1 processor rejects the context, whatever the entity uses of it.
    "IssueReporting": [Rejected("@context", "term 'open311:metadata'", with_open311_prefix)],
}


def with_repairs(document: dict[str, Any], faults: list[Rejected]) -> dict[str, Any]:
    repaired = dict(document)
    for fault in faults:
        if fault.repair is None:
            del repaired[fault.member]
        else:
            repaired[fault.member] = fault.repair(repaired[fault.member])
    return repaired


def normalized_example(model: str) -> dict[str, Any]:
    """The model's example-normalized.jsonld with the REJECTED faults repaired."""
    document: dict[str, Any] = read(MODELS[model] / "example-normalized.jsonld")
    return with_repairs(document, REJECTED.get(model, []))


# ----------------------------------------------------------------------------------------------------
# Where the normalized example (simplified) and the key-values example of a model disagree.


@dataclass(frozen=True)
class Discrepancy:
    why: str
    holds: Callable[[Any, Any], bool]
    """Given (simplified normalized value, key-values example value): is this the difference?"""


TYPED_LITERAL = Discrepancy(
    "the normalized example gives a JSON-LD typed literal {@type, @value}, the key-values example its "
    "bare @value",
    lambda ours, theirs: (
        isinstance(ours, dict) and set(ours) == {"@type", "@value"} and ours["@value"] == theirs
    ),
)
V2_TYPED_VALUE = Discrepancy(
    "the normalized example wraps the value NGSI-v2 style in {type, value}, the key-values example "
    "gives the bare value",
    lambda ours, theirs: (
        isinstance(ours, dict) and set(ours) == {"type", "value"} and ours["value"] == theirs
    ),
)
POSTAL_ADDRESS = Discrepancy(
    'the key-values example adds "type": "PostalAddress" to the address',
    lambda ours, theirs: {**ours, "type": "PostalAddress"} == theirs,
)
POSTAL_ADDRESS_LEFT_OUT = Discrepancy(
    'the key-values example leaves out the "type": "PostalAddress" of the address',
    lambda ours, theirs: "type" not in theirs and ours == {**theirs, "type": "PostalAddress"},
)
TYPED_DATE_TIME_VS_DATE = Discrepancy(
    "the normalized example gives a JSON-LD typed date-time {@type, @value}, the key-values example "
    "only its date",
    lambda ours, theirs: (
        isinstance(ours, dict)
        and set(ours) == {"@type", "@value"}
        and ours["@value"].partition("T")[0] == theirs != ours["@value"]
    ),
)
WHITESPACE = Discrepancy(
    "the same text with different whitespace",
    lambda ours, theirs: ours != theirs and " ".join(ours.split()) == " ".join(theirs.split()),
)
ENCODING = Discrepancy(
    "the normalized example holds a stray C1 control character (a Windows-1252 dash read as Latin-1)",
    lambda ours, theirs: "\x96" in ours and " ".join(ours.replace("\x96", "").split()) == theirs,
)


def different(why: str) -> Discrepancy:
    return Discrepancy(why, lambda ours, theirs: ours != theirs)


OTHER_VALUES = different("the two examples give different values")
DATE_VS_INTERVAL = different(
    "the normalized example gives a typed date-time without zone, the key-values example an interval"
)
DATE_TYPO = different('the normalized example\'s typed date-time has a typo ("TT")')
EMPTY_OWNER = different("the normalized example's owner is an empty array")
KEY_SPELLING = different("the key-values example spells cityID and zoneID, the normalized cityId and zoneId")

KEY_VALUES_DISCREPANCIES: dict[str, dict[str, Discrepancy]] = {
    "ACMeasurement": {
        "alternateName": WHITESPACE,
        "dateEnergyMeteringStarted": TYPED_LITERAL,
        "dateObserved": DATE_TYPO,
        "description": WHITESPACE,
    },
    "AirQualityForecast": {"validFrom": TYPED_LITERAL, "validTo": TYPED_LITERAL},
    "AirQualityObserved": {"windDirection": OTHER_VALUES},
    "Alert": {"dateIssued": TYPED_LITERAL, "validFrom": TYPED_LITERAL, "validTo": TYPED_LITERAL},
    "BikeHireDockingStation": {"observationDate": TYPED_LITERAL},
    "Building": {"address": POSTAL_ADDRESS},
    "BuildingOperation": {
        "dateFinished": TYPED_LITERAL,
        "dateStarted": TYPED_LITERAL,
        "endDate": TYPED_LITERAL,
        "startDate": TYPED_LITERAL,
    },
    "CarbonFootprint": {"emissionDate": TYPED_LITERAL},
    "CrowdFlowObserved": {
        "dateObserved": DATE_VS_INTERVAL,
        "dateObservedFrom": TYPED_LITERAL,
        "dateObservedTo": TYPED_LITERAL,
    },
    "Device": {"dateFirstUsed": TYPED_LITERAL},
    "DeviceMeasurement": {"owner": EMPTY_OWNER},
    "EVChargingStation": {
        "endDateTime": TYPED_LITERAL,
        "observationDateTime": TYPED_LITERAL,
        "startDateTime": TYPED_LITERAL,
    },
    "FloodMonitoring": {
        "alertLevel": OTHER_VALUES,
        "currentLevel": OTHER_VALUES,
        "dangerLevel": OTHER_VALUES,
        "measuredDistance": OTHER_VALUES,
    },
    "IssueReporting": {"observationDateTime": TYPED_LITERAL},
    "KeyPerformanceIndicator": {
        "address": POSTAL_ADDRESS_LEFT_OUT,
        "dateNextCalculation": TYPED_DATE_TIME_VS_DATE,
    },
    "NoiseLevelObserved": {"dateObservedFrom": TYPED_LITERAL, "dateObservedTo": TYPED_LITERAL},
    "RainFallRadarObserved": {
        "alternateName": ENCODING,
        "dateObserved": V2_TYPED_VALUE,
        "dateObservedFrom": V2_TYPED_VALUE,
        "dateObservedTo": V2_TYPED_VALUE,
    },
    "SolarEnergy": {
        "dateCreated": TYPED_LITERAL,
        "dateModified": TYPED_LITERAL,
        "observationDateTime": TYPED_LITERAL,
    },
    "Streetlight": {
        "dateLastLampChange": TYPED_LITERAL,
        "municipalityInfo": KEY_SPELLING,
        "observationDateTime": TYPED_LITERAL,
    },
    "StreetlightControlCabinet": {"dateLastProgramming": TYPED_LITERAL, "dateMeteringStarted": TYPED_LITERAL},
    "StreetlightFeeder": {"observationDateTime": TYPED_LITERAL},
    "StreetlightGroup": {"dateLastSwitchingOff": TYPED_LITERAL, "dateLastSwitchingOn": TYPED_LITERAL},
    "ThreePhaseAcMeasurement": {"dateEnergyMeteringStarted": TYPED_LITERAL},
    "TrafficFlowObserved": {
        "address": POSTAL_ADDRESS,
        "dateObserved": DATE_VS_INTERVAL,
        "dateObservedFrom": TYPED_LITERAL,
        "dateObservedTo": TYPED_LITERAL,
    },
    "WeatherAlert": {"dateIssued": TYPED_LITERAL, "validFrom": TYPED_LITERAL, "validTo": TYPED_LITERAL},
    "WeatherForecast": {
        "dateIssued": TYPED_LITERAL,
        "dateRetrieved": TYPED_LITERAL,
        "validFrom": TYPED_LITERAL,
        "validTo": TYPED_LITERAL,
        "windSpeed": OTHER_VALUES,
    },
    "WeatherObserved": {"dateObserved": TYPED_LITERAL},
}


# ----------------------------------------------------------------------------------------------------
# Where the keyValues retrieval of a normalized example fails the model's schema. smartby renders a
# Property's value as given (clause 4.5.4), so each of these is a fault of the upstream example.


@dataclass(frozen=True)
class SchemaFault:
    why: str
    holds: Callable[[Any, Callable[[Any], bool]], bool]
    """Given (the value, a check that a replacement value passes the schema): is this the fault?"""


TYPED_DATE = SchemaFault(
    "a JSON-LD typed literal {@type, @value} where the schema wants a string; its @value passes",
    lambda value, passes: (
        isinstance(value, dict) and set(value) == {"@type", "@value"} and passes(value["@value"])
    ),
)
TYPED_BAD_DATE = SchemaFault(
    "a JSON-LD typed literal {@type, @value} where the schema wants a string; its @value fails too",
    lambda value, passes: (
        isinstance(value, dict) and set(value) == {"@type", "@value"} and not passes(value["@value"])
    ),
)
V2_TYPED_DATE = SchemaFault(
    "an NGSI-v2 style {type, value} where the schema wants a string; its value passes",
    lambda value, passes: (
        isinstance(value, dict) and set(value) == {"type", "value"} and passes(value["value"])
    ),
)
OUT_OF_SCHEMA = SchemaFault(
    "a plain value the schema does not allow (range, type or format)",
    lambda value, passes: not isinstance(value, dict),
)

SCHEMA_FAULTS: dict[str, dict[str, SchemaFault]] = {
    "ACMeasurement": {"dateEnergyMeteringStarted": TYPED_DATE, "dateObserved": TYPED_BAD_DATE},
    "AirQualityForecast": {"validFrom": TYPED_DATE, "validTo": TYPED_DATE},
    # dateObserved has no UTC offset (in the key-values example too), windDirection is above the
    # schema's maximum of 180 and tsp is not an integer.
    "AirQualityObserved": {
        "dateObserved": OUT_OF_SCHEMA,
        "tsp": OUT_OF_SCHEMA,
        "windDirection": OUT_OF_SCHEMA,
    },
    "BuildingOperation": {
        "dateFinished": TYPED_DATE,
        "dateStarted": TYPED_DATE,
        "endDate": TYPED_DATE,
        "startDate": TYPED_DATE,
    },
    "CarbonFootprint": {"emissionDate": TYPED_DATE},
    "CrowdFlowObserved": {
        "dateObserved": TYPED_DATE,
        "dateObservedFrom": TYPED_DATE,
        "dateObservedTo": TYPED_DATE,
    },
    "Device": {"dateFirstUsed": TYPED_DATE},
    "EVChargingStation": {
        "endDateTime": TYPED_DATE,
        "observationDateTime": TYPED_DATE,
        "startDateTime": TYPED_DATE,
    },
    "IssueReporting": {"observationDateTime": TYPED_DATE},
    # The schema wants a date (format "date"); the typed literal holds a date-time.
    "KeyPerformanceIndicator": {"dateNextCalculation": TYPED_BAD_DATE},
    "NoiseLevelObserved": {"dateObservedFrom": TYPED_DATE, "dateObservedTo": TYPED_DATE},
    "RainFallRadarObserved": {
        "dateObserved": V2_TYPED_DATE,
        "dateObservedFrom": V2_TYPED_DATE,
        "dateObservedTo": V2_TYPED_DATE,
    },
    "SolarEnergy": {"dateCreated": TYPED_DATE, "dateModified": TYPED_DATE, "observationDateTime": TYPED_DATE},
    "Streetlight": {"dateLastLampChange": TYPED_DATE, "observationDateTime": TYPED_DATE},
    "StreetlightControlCabinet": {"dateLastProgramming": TYPED_DATE, "dateMeteringStarted": TYPED_DATE},
    "StreetlightFeeder": {"observationDateTime": TYPED_DATE},
    "StreetlightGroup": {"dateLastSwitchingOff": TYPED_DATE, "dateLastSwitchingOn": TYPED_DATE},
    "ThreePhaseAcMeasurement": {"dateEnergyMeteringStarted": TYPED_DATE},
    "TrafficFlowObserved": {
        "dateObserved": TYPED_DATE,
        "dateObservedFrom": TYPED_DATE,
        "dateObservedTo": TYPED_DATE,
    },
    "WeatherAlert": {"dateIssued": TYPED_DATE, "validFrom": TYPED_DATE, "validTo": TYPED_DATE},
    "WeatherForecast": {
        "dateIssued": TYPED_DATE,
        "dateRetrieved": TYPED_DATE,
        "validFrom": TYPED_DATE,
        "validTo": TYPED_DATE,
    },
    "WeatherObserved": {"dateObserved": TYPED_DATE},
}


# ----------------------------------------------------------------------------------------------------
# Helpers


def without_context(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "@context"}


VALUE_MEMBERS = {"Property": "value", "GeoProperty": "value", "Relationship": "object"}


def simplified(entity: dict[str, Any]) -> dict[str, Any]:
    """The simplified (keyValues) representation of a normalized entity, per clause 4.5.4."""
    out: dict[str, Any] = {}
    for name, member in entity.items():
        if name in ("id", "type", "scope"):
            out[name] = member
        else:
            out[name] = member[VALUE_MEMBERS[member["type"]]]
    return out


def entity_url(entity_id: str) -> str:
    return f"{V1}/entities/{quote(entity_id, safe='')}"


async def link_for(client: httpx.AsyncClient, context: Any) -> str:
    """A Link header for the example's @context: its one user context URL, or (for several, or an
    inline one) a context hosted by smartby that holds them."""
    items = context if isinstance(context, list) else [context]
    user = [item for item in items if not (isinstance(item, str) and item.startswith(CORE_CONTEXT_PREFIX))]
    if len(user) == 1 and isinstance(user[0], str):
        url = user[0]
    else:
        hosted = await client.post(
            f"{V1}/jsonldContexts", content=json.dumps({"@context": items}), headers=LD_JSON
        )
        assert hosted.status_code == 201, hosted.text
        url = hosted.headers["location"]
    return f'<{url}>; rel="{CONTEXT_REL}"; type="application/ld+json"'


async def create(client: httpx.AsyncClient, model: str) -> tuple[dict[str, Any], str]:
    """Create the model's (repaired) normalized example; give it back with a Link to its @context."""
    document = normalized_example(model)
    response = await client.post(f"{V1}/entities", content=json.dumps(document), headers=LD_JSON)
    assert response.status_code == 201, response.text
    return document, await link_for(client, document["@context"])


async def retrieve(client: httpx.AsyncClient, entity_id: str, link: str, **params: str) -> dict[str, Any]:
    response = await client.get(entity_url(entity_id), params=params, headers={"Link": link})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def schema_registry() -> Registry:
    """The schemas' `$ref` targets as local files: shared-schemas/ and every model's schema.json, under
    their smart-data-models.github.io URLs and the raw.githubusercontent.com aliases. Nothing else
    resolves, so validation never reaches the network."""
    files = {url: SMART_DATA_MODELS / "shared-schemas" / name for url, name in SHARED_SCHEMAS.items()}
    for model, folder in MODELS.items():
        files[f"{GITHUB_IO}{folder.parent.name}/{model}/schema.json"] = folder / "schema.json"
    resources: list[tuple[str, Resource]] = []
    for url, path in files.items():
        resource = Resource.from_contents(read(path), default_specification=DRAFT202012)
        repo, _, rest = url.removeprefix(GITHUB_IO).partition("/")
        resources += [(url, resource), (f"{RAW_GITHUB}{repo}/master/{rest}", resource)]
    return Registry().with_resources(resources)


REGISTRY = schema_registry()


def schema_validator(model: str) -> Validator:
    schema = read(MODELS[model] / "schema.json")
    cls = validator_for(schema)
    cls.check_schema(schema)
    checked = set(cls.FORMAT_CHECKER.checkers)
    assert {"date-time", "uri"} <= checked, "the format checks come with jsonschema[format-nongpl]"
    validator: Validator = cls(schema, registry=REGISTRY, format_checker=cls.FORMAT_CHECKER)
    return validator


def failing_members(validator: Validator, document: dict[str, Any]) -> dict[str, list[str]]:
    """The members of `document` the schema rejects ("" for the document as a whole), with why."""
    failing: dict[str, list[str]] = {}
    for error in validator.iter_errors(document):
        member = str(error.absolute_path[0]) if error.absolute_path else ""
        failing.setdefault(member, []).append(error.message)
    return failing


# ----------------------------------------------------------------------------------------------------
# Tests


def test_every_model_is_found() -> None:
    assert len(MODELS) == 34
    for folder in MODELS.values():
        assert (folder / "example.jsonld").is_file() and (folder / "schema.json").is_file()


def test_tables_name_known_models() -> None:
    for table in (REJECTED, KEY_VALUES_DISCREPANCIES, SCHEMA_FAULTS, MISSING_SHARED_SCHEMAS):
        assert set(table) <= set(MODELS)


def test_shared_schemas_are_where_the_registry_says() -> None:
    for url, name in SHARED_SCHEMAS.items():
        assert read(SMART_DATA_MODELS / "shared-schemas" / name)["$id"] == url
    assert {p.name for p in (SMART_DATA_MODELS / "shared-schemas").glob("*.json")} == set(
        SHARED_SCHEMAS.values()
    )


@pytest.mark.parametrize(
    ("model", "fault"),
    [(model, fault) for model, faults in REJECTED.items() for fault in faults],
    ids=lambda value: value if isinstance(value, str) else value.member,
)
async def test_invalid_upstream_example_is_rejected(
    client: httpx.AsyncClient, model: str, fault: Rejected
) -> None:
    original = read(MODELS[model] / "example-normalized.jsonld")
    others = [other for other in REJECTED[model] if other is not fault]
    document = with_repairs(original, others)
    response = await client.post(f"{V1}/entities", content=json.dumps(document), headers=LD_JSON)
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"] == ERRORS_BASE + "BadRequestData"
    assert fault.member in problem["detail"] and fault.detail in problem["detail"]
    assert (await client.get(entity_url(original["id"]))).status_code in (400, 404)


@pytest.mark.parametrize("model", sorted(MODELS))
async def test_normalized_round_trip(client: httpx.AsyncClient, model: str) -> None:
    document, link = await create(client, model)
    assert await retrieve(client, document["id"], link) == without_context(document)


@pytest.mark.parametrize("model", sorted(MODELS))
async def test_key_values(client: httpx.AsyncClient, model: str) -> None:
    document, link = await create(client, model)
    ours = await retrieve(client, document["id"], link, options="keyValues")
    assert ours == simplified(without_context(document))
    theirs = read(MODELS[model] / "example.jsonld")
    common = (set(ours) & set(theirs)) - {"id"}
    assert "type" in common
    differing = {name for name in common if ours[name] != theirs[name]}
    known = KEY_VALUES_DISCREPANCIES.get(model, {})
    assert differing == set(known)
    for name, discrepancy in known.items():
        assert discrepancy.holds(ours[name], theirs[name]), f"{name}: {discrepancy.why}"


@pytest.mark.parametrize("model", sorted(MODELS))
async def test_key_values_match_the_schema(client: httpx.AsyncClient, model: str) -> None:
    document, link = await create(client, model)
    ours = await retrieve(client, document["id"], link, options="keyValues")
    validator = schema_validator(model)
    missing = MISSING_SHARED_SCHEMAS.get(model)
    if missing is not None:
        assert missing not in SHARED_SCHEMAS
        with pytest.raises(Unresolvable) as unresolvable:
            failing_members(validator, ours)
        assert unresolvable.value.ref.partition("#")[0] == missing
        pytest.xfail(f"the schema needs {missing}, which the shared data does not hold")
    failing = failing_members(validator, ours)
    faults = SCHEMA_FAULTS.get(model, {})
    assert set(failing) == set(faults), failing
    for name, fault in faults.items():

        def passes(replacement: Any, name: str = name) -> bool:
            return name not in failing_members(validator, {**ours, name: replacement})

        assert fault.holds(ours[name], passes), f"{name}: {fault.why}: {failing[name]}"
