"""ETSI NGSI-LD conformance: TP/NGSI-LD/ContextInformation/Provision/Entities/CreateEntity."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import (
    ENTITIES,
    JSON,
    LD,
    SUITE,
    SUITE_CONTEXT,
    create,
    created,
    ld,
    new_id,
    problem,
    query,
    retrieve,
    vehicle,
)


async def test_001_01_create_then_retrieve(client: httpx.AsyncClient) -> None:
    """001_01: a created entity is retrievable, with a Location naming it."""
    entity = vehicle()
    response = await create(client, entity)
    assert response.status_code == 201
    assert entity["id"] in response.headers["location"]
    got = await retrieve(client, entity["id"])
    assert got.status_code == 200
    assert got.json() == entity


@pytest.mark.parametrize(
    ("case", "body", "error"),
    [
        ("001_02_01 InvalidJson", b'{"id": "urn:ngsi-ld:Building:1", "type":', "InvalidRequest"),
        ("001_02_02 EmptyJson", b"", "InvalidRequest"),
        (
            "001_02_03 EntityWithNoContext",
            b'{"id": "urn:ngsi-ld:Building:1", "type": "Building"}',
            "BadRequestData",
        ),
        (
            "001_02_04 EntityWithInvalidType",
            b'{"id": "urn:ngsi-ld:Building:1", "type": "Bui lding", "@context": []}',
            "BadRequestData",
        ),
    ],
)
async def test_001_02_invalid_requests(client: httpx.AsyncClient, case: str, body: bytes, error: str) -> None:
    problem(await client.post(ENTITIES, content=body, headers=LD), 400, error)


async def test_001_03_already_exists(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    await created(client, entity)
    problem(await create(client, entity), 409, "AlreadyExists")


@pytest.mark.parametrize(
    ("case", "attribute"),
    [
        ("402_01_01 Property without value", {"type": "Property"}),
        ("402_01_02 Relationship without object", {"type": "Relationship"}),
        ("402_01_03 bare JSON null value", {"type": "Property", "value": None}),
        ("402_01_04 LanguageProperty without languageMap", {"type": "LanguageProperty"}),
    ],
)
async def test_402_01_meta_model(client: httpx.AsyncClient, case: str, attribute: dict[str, Any]) -> None:
    problem(await create(client, vehicle(probe=attribute)), 400, "BadRequestData")


async def test_404_01_01_json_ld_keywords_in_and_aliases_out(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    body = {"@id": entity_id, "@type": "Vehicle", "speed": {"type": "Property", "value": 42}}
    assert (await create(client, body)).status_code == 201
    got = (await retrieve(client, entity_id)).json()
    assert got["id"] == entity_id and got["type"] == "Vehicle"
    assert "@id" not in got and "@type" not in got


async def test_404_01_02_user_context_cannot_redefine_core_terms(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    context = [{"Property": "https://evil.example/Property"}, SUITE_CONTEXT]
    response = await client.post(ENTITIES, json=ld(entity, context), headers=LD)
    assert response.status_code == 201
    assert (await retrieve(client, entity["id"])).json()["speed"]["type"] == "Property"


@pytest.mark.parametrize(
    ("case", "observed_at"),
    [
        ("408_01_01 not a date-time", "yesterday"),
        ("408_01_02 offset instead of Z", "2026-08-10T12:00:00+02:00"),
        ("408_01_03 reified", {"type": "Property", "value": "2026-08-10T12:00:00Z"}),
    ],
)
async def test_408_01_observed_at_is_a_utc_date_time(
    client: httpx.AsyncClient, case: str, observed_at: Any
) -> None:
    """408_01 and 463_01_03: observedAt is a UTC DateTime string ending in Z."""
    speed = {"type": "Property", "value": 3, "observedAt": observed_at}
    entity = vehicle(speed=speed)
    problem(await create(client, entity), 400, "BadRequestData")
    assert (await retrieve(client, entity["id"])).status_code == 404


@pytest.mark.parametrize(
    ("case", "scope", "status"),
    [
        ("418_01_01 level starting with a digit", "9bad", 400),
        ("418_01_02 empty level", "/a//b", 400),
        ("418_01_03 dash in a level", "a-b", 400),
        ("418_01_03 dash in a level (with /)", "/a-b", 400),
        ("418_01_04 the NGSI-LD Null", "urn:ngsi-ld:null", 400),
        ("418_01_05 one bad entry in an array", ["/ok", "9bad"], 400),
        ("418_01_06 the clause example", "/Madrid/Gardens/ParqueNorte", 201),
    ],
)
async def test_418_01_scope_grammar(client: httpx.AsyncClient, case: str, scope: Any, status: int) -> None:
    body = {"id": new_id("Building"), "type": "Building", "scope": scope}
    response = await client.post(ENTITIES, json=body, headers=JSON)
    if status == 400:
        problem(response, 400, "BadRequestData")
    else:
        assert response.status_code == 201


@pytest.mark.parametrize(
    ("case", "attributes"),
    [
        ("451_01_01 datasetId as attribute name", {"datasetId": {"type": "Property", "value": 1}}),
        ("451_01_02 instanceId as attribute name", {"instanceId": {"type": "Property", "value": 1}}),
        (
            "451_01_03 observedAt as attribute name",
            {"observedAt": {"type": "Property", "value": "2026-01-01T00:00:00Z"}},
        ),
        (
            "451_01_04 @context embedded in an attribute",
            {"speed": {"type": "Property", "value": 1, "@context": {"speed": "https://evil.example/speed"}}},
        ),
    ],
)
async def test_451_01_entity_representation_prohibitions(
    client: httpx.AsyncClient, case: str, attributes: dict[str, Any]
) -> None:
    body = {"id": new_id(), "type": "Vehicle", **attributes}
    problem(await create(client, body), 400, "BadRequestData")


@pytest.mark.parametrize(
    "codepoint",
    [
        0x202E,
        0x200B,
        0xFEFF,
        0x2028,
        0x00A0,
        0x003C,
        0xFE0F,
        0xE0100,
        0xFDD0,
        0xFFFE,
        0x115F,
        0x3164,
        0xFFA0,
        0x2800,
    ],
)
async def test_451_02_entity_id_with_invisible_codepoint(client: httpx.AsyncClient, codepoint: int) -> None:
    """451_02_01..15 (but 07): an id carrying an invisible or markup character is not a URI."""
    body = {"id": f"urn:ngsi-ld:Vehicle:A{chr(codepoint)}B", "type": "Vehicle"}
    problem(await create(client, body), 400, "BadRequestData")


async def test_451_02_07_iri_relationship_object_is_accepted(client: httpx.AsyncClient) -> None:
    target = "urn:ngsi-ld:Ciudad:Par" + chr(0xED) + "s"
    entity = vehicle(isParked={"type": "Relationship", "object": target})
    assert (await create(client, entity)).status_code == 201
    assert (await retrieve(client, entity["id"])).json()["isParked"]["object"] == target


async def test_4522_01_01_object_list_entry_forms(client: httpx.AsyncClient) -> None:
    route = {
        "type": "ListRelationship",
        "objectList": ["urn:ngsi-ld:Road:1", {"object": "urn:ngsi-ld:Road:2"}],
    }
    entity = vehicle(route=route)
    await created(client, entity)
    got = (await retrieve(client, entity["id"])).json()["route"]
    assert got == {
        "type": "ListRelationship",
        "objectList": [{"object": "urn:ngsi-ld:Road:1"}, {"object": "urn:ngsi-ld:Road:2"}],
    }


@pytest.mark.parametrize(
    ("case", "attributes"),
    [
        (
            "4522_01_02 non-URI objectList entry",
            {"route": {"type": "ListRelationship", "objectList": ["not a uri"]}},
        ),
        (
            "4522_01_03 ListProperty with a value",
            {"tyreTreadDepths": {"type": "ListProperty", "valueList": [1.2], "value": 3}},
        ),
        (
            "4524_01_02 JsonProperty with unitCode",
            {"tickets": {"type": "JsonProperty", "json": {"a": 1}, "unitCode": "MTR"}},
        ),
        (
            "4524_01_03 JsonProperty with a value",
            {"tickets": {"type": "JsonProperty", "json": {"a": 1}, "value": 1}},
        ),
        ("4524_01_04 scalar json", {"tickets": {"type": "JsonProperty", "json": 5}}),
        (
            "452_01_01 Property with object",
            {"speed": {"type": "Property", "value": 1, "object": "urn:ngsi-ld:O:1"}},
        ),
        (
            "452_01_02 Property with languageMap",
            {"speed": {"type": "Property", "value": 1, "languageMap": {"en": "x"}}},
        ),
        (
            "452_01_03 Property with valueList",
            {"speed": {"type": "Property", "value": 1, "valueList": [1, 2]}},
        ),
        (
            "452_01_04 Property with previousValue",
            {"speed": {"type": "Property", "value": 1, "previousValue": 0}},
        ),
        (
            "452_01_05 Property with entityIdSealed",
            {"speed": {"type": "Property", "value": 1, "entityIdSealed": "x"}},
        ),
        (
            "453_01_01 Relationship with unitCode",
            {
                "isParked": {
                    "type": "Relationship",
                    "object": "urn:ngsi-ld:OffStreetParking:1",
                    "unitCode": "MTR",
                }
            },
        ),
        (
            "453_01_02 Relationship with a value",
            {"isParked": {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:1", "value": 42}},
        ),
        (
            "453_01_03 Relationship with a languageMap",
            {"isParked": {"type": "Relationship", "object": "urn:ngsi-ld:P:1", "languageMap": {"en": "x"}}},
        ),
        (
            "453_01_04 Relationship with previousObject",
            {
                "isParked": {
                    "type": "Relationship",
                    "object": "urn:ngsi-ld:P:1",
                    "previousObject": "urn:ngsi-ld:P:0",
                }
            },
        ),
        (
            "455_01_02 two default instances",
            {
                "speed": [
                    {"type": "Property", "value": 55},
                    {"type": "Property", "value": 11, "datasetId": "@none"},
                ]
            },
        ),
        (
            "455_01_03 duplicate datasetId",
            {
                "speed": [
                    {"type": "Property", "value": 55, "datasetId": "urn:ngsi-ld:Dataset:a"},
                    {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:a"},
                ]
            },
        ),
        ("462_01_01 name with a space", {"my attr": {"type": "Property", "value": 1}}),
        (
            "463_01_01 GeometryCollection",
            {
                "location": {
                    "type": "GeoProperty",
                    "value": {
                        "type": "GeometryCollection",
                        "geometries": [{"type": "Point", "coordinates": [17.1, 48.7]}],
                    },
                }
            },
        ),
        (
            "465_01_02 languageMap null encoding on create",
            {"brandName": {"type": "LanguageProperty", "languageMap": {"@none": "urn:ngsi-ld:null"}}},
        ),
        (
            "465_01_03 non-string languageMap value",
            {"brandName": {"type": "LanguageProperty", "languageMap": {"en": 5}}},
        ),
        (
            "471_01_02 unparseable string geometry",
            {"location": {"type": "GeoProperty", "value": "not a geometry"}},
        ),
        ("471_01_03 location as a plain Property", {"location": {"type": "Property", "value": 7}}),
        ("521_01_01 null Property value", {"probe": {"type": "Property", "value": "urn:ngsi-ld:null"}}),
        (
            "521_01_02 null Relationship object",
            {"probe": {"type": "Relationship", "object": "urn:ngsi-ld:null"}},
        ),
        (
            "521_01_03 null sub-attribute value",
            {
                "probe": {
                    "type": "Property",
                    "value": 1,
                    "sub": {"type": "Property", "value": "urn:ngsi-ld:null"},
                }
            },
        ),
        (
            "5232_01_02 LanguageProperty valueType other than langString",
            {"probe": {"type": "LanguageProperty", "languageMap": {"en": "x"}, "valueType": "xsd:string"}},
        ),
        (
            "5232_01_04 mixed-type array",
            {"probe": {"type": "LanguageProperty", "languageMap": {"en": ["a", 5]}}},
        ),
        ("5232_01_05 empty language tag", {"probe": {"type": "LanguageProperty", "languageMap": {"": "x"}}}),
        ("554_01_01 first-level null scope", {"scope": "urn:ngsi-ld:null"}),
        (
            "554_01_02 null inside a compound value",
            {"address": {"type": "Property", "value": {"country": "urn:ngsi-ld:null"}}},
        ),
        (
            "554_01_02 null deeper inside a compound value",
            {"address": {"type": "Property", "value": {"geo": {"country": "urn:ngsi-ld:null"}}}},
        ),
    ],
)
async def test_invalid_attribute_content(
    client: httpx.AsyncClient, case: str, attributes: dict[str, Any]
) -> None:
    """Invalid content is BadRequestData, and nothing is created."""
    entity_id = new_id()
    problem(await create(client, {"id": entity_id, "type": "Vehicle", **attributes}), 400, "BadRequestData")
    assert (await retrieve(client, entity_id)).status_code == 404


async def test_4524_01_01_concise_json_property_kept_verbatim(client: httpx.AsyncClient) -> None:
    raw = {"speed": 3, "brandName": "x", "type": "raw"}
    entity = vehicle(tickets={"json": raw})
    await created(client, entity)
    tickets = (await retrieve(client, entity["id"])).json()["tickets"]
    assert tickets == {"type": "JsonProperty", "json": raw}


@pytest.mark.parametrize(
    ("case", "member", "status"),
    [
        ("452_01_06 Property with a legal valueType", {"valueType": "xsd:double"}, 201),
        ("453_01_05 Relationship with a legal objectType", {"objectType": "OffStreetParking"}, 201),
    ],
)
async def test_legal_optional_members(
    client: httpx.AsyncClient, case: str, member: dict[str, Any], status: int
) -> None:
    if "objectType" in member:
        attribute = {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:1", **member}
        name = "isParked"
    else:
        attribute = {"type": "Property", "value": 1, **member}
        name = "speed"
    entity = vehicle(**{name: attribute})
    assert (await create(client, entity)).status_code == status
    got = (await retrieve(client, entity["id"])).json()[name]
    assert got == attribute


async def test_452_02_concise_creation_round_trips(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    body = {
        "id": entity_id,
        "type": "Vehicle",
        "speed": 55,
        "location": {"type": "Point", "coordinates": [8.0, 49.0]},
        "area": {"value": {"type": "Point", "coordinates": [1.0, 2.0]}},
        "brandName": {"value": "Volvo", "observedAt": "2026-01-01T00:00:00Z"},
        "isParked": {"object": "urn:ngsi-ld:OffStreetParking:1"},
    }
    await created(client, body)
    got = (await retrieve(client, entity_id)).json()
    assert got["speed"] == {"type": "Property", "value": 55}
    assert got["location"]["type"] == "GeoProperty"
    assert got["area"]["type"] == "GeoProperty"
    assert got["brandName"] == {"type": "Property", "value": "Volvo", "observedAt": "2026-01-01T00:00:00Z"}
    assert got["isParked"]["type"] == "Relationship"


PROOF = {
    "type": "DataIntegrityProof",
    "created": "2025-01-27T21:02:24Z",
    "cryptosuite": "eddsa-rdfc-2022",
    "proofPurpose": "assertionMethod",
    "proofValue": "zQeVbY4oey5q2M3XKaxup3tmzN4DRFTLVqpLMweBrSxMY",
}


async def test_452_03_01_ngsildproof_round_trips(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    proof = {"type": "Property", "entityIdSealed": entity_id, "entityTypeSealed": "Vehicle", "value": PROOF}
    await created(client, {"id": entity_id, "type": "Vehicle", "ngsildproof": proof})
    got = (await retrieve(client, entity_id)).json()["ngsildproof"]
    assert got == proof


@pytest.mark.parametrize(
    ("case", "attributes"),
    [
        (
            "452_03_02 sealed member outside ngsildproof",
            {"speed": {"type": "Property", "value": 1, "entityIdSealed": "x"}},
        ),
        (
            "452_03_03 a proof value that is not an object",
            {"ngsildproof": {"type": "Property", "value": "not-a-proof"}},
        ),
        (
            "452_03_03 a sealed type that is not a string",
            {
                "ngsildproof": {
                    "type": "Property",
                    "value": {"type": "DataIntegrityProof"},
                    "entityTypeSealed": 42,
                }
            },
        ),
    ],
)
async def test_452_03_invalid_proofs(
    client: httpx.AsyncClient, case: str, attributes: dict[str, Any]
) -> None:
    entity_id = new_id()
    problem(await create(client, {"id": entity_id, "type": "Vehicle", **attributes}), 400, "BadRequestData")
    assert (await retrieve(client, entity_id)).status_code == 404


async def test_455_01_01_none_dataset_id_is_the_default_instance(client: httpx.AsyncClient) -> None:
    speed = [
        {"type": "Property", "value": 55, "datasetId": "@none"},
        {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"},
    ]
    entity = vehicle(speed=speed)
    await created(client, entity)
    got = (await retrieve(client, entity["id"])).json()["speed"]
    assert {"type": "Property", "value": 55} in got
    assert {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"} in got
    assert "@none" not in str(got)


async def test_461_01_utf8_round_trips(client: httpx.AsyncClient) -> None:
    text = "žltý kôň — 100 €"
    entity = vehicle(brandName={"type": "Property", "value": text})
    await created(client, entity)
    response = await retrieve(client, entity["id"])
    assert response.json()["brandName"]["value"] == text
    assert "\ufffd" not in response.content.decode("utf-8")


async def test_462_01_02_type_starting_with_a_digit(client: httpx.AsyncClient) -> None:
    problem(await create(client, {"id": new_id(), "type": "9Vehicle"}), 400, "BadRequestData")


async def test_462_01_03_unicode_letter_names(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    await created(client, {"id": entity_id, "type": "Škola", "výška_1": {"type": "Property", "value": 7}})
    got = (await retrieve(client, entity_id)).json()
    assert got["výška_1"]["value"] == 7


async def test_463_01_02_point_round_trips(client: httpx.AsyncClient) -> None:
    point = {"type": "Point", "coordinates": [17.1, 48.7]}
    entity = vehicle(location={"type": "GeoProperty", "value": point})
    await created(client, entity)
    assert (await retrieve(client, entity["id"])).json()["location"]["value"] == point


async def test_464_01_script_characters_round_trip(client: httpx.AsyncClient) -> None:
    text = "<script>alert('x')</script> \"q\" = ; ( )"
    entity = vehicle(note={"type": "Property", "value": text})
    await created(client, entity)
    response = await retrieve(client, entity["id"])
    assert response.json()["note"]["value"] == text
    assert "&lt;" not in response.text and "\\u003c" not in response.text


async def test_465_01_01_language_map_values_round_trip(client: httpx.AsyncClient) -> None:
    language_map = {"sk": "škola", "en": ["school", "academy"], "@none": "default"}
    entity = vehicle(brandName={"type": "LanguageProperty", "languageMap": language_map})
    await created(client, entity)
    response = await retrieve(client, entity["id"])
    assert response.json()["brandName"]["languageMap"] == language_map


async def test_471_01_01_string_encoded_geometry(client: httpx.AsyncClient) -> None:
    entity = vehicle(
        location={"type": "GeoProperty", "value": '{"type": "Point", "coordinates": [17.1, 48.7]}'}
    )
    await created(client, entity)
    value = (await retrieve(client, entity["id"])).json()["location"]["value"]
    assert value == {"type": "Point", "coordinates": [17.1, 48.7]}


async def test_5232_01_01_language_property_with_lang_string(client: httpx.AsyncClient) -> None:
    probe = {
        "type": "LanguageProperty",
        "languageMap": {"en": "hello", "sk": ["ahoj", "servus"]},
        "valueType": "langString",
    }
    entity_id = new_id("Building")
    response = await client.post(
        ENTITIES, json={"id": entity_id, "type": "Building", "probe": probe}, headers=JSON
    )
    assert response.status_code == 201
    assert (await client.get(f"{ENTITIES}/{entity_id}")).json()["probe"] == probe


async def test_554_01_01_null_uri_is_no_entity_id(client: httpx.AsyncClient) -> None:
    problem(await create(client, {"id": "urn:ngsi-ld:null", "type": "Vehicle"}), 400, "BadRequestData")


async def test_555_01_no_context_input_gets_the_core_context(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    body = {
        "id": entity_id,
        "type": "Vehicle",
        "temperature": {"type": "Property", "value": 21},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [17.6, 48.7]}},
    }
    assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201
    response = await client.get(f"{ENTITIES}/{entity_id}", headers={"Accept": "application/ld+json"})
    got = response.json()
    assert "ngsi-ld-core-context" in got["@context"]
    assert got["temperature"]["value"] == 21
    assert got["location"]["type"] == "GeoProperty"
    assert "default-context/temperature" not in response.text
    assert "default-context/location" not in response.text


async def test_557_01_01_scoped_context_is_rejected(client: httpx.AsyncClient) -> None:
    entity_id = new_id()
    context = [
        {"Vehicle": {"@id": "https://example.org/Vehicle", "@context": {"speed": "https://example.org/s"}}}
    ]
    response = await client.post(ENTITIES, json=ld({"id": entity_id, "type": "Vehicle"}, context), headers=LD)
    problem(response, 400, "BadRequestData")
    assert (await client.get(f"{ENTITIES}/{entity_id}")).status_code == 404


async def test_557_01_02_query_uses_the_context_of_each_request(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    await created(client, entity)
    found = await query(client, type="Vehicle")
    assert entity["id"] in [e["id"] for e in found.json()]
    core_only = await client.get(ENTITIES, params={"type": "Vehicle"})
    assert core_only.status_code == 200
    assert entity["id"] not in [e["id"] for e in core_only.json()]


async def test_557_01_03_unmatched_uri_compacts_to_the_full_name(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    await created(client, entity)
    got = (await client.get(f"{ENTITIES}/{entity['id']}")).json()
    assert got["type"] == SUITE + "Vehicle"
    assert SUITE + "speed" in got


def _building_samples() -> list[tuple[str, dict[str, Any]]]:
    point = {"type": "Point", "coordinates": [13.3986, 52.5547]}
    return [
        (
            "001_01_02 simple properties",
            {
                "name": {"type": "Property", "value": "Eiffel Tower"},
                "almostFull": {"type": "Property", "value": False},
            },
        ),
        (
            "001_01_03 relationship of a property",
            {
                "airQualityLevel": {
                    "type": "Property",
                    "value": 4,
                    "unitCode": "C62",
                    "observedAt": "2020-09-09T16:40:00.000Z",
                    "hasWeatherObserved": {"type": "Relationship", "object": "urn:ngsi-ld:Sensor:43a1af27"},
                }
            },
        ),
        ("001_01_04 location", {"location": {"type": "GeoProperty", "value": point}}),
        ("001_01_05 non-core GeoProperty", {"entrance": {"type": "GeoProperty", "value": point}}),
        (
            "001_10_01 LanguageProperty",
            {
                "street": {
                    "type": "LanguageProperty",
                    "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"},
                }
            },
        ),
        ("001_12 observationSpace", {"observationSpace": {"type": "GeoProperty", "value": point}}),
        ("001_13 operationSpace", {"operationSpace": {"type": "GeoProperty", "value": point}}),
        (
            "001_14_01 JsonProperty object",
            {"jsonProperty": {"type": "JsonProperty", "json": {"id": "x", "anythingElse": 1}}},
        ),
        (
            "001_14_02 JsonProperty array",
            {"jsonProperty": {"type": "JsonProperty", "json": [{"id": "some-id-1"}, {"id": "some-id-2"}]}},
        ),
        ("001_15_01 VocabProperty string", {"vocabProperty": {"type": "VocabProperty", "vocab": "monument"}}),
        (
            "001_15_02 VocabProperty array",
            {"vocabProperty": {"type": "VocabProperty", "vocab": ["monument", "sightseeing"]}},
        ),
    ]


@pytest.mark.parametrize(("case", "attributes"), _building_samples())
async def test_001_create_entity_scenarios(
    client: httpx.AsyncClient, case: str, attributes: dict[str, Any]
) -> None:
    """001_01, 001_10, 001_12-15: created as JSON-LD, retrieved as JSON-LD with the same @context."""
    entity_id = new_id("Building")
    entity = {"id": entity_id, "type": "Building", **attributes}
    response = await create(client, entity)
    assert response.status_code == 201 and response.content == b""
    assert entity_id in response.headers["location"]
    got = (await retrieve(client, entity_id, headers={"Accept": "application/ld+json"})).json()
    assert got == {**entity, "@context": SUITE_CONTEXT}


async def test_001_01_01_minimal_entity_as_json(client: httpx.AsyncClient) -> None:
    entity = {"id": new_id("Building"), "type": "Building"}
    assert (await client.post(ENTITIES, json=entity, headers=JSON)).status_code == 201
    assert (
        await client.get(f"{ENTITIES}/{entity['id']}", headers={"Accept": "application/json"})
    ).json() == entity


@pytest.mark.parametrize(
    ("case", "scope"),
    [
        ("001_11_01 one scope", "/Madrid/Gardens/ParqueNorte"),
        ("001_11_02 many scopes", ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]),
    ],
)
async def test_001_11_scopes(client: httpx.AsyncClient, case: str, scope: Any) -> None:
    entity = {"id": new_id("Building"), "type": "Building", "scope": scope}
    assert (await client.post(ENTITIES, json=entity, headers=JSON)).status_code == 201
    assert (await client.get(f"{ENTITIES}/{entity['id']}")).json() == entity


ALMOST_FULL = {"almostFull": {"type": "Property", "value": False}}


async def test_001_04_context_from_the_link_header(client: httpx.AsyncClient) -> None:
    entity = {"id": new_id("Building"), "type": "Building", **ALMOST_FULL}
    linked = {
        **JSON,
        "Link": f'<{SUITE_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"',
    }
    assert (await client.post(ENTITIES, json=entity, headers=linked)).status_code == 201
    assert "almostFull" in (await retrieve(client, entity["id"])).json()
    assert SUITE + "almostFull" in (await client.get(f"{ENTITIES}/{entity['id']}")).json()


async def test_001_05_default_context_without_link(client: httpx.AsyncClient) -> None:
    entity = {"id": new_id("Building"), "type": "Building", **ALMOST_FULL}
    assert (await client.post(ENTITIES, json=entity, headers=JSON)).status_code == 201
    assert "almostFull" in (await client.get(f"{ENTITIES}/{entity['id']}")).json()
    got = (await retrieve(client, entity["id"], headers={"Accept": "application/json"})).json()
    assert "ngsi-ld:default-context/almostFull" in got


async def test_001_06_context_in_a_json_body(client: httpx.AsyncClient) -> None:
    problem(await client.post(ENTITIES, json=ld(vehicle()), headers=JSON), 400, "BadRequestData")


async def test_001_07_context_from_the_json_ld_body(client: httpx.AsyncClient) -> None:
    entity = {"id": new_id("Building"), "type": "Building", **ALMOST_FULL}
    await created(client, entity)
    assert "almostFull" in (await retrieve(client, entity["id"])).json()
    assert SUITE + "almostFull" in (await client.get(f"{ENTITIES}/{entity['id']}")).json()


async def test_001_08_json_ld_body_without_context(client: httpx.AsyncClient) -> None:
    problem(await client.post(ENTITIES, json=vehicle(), headers=LD), 400, "BadRequestData")


async def test_001_09_json_ld_body_with_a_link_header(client: httpx.AsyncClient) -> None:
    linked = {
        **LD,
        "Link": f'<{SUITE_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"',
    }
    problem(await client.post(ENTITIES, json=ld(vehicle()), headers=linked), 400, "BadRequestData")
