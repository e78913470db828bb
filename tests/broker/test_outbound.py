"""Where smartby's own requests may go (broker/outbound.py): link-local and metadata addresses never,
loopback and private ones only with authentication off or when allowed; judged after DNS, at the
connection, redirects included."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartby.broker.outbound import (
    OutboundPolicy,
    OutboundRefused,
    async_client,
    authentication_required,
)
from smartby.ngsild.errors import BadRequestData
from smartby.settings import Settings
from stub_server import Documents, served

OFF = OutboundPolicy()
STRICT = OutboundPolicy(strict=True)


class AuthSettings(Settings):
    """Settings as the identity work gives them: SMARTBY_AUTH."""

    auth: str = "required"


def strict_settings(**values: Any) -> Settings:
    return AuthSettings(_env_file=None, **values)  # type: ignore[call-arg]


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        if self.path == "/ok":
            body = b"fine"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def web() -> Iterator[str]:
    with served(_Redirect) as url:
        yield url


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "169.254.1.2", "fe80::1", "fd00:ec2::254", "::ffff:169.254.169.254"]
)
@pytest.mark.parametrize("policy", [OFF, STRICT, OutboundPolicy(True, (ipaddress.ip_network("0.0.0.0/0"),))])
def test_link_local_and_metadata_are_refused_always(policy: OutboundPolicy, address: str) -> None:
    with pytest.raises(OutboundRefused):
        policy.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.", "[fe80::1]"])
def test_metadata_names_are_refused_before_any_look_up(host: str) -> None:
    with pytest.raises(OutboundRefused):
        OFF.check_host(host)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "100.64.0.1", "::1", "fd12::1", "0.0.0.0"],
)
def test_loopback_and_private_only_with_authentication_off(address: str) -> None:
    OFF.check_address(ipaddress.ip_address(address))
    with pytest.raises(OutboundRefused, match="SMARTBY_OUTBOUND_ALLOW"):
        STRICT.check_address(ipaddress.ip_address(address))


def test_the_allow_list_takes_networks_and_host_names() -> None:
    policy = OutboundPolicy.from_settings(strict_settings(outbound_allow=["10.20.0.0/16", "Receiver.City."]))
    assert policy.strict
    policy.check_address(ipaddress.ip_address("10.20.5.5"))
    policy.check_address(ipaddress.ip_address("192.168.1.1"), "receiver.city")
    with pytest.raises(OutboundRefused):
        policy.check_address(ipaddress.ip_address("10.21.0.1"))
    with pytest.raises(OutboundRefused):
        policy.check_address(ipaddress.ip_address("169.254.169.254"), "receiver.city")


def test_authentication_is_asked_in_one_place() -> None:
    assert not authentication_required(Settings(_env_file=None))  # type: ignore[call-arg]
    assert authentication_required(strict_settings())
    assert not OutboundPolicy.from_settings(Settings(_env_file=None)).strict  # type: ignore[call-arg]


@given(st.ip_addresses())
def test_public_addresses_pass_and_the_rest_is_refused_or_allowed(address: Any) -> None:
    """Every address is judged without error: allowed, or refused with a reason."""
    try:
        STRICT.check_address(address)
    except OutboundRefused as refused:
        assert str(refused)
    else:
        assert not address.is_loopback and not address.is_link_local


async def test_a_name_resolving_to_loopback_is_refused_at_the_connection(web: str) -> None:
    async with async_client(STRICT) as http:
        with pytest.raises(httpx.ConnectError, match="loopback"):
            await http.get(f"{web}/ok")
    async with async_client(OFF) as http:
        assert (await http.get(f"{web}/ok")).text == "fine"


async def test_every_redirect_is_judged(web: str) -> None:
    _Redirect.target = "http://169.254.169.254/latest/meta-data/"
    async with async_client(OFF, follow_redirects=True) as http:
        with pytest.raises(httpx.ConnectError, match=r"link-local|metadata"):
            await http.get(f"{web}/go")
    allowed = OutboundPolicy.from_settings(strict_settings(outbound_allow=["127.0.0.0/8"]))
    _Redirect.target = web.replace("localhost", "[::1]") + "/ok"
    async with async_client(allowed, follow_redirects=True) as http:
        with pytest.raises(httpx.ConnectError, match="loopback"):
            await http.get(f"{web}/go")


async def test_endpoints_are_checked_as_subscriptions_are_made(web: str) -> None:
    await OFF.check_endpoint(f"{web}/notify")
    await OFF.check_endpoint("http://no-such-host.invalid/notify")  # checked again at delivery
    for uri in ("http://169.254.169.254/x", "mqtt://metadata.google.internal/t", f"{web}/notify"):
        with pytest.raises(BadRequestData):
            await STRICT.check_endpoint(uri)


class _Proxy(Documents):
    """A forward proxy as far as a test needs one: it answers every request itself (by the
    absolute-form target) and keeps the targets it was asked for."""

    asked: list[str] = []
    bodies: ClassVar[dict[str, bytes]] = {
        "http://192.0.2.10/context.jsonld": b'{"@context": {"brightness": "https://city.example/brightness"}}'
    }

    def do_GET(self) -> None:
        self.asked.append(self.path)
        super().do_GET()


async def test_requests_go_through_the_egress_proxy_each_judged_first() -> None:
    _Proxy.asked = []
    with served(_Proxy, host="127.0.0.1") as proxy:
        policy = OutboundPolicy(strict=True, proxy=proxy)
        async with async_client(policy, timeout=5) as http:
            # A public literal and a name only the proxy may know both go to the proxy.
            fetched = await http.get("http://192.0.2.10/context.jsonld")
            assert fetched.json()["@context"]["brightness"] == "https://city.example/brightness"
            await http.get("http://contexts.city.invalid/a.jsonld")
            for refused in ("http://169.254.169.254/latest/", "http://127.0.0.1:1/x", "http://localhost/"):
                with pytest.raises(httpx.ConnectError):
                    await http.get(refused)
    assert _Proxy.asked == ["http://192.0.2.10/context.jsonld", "http://contexts.city.invalid/a.jsonld"]


def test_the_proxy_setting_is_a_url_and_reaches_the_policy() -> None:
    policy = OutboundPolicy.from_settings(strict_settings(outbound_proxy="http://proxy.city.internal:3128"))
    assert policy.proxy == "http://proxy.city.internal:3128"
    with pytest.raises(ValueError):
        strict_settings(outbound_proxy="proxy.city.internal:3128")


async def test_a_host_no_name_could_have_is_a_bad_request_not_a_crash() -> None:
    """An empty or over-long label cannot be encoded (IDNA, RFC 5891): never a resolvable name, so
    a 400 as the subscription is made, and unreachable at delivery (the fuzz test's draw)."""
    host = "a" * 64 + ".example"
    with pytest.raises(BadRequestData, match="not a valid name"):
        await OFF.check_endpoint(f"http://{host}/notify")
    with pytest.raises(OutboundRefused):
        await OFF.resolve(host, 80)
    async with async_client(OFF) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://{host}/notify")
