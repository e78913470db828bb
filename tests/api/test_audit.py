"""The audit log (docs/audit.md): writes, key and tenant changes, refusals and reads of sensitive types
are recorded with who, tenant, operation, target and outcome; `GET /admin/v1/audit` reads them,
filtered and paged, and is itself recorded. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from identity import City, IdentityProvider, open_city
from smartby.settings import Settings

V1 = "/ngsi-ld/v1"
AUDIT = "/admin/v1/audit"
LIGHT = {
    "id": "urn:ngsi-ld:Streetlight:audit-1",
    "type": "Streetlight",
    "powerState": {"type": "Property", "value": "on"},
}
PATIENT = {"id": "urn:ngsi-ld:Patient:p1", "type": "Patient", "name": {"type": "Property", "value": "A"}}


@pytest.fixture
async def sensitive_city(settings: Settings, provider: IdentityProvider) -> AsyncIterator[City]:
    """smartby with authentication required, reads of Patient entities audited."""
    update = {"services": None, "audit_sensitive_types": ["Patient"]}
    async for opened in open_city(settings.model_copy(update=update), provider):
        yield opened


async def records(city: City, **filters: Any) -> list[dict[str, Any]]:
    response = await city.http.get(AUDIT, params=filters, headers=city.as_("operator", None))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def test_a_write_is_recorded_with_who_tenant_operation_target_outcome(city: City) -> None:
    created = await city.http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("writer"))
    assert created.status_code == 201, created.text
    [record] = await records(city, target=LIGHT["id"])
    assert record["actor"] == "writer" and record["tenant"] == "aarhus"
    assert record["operation"] == "POST /ngsi-ld/v1/entities"
    assert record["target"] == LIGHT["id"] and record["outcome"] == "ok"
    patched = await city.http.patch(
        f"{V1}/entities/{LIGHT['id']}/attrs",
        json={"powerState": {"type": "Property", "value": "off"}},
        headers=city.as_("writer"),
    )
    assert patched.status_code == 204
    newest, _ = await records(city, target=LIGHT["id"])
    assert newest["operation"] == "PATCH /ngsi-ld/v1/entities/{entityId}/attrs"


async def test_a_failed_write_leaves_no_ok_record(city: City) -> None:
    assert (await city.http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("writer"))).status_code == 201
    again = await city.http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("writer"))
    assert again.status_code == 409
    found = await records(city, operation="POST /ngsi-ld/v1/entities")
    assert [(record["outcome"], record["target"]) for record in found] == [
        ("409 AlreadyExists", "/ngsi-ld/v1/entities"),
        ("ok", LIGHT["id"]),
    ]
    missing = await city.http.delete(
        f"{V1}/entities/urn:ngsi-ld:Streetlight:none", headers=city.as_("writer")
    )
    assert missing.status_code == 404
    [record] = await records(city, operation="DELETE /ngsi-ld/v1/entities/{entityId}")
    assert record["outcome"] == "404 ResourceNotFound" and record["actor"] == "writer"


async def test_a_batch_records_its_entities_and_what_failed(city: City) -> None:
    assert (await city.http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("writer"))).status_code == 201
    other = {**LIGHT, "id": "urn:ngsi-ld:Streetlight:audit-2"}
    answer = await city.http.post(
        f"{V1}/entityOperations/create", json=[LIGHT, other], headers=city.as_("writer")
    )
    assert answer.status_code == 207, answer.text
    [record] = await records(city, operation="POST /ngsi-ld/v1/entityOperations/create")
    assert record["outcome"] == "partial" and record["target"] == other["id"]
    assert record["detail"] == f"failed: {LIGHT['id']}"


async def test_refused_requests_are_recorded(city: City) -> None:
    http = city.http
    assert (
        await http.get(f"{V1}/entities?type=Streetlight", headers={"NGSILD-Tenant": "aarhus"})
    ).status_code == 401
    assert (await http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("reader"))).status_code == 403
    assert (await http.get(f"{V1}/entities/{LIGHT['id']}", headers=city.as_("stranger"))).status_code == 404
    outcomes = {(r["actor"], r["outcome"]) for r in await records(city) if r["outcome"].startswith("refused")}
    assert outcomes == {
        ("unauthenticated", "refused 401"),
        ("reader", "refused 403"),
        ("stranger", "refused 404"),
    }
    [forbidden] = await records(city, outcome="refused 403")
    assert forbidden["operation"] == "POST /ngsi-ld/v1/entities" and forbidden["tenant"] == "aarhus"
    assert await records(city, target=LIGHT["id"], outcome="ok") == []


async def test_key_and_tenant_changes_are_recorded(city: City) -> None:
    operator = city.as_("operator", None)
    made = await city.http.post("/admin/v1/tenants", json={"name": "vejle"}, headers=operator)
    assert made.status_code == 201
    key = {"name": "ci", "role": "writer", "tenants": ["vejle"]}
    assert (await city.http.post("/admin/v1/keys", json=key, headers=operator)).status_code == 201
    assert (await city.http.delete("/admin/v1/keys/ci", headers=operator)).status_code == 204
    assert (await city.http.delete("/admin/v1/keys/ci", headers=operator)).status_code == 404
    found = await records(city, target="ci")
    assert [(r["operation"], r["outcome"], r["actor"]) for r in found] == [
        ("key.revoke", "ok", "operator"),
        ("key.create", "ok", "operator"),
    ]
    [missing] = await records(city, operation="DELETE /admin/v1/keys/{name}")
    assert missing["outcome"] == "404 ResourceNotFound" and missing["target"] == "/admin/v1/keys/ci"
    assert await records(city, operation="POST /admin/v1/keys") == []
    [tenant] = await records(city, operation="tenant.create", target="vejle")
    assert tenant["tenant"] == "vejle" and tenant["actor"] == "operator"


async def test_reads_of_sensitive_types_are_recorded(sensitive_city: City) -> None:
    city = sensitive_city
    for body in (PATIENT, LIGHT):
        assert (
            await city.http.post(f"{V1}/entities", json=body, headers=city.as_("writer"))
        ).status_code == 201
    assert (
        await city.http.get(f"{V1}/entities/{LIGHT['id']}", headers=city.as_("reader"))
    ).status_code == 200
    assert (
        await city.http.get(f"{V1}/entities/{PATIENT['id']}", headers=city.as_("reader"))
    ).status_code == 200
    listed = await city.http.get(f"{V1}/entities?type=Patient,Streetlight", headers=city.as_("reader"))
    assert listed.status_code == 200 and len(listed.json()) == 2
    temporal = await city.http.get(f"{V1}/temporal/entities/{PATIENT['id']}", headers=city.as_("reader"))
    assert temporal.status_code == 200
    reads = await records(city, actor="reader")
    assert [(r["operation"], r["target"]) for r in reads] == [
        ("temporal.read", PATIENT["id"]),
        ("entity.query", PATIENT["id"]),
        ("entity.read", PATIENT["id"]),
    ]


async def test_filters_paging_and_the_read_of_the_log_itself(city: City) -> None:
    for number in range(5):
        light = {**LIGHT, "id": f"urn:ngsi-ld:Streetlight:page-{number}"}
        assert (
            await city.http.post(f"{V1}/entities", json=light, headers=city.as_("writer"))
        ).status_code == 201
    operation = "POST /ngsi-ld/v1/entities"
    page = await city.http.get(
        AUDIT,
        params={"operation": operation, "limit": 2, "offset": 1, "count": "true"},
        headers=city.as_("operator", None),
    )
    assert page.status_code == 200 and page.headers["NGSILD-Results-Count"] == "5"
    assert [r["target"] for r in page.json()] == [
        "urn:ngsi-ld:Streetlight:page-3",
        "urn:ngsi-ld:Streetlight:page-2",
    ]
    everything = await records(city, operation=operation)
    assert len(everything) == 5
    first, last = everything[-1]["at"], everything[0]["at"]
    assert len(await records(city, operation=operation, since=first, until=last)) == 4
    assert await records(city, operation=operation, since="2999-01-01T00:00:00Z") == []
    assert len(await records(city, operation=operation, tenant="aarhus", actor="writer", outcome="ok")) == 5
    reads = await records(city, operation="audit.read")
    assert len(reads) >= 6 and reads[0]["actor"] == "operator"


async def test_malformed_filters_are_a_400_and_only_an_operator_reads(city: City) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "x"},
        {"since": "yesterday"},
        {"colour": "red"},
        {"count": "maybe"},
        {"actor": ""},
        {"outcome": ""},
    ):
        answer = await city.http.get(AUDIT, params=params, headers=city.as_("operator", None))
        assert answer.status_code == 400, (params, answer.text)
    for name in ("admin", "reader", "writer"):
        assert (await city.http.get(AUDIT, headers=city.as_(name))).status_code == 403
    assert (await city.http.get(AUDIT)).status_code == 401
    refused = await records(city, outcome="refused 403")
    assert {r["actor"] for r in refused} == {"admin", "reader", "writer"}
    assert all(r["target"] == AUDIT for r in refused)


async def test_a_query_by_post_is_a_read_not_a_write(city: City) -> None:
    query = {"type": "Query", "entities": [{"type": "Streetlight"}]}
    answer = await city.http.post(f"{V1}/entityOperations/query", json=query, headers=city.as_("reader"))
    assert answer.status_code == 200, answer.text
    assert await records(city, actor="reader") == []
    refused = await city.http.post(f"{V1}/entityOperations/query", json=query, headers=city.as_("stranger"))
    assert refused.status_code == 404
    [record] = await records(city, actor="stranger")
    assert record["operation"] == "POST /ngsi-ld/v1/entityOperations/query"
    assert record["outcome"] == "refused 404"


async def test_a_subscription_made_is_recorded_with_its_id(city: City) -> None:
    subscription = {
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "notification": {"endpoint": {"uri": "http://192.0.2.10/notify"}},
    }
    made = await city.http.post(f"{V1}/subscriptions", json=subscription, headers=city.as_("admin"))
    assert made.status_code == 201, made.text
    [record] = await records(city, operation="POST /ngsi-ld/v1/subscriptions")
    assert made.headers["Location"].endswith("/" + record["target"]) and record["outcome"] == "ok"
    assert record["actor"] == "admin" and record["tenant"] == "aarhus"


ENDPOINT = "http://192.0.2.10/notify"
SUB = "urn:ngsi-ld:Subscription:audit-s"
REG = "urn:ngsi-ld:ContextSourceRegistration:audit-r"
CSUB = "urn:ngsi-ld:Subscription:audit-c"
SUBSCRIPTION = {
    "id": SUB,
    "type": "Subscription",
    "entities": [{"type": "Streetlight"}],
    "notification": {"endpoint": {"uri": ENDPOINT}},
}
PROFILE = {"decoder": {"kind": "json", "fields": [{"attribute": "powerState", "path": "state"}]}}
DEVICE = {"id": "lamp-9", "entityId": LIGHT["id"], "entityType": "Streetlight", "profile": "lamp"}


async def test_each_change_of_a_subscription_registration_context_or_device_is_recorded_once(
    city: City,
) -> None:
    admin = city.as_("admin")
    registration = {
        "id": REG,
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Streetlight"}]}],
        "endpoint": ENDPOINT,
    }
    csource = {
        "id": CSUB,
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        **{"notification": {"endpoint": {"uri": ENDPOINT}}},
    }
    made = 0

    async def change(method: str, path: str, body: Any, status: int, route: str, target: str) -> None:
        nonlocal made
        before = await records(city, operation=f"{method} {route}")
        answer = await city.http.request(method, path, json=body, headers=admin)
        assert answer.status_code == status, answer.text
        after = await records(city, operation=f"{method} {route}")
        assert len(after) == len(before) + 1
        assert (after[0]["target"], after[0]["outcome"]) == (target, "ok")
        assert (after[0]["actor"], after[0]["tenant"]) == ("admin", "aarhus")
        made += 1

    subs, regs, csubs = f"{V1}/subscriptions", f"{V1}/csourceRegistrations", f"{V1}/csourceSubscriptions"
    await change("POST", subs, SUBSCRIPTION, 201, subs, SUB)
    await change("PATCH", f"{subs}/{SUB}", {"description": "x"}, 204, subs + "/{subscriptionId}", SUB)
    await change("DELETE", f"{subs}/{SUB}", None, 204, subs + "/{subscriptionId}", SUB)
    await change("POST", regs, registration, 201, regs, REG)
    await change("PATCH", f"{regs}/{REG}", {"description": "x"}, 204, regs + "/{registrationId}", REG)
    await change("DELETE", f"{regs}/{REG}", None, 204, regs + "/{registrationId}", REG)
    await change("POST", csubs, csource, 201, csubs, CSUB)
    await change("PATCH", f"{csubs}/{CSUB}", {"description": "x"}, 204, csubs + "/{subscriptionId}", CSUB)
    await change("DELETE", f"{csubs}/{CSUB}", None, 204, csubs + "/{subscriptionId}", CSUB)
    contexts = f"{V1}/jsonldContexts"
    added = await city.http.post(
        contexts, json={"@context": {"lamp": "https://example.org/lamp"}}, headers=admin
    )
    assert added.status_code == 201, added.text
    made += 1
    local_id = added.headers["Location"].rsplit("/", 1)[-1]
    [record] = await records(city, operation=f"POST {contexts}")
    assert (record["target"], record["outcome"], record["actor"]) == (local_id, "ok", "admin")
    await change("DELETE", f"{contexts}/{local_id}", None, 204, contexts + "/{contextId}", local_id)
    profiles, devices = "/ingest/v1/profiles", "/ingest/v1/devices"
    await change("PUT", f"{profiles}/lamp", PROFILE, 200, profiles + "/{name}", "lamp")
    await change("POST", devices, DEVICE, 201, devices, "lamp-9")
    await change("PUT", f"{devices}/lamp-9", DEVICE, 200, devices + "/{deviceId}", "lamp-9")
    await change("DELETE", f"{devices}/lamp-9", None, 204, devices + "/{deviceId}", "lamp-9")
    await change("DELETE", f"{profiles}/lamp", None, 204, profiles + "/{name}", "lamp")
    changes = [r for r in await records(city, actor="admin") if r["operation"] != "audit.read"]
    assert len(changes) == made


async def test_a_registry_change_that_fails_leaves_no_ok_record(city: City) -> None:
    admin = city.as_("admin")
    for status in (201, 409):
        answer = await city.http.post(f"{V1}/subscriptions", json=SUBSCRIPTION, headers=admin)
        assert answer.status_code == status, answer.text
    found = await records(city, operation="POST /ngsi-ld/v1/subscriptions")
    assert [(r["outcome"], r["target"]) for r in found] == [
        ("409 AlreadyExists", "/ngsi-ld/v1/subscriptions"),
        ("ok", SUB),
    ]
    for path in (f"{V1}/csourceRegistrations/{REG}", "/ingest/v1/devices/none", "/ingest/v1/profiles/none"):
        assert (await city.http.delete(path, headers=admin)).status_code == 404
        [record] = await records(city, target=path)
        assert record["outcome"] == "404 ResourceNotFound"
    assert await records(city, target=REG, outcome="ok") == []
