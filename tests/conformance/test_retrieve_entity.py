"""ETSI NGSI-LD conformance: TP/NGSI-LD/ContextInformation/Consumption/Entity/RetrieveEntity."""

from __future__ import annotations

from typing import Any

import etsi
import httpx
import pytest
from etsi import ENTITIES, LD, SUITE, building, created, ld, new_id, problem, query, retrieve, vehicle

GEO = {"Accept": "application/geo+json"}


async def test_018_01_not_found(client: httpx.AsyncClient) -> None:
    problem(await retrieve(client, new_id()), 404, "ResourceNotFound")


async def test_018_invalid_id(client: httpx.AsyncClient) -> None:
    problem(await retrieve(client, "not-a-uri"), 400, "BadRequestData")


async def test_018_attrs_and_sys_attrs(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    await created(client, entity)
    picked = (await retrieve(client, entity["id"], attrs="brandName")).json()
    assert set(picked) == {"id", "type", "brandName"}
    with_sys = (await retrieve(client, entity["id"], options="sysAttrs")).json()
    assert with_sys["createdAt"].endswith("Z") and with_sys["speed"]["modifiedAt"].endswith("Z")
    assert "createdAt" not in (await retrieve(client, entity["id"])).json()


@pytest.fixture
async def streets(client: httpx.AsyncClient) -> dict[str, str]:
    plain = building(
        street={"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}}
    )
    regional = building(
        street={"type": "LanguageProperty", "languageMap": {"de": "Hauptplatz", "en-US": "Main Square"}}
    )
    await created(client, plain)
    await created(client, regional)
    return {"plain": plain["id"], "regional": regional["id"]}


@pytest.mark.parametrize(
    ("case", "which", "lang", "expected_lang", "expected_value"),
    [
        ("415_01_01 q-values outrank list position", "plain", "fr;q=0.2,nl;q=0.9", "nl", "Grote Markt"),
        ("415_01_02 tags compare case-insensitively", "plain", "FR", "fr", "Grand Place"),
        ("415_01_03 a longer range truncates", "plain", "nl-BE", "nl", "Grote Markt"),
        ("415_01_04 a shorter range matches a longer tag", "regional", "en", "en-US", "Main Square"),
        ("415_01_05 no match falls back to any language", "plain", "pt", None, None),
    ],
)
async def test_415_01_language_filter(
    client: httpx.AsyncClient,
    streets: dict[str, str],
    case: str,
    which: str,
    lang: str,
    expected_lang: str | None,
    expected_value: str | None,
) -> None:
    response = await retrieve(client, streets[which], lang=lang, headers={"Accept": "application/ld+json"})
    street = response.json()["street"]
    assert street["type"] == "Property"
    assert "languageMap" not in street
    if expected_lang is None:
        assert street["lang"] in ("fr", "nl")
        assert street["value"] in ("Grand Place", "Grote Markt")
    else:
        assert (street["lang"], street["value"]) == (expected_lang, expected_value)


async def test_421_01_pick_with_pipe_or_comma(client: httpx.AsyncClient) -> None:
    entity = building()
    await created(client, entity)
    comma = await retrieve(client, entity["id"], pick="name,airQualityLevel")
    pipe = await retrieve(client, entity["id"], pick="name|airQualityLevel")
    assert comma.status_code == pipe.status_code == 200
    assert comma.json() == pipe.json()
    assert "name" in pipe.json() and "subCategory" not in pipe.json()
    problem(await retrieve(client, entity["id"], pick="name||airQualityLevel"), 400, "BadRequestData")


async def test_4516_01_01_feature_with_default_instance_geometry(client: httpx.AsyncClient) -> None:
    location = [
        {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [9.0, 9.0]},
            "datasetId": "urn:ngsi-ld:Dataset:gps",
        },
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}},
    ]
    entity = vehicle(location=location)
    await created(client, entity)
    response = await retrieve(client, entity["id"], headers=GEO)
    assert response.headers["content-type"].startswith("application/geo+json")
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == entity["id"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert feature["properties"]["type"] == "Vehicle"
    assert "id" not in feature["properties"] and "speed" in feature["properties"]


async def test_4516_01_02_no_geometry_is_null(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    await created(client, entity)
    assert (await retrieve(client, entity["id"], headers=GEO, geometryProperty="speed")).json()[
        "geometry"
    ] is None
    assert (await retrieve(client, entity["id"], headers=GEO)).json()["geometry"] is None


async def test_4516_01_03_feature_collection(client: httpx.AsyncClient) -> None:
    entity = vehicle(location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}})
    await created(client, entity)
    body = (await query(client, type="Vehicle", id=entity["id"], headers=GEO)).json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 1
    assert body["features"][0]["type"] == "Feature" and "@context" not in body["features"][0]


async def test_4517_01_simplified_feature(client: httpx.AsyncClient) -> None:
    location = [
        {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [9.0, 9.0]},
            "datasetId": "urn:ngsi-ld:Dataset:gps",
        },
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [3.0, 4.0]}},
    ]
    entity = vehicle(location=location, speed={"type": "Property", "value": 5})
    await created(client, entity)
    feature = (await retrieve(client, entity["id"], headers=GEO, options="keyValues")).json()
    assert feature["geometry"] == {"type": "Point", "coordinates": [3.0, 4.0]}
    assert feature["properties"]["speed"] == 5
    assert sorted(feature["properties"]["location"]["dataset"]) == ["@none", "urn:ngsi-ld:Dataset:gps"]


async def test_454_01_simplified_representation_per_type(client: httpx.AsyncClient) -> None:
    attributes: dict[str, Any] = {
        "speed": [
            {"type": "Property", "value": 55},
            {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"},
        ],
        "brandName": {"type": "LanguageProperty", "languageMap": {"en": "hi"}},
        "street": {"type": "JsonProperty", "json": {"a": 1}},
        "category": {"type": "VocabProperty", "vocab": "non-commercial"},
        "tyreTreadDepths": {"type": "ListProperty", "valueList": [1.2, 3.4]},
        "isParked": {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:1"},
        "route": {"type": "ListRelationship", "objectList": ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"]},
    }
    entity = vehicle(**attributes)
    await created(client, entity)
    body = (await retrieve(client, entity["id"], options="keyValues")).json()
    assert body["brandName"] == {"languageMap": {"en": "hi"}}
    assert body["street"] == {"json": {"a": 1}}
    assert body["category"] == {"vocab": "non-commercial"}
    assert body["tyreTreadDepths"] == [1.2, 3.4]
    assert body["isParked"] == "urn:ngsi-ld:OffStreetParking:1"
    assert body["route"] == ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"]
    assert body["speed"] == {"dataset": {"@none": 55, "urn:ngsi-ld:Dataset:gps": 11}}


async def test_5711_01_01_type_selector(client: httpx.AsyncClient) -> None:
    entity = building()
    await created(client, entity)
    problem(await retrieve(client, entity["id"], type="Vehicle"), 404, "ResourceNotFound")
    assert (await retrieve(client, entity["id"], type="Building")).status_code == 200


async def test_5711_01_02_geometry_property_needs_geojson(client: httpx.AsyncClient) -> None:
    entity = building()
    await created(client, entity)
    ld_accept = {"Accept": "application/ld+json"}
    problem(
        await retrieve(client, entity["id"], headers=ld_accept, geometryProperty="location"),
        400,
        "BadRequestData",
    )
    assert (await retrieve(client, entity["id"], headers=GEO, geometryProperty="location")).status_code == 200


async def test_5711_01_03_linked_entity_projection_without_join(client: httpx.AsyncClient) -> None:
    entity = building()
    await created(client, entity)
    problem(await retrieve(client, entity["id"], pick="owner{name}"), 400, "BadRequestData")


async def test_018_retrieve_with_json_ld_accept_embeds_context(client: httpx.AsyncClient) -> None:
    entity = vehicle()
    response = await client.post(ENTITIES, json=ld(entity), headers=LD)
    assert response.status_code == 201
    got = await retrieve(client, entity["id"], headers={"Accept": "application/ld+json"})
    assert got.headers["content-type"].startswith("application/ld+json")
    assert "link" not in got.headers
    assert got.json()["@context"]


@pytest.mark.parametrize(
    ("case", "params", "simplified"),
    [
        ("018_15_01 format=keyValues", {"format": "keyValues"}, True),
        ("018_15_02 format=simplified", {"format": "simplified"}, True),
        ("018_15_03 format=normalized", {"format": "normalized"}, False),
        ("018_15_04 options=keyValues", {"options": "keyValues"}, True),
        ("018_15_05 options=simplified", {"options": "simplified"}, True),
        ("018_15_06 options=normalized", {"options": "normalized"}, False),
        ("018_15_07 format wins over options", {"format": "keyValues", "options": "normalized"}, True),
    ],
)
async def test_018_15_format_and_options(
    client: httpx.AsyncClient, case: str, params: dict[str, str], simplified: bool
) -> None:
    entity = building()
    await created(client, entity)
    got = (await retrieve(client, entity["id"], **params)).json()
    assert got["name"] == ("Eiffel Tower" if simplified else {"type": "Property", "value": "Eiffel Tower"})


@pytest.mark.parametrize(
    ("case", "params", "members"),
    [
        ("018_17_01 pick an attribute", {"pick": "name"}, {"name"}),
        ("018_17_02 omit an attribute", {"omit": "name"}, {"id", "type", "subCategory", "airQualityLevel"}),
        ("018_17_03 pick id", {"pick": "id"}, {"id"}),
        ("018_17_04 omit id", {"omit": "id"}, {"type", "name", "subCategory", "airQualityLevel"}),
        ("018_17_05 pick id and an attribute", {"pick": "id,name"}, {"id", "name"}),
        (
            "018_17_06 omit type and an attribute",
            {"omit": "type,name"},
            {"id", "subCategory", "airQualityLevel"},
        ),
    ],
)
async def test_018_17_pick_and_omit(
    client: httpx.AsyncClient, case: str, params: dict[str, str], members: set[str]
) -> None:
    entity = building()
    await created(client, entity)
    assert set((await retrieve(client, entity["id"], **params)).json()) == members


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("018_19_01 a pick that matches nothing", {"pick": "unknown"}),
        ("018_19_02 an omit of everything", {"omit": "id,type,name,subCategory,airQualityLevel"}),
    ],
)
async def test_018_19_nothing_left(client: httpx.AsyncClient, case: str, params: dict[str, str]) -> None:
    entity = building()
    await created(client, entity)
    problem(await retrieve(client, entity["id"], **params), 404, "ResourceNotFound")


@pytest.mark.parametrize(
    ("case", "lang", "options", "expected"),
    [
        ("018_07_01 one language", "fr", None, {"type": "Property", "value": "Grand Place", "lang": "fr"}),
        (
            "018_07_02 several, unranked",
            "fr-CH,fr",
            None,
            {"type": "Property", "value": "Grand Place", "lang": "fr"},
        ),
        (
            "018_07_04 several, ranked",
            "fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5",
            None,
            {"type": "Property", "value": "Grand Place", "lang": "fr"},
        ),
        ("018_07_05 one language, simplified", "fr", "keyValues", "Grand Place"),
    ],
)
async def test_018_07_language_filter(
    client: httpx.AsyncClient, case: str, lang: str, options: str | None, expected: Any
) -> None:
    entity = building(
        street={"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}}
    )
    await created(client, entity)
    params = {"lang": lang, **({"options": options} if options else {})}
    got = (await retrieve(client, entity["id"], headers={"Accept": "application/ld+json"}, **params)).json()
    assert got["street"] == expected


async def test_018_07_03_any_language(client: httpx.AsyncClient) -> None:
    entity = building(
        street={"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}}
    )
    await created(client, entity)
    street = (await retrieve(client, entity["id"], lang="*")).json()["street"]
    assert street["type"] == "Property" and (street["lang"], street["value"]) in {
        ("fr", "Grand Place"),
        ("nl", "Grote Markt"),
    }
    assert (await retrieve(client, entity["id"], lang="*", options="keyValues")).json()["street"] in (
        "Grand Place",
        "Grote Markt",
    )


async def test_018_06_context_of_the_retrieval(client: httpx.AsyncClient) -> None:
    entity = building()
    assert (
        await client.post(
            ENTITIES, json=entity, headers={"Content-Type": "application/json", "Link": _link()}
        )
    ).status_code == 201
    expanded = (await client.get(f"{ENTITIES}/{entity['id']}", headers={"Accept": "application/json"})).json()
    assert SUITE + "airQualityLevel" in expanded and expanded["type"] == SUITE + "Building"
    assert (await retrieve(client, entity["id"], headers={"Accept": "application/json"})).json() == entity


def _link() -> str:
    return etsi.LINK
