"""ETSI NGSI-LD conformance: Consumption/Entity/QueryEntities and the POST /entityOperations/query form."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from etsi import ENTITIES, JSON, LINK, SUITE, V1, building, created, new_id, problem, query, retrieve, vehicle

QUERY = f"{V1}/entityOperations/query"


async def count(client: httpx.AsyncClient, **params: str) -> int:
    response = await query(client, count="true", **params)
    assert response.status_code == 200, response.text
    return int(response.headers["ngsild-results-count"])


async def test_019_01_by_type_id_and_id_pattern(client: httpx.AsyncClient) -> None:
    first, second = building(), building()
    await created(client, first)
    await created(client, second)
    await created(client, vehicle())
    assert {e["id"] for e in (await query(client, type="Building")).json()} == {first["id"], second["id"]}
    assert [e["id"] for e in (await query(client, id=first["id"])).json()] == [first["id"]]
    assert await count(client, idPattern="urn:ngsi-ld:Building:.*") == 2
    problem(await query(client, idPattern="invalid_entity_id_pattern*("), 400, "BadRequestData")


async def test_019_without_any_filter_is_bad_request(client: httpx.AsyncClient) -> None:
    problem(await query(client), 400, "BadRequestData")


async def test_019_26_type_wildcard(client: httpx.AsyncClient) -> None:
    a_building, a_vehicle = building(), vehicle()
    await created(client, a_building)
    await created(client, a_vehicle)
    ids = [e["id"] for e in (await query(client, type="*")).json()]
    assert a_building["id"] in ids and a_vehicle["id"] in ids
    problem(await query(client, type="*", local="false"), 400, "BadRequestData")


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("5722_01_01 system attrs alone are too wide", {"attrs": "createdAt"}),
        ("5722_01_02 a system q alone is too wide", {"q": 'modifiedAt>"2020-01-01T00:00:00Z"'}),
        ("5722_01_03 linked-entity q without join", {"type": "Building", "q": 'owner{name}=="x"'}),
        (
            "5722_01_04 linked-entity q deeper than joinLevel",
            {"type": "Building", "q": 'owner{works{name}}=="x"', "join": "inline", "joinLevel": "1"},
        ),
        ("5722_01_05 invalid context source filter", {"type": "Building", "csf": "))bad(("}),
    ],
)
async def test_5722_01_invalid_queries(client: httpx.AsyncClient, case: str, params: dict[str, str]) -> None:
    response = await client.get(ENTITIES, params=params, headers={"Accept": "application/ld+json"})
    problem(response, 400, "BadRequestData")


@pytest.fixture
async def features(client: httpx.AsyncClient) -> None:
    await created(
        client,
        building(
            address={"type": "Property", "value": {"city": "Berlin", "street": "Unter den Linden"}},
            color={"type": "LanguageProperty", "languageMap": {"en": "red", "fr": "rouge"}},
            isParked={"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:1"},
        ),
    )
    await created(client, building(address={"type": "Property", "value": {"city": "Paris"}}))


@pytest.mark.parametrize(
    ("case", "q", "expected"),
    [
        ("019_29_01 trailing path matches a member", 'address[city]=="Berlin"', 1),
        ("019_29_02 an undefined member is non-existent", 'address[postcode]=="Berlin"', 0),
        ("019_29_03 existence through a trailing path", "address[city]", 2),
        ("019_29_04 language filter", 'color[en]=="red"', 1),
        ("019_29_05 another language's value", 'color[en]=="rouge"', 0),
        ("019_29_06 any language", 'color[*]=="rouge"', 1),
        ("019_29_07 any language, unequal", 'color[*]!="red"', 0),
        ("019_29_11 ordering operator on a Relationship", 'isParked>"urn:a"', 0),
    ],
)
async def test_019_29_query_language_paths(
    client: httpx.AsyncClient, features: None, case: str, q: str, expected: int
) -> None:
    assert await count(client, type="Building", q=q) == expected


@pytest.mark.parametrize(
    ("case", "georel", "geometry", "coordinates"),
    [
        ("019_30_01 zero maxDistance", "near;maxDistance==0", "Point", "[8,40]"),
        ("019_30_02 negative maxDistance", "near;maxDistance==-100", "Point", "[8,40]"),
        ("019_30_03 two distance modifiers", "near;maxDistance==5;minDistance==1", "Point", "[8,40]"),
        ("019_30_04 near without a distance", "near", "Point", "[8,40]"),
        ("019_30_05 unknown relationship", "touches", "Point", "[8,40]"),
        ("019_30_13 infinite maxDistance", "near;maxDistance==inf", "Point", "[8,40]"),
        ("019_30_14 overflowing maxDistance", "near;maxDistance==1e400", "Point", "[8,40]"),
    ],
)
async def test_019_30_invalid_geoqueries(
    client: httpx.AsyncClient, case: str, georel: str, geometry: str, coordinates: str
) -> None:
    response = await query(client, type="Building", georel=georel, geometry=geometry, coordinates=coordinates)
    problem(response, 400, "BadRequestData")


async def test_019_30_06_to_08_geoquery_semantics(client: httpx.AsyncClient) -> None:
    def point(x: float, y: float) -> dict[str, Any]:
        return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [x, y]}}

    await created(client, building(location=point(5, 5), observationSpace=point(8.001, 40.001)))
    await created(client, building(location=point(2, 2)))
    holed = "[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[4,4],[6,4],[6,6],[4,6],[4,4]]]"
    assert await count(client, type="Building", georel="within", geometry="Polygon", coordinates=holed) == 1
    near = {
        "type": "Building",
        "georel": "near;maxDistance==2000",
        "geometry": "Point",
        "coordinates": "[8,40]",
    }
    assert await count(client, **near, geoproperty="observationSpace") == 1
    assert await count(client, **near) == 0


async def test_019_pagination_and_count(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await created(client, vehicle())
    response = await query(client, type="Vehicle", limit="2", count="true")
    assert response.headers["ngsild-results-count"] == "3"
    assert len(response.json()) == 2
    problem(await query(client, type="Vehicle", limit="-1"), 400, "BadRequestData")


async def test_019_02_query_via_post(client: httpx.AsyncClient) -> None:
    first, second = building(), building()
    await created(client, first)
    await created(client, second)
    body = {"type": "Query", "entities": [{"type": "Building", "idPattern": "urn:ngsi-ld:Building:.*"}]}
    response = await client.post(QUERY, json=body, headers={**JSON, "Link": LINK})
    assert response.status_code == 200
    assert {e["id"] for e in response.json()} == {first["id"], second["id"]}


@pytest.fixture
async def selector_vehicles(client: httpx.AsyncClient) -> tuple[str, str]:
    ids = ("urn:ngsi-ld:Vehicle:52330-A", "urn:ngsi-ld:Vehicle:52330-B")
    for entity_id in ids:
        body = {"id": entity_id, "type": "Vehicle", "speed": {"type": "Property", "value": 1}}
        assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201
    return ids


@pytest.mark.parametrize(
    ("case", "selector", "status", "present", "absent"),
    [
        (
            "5233_01_01 an id array",
            {"type": "Vehicle", "id": ["urn:ngsi-ld:Vehicle:52330-A", "urn:ngsi-ld:Vehicle:52330-B"]},
            200,
            "52330-A",
            None,
        ),
        (
            "5233_01_02 id takes precedence over idPattern",
            {
                "type": "Vehicle",
                "id": "urn:ngsi-ld:Vehicle:52330-A",
                "idPattern": "^urn:ngsi-ld:Vehicle:52330-B$",
            },
            200,
            "52330-A",
            "52330-B",
        ),
        ("5233_01_03 a selector without type", {"id": "urn:ngsi-ld:Vehicle:52330-A"}, 400, None, None),
        ("5233_01_04 a non-URI id", {"type": "Vehicle", "id": "not a uri"}, 400, None, None),
        (
            "5233_01_05 a mixed-type id array",
            {"type": "Vehicle", "id": ["urn:ngsi-ld:Vehicle:52330-A", 5]},
            400,
            None,
            None,
        ),
        (
            "5233_01_06 an idPattern alone",
            {"type": "Vehicle", "idPattern": "^urn:ngsi-ld:Vehicle:52330-B$"},
            200,
            "52330-B",
            "52330-A",
        ),
    ],
)
async def test_5233_01_entity_selectors(
    client: httpx.AsyncClient,
    selector_vehicles: tuple[str, str],
    case: str,
    selector: dict[str, Any],
    status: int,
    present: str | None,
    absent: str | None,
) -> None:
    response = await client.post(QUERY, json={"type": "Query", "entities": [selector]}, headers=JSON)
    if status == 400:
        problem(response, 400, "BadRequestData")
        return
    assert response.status_code == 200
    if present:
        assert present in response.text
    if absent:
        assert absent not in response.text


async def test_019_query_in_a_tenant_that_does_not_exist(client: httpx.AsyncClient) -> None:
    response = await query(client, type="Vehicle", headers={"NGSILD-Tenant": f"t{new_id()[-6:]}"})
    problem(response, 404, "NonexistentTenant")


@pytest.fixture
async def three_buildings(client: httpx.AsyncClient) -> None:
    for suffix in "ABC":
        await created(client, building(f"urn:ngsi-ld:Building:01931{suffix}"))


PATTERN = "urn:ngsi-ld:Building:01931.*"


def _page(offset: int, rel: str, limit: int = 1) -> str:
    query = f"count=true&idPattern={PATTERN}&limit={limit}&offset={offset}&type=Building"
    return f'</ngsi-ld/v1/entities?{query}>; rel="{rel}";type="application/json"'


@pytest.mark.parametrize(
    ("case", "limit", "offset", "in_page", "links"),
    [
        ("019_31_01 the first page has next only", 1, 0, 1, [_page(1, "next")]),
        ("019_31_02 a middle page has prev and next", 1, 1, 1, [_page(0, "prev"), _page(2, "next")]),
        ("019_31_03 the last page has prev only", 1, 2, 1, [_page(1, "prev")]),
        ("019_31_04 the page size bounds the page", 2, 0, 2, [_page(2, "next", limit=2)]),
        ("019_31_05 limit 0 with count", 0, 0, 0, []),
    ],
)
async def test_019_31_pagination(
    client: httpx.AsyncClient,
    three_buildings: None,
    case: str,
    limit: int,
    offset: int,
    in_page: int,
    links: list[str],
) -> None:
    params = {
        "type": "Building",
        "idPattern": PATTERN,
        "limit": str(limit),
        "offset": str(offset),
        "count": "true",
    }
    response = await query(client, **params)
    assert response.status_code == 200
    assert response.headers["ngsild-results-count"] == "3"
    assert len(response.json()) == in_page
    pages = [
        link for link in response.headers.get_list("link") if 'rel="prev"' in link or 'rel="next"' in link
    ]
    assert pages == links


@pytest.fixture
async def two_vehicles(client: httpx.AsyncClient) -> None:
    for entity_id, speed in (("urn:ngsi-ld:Vehicle:01932-A", 80), ("urn:ngsi-ld:Vehicle:01932-B", 120)):
        body = {
            "id": entity_id,
            "type": "Vehicle",
            "speed": {"type": "Property", "value": speed},
            "brand": {"type": "Property", "value": "Mercedes"},
        }
        assert (await client.post(ENTITIES, json=body, headers=JSON)).status_code == 201


@pytest.mark.parametrize(
    ("case", "body", "status", "present", "absent"),
    [
        ("019_32_01 body q", {"q": "speed>100"}, 200, "01932-B", "01932-A"),
        ("019_32_02 body pick", {"pick": ["speed"]}, 200, "speed", "brand"),
        ("019_32_03 body omit", {"omit": ["speed"]}, 200, "brand", "speed"),
        ("019_32_04 empty entities", {"entities": []}, 400, None, None),
        ("019_32_05 empty attrs", {"attrs": []}, 400, None, None),
        ("019_32_06 a non-string q", {"q": 42}, 400, None, None),
        ("019_32_07 joinLevel 0", {"join": "inline", "joinLevel": 0}, 400, None, None),
        (
            "019_32_08 temporalQ",
            {"temporalQ": {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}},
            400,
            None,
            None,
        ),
        ("019_32_09 a type other than Query", {"type": "NotQuery"}, 400, None, None),
    ],
)
async def test_019_32_query_data_type(
    client: httpx.AsyncClient,
    two_vehicles: None,
    case: str,
    body: dict[str, Any],
    status: int,
    present: str | None,
    absent: str | None,
) -> None:
    payload = {"type": "Query", "entities": [{"type": "Vehicle"}], **body}
    response = await client.post(QUERY, json=payload, headers=JSON)
    if status == 400:
        problem(response, 400, "BadRequestData")
        return
    assert response.status_code == 200
    assert present in response.text and absent not in response.text


@pytest.mark.parametrize(
    ("case", "params"),
    [
        (
            "019_33_01 pick deeper than joinLevel",
            {"pick": "locatedAt{owner{name}}", "join": "inline", "joinLevel": "1"},
        ),
        (
            "019_33_02 omit deeper than joinLevel",
            {"omit": "locatedAt{owner{name}}", "join": "inline", "joinLevel": "1"},
        ),
        ("019_33_03 nested pick without join", {"pick": "locatedAt{owner{name}}"}),
        (
            "019_33_04 eleven hops",
            {"pick": "a{a{a{a{a{a{a{a{a{a{a{name}}}}}}}}}}}", "join": "inline", "joinLevel": "10"},
        ),
    ],
)
async def test_019_33_nested_projections(
    client: httpx.AsyncClient, case: str, params: dict[str, str]
) -> None:
    problem(await query(client, type="Building", **params), 400, "BadRequestData")


@pytest.mark.parametrize(
    ("case", "scope_q", "expected"),
    [
        ("019_34_01 a grouped conjunction", "(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)", 1),
        (
            "019_34_02 pipe over a grouped conjunction",
            "(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)|/Madrid/Gardens/ParqueNorte",
            2,
        ),
        ("019_34_03 pipe between plain scopes", "/CompanyA/OrganizationB/UnitC|/Nowhere/AtAll", 1),
        ("019_34_04 a failing conjunction", "(/Madrid/Gardens/ParqueNorte;/Nowhere/AtAll)", 0),
        ("019_01_06 a comma", "/CompanyA/OrganizationB/UnitC,/Nowhere/AtAll", 1),
    ],
)
async def test_019_34_scope_queries(
    client: httpx.AsyncClient, case: str, scope_q: str, expected: int
) -> None:
    one = {"id": new_id("Building"), "type": "Building", "scope": "/Madrid/Gardens/ParqueNorte"}
    many = {
        "id": new_id("Building"),
        "type": "Building",
        "scope": ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"],
    }
    for body in (one, many):
        assert (await client.post(ENTITIES, json=body, headers={**JSON, "Link": LINK})).status_code == 201
    response = await client.get(ENTITIES, params={"type": SUITE + "Building", "scopeQ": scope_q})
    assert response.status_code == 200
    assert len(response.json()) == expected


@pytest.mark.parametrize(
    ("case", "params"),
    [
        ("019_18_01 the same member in pick and omit", {"pick": "name", "omit": "name"}),
        ("019_18_02 pick and attrs", {"pick": "name", "attrs": "category"}),
        ("019_18_03 omit and attrs", {"omit": "name", "attrs": "category"}),
        ("019_18_04 an invalid character", {"pick": "id;name"}),
        ("019_18_05 an unclosed brace", {"pick": "id,locatedAt{name"}),
        ("019_18_06 a double brace", {"pick": "id,locatedAt{{name}"}),
        ("019_18_07 consecutive separators", {"pick": "id,,name"}),
        ("019_18_08 a leading separator in braces", {"pick": "id,locatedAt{,name}"}),
        ("019_18_09 empty braces", {"pick": "id,locatedAt{}"}),
    ],
)
async def test_019_18_invalid_pick_and_omit(
    client: httpx.AsyncClient, case: str, params: dict[str, str]
) -> None:
    problem(await query(client, type="Building,Vehicle", **params), 400, "BadRequestData")


async def test_019_27_geometry_property_needs_geojson(client: httpx.AsyncClient) -> None:
    await created(client, building())
    problem(await query(client, type="Building", geometryProperty="location"), 400, "BadRequestData")
    geo = await query(
        client, type="Building", geometryProperty="location", headers={"Accept": "application/geo+json"}
    )
    assert geo.status_code == 200 and geo.json()["type"] == "FeatureCollection"


@pytest.mark.parametrize(
    ("case", "q", "expected"),
    [
        ("019_28_01 a range with ==", "airQualityLevel==4..5", 1),
        ("019_28_02 a range with !=", "airQualityLevel!=4..5", 1),
        ("019_28_03 a value list with ==", 'name=="Eiffel Tower","Pisa Tower"', 2),
        ("019_28_04 a value list with !=", 'name!="Eiffel Tower","Big Ben"', 1),
        ("019_28_05 does not match a pattern", 'name!~="^Eiffel"', 1),
    ],
)
async def test_019_28_value_lists_ranges_and_patterns(
    client: httpx.AsyncClient, case: str, q: str, expected: int
) -> None:
    await created(client, building())
    await created(
        client,
        building(
            name={"type": "Property", "value": "Pisa Tower"}, airQualityLevel={"type": "Property", "value": 6}
        ),
    )
    assert await count(client, type="Building", q=q) == expected


async def test_019_28_06_a_range_with_an_ordering_operator(client: httpx.AsyncClient) -> None:
    problem(await query(client, type="Building", q="airQualityLevel>4..5"), 400, "BadRequestData")


async def test_019_12_dataset_id_filter(client: httpx.AsyncClient) -> None:
    names = [
        {"type": "Property", "value": "Tour Eiffel", "datasetId": "urn:ngsi-ld:Dataset:french-name"},
        {"type": "Property", "value": "Eiffelturm", "datasetId": "urn:ngsi-ld:Dataset:german-name"},
        {"type": "Property", "value": "Eiffel Tower"},
    ]
    entity = building(name=names)
    await created(client, entity)
    ld_accept = {"Accept": "application/ld+json"}

    async def names_for(**params: str) -> Any:
        response = await query(client, type="Building", headers=ld_accept, **params)
        assert response.status_code == 200
        return response.json()[0].get("name")

    assert await names_for(datasetId="urn:ngsi-ld:Dataset:french-name") == names[0]
    assert await names_for(datasetId="@none") == names[2]
    assert await names_for(attrs="name", datasetId="urn:ngsi-ld:Dataset:german-name") == names[1]
    assert await names_for(attrs="name", datasetId="urn:ngsi-ld:Dataset:spanish-name") is None
    both = await names_for(datasetId="urn:ngsi-ld:Dataset:french-name,urn:ngsi-ld:Dataset:german-name")
    assert both == names[:2]


@pytest.fixture
async def buildings_in_cities(client: httpx.AsyncClient) -> None:
    """019_13-16: two buildings locatedAt a city, each city locatedAt a country."""
    for n in (1, 2):
        city, country = f"urn:ngsi-ld:City:019-16-{n}", f"urn:ngsi-ld:Country:019-16-{n}"
        located = {"type": "Relationship", "object": city}
        await created(
            client, {"id": f"urn:ngsi-ld:Building:019-16-{n}", "type": "Building", "locatedAt": located}
        )
        await created(
            client, {"id": city, "type": "City", "locatedAt": {"type": "Relationship", "object": country}}
        )
        await created(client, {"id": country, "type": "Country"})


def _rel(target: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Relationship", "object": target, **extra}


async def test_019_13_01_inline_normalized(client: httpx.AsyncClient, buildings_in_cities: None) -> None:
    response = await query(client, type="Building", join="inline", joinLevel="1")
    assert response.status_code == 200
    first = next(e for e in response.json() if e["id"].endswith("-1"))
    assert first["locatedAt"] == _rel(
        "urn:ngsi-ld:City:019-16-1",
        entity={
            "id": "urn:ngsi-ld:City:019-16-1",
            "type": "City",
            "locatedAt": _rel("urn:ngsi-ld:Country:019-16-1"),
        },
    )


async def test_019_13_04_flat_simplified(client: httpx.AsyncClient, buildings_in_cities: None) -> None:
    response = await query(client, type="Building", join="flat", joinLevel="1", options="keyValues")
    assert sorted(e["id"] for e in response.json()) == [
        "urn:ngsi-ld:Building:019-16-1",
        "urn:ngsi-ld:Building:019-16-2",
        "urn:ngsi-ld:City:019-16-1",
        "urn:ngsi-ld:City:019-16-2",
    ]
    building_1 = next(e for e in response.json() if e["id"] == "urn:ngsi-ld:Building:019-16-1")
    assert building_1["locatedAt"] == "urn:ngsi-ld:City:019-16-1"


async def test_019_16_03_two_levels_inline_simplified(
    client: httpx.AsyncClient, buildings_in_cities: None
) -> None:
    response = await query(client, type="Building", join="inline", joinLevel="2", options="keyValues")
    first = next(e for e in response.json() if e["id"].endswith("-1"))
    assert first == {
        "id": "urn:ngsi-ld:Building:019-16-1",
        "type": "Building",
        "locatedAt": {
            "id": "urn:ngsi-ld:City:019-16-1",
            "type": "City",
            "locatedAt": {"id": "urn:ngsi-ld:Country:019-16-1", "type": "Country"},
        },
    }


async def test_019_14_15_linked_entities_with_sys_attrs(
    client: httpx.AsyncClient, buildings_in_cities: None
) -> None:
    inline = (await query(client, type="Building", join="inline", options="sysAttrs")).json()
    assert all("createdAt" in e["locatedAt"]["entity"] for e in inline)
    flat = (await query(client, type="Building", join="flat", options="sysAttrs")).json()
    assert len(flat) == 4 and all("createdAt" in e for e in flat)


async def test_linked_entity_retrieval_on_retrieve(
    client: httpx.AsyncClient, buildings_in_cities: None
) -> None:
    inline = (await retrieve(client, "urn:ngsi-ld:Building:019-16-1", join="inline")).json()
    assert inline["locatedAt"]["entity"]["id"] == "urn:ngsi-ld:City:019-16-1"
    flat = (await retrieve(client, "urn:ngsi-ld:Building:019-16-1", join="flat", joinLevel="2")).json()
    assert [e["id"] for e in flat] == [
        "urn:ngsi-ld:Building:019-16-1",
        "urn:ngsi-ld:City:019-16-1",
        "urn:ngsi-ld:Country:019-16-1",
    ]
    problem(await retrieve(client, "urn:ngsi-ld:Building:019-16-1", join="sideways"), 400, "BadRequestData")
    problem(
        await retrieve(client, "urn:ngsi-ld:Building:019-16-1", join="inline", joinLevel="0"),
        400,
        "BadRequestData",
    )


async def test_019_29_12_13_expand_values(client: httpx.AsyncClient) -> None:
    await created(client, building(category={"type": "VocabProperty", "vocab": "commercial"}))
    assert await count(client, type="Building", q="category==commercial", expandValues="category") == 1
    assert await count(client, type="Building", q="category==commercial") == 0
    assert (
        await count(client, type="Building", q='category=="commercial","other"', expandValues="category") == 1
    )


async def test_linked_entity_that_is_also_a_result(client: httpx.AsyncClient) -> None:
    """A linked entity is inlined even when the query returns it too."""
    await created(
        client,
        {"id": "urn:ngsi-ld:Building:a", "type": "Building", "locatedAt": _rel("urn:ngsi-ld:Building:b")},
    )
    await created(client, {"id": "urn:ngsi-ld:Building:b", "type": "Building"})
    found = (await query(client, type="Building", join="inline")).json()
    a = next(e for e in found if e["id"] == "urn:ngsi-ld:Building:a")
    assert a["locatedAt"]["entity"] == {"id": "urn:ngsi-ld:Building:b", "type": "Building"}
    flat = (await query(client, type="Building", join="flat")).json()
    assert sorted(e["id"] for e in flat) == ["urn:ngsi-ld:Building:a", "urn:ngsi-ld:Building:b"]
