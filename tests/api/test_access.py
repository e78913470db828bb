"""Access control (docs/security.md): API keys, roles per tenant, tenants an admin creates, owned
subscriptions, OpenID Connect tokens checked against a JWKS served over real HTTP, and nothing of it
when SMARTBY_AUTH is off."""

from __future__ import annotations

from typing import Any

import httpx

from identity import City, IdentityProvider, open_city
from smartby.api.keyring import Keyring
from smartby.ingest.registry import key_matches
from smartby.settings import Settings

V1 = "/ngsi-ld/v1"
LIGHT = {
    "id": "urn:ngsi-ld:Streetlight:1",
    "type": "Streetlight",
    "powerState": {"type": "Property", "value": "on"},
}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
    return body


async def test_keys_are_stored_hashed_and_rotate_and_revoke(store: Any) -> None:
    keyring = Keyring(store)
    key, secret = await keyring.create("ci", [""], "writer", owner="ansible")
    stored = await store.key_named("ci")
    assert stored.key_hash.startswith("sha256$") and secret not in stored.key_hash
    assert key_matches(stored.key_hash, secret)
    assert (await keyring.verify(secret)) is not None
    assert (await store.key_named("ci")).last_used is not None
    _, rotated = await keyring.rotate("ci")
    assert await keyring.verify(secret) is None
    assert (await keyring.verify(rotated)).name == "ci"  # type: ignore[union-attr]
    await keyring.revoke("ci")
    assert await keyring.verify(rotated) is None
    assert [k.name for k in await keyring.list()] == ["ci"] and key.owner == "ansible"


async def test_with_auth_off_nothing_changes(client: httpx.AsyncClient) -> None:
    assert (
        await client.post(f"{V1}/entities", json=LIGHT, headers={"NGSILD-Tenant": "new"})
    ).status_code == 201
    assert (
        await client.get(f"{V1}/entities?type=Streetlight", headers={"NGSILD-Tenant": "new"})
    ).status_code == 200
    assert_problem(await client.get("/admin/v1/keys"), 403)


async def test_roles_per_tenant(city: City) -> None:
    http = city.http
    body = assert_problem(
        await http.get(f"{V1}/entities?type=Streetlight", headers={"NGSILD-Tenant": "aarhus"}), 401
    )
    assert "API key" in body["detail"]
    assert (await http.get(f"{V1}/types")).headers["www-authenticate"].startswith("Bearer")
    assert_problem(await http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("reader")), 403)
    assert (await http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("writer"))).status_code == 201
    for header in ("authorization", "x-api-key"):
        read = await http.get(f"{V1}/entities/{LIGHT['id']}", headers=city.as_("reader", header=header))
        assert read.status_code == 200 and read.json()["id"] == LIGHT["id"]
    # another tenant's key: the entity does not exist for it, nor does the tenant
    assert_problem(await http.get(f"{V1}/entities/{LIGHT['id']}", headers=city.as_("stranger")), 404)
    assert_problem(
        await http.get(f"{V1}/entities/{LIGHT['id']}", headers=city.as_("reader", tenant=None)), 404
    )
    for name in ("expired", "revoked"):
        assert_problem(await http.get(f"{V1}/entities/{LIGHT['id']}", headers=city.as_(name)), 401)
    assert_problem(
        await http.get(f"{V1}/entities/{LIGHT['id']}", headers={"Authorization": "Bearer nonsense"}), 401
    )
    # history deletes are an admin's
    assert_problem(
        await http.delete(f"{V1}/temporal/entities/{LIGHT['id']}", headers=city.as_("writer")), 403
    )
    assert (
        await http.delete(f"{V1}/temporal/entities/{LIGHT['id']}", headers=city.as_("admin"))
    ).status_code == 204
    assert (await http.get("/health")).status_code == 200
    assert_problem(await http.get("/metrics"), 401)
    assert (await http.get("/metrics", headers=city.as_("reader"))).status_code == 200


async def test_a_bearer_wins_over_an_api_key(city: City) -> None:
    """Both headers on one request: `Authorization: Bearer` is the one checked, whichever comes first."""
    http = city.http
    reader = city.as_("reader")["Authorization"]
    for headers in (
        {"X-Api-Key": "bogus", "Authorization": reader, "NGSILD-Tenant": "aarhus"},
        {"Authorization": reader, "X-Api-Key": "bogus", "NGSILD-Tenant": "aarhus"},
    ):
        assert (await http.get(f"{V1}/types", headers=headers)).status_code == 200
    bogus_bearer = {
        "X-Api-Key": city.keys["reader"],
        "Authorization": "Bearer bogus",
        "NGSILD-Tenant": "aarhus",
    }
    assert_problem(await http.get(f"{V1}/types", headers=bogus_bearer), 401)
    assert (
        await http.get(f"{V1}/types", headers={"X-Api-Key": city.keys["reader"], "NGSILD-Tenant": "aarhus"})
    ).status_code == 200


async def test_an_admin_creates_tenants_not_the_first_write(city: City) -> None:
    http = city.http
    refused = await http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("operator", tenant="vejle"))
    assert assert_problem(refused, 404)["type"].endswith("NonexistentTenant")
    assert_problem(
        await http.post("/admin/v1/tenants", json={"name": "vejle"}, headers=city.as_("admin")), 403
    )
    made = await http.post("/admin/v1/tenants", json={"name": "vejle"}, headers=city.as_("operator"))
    assert made.status_code == 201
    assert_problem(
        await http.post("/admin/v1/tenants", json={"name": "vejle"}, headers=city.as_("operator")), 409
    )
    assert "vejle" in (await http.get("/admin/v1/tenants", headers=city.as_("operator"))).json()
    created = await http.post(f"{V1}/entities", json=LIGHT, headers=city.as_("operator", tenant="vejle"))
    assert created.status_code == 201


async def test_keys_over_the_admin_api(city: City) -> None:
    http, operator = city.http, city.as_("operator", tenant=None)
    assert_problem(
        await http.post("/admin/v1/keys", json={"name": "x", "role": "reader"}, headers=city.as_("admin")),
        403,
    )
    made = await http.post(
        "/admin/v1/keys", json={"name": "bikes", "role": "writer", "tenants": ["aarhus"]}, headers=operator
    )
    assert made.status_code == 201
    secret = made.json()["key"]
    headers = {"X-Api-Key": secret, "NGSILD-Tenant": "aarhus"}
    assert (await http.post(f"{V1}/entities", json=LIGHT, headers=headers)).status_code == 201
    shown = (await http.get("/admin/v1/keys/bikes", headers=operator)).json()
    assert shown["role"] == "writer" and shown["lastUsed"] and "key" not in shown
    assert_problem(
        await http.post("/admin/v1/keys", json={"name": "bikes", "role": "reader"}, headers=operator), 409
    )
    assert_problem(
        await http.post("/admin/v1/keys", json={"name": "b", "role": "boss"}, headers=operator), 400
    )
    assert_problem(await http.post("/admin/v1/keys", json=["x"], headers=operator), 400)
    rotated = (await http.post("/admin/v1/keys/bikes/rotate", headers=operator)).json()["key"]
    assert_problem(await http.get(f"{V1}/types", headers=headers), 401)
    assert (
        await http.get(f"{V1}/types", headers={"X-Api-Key": rotated, "NGSILD-Tenant": "aarhus"})
    ).status_code == 200
    assert (await http.delete("/admin/v1/keys/bikes", headers=operator)).status_code == 204
    assert_problem(await http.get(f"{V1}/types", headers={"X-Api-Key": rotated}), 401)
    assert_problem(await http.delete("/admin/v1/keys/bikes", headers=operator), 404)
    names = [key["name"] for key in (await http.get("/admin/v1/keys", headers=operator)).json()]
    assert "bikes" in names and "operator" in names


async def test_a_subscription_is_its_makers(city: City) -> None:
    http = city.http
    subscription = {
        "id": "urn:ngsi-ld:Subscription:lights",
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        # Not loopback: with authentication required outbound requests to loopback are refused.
        "notification": {"endpoint": {"uri": "http://192.0.2.10/notify"}},
    }
    assert_problem(await http.post(f"{V1}/subscriptions", json=subscription, headers=city.as_("writer")), 403)
    assert (
        await http.post(f"{V1}/subscriptions", json=subscription, headers=city.as_("admin"))
    ).status_code == 201
    path = f"{V1}/subscriptions/{subscription['id']}"
    assert (await http.get(path, headers=city.as_("admin"))).status_code == 200
    assert_problem(await http.get(path, headers=city.as_("admin2")), 404)
    assert_problem(await http.delete(path, headers=city.as_("admin2")), 404)
    assert (await http.get(path, headers=city.as_("operator"))).status_code == 200
    for name, seen in (("admin", [subscription["id"]]), ("admin2", []), ("operator", [subscription["id"]])):
        listed = await http.get(f"{V1}/subscriptions?count=true", headers=city.as_(name))
        assert [item["id"] for item in listed.json()] == seen
        assert listed.headers["ngsild-results-count"] == str(len(seen))
    assert (await http.delete(path, headers=city.as_("admin"))).status_code == 204


async def test_device_uplinks_keep_their_device_keys(city: City) -> None:
    http = city.http
    device = {"id": "lamp-1", "entityId": LIGHT["id"], "entityType": "Streetlight"}
    registered = await http.post("/ingest/v1/devices", json=device, headers=city.as_("admin"))
    assert registered.status_code == 201, registered.text
    device_key = registered.json()["key"]
    up = "/ingest/v1/devices/lamp-1/up"
    sent = await http.post(
        up, json={"powerState": "off"}, headers={"X-API-Key": device_key, "NGSILD-Tenant": "aarhus"}
    )
    assert sent.status_code in (200, 202, 204), sent.text
    assert_problem(await http.post(up, json={"powerState": "on"}, headers={"NGSILD-Tenant": "aarhus"}), 401)
    assert_problem(await http.post(up, json={"powerState": "on"}, headers=city.as_("reader")), 403)


async def test_openid_connect_tokens(city: City) -> None:
    http, provider = city.http, city.provider

    def bearer(token: str, tenant: str = "aarhus") -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "NGSILD-Tenant": tenant}

    writer = provider.token(["offline_access", "writer"], ["aarhus"])
    assert (await http.post(f"{V1}/entities", json=LIGHT, headers=bearer(writer))).status_code == 201
    reader = provider.token(["reader"], ["aarhus"])
    assert (await http.get(f"{V1}/entities/{LIGHT['id']}", headers=bearer(reader))).status_code == 200
    assert_problem(await http.delete(f"{V1}/entities/{LIGHT['id']}", headers=bearer(reader)), 403)
    assert_problem(await http.get(f"{V1}/entities/{LIGHT['id']}", headers=bearer(reader, "odense")), 404)
    for refused in (
        provider.token(["admin"], ["*"], forged=True),
        provider.token(["admin"], ["*"], lifetime=-60),
        provider.token(["admin"], ["*"], audience="another-app"),
        provider.token(["mayor"], ["*"]),
    ):
        assert_problem(await http.get(f"{V1}/entities/{LIGHT['id']}", headers=bearer(refused)), 401)
    assert provider.fetches >= 1


async def test_the_ingest_admin_token_gives_way_to_keys(
    settings: Settings, provider: IdentityProvider
) -> None:
    token = settings.model_copy(update={"ingest_admin_token": "an old shared token", "services": []})
    async for city in open_city(token, provider):
        listed = await city.http.get("/ingest/v1/devices", headers=city.as_("admin"))
        assert listed.status_code == 200, listed.text
        assert_problem(await city.http.get("/ingest/v1/devices", headers=city.as_("writer")), 403)
