"""ETSI NGSI-LD conformance: context source registrations (clauses 5.2.9, 5.2.10, 5.9, 5.10 and
their HTTP binding, 6.8 and 6.9), on both backends."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from etsi import JSON, LINK, SUITE, SUITE_CONTEXT, V1, problem

REGISTRATIONS = f"{V1}/csourceRegistrations"
WITH_LINK = {**JSON, "Link": LINK}
LD = {"Content-Type": "application/ld+json"}
COPENHAGEN = {"type": "Point", "coordinates": [12.5683, 55.6761]}
AARHUS = {"type": "Point", "coordinates": [10.2039, 56.1629]}


def registration(reg_id: str | None = None, **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "ContextSourceRegistration",
        "information": [
            {"entities": [{"type": "Vehicle"}], "propertyNames": ["speed"], "relationshipNames": ["isParked"]}
        ],
        "endpoint": "http://neighbour.example/ngsi-ld",
    }
    if reg_id is not None:
        body["id"] = reg_id
    body.update(members)
    return body


async def register(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post(REGISTRATIONS, content=orjson.dumps(body), headers={**WITH_LINK, **headers})


async def registered(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> str:
    response = await register(client, body, **headers)
    assert response.status_code == 201, response.text
    return str(response.headers["location"])


async def test_register_and_retrieve(client: httpx.AsyncClient) -> None:
    """Clause 5.9.2 (Register Context Source) and 6.8.3.1: 201 with the new registration in
    Location; clause 5.10.1 (Retrieve) and 6.9.3.1: it reads back with defaults (mode inclusive,
    operations federationOps, clause 5.2.9) in the requester's terms."""
    response = await register(client, registration("urn:ngsi-ld:ContextSourceRegistration:r1"))
    assert response.status_code == 201
    assert response.headers["location"] == f"{REGISTRATIONS}/urn:ngsi-ld:ContextSourceRegistration:r1"
    got = await client.get(response.headers["location"], headers={"Link": LINK})
    assert got.status_code == 200
    body = got.json()
    assert body["information"] == [
        {"entities": [{"type": "Vehicle"}], "propertyNames": ["speed"], "relationshipNames": ["isParked"]}
    ]
    assert body["mode"] == "inclusive"
    assert body["operations"] == ["federationOps"]
    assert body["endpoint"] == "http://neighbour.example/ngsi-ld"


async def test_names_are_expanded_and_compacted(client: httpx.AsyncClient) -> None:
    """Clause 5.2.9 with 5.5.7's @context rules: types and attribute names are read with the
    request's @context; without it (core context only) they come back as full IRIs."""
    location = await registered(client, registration())
    core = (await client.get(location)).json()
    assert core["information"][0]["entities"] == [{"type": f"{SUITE}Vehicle"}]
    assert core["information"][0]["propertyNames"] == [f"{SUITE}speed"]
    ld = await client.get(location, headers={"Link": LINK, "Accept": "application/ld+json"})
    assert ld.json()["@context"] == SUITE_CONTEXT
    assert ld.json()["information"][0]["propertyNames"] == ["speed"]


async def test_json_ld_body_and_generated_id(client: httpx.AsyncClient) -> None:
    """Clause 5.9.2: a registration without id gets one; clause 6.3.5: a JSON-LD body carries its
    @context."""
    body = {**registration(), "@context": SUITE_CONTEXT}
    response = await client.post(REGISTRATIONS, content=orjson.dumps(body), headers=LD)
    assert response.status_code == 201, response.text
    assert response.headers["location"].startswith(f"{REGISTRATIONS}/urn:ngsi-ld:ContextSourceRegistration:")
    got = (await client.get(response.headers["location"], headers={"Link": LINK})).json()
    assert got["information"][0]["entities"] == [{"type": "Vehicle"}]


async def test_already_exists(client: httpx.AsyncClient) -> None:
    """Clause 5.9.2: a registration id in use gives AlreadyExists (409)."""
    await registered(client, registration("urn:ngsi-ld:ContextSourceRegistration:dup"))
    response = await register(client, registration("urn:ngsi-ld:ContextSourceRegistration:dup"))
    problem(response, 409, "AlreadyExists")


async def test_invalid_registrations(client: httpx.AsyncClient) -> None:
    """Clause 5.9.2 with 5.2.9/5.2.10: a registration without information or endpoint, with an
    empty RegistrationInfo, an unknown mode or operation, or a bad type is BadRequestData."""
    cases = [
        {k: v for k, v in registration().items() if k != "information"},
        {k: v for k, v in registration().items() if k != "endpoint"},
        registration(information=[{}]),
        registration(information=[]),
        registration(mode="sometimes"),
        registration(operations=["retrieveEverything"]),
        registration(endpoint="not a uri"),
        registration(type="Registration"),
        registration(expiresAt="2001-01-01T00:00:00Z"),
        registration(location={"type": "Point", "coordinates": [500, 0]}),
        registration(observationInterval={"endAt": "2030-01-01T00:00:00Z"}),
    ]
    for body in cases:
        problem(await register(client, body), 400, "BadRequestData")


async def test_exclusive_needs_ids_and_attributes(client: httpx.AsyncClient) -> None:
    """Clause 5.9.2: an exclusive registration names its entities by id and the attributes it
    provides; otherwise BadRequestData."""
    by_type = registration(mode="exclusive")
    problem(await register(client, by_type), 400, "BadRequestData")
    no_attrs = registration(
        mode="exclusive", information=[{"entities": [{"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle"}]}]
    )
    problem(await register(client, no_attrs), 400, "BadRequestData")


async def test_overlapping_exclusive_registrations_conflict(client: httpx.AsyncClient) -> None:
    """Clause 5.9.2: an exclusive registration of an attribute of an entity that another exclusive
    registration holds is a Conflict (409); a different attribute is not."""
    info = [{"entities": [{"id": "urn:ngsi-ld:Vehicle:X", "type": "Vehicle"}], "propertyNames": ["speed"]}]
    await registered(client, registration(mode="exclusive", information=info))
    problem(await register(client, registration(mode="exclusive", information=info)), 409, "Conflict")
    other = [
        {"entities": [{"id": "urn:ngsi-ld:Vehicle:X", "type": "Vehicle"}], "propertyNames": ["brandName"]}
    ]
    assert (await register(client, registration(mode="exclusive", information=other))).status_code == 201
    inclusive = await register(client, registration(information=info))
    assert inclusive.status_code == 201


async def test_full_registration_round_trip(client: httpx.AsyncClient) -> None:
    """Clause 5.2.9: every member of a CSourceRegistration is kept, registration properties (extra
    members) expanded and compacted like attribute names, with createdAt/modifiedAt on sysAttrs."""
    body = registration(
        "urn:ngsi-ld:ContextSourceRegistration:full",
        registrationName="Aarhus traffic",
        description="The neighbouring city's broker",
        tenant="aarhus",
        mode="auxiliary",
        operations=["retrieveOps", "createSubscription"],
        location=AARHUS,
        observationSpace=AARHUS,
        observationInterval={"startAt": "2024-01-01T00:00:00Z"},
        managementInterval={"startAt": "2024-01-01T00:00:00Z", "endAt": "2030-01-01T00:00:00Z"},
        expiresAt="2099-01-01T00:00:00Z",
        contextSourceInfo=[{"key": "Authorization", "value": "Bearer x"}],
        scope=["/Denmark/Aarhus"],
        refreshRate="PT1M",
        management={"localOnly": True, "timeout": 2000, "cooldown": 10000, "cacheDuration": "PT5S"},
        datasetId=["urn:ngsi-ld:Dataset:traffic"],
        brandName="Municipality",
    )
    location = await registered(client, body)
    got = (await client.get(f"{location}?options=sysAttrs", headers={"Link": LINK})).json()
    for name, value in body.items():
        assert got[name] == value, name
    assert got["createdAt"] and got["modifiedAt"]
    core = (await client.get(location)).json()
    assert core[f"{SUITE}brandName"] == "Municipality"


async def test_retrieve_unknown_and_bad_id(client: httpx.AsyncClient) -> None:
    """Clause 5.10.1: an unknown registration id is ResourceNotFound; one that is no URI
    BadRequestData."""
    problem(
        await client.get(f"{REGISTRATIONS}/urn:ngsi-ld:ContextSourceRegistration:none"),
        404,
        "ResourceNotFound",
    )
    problem(await client.get(f"{REGISTRATIONS}/not-a-uri"), 400, "BadRequestData")


async def test_update_merges_members(client: httpx.AsyncClient) -> None:
    """Clause 5.9.3 (Update Context Source Registration) and 6.9.3.2: the fragment's members
    replace the stored ones (204), others stay; a null removes a member."""
    location = await registered(client, registration(registrationName="first", description="kept"))
    fragment = {
        "registrationName": "second",
        "description": None,
        "information": [{"propertyNames": ["brandName"]}],
    }
    response = await client.patch(location, content=orjson.dumps(fragment), headers=WITH_LINK)
    assert response.status_code == 204, response.text
    got = (await client.get(location, headers={"Link": LINK})).json()
    assert got["registrationName"] == "second"
    assert "description" not in got
    assert got["information"] == [{"propertyNames": ["brandName"]}]
    assert got["endpoint"] == "http://neighbour.example/ngsi-ld"


async def test_update_errors(client: httpx.AsyncClient) -> None:
    """Clause 5.9.3: an unknown registration is ResourceNotFound, an invalid fragment
    BadRequestData (and changes nothing), an exclusive overlap Conflict."""
    missing = await client.patch(
        f"{REGISTRATIONS}/urn:ngsi-ld:ContextSourceRegistration:none",
        content=orjson.dumps({"registrationName": "x"}),
        headers=WITH_LINK,
    )
    problem(missing, 404, "ResourceNotFound")
    location = await registered(client, registration(registrationName="stays"))
    bad = await client.patch(location, content=orjson.dumps({"mode": "never"}), headers=WITH_LINK)
    problem(bad, 400, "BadRequestData")
    assert (await client.get(location)).json()["registrationName"] == "stays"
    problem(await client.patch(location, content=b"{}", headers=WITH_LINK), 400, "BadRequestData")
    info = [{"entities": [{"id": "urn:ngsi-ld:Vehicle:Y", "type": "Vehicle"}], "propertyNames": ["speed"]}]
    await registered(client, registration(mode="exclusive", information=info))
    clash = await client.patch(
        location, content=orjson.dumps({"mode": "exclusive", "information": info}), headers=WITH_LINK
    )
    problem(clash, 409, "Conflict")


async def test_delete(client: httpx.AsyncClient) -> None:
    """Clause 5.9.4 (Delete Context Source Registration) and 6.9.3.3: 204, then it is gone;
    deleting again is ResourceNotFound."""
    location = await registered(client, registration())
    assert (await client.delete(location)).status_code == 204
    problem(await client.get(location), 404, "ResourceNotFound")
    problem(await client.delete(location), 404, "ResourceNotFound")


async def test_query_by_type_id_and_attrs(client: httpx.AsyncClient) -> None:
    """Clause 5.10.2 (Query Context Source Registrations) and 6.8.3.2: registrations are selected
    by the entities (type, id, idPattern) and attributes they can provide."""
    vehicles = await registered(client, registration(registrationName="vehicles"))
    one = await registered(
        client,
        registration(
            registrationName="one",
            information=[
                {
                    "entities": [{"id": "urn:ngsi-ld:Building:7", "type": "Building"}],
                    "propertyNames": ["name"],
                }
            ],
        ),
    )
    pattern = await registered(
        client,
        registration(
            registrationName="pattern",
            information=[{"entities": [{"idPattern": "^urn:ngsi-ld:Building:A", "type": "Building"}]}],
        ),
    )
    assert vehicles and one and pattern

    async def names(query: str) -> list[str]:
        response = await client.get(f"{REGISTRATIONS}?{query}", headers={"Link": LINK})
        assert response.status_code == 200, response.text
        return sorted(item["registrationName"] for item in response.json())

    assert await names("type=Vehicle") == ["vehicles"]
    assert await names("type=Building") == ["one", "pattern"]
    assert await names("type=Vehicle,Building") == ["one", "pattern", "vehicles"]
    assert await names("id=urn:ngsi-ld:Building:7") == ["one", "vehicles"]
    assert await names("id=urn:ngsi-ld:Building:7&type=Building") == ["one"]
    assert await names("id=urn:ngsi-ld:Building:A1&type=Building") == ["pattern"]
    assert await names("attrs=speed") == ["pattern", "vehicles"]
    assert await names("attrs=name&type=Building") == ["one", "pattern"]
    assert await names("idPattern=^urn:ngsi-ld:Building:7$") == ["one", "pattern", "vehicles"]
    assert await names("") == ["one", "pattern", "vehicles"]


async def test_query_geo_q_and_csf(client: httpx.AsyncClient) -> None:
    """Clause 5.10.2: a geo-query is evaluated on the registrations' location (or geoproperty),
    q and csf on their registration properties."""
    await registered(client, registration(registrationName="cph", location=COPENHAGEN, brandName="city"))
    await registered(client, registration(registrationName="aar", location=AARHUS, brandName="utility"))
    await registered(client, registration(registrationName="nowhere"))

    async def names(query: str) -> list[str]:
        response = await client.get(f"{REGISTRATIONS}?{query}", headers={"Link": LINK})
        assert response.status_code == 200, response.text
        return sorted(item["registrationName"] for item in response.json())

    near = "georel=near;maxDistance==10000&geometry=Point&coordinates=[12.57,55.68]"
    assert await names(near) == ["cph"]
    assert await names(f"{near}&geoproperty=observationSpace") == []
    assert await names('q=brandName=="utility"') == ["aar"]
    assert await names('csf=brandName=="city"') == ["cph"]
    problem(await client.get(f"{REGISTRATIONS}?{near}&geoproperty=elsewhere"), 400, "BadRequestData")
    problem(await client.get(f"{REGISTRATIONS}?q=((("), 400, "BadRequestData")
    problem(await client.get(f"{REGISTRATIONS}?unknown=1"), 400, "InvalidRequest")


async def test_query_pages_and_counts(client: httpx.AsyncClient) -> None:
    """Clause 5.10.2 with 4.12 (pagination) and 6.3.13: limit, offset and count."""
    for number in range(5):
        await registered(client, registration(f"urn:ngsi-ld:ContextSourceRegistration:p{number}"))
    response = await client.get(
        f"{REGISTRATIONS}?type=Vehicle&limit=2&offset=1&count=true", headers={"Link": LINK}
    )
    assert response.status_code == 200
    assert response.headers["NGSILD-Results-Count"] == "5"
    assert [item["id"] for item in response.json()] == [
        "urn:ngsi-ld:ContextSourceRegistration:p1",
        "urn:ngsi-ld:ContextSourceRegistration:p2",
    ]
    links = response.headers.get_list("link")
    assert any('rel="next"' in link for link in links) and any('rel="prev"' in link for link in links)


async def test_tenants_are_apart(client: httpx.AsyncClient) -> None:
    """Clause 4.14 (multi-tenancy) with 5.9.2: a registration of one tenant is not seen by
    another; querying a tenant that does not exist is NonexistentTenant."""
    location = await registered(client, registration(), **{"NGSILD-Tenant": "aarhus"})
    assert (await client.get(location, headers={"NGSILD-Tenant": "aarhus"})).status_code == 200
    problem(await client.get(location), 404, "ResourceNotFound")
    listed = await client.get(REGISTRATIONS, headers={"NGSILD-Tenant": "aarhus"})
    assert len(listed.json()) == 1
    assert listed.headers["NGSILD-Tenant"] == "aarhus"
    assert (await client.get(REGISTRATIONS)).json() == []
    problem(await client.get(REGISTRATIONS, headers={"NGSILD-Tenant": "nobody"}), 404, "NonexistentTenant")


async def test_query_scope_and_time(client: httpx.AsyncClient) -> None:
    """Clause 5.10.2 (Query Context Source Registrations) with 4.19 (scopeQ) and 4.11 (temporal
    query): scopeQ on the registrations' scope; timerel/timeAt/endTimeAt against their
    observationInterval, or their managementInterval for timeproperty createdAt/modifiedAt."""
    await registered(
        client,
        registration(
            registrationName="2024",
            scope="/Denmark/Aarhus",
            observationInterval={"startAt": "2024-01-01T00:00:00Z", "endAt": "2024-12-31T23:59:59Z"},
        ),
    )
    await registered(
        client,
        registration(
            registrationName="open",
            scope="/Denmark/Copenhagen",
            observationInterval={"startAt": "2025-06-01T00:00:00Z"},
            managementInterval={"startAt": "2020-01-01T00:00:00Z", "endAt": "2021-01-01T00:00:00Z"},
        ),
    )
    await registered(client, registration(registrationName="latest"))

    async def names(query: str) -> list[str]:
        response = await client.get(f"{REGISTRATIONS}?{query}", headers={"Link": LINK})
        assert response.status_code == 200, response.text
        return sorted(item["registrationName"] for item in response.json())

    assert await names("scopeQ=/Denmark/%23") == ["2024", "open"]
    assert await names("scopeQ=/Denmark/Aarhus") == ["2024"]
    assert await names("timerel=before&timeAt=2024-06-01T00:00:00Z") == ["2024"]
    assert await names("timerel=after&timeAt=2024-06-01T00:00:00Z") == ["2024", "open"]
    assert await names("timerel=after&timeAt=2025-01-01T00:00:00Z") == ["open"]
    window = "timerel=between&timeAt=2020-06-01T00:00:00Z&endTimeAt=2020-07-01T00:00:00Z"
    assert await names(window) == []
    assert await names(f"{window}&timeproperty=modifiedAt") == ["open"]
    problem(
        await client.get(f"{REGISTRATIONS}?timerel=during&timeAt=2024-01-01T00:00:00Z"), 400, "BadRequestData"
    )
    problem(await client.get(f"{REGISTRATIONS}?timerel=before"), 400, "BadRequestData")
    problem(await client.get(f"{REGISTRATIONS}?scopeQ=nope"), 400, "BadRequestData")
