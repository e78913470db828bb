"""Outbound limits through the API on both backends (docs/outbound.md): subscriptions to refused
endpoints are a 400 when made or changed, receiverInfo cannot set connection headers, and remote
@contexts are fetched within a total time and a size, keeping only their @context."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from conftest import api_client, free_port
from receiver import Receiver
from smartby.settings import Settings
from stub_server import Documents, served

V1 = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


class AuthSettings(Settings):
    """Settings with authentication required (SMARTBY_AUTH=required); `api_client` then sends an
    operator's key."""

    auth: str = "required"


def subscription(uri: str, **endpoint: Any) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "Lamp"}],
        "notification": {"endpoint": {"uri": uri, **endpoint}},
    }


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}


def bad_request(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == ERRORS + "BadRequestData", body
    return str(body.get("detail", ""))


class _Contexts(Documents):
    protocol_version = "HTTP/1.1"
    big = b'{"@context": {"a": "https://example.org/a"}, "pad": "' + b"x" * 300_000 + b'"}'

    def do_GET(self) -> None:
        if self.path == "/slow.jsonld":
            body = b'{"@context": {"slow": "https://example.org/slow"}}' + b" " * 200
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for byte in body:  # one byte at a time: no read waits long, the whole takes long
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.02)
            return
        if self.path == "/big-chunked.jsonld":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(self.big), 16384):
                chunk = self.big[start : start + 16384]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return
        super().do_GET()


_Contexts.bodies = {
    "/big.jsonld": _Contexts.big,
    "/extra.jsonld": b'{"@context": {"speed": "https://example.org/speed"}, "secret": "not yours"}',
}


@pytest.fixture
def web() -> Iterator[str]:
    with served(_Contexts) as url:
        yield url


@pytest.fixture
async def strict(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """smartby with authentication required (outbound requests to loopback refused)."""
    settings = AuthSettings(database=database_url, remote_contexts=False, _env_file=None)  # type: ignore[call-arg]
    async with api_client(settings) as http:
        yield http


@pytest.fixture
async def fetching(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """smartby fetching remote @contexts, with small limits."""
    settings = Settings(  # type: ignore[call-arg]
        database=database_url, context_timeout=2.0, context_max_bytes=100_000, _env_file=None
    )
    async with api_client(settings) as http:
        yield http


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest",
        "http://metadata.google.internal/computeMetadata/v1/",
        "mqtt://169.254.10.10:1883/probe",
        "http://[fe80::1]:8080/notify",
    ],
)
async def test_metadata_and_link_local_endpoints_are_refused(client: httpx.AsyncClient, uri: str) -> None:
    bad_request(await client.post(f"{V1}/subscriptions", json=subscription(uri), headers=JSON))
    if uri.startswith("http"):  # csource notifications go over HTTP only
        bad_request(await client.post(f"{V1}/csourceSubscriptions", json=subscription(uri), headers=JSON))


async def test_with_authentication_loopback_is_refused_when_made_or_changed(
    strict: httpx.AsyncClient, client: httpx.AsyncClient, web: str
) -> None:
    local = f"{web}/notify"  # localhost: a name that resolves to loopback
    detail = bad_request(await strict.post(f"{V1}/subscriptions", json=subscription(local), headers=JSON))
    assert "loopback" in detail
    bad_request(await strict.post(f"{V1}/csourceSubscriptions", json=subscription(local), headers=JSON))
    made = await strict.post(f"{V1}/subscriptions", json=subscription("http://192.0.2.10/n"), headers=JSON)
    assert made.status_code == 201, made.text
    change = {"notification": {"endpoint": {"uri": "mqtt://127.0.0.1:1883/t"}}}
    bad_request(await strict.patch(made.headers["location"], json=change, headers=JSON))
    # Without authentication (a laptop, a test run) loopback is fine.
    accepted = await client.post(f"{V1}/subscriptions", json=subscription(local), headers=JSON)
    assert accepted.status_code == 201, accepted.text


async def test_the_allow_list_lets_named_hosts_through(database_url: str, web: str) -> None:
    settings = AuthSettings(  # type: ignore[call-arg]
        database=database_url, remote_contexts=False, outbound_allow=["localhost"], _env_file=None
    )
    async with api_client(settings) as http:
        made = await http.post(f"{V1}/subscriptions", json=subscription(f"{web}/n"), headers=JSON)
        assert made.status_code == 201, made.text


def registration(endpoint: str) -> dict[str, object]:
    return {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Lamp"}]}],
        "endpoint": endpoint,
    }


async def test_a_registration_endpoint_is_judged_when_made_or_changed(
    strict: httpx.AsyncClient, client: httpx.AsyncClient, web: str
) -> None:
    for endpoint in ("http://169.254.169.254/latest", "http://metadata.google.internal/"):
        assert "endpoint" in bad_request(
            await client.post(f"{V1}/csourceRegistrations", json=registration(endpoint), headers=JSON)
        )
    detail = bad_request(
        await strict.post(f"{V1}/csourceRegistrations", json=registration(web), headers=JSON)
    )
    assert "loopback" in detail
    made = await strict.post(
        f"{V1}/csourceRegistrations", json=registration("http://192.0.2.10/broker"), headers=JSON
    )
    assert made.status_code == 201, made.text
    moved = {"endpoint": "http://[fe80::1]:1026"}
    bad_request(await strict.patch(made.headers["location"], json=moved, headers=JSON))
    kept = await strict.get(made.headers["location"])
    assert kept.json()["endpoint"] == "http://192.0.2.10/broker"
    # Without authentication a broker on the same machine may be registered.
    assert (
        await client.post(f"{V1}/csourceRegistrations", json=registration(web), headers=JSON)
    ).status_code == 201


@pytest.mark.parametrize("header", ["Host", "content-length", "Transfer-Encoding", "Connection", "Upgrade"])
async def test_receiver_info_may_not_set_connection_headers(client: httpx.AsyncClient, header: str) -> None:
    body = subscription("http://192.0.2.10/n", receiverInfo=[{"key": header, "value": "x"}])
    assert header in bad_request(await client.post(f"{V1}/subscriptions", json=body, headers=JSON))
    fine = subscription("http://192.0.2.10/n", receiverInfo=[{"key": "X-Api-Key", "value": "x"}])
    assert (await client.post(f"{V1}/subscriptions", json=fine, headers=JSON)).status_code == 201


async def test_a_context_is_fetched_within_a_total_time(fetching: httpx.AsyncClient, web: str) -> None:
    response = await fetching.get(
        f"{V1}/entities", params={"type": "Lamp"}, headers=link(f"{web}/slow.jsonld")
    )
    assert response.status_code == 503, response.text
    assert response.json()["type"] == ERRORS + "LdContextNotAvailable"


@pytest.mark.parametrize("path", ["/big.jsonld", "/big-chunked.jsonld"])
async def test_a_context_past_the_size_limit_is_not_kept(
    fetching: httpx.AsyncClient, web: str, path: str
) -> None:
    response = await fetching.get(f"{V1}/entities", params={"type": "Lamp"}, headers=link(web + path))
    assert "larger than 100000 bytes" in bad_request(response)
    listed = await fetching.get(f"{V1}/jsonldContexts", params={"kind": "Cached"})
    assert web + path not in listed.json()


async def test_only_the_context_member_of_a_fetched_document_is_kept(
    fetching: httpx.AsyncClient, web: str
) -> None:
    url = f"{web}/extra.jsonld"
    response = await fetching.get(f"{V1}/entities", params={"type": "Lamp"}, headers=link(url))
    assert response.status_code == 200, response.text
    listed = await fetching.get(f"{V1}/jsonldContexts", params={"details": "true", "kind": "Cached"})
    assert [info["URL"] for info in listed.json() if info["URL"] == url] == [url]
    served = await fetching.get(f"{V1}/jsonldContexts/{url}")
    assert "not yours" not in served.text


async def test_failures_do_not_tell_open_ports_from_closed(fetching: httpx.AsyncClient) -> None:
    """A closed port, and a port that accepts and closes at once, read the same."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()

    def hang_up() -> None:
        connection, _ = listening.accept()
        connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    details = []
    try:
        for port in (closed_port, listening.getsockname()[1]):
            url = f"http://127.0.0.1:{port}/c.jsonld"
            response = await fetching.get(f"{V1}/entities", params={"type": "Lamp"}, headers=link(url))
            assert response.status_code == 503, response.text
            details.append(response.json()["detail"].replace(str(port), "PORT"))
    finally:
        thread.join(timeout=5)
        listening.close()
    assert details[0] == details[1]


async def test_delivery_checks_the_endpoint_again(database_url: str) -> None:
    """A subscription made while loopback was allowed is not delivered to once authentication is
    required: the notifier judges the address at the connection, and counts a failure."""
    receiver = Receiver(free_port())
    receiver.start()
    try:
        open_settings = Settings(database=database_url, remote_contexts=False, _env_file=None)  # type: ignore[call-arg]
        async with api_client(open_settings) as http:
            made = await http.post(f"{V1}/subscriptions", json=subscription(receiver.url), headers=JSON)
            assert made.status_code == 201, made.text
        strict_settings = AuthSettings(database=database_url, remote_contexts=False, _env_file=None)  # type: ignore[call-arg]
        async with api_client(strict_settings) as http:
            lamp = {"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp", "on": {"type": "Property", "value": True}}
            assert (await http.post(f"{V1}/entities", json=lamp, headers=JSON)).status_code == 201
            status: dict[str, Any] = {}
            for _ in range(500):
                status = (await http.get(made.headers["location"])).json()
                if status.get("notification", {}).get("timesFailed"):
                    break
                await asyncio.sleep(0.02)
            assert status["notification"]["timesFailed"] >= 1, status
        assert receiver.received == []
    finally:
        receiver.stop()
