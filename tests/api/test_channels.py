"""/admin/v1/channels (docs/alert-channels.md): an admin's of the tenant, audited like subscriptions,
every malformed request a 400 ProblemDetails, and the channel's subscription a standard one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import api_client, free_port
from identity import City
from smartby.broker.channel_samples import SAMPLES
from smartby.settings import Settings

CHANNELS = "/admin/v1/channels"
SUBSCRIPTIONS = "/ngsi-ld/v1/subscriptions"
HOOK = "http://192.0.2.10/hook"
SLACK = {"name": "duty", "kind": "webhook", "target": HOOK, "template": SAMPLES["slack"].template}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
    return body


async def test_channels_are_made_shown_changed_and_removed(client: httpx.AsyncClient) -> None:
    made = await client.post(
        CHANNELS, json={**SLACK, "q": 'severity=="high"', "headers": {"X-Key": "s3cret"}}
    )
    assert made.status_code == 201, made.text
    assert made.headers["Location"] == f"{CHANNELS}/duty"
    view = made.json()
    assert view["entityTypes"] == ["Alert"] and view["contentType"] == "application/json"
    assert view["q"] == 'severity=="high"' and view["headers"] == {"X-Key": "s3cret"}
    assert view["subscriptionId"] == "urn:ngsi-ld:Subscription:channel:duty"
    assert view["delivery"] == {}
    assert (await client.get(f"{CHANNELS}/duty")).json() == view
    assert [item["name"] for item in (await client.get(CHANNELS)).json()] == ["duty"]
    # Its subscription is a standard one: listed, with neither template nor headers.
    [sub] = (await client.get(SUBSCRIPTIONS)).json()
    assert sub["id"] == view["subscriptionId"] and sub["q"] == 'severity=="high"'
    assert sub["notification"]["endpoint"]["uri"] == HOOK and sub["notification"]["format"] == "keyValues"
    assert "@channel" not in sub and "s3cret" not in str(sub) and "template" not in sub
    patched = await client.patch(f"{CHANNELS}/duty", json={"q": None, "throttling": 60})
    assert patched.status_code == 200, patched.text
    assert "q" not in patched.json() and patched.json()["throttling"] == 60
    replaced = await client.put(
        f"{CHANNELS}/duty",
        json={"kind": "email", "target": ["a@city.example"], "template": "{{ alert.severity }}"},
    )
    assert replaced.status_code == 200, replaced.text
    shown = replaced.json()
    assert shown["kind"] == "email" and shown["target"] == ["a@city.example"] and "throttling" not in shown
    assert shown["subject"] == SAMPLES["email"].subject
    [sub] = (await client.get(SUBSCRIPTIONS)).json()
    assert sub["notification"]["endpoint"]["uri"] == "mailto:a@city.example"
    tested = (await client.post(f"{CHANNELS}/duty/test")).json()
    assert tested["delivered"] is False and "SMARTBY_SMTP_HOST" in tested["reason"]
    assert (await client.delete(f"{CHANNELS}/duty")).status_code == 204
    assert_problem(await client.get(f"{CHANNELS}/duty"), 404)
    assert (await client.get(SUBSCRIPTIONS)).json() == []


BAD = [
    ({**SLACK, "kind": "sms"}, "kind"),
    ({**SLACK, "name": "no spaces"}, "name"),
    ({**SLACK, "target": "ftp://x.example/"}, "http"),
    ({**SLACK, "target": ["a@b.example"]}, "target"),
    ({**SLACK, "kind": "email", "target": ["not an address"]}, "e-mail address"),
    ({**SLACK, "kind": "email", "target": []}, "addresses"),
    ({**SLACK, "template": "{\n{% for x in %}"}, "line 2"),
    ({**SLACK, "template": ""}, "template"),
    ({**SLACK, "template": 3}, "template"),
    ({**SLACK, "q": "severity=="}, "q"),
    ({**SLACK, "geoQ": {"geometry": "Point", "coordinates": [1], "georel": "near;maxDistance==1"}}, ""),
    ({**SLACK, "geoQ": {"geometry": "Point", "coordinates": [12, 55], "georel": "nearby"}}, ""),
    ({**SLACK, "entityTypes": []}, "entityTypes"),
    ({**SLACK, "throttling": 0}, "throttling"),
    ({**SLACK, "headers": {"Content-Length": "1"}}, "headers"),
    ({**SLACK, "headers": {"X-A": "b\r\nX-B: c"}}, "one line"),
    ({**SLACK, "headers": {"X-A": "blåbær"}}, "ASCII"),
    ({**SLACK, "contentType": "json"}, "media type"),
    ({**SLACK, "subject": "{{ x }}"}, "e-mail"),
    ({**SLACK, "colour": "red"}, "Unknown"),
    ({**SLACK, "@context": 5}, "@context"),
    ({k: v for k, v in SLACK.items() if k != "target"}, "target"),
    ({k: v for k, v in SLACK.items() if k != "name"}, "name"),
    ([SLACK], "object"),
]


@pytest.mark.parametrize(("body", "said"), BAD, ids=[f"bad-{n}" for n in range(len(BAD))])
async def test_a_malformed_channel_is_a_400(client: httpx.AsyncClient, body: Any, said: str) -> None:
    problem = assert_problem(await client.post(CHANNELS, json=body), 400)
    assert said in problem["detail"]
    assert (await client.get(CHANNELS)).json() == []
    assert (await client.get(SUBSCRIPTIONS)).json() == []


async def test_other_malformed_requests(client: httpx.AsyncClient) -> None:
    assert (await client.post(CHANNELS, json=SLACK)).status_code == 201
    assert_problem(await client.post(CHANNELS, json=SLACK), 409)
    assert_problem(
        await client.post(CHANNELS, content=b"{", headers={"Content-Type": "application/json"}), 400
    )
    assert_problem(await client.post(CHANNELS, content=b"x", headers={"Content-Type": "text/plain"}), 415)
    assert_problem(await client.patch(f"{CHANNELS}/duty", json={}), 400)
    assert_problem(await client.patch(f"{CHANNELS}/duty", json={"template": "{{"}), 400)
    assert_problem(await client.put(f"{CHANNELS}/duty", json={**SLACK, "name": "other"}), 400)
    assert_problem(await client.put(f"{CHANNELS}/nobody", json=SLACK), 404)
    assert_problem(await client.get(f"{CHANNELS}/no%20such"), 400)
    assert_problem(await client.post(f"{CHANNELS}/nobody/test"), 404)
    assert_problem(await client.get(CHANNELS, params={"limit": "1"}), 400)
    assert (await client.get(f"{CHANNELS}/duty")).json()["template"] == SLACK["template"]


async def test_an_smtp_server_that_is_not_there(settings: Settings) -> None:
    port = free_port()
    update = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout": 2.0}
    async with api_client(settings.model_copy(update=update)) as http:
        body = {"name": "mail", "kind": "email", "target": "duty@city.example", "template": "x"}
        assert (await http.post(CHANNELS, json=body)).status_code == 201
        tested = (await http.post(f"{CHANNELS}/mail/test")).json()
        assert tested["delivered"] is False
        assert tested["reason"] == f"the SMTP server 127.0.0.1:{port} could not be reached"
        assert tested["messages"] == [
            {
                "subject": "[smartby] high: cloudburst at urn:ngsi-ld:WeatherObserved:botanical-garden",
                "body": "x",
            }
        ]


async def test_channels_are_a_tenant_admins_and_audited(city: City) -> None:
    http = city.http
    assert_problem(await http.post(CHANNELS, json=SLACK, headers=city.as_("writer")), 403)
    made = await http.post(CHANNELS, json=SLACK, headers=city.as_("admin"))
    assert made.status_code == 201, made.text
    assert_problem(await http.get(f"{CHANNELS}/duty", headers=city.as_("reader")), 403)
    assert_problem(await http.get(f"{CHANNELS}/duty", headers=city.as_("stranger", tenant="odense")), 404)
    assert (await http.get(CHANNELS, headers=city.as_("stranger", tenant="odense"))).json() == []
    assert (await http.get(f"{CHANNELS}/duty", headers=city.as_("admin"))).status_code == 200
    # Loopback and private receivers are refused with authentication required, as for subscriptions.
    local = {**SLACK, "name": "local", "target": "http://127.0.0.1:9/hook"}
    assert_problem(await http.post(CHANNELS, json=local, headers=city.as_("admin")), 400)
    patched = await http.patch(f"{CHANNELS}/duty", json={"q": 'severity=="high"'}, headers=city.as_("admin"))
    assert patched.status_code == 200
    assert (await http.delete(f"{CHANNELS}/duty", headers=city.as_("admin"))).status_code == 204
    operator = city.as_("operator", None)
    found = (
        await http.get("/admin/v1/audit", params={"actor": "admin", "tenant": "aarhus"}, headers=operator)
    ).json()
    done = [(r["operation"], r["target"], r["outcome"]) for r in found if r["outcome"] == "ok"]
    sub = "urn:ngsi-ld:Subscription:channel:duty"
    assert done == [
        ("DELETE /admin/v1/channels/{name}", sub, "ok"),
        ("PATCH /admin/v1/channels/{name}", sub, "ok"),
        ("POST /admin/v1/channels", sub, "ok"),
    ]
