"""Where smartby may send requests of its own: notification endpoints (HTTP(S), MQTT), remote
@contexts, and webhooks such as The Things Stack's downlink push (docs/outbound.md).

Link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata services (169.254.169.254,
fd00:ec2::254, metadata.google.internal) are refused always. With authentication required, loopback,
private, shared (CGNAT), unspecified and unique-local addresses are refused too, unless
SMARTBY_OUTBOUND_ALLOW names them (a network or a host name). An address is judged after DNS
resolution, at the moment a connection is made: the HTTP clients built here connect to the address
they checked, so a redirect, or a name that resolves elsewhere the second time, gets no further.

A refusal or a failed connection reads the same to whoever made the subscription ("could not be
reached"): the details of a delivery never tell an open port from a closed one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from smartby.ngsild.errors import BadRequestData
from smartby.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
"""Host names of cloud metadata services, refused before any look-up."""
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
LINK_LOCAL = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10"))
INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::/128",
        "::1/128",
        "fc00::/7",
    )
)
"""Refused only with authentication required: loopback, private and unique-local networks."""
UNREACHABLE = "could not be reached"


def authentication_required(settings: Settings) -> bool:
    """Whether requests must authenticate (SMARTBY_AUTH=required): the one place outbound limits
    ask."""
    return settings.auth == "required"


class OutboundRefused(Exception):
    """A destination the policy does not allow; its message says why, without naming ports."""


@dataclass(frozen=True)
class OutboundPolicy:
    """Which addresses outbound requests may reach."""

    strict: bool = False
    """Refuse loopback and private addresses too (authentication required)."""
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    proxy: str = ""
    """The city's egress proxy for HTTP(S) (SMARTBY_OUTBOUND_PROXY); empty: connect directly."""

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in settings.outbound_allow:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(
            authentication_required(settings), tuple(networks), frozenset(hosts), settings.outbound_proxy
        )

    def check_address(self, address: IPAddress, host: str = "") -> None:
        """Raise OutboundRefused unless `address` (`host` resolved to it) may be reached."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address in METADATA_ADDRESSES:
            raise OutboundRefused(f"{host or address} is a cloud metadata address")
        if any(address in network for network in LINK_LOCAL):
            raise OutboundRefused(f"{host or address} is a link-local address")
        if not self.strict or host.lower().rstrip(".") in self.hosts:
            return
        if any(address in network for network in self.networks):
            return
        if any(address in network for network in INTERNAL) or address.is_multicast:
            raise OutboundRefused(
                f"{host or address} is a loopback or private address (not in SMARTBY_OUTBOUND_ALLOW)"
            )

    def check_host(self, host: str) -> IPAddress | None:
        """Judge what can be judged of `host` before a look-up: a metadata name, or an address
        literal (given back)."""
        name = host.strip("[]").lower().rstrip(".")
        if name in METADATA_HOSTS:
            raise OutboundRefused(f"{host} is a cloud metadata service")
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return None
        self.check_address(address, host)
        return address

    def addresses(self, host: str, infos: Iterable[tuple[Any, ...]]) -> list[str]:
        """The addresses `host` resolved to, each checked: all must be allowed, or none is used
        (a name that resolves to a private address among public ones is refused)."""
        found: list[str] = []
        for info in infos:
            text = str(info[4][0]).split("%", 1)[0]
            self.check_address(ipaddress.ip_address(text), host)
            if text not in found:
                found.append(text)
        if not found:
            raise OutboundRefused(f"{host} resolves to no address")
        return found

    async def resolve(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for `host`."""
        literal = self.check_host(host)
        if literal is not None:
            return [str(literal)]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):  # UnicodeError: a name IDNA cannot encode, never resolving
            raise OutboundRefused(f"{host} {UNREACHABLE}") from None
        return self.addresses(host, infos)

    async def check_endpoint(self, uri: str, what: str = "notification.endpoint.uri") -> None:
        """Refuse (400 BadRequestData) an endpoint whose host is not allowed, as a subscription is
        created or changed. A name that does not resolve now is let through: delivery checks again."""
        parts = urlsplit(uri)
        host = parts.hostname or ""
        try:
            literal = self.check_host(host)
            if literal is not None:
                return
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, parts.port or 0, type=socket.SOCK_STREAM)
            except UnicodeError:
                raise BadRequestData(f"{what} names a host that is not a valid name: {host!r}") from None
            except OSError:
                return
            self.addresses(host, infos)
        except OutboundRefused as refused:
            raise BadRequestData(f"{what} is not allowed: {refused}") from None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the policy allows, to the very address it checked."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._policy.resolve(host, port)
        except OutboundRefused as refused:
            raise httpcore.ConnectError(str(refused)) from None
        failure: Exception = httpcore.ConnectError(f"{host} {UNREACHABLE}")
        for address in addresses:  # in the resolver's order, as a client without the check would
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def async_client(policy: OutboundPolicy, **options: Any) -> httpx.AsyncClient:
    """An httpx client whose every connection (redirects included) goes through `policy`. No
    proxies from the environment (`HTTP_PROXY`): a proxy would make the connection the policy judges.
    The proxy the policy names (SMARTBY_OUTBOUND_PROXY) is the operator's: requests go through it,
    each judged before it is sent (`_through_proxy`)."""
    if policy.proxy:
        return _through_proxy(policy, **options)
    transport = httpx.AsyncHTTPTransport()
    # httpx builds its pool without a way to pass a network backend; the pool is replaced with one
    # that has it (the same httpcore pool httpx would make, with its default SSL context).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=_GuardedBackend(policy)
    )
    return httpx.AsyncClient(transport=transport, trust_env=False, **options)


def _through_proxy(policy: OutboundPolicy, **options: Any) -> httpx.AsyncClient:
    """A client sending every request (redirects included) through the egress proxy, once its
    destination is judged: an address literal or a metadata name as always; a name as it resolves
    here. A name that does not resolve here is left to the proxy (in a closed network only the proxy
    may know names), which enforces the city's own egress rules."""

    async def judged(request: httpx.Request) -> None:
        host = request.url.host
        try:
            if policy.check_host(host) is None:
                loop = asyncio.get_running_loop()
                try:
                    infos = await loop.getaddrinfo(host, request.url.port or 0, type=socket.SOCK_STREAM)
                except (OSError, UnicodeError):
                    return
                policy.addresses(host, infos)
        except OutboundRefused as refused:
            raise httpx.ConnectError(str(refused), request=request) from None

    hooks = dict(options.pop("event_hooks", {}))
    hooks["request"] = [judged, *hooks.get("request", [])]
    return httpx.AsyncClient(proxy=policy.proxy, trust_env=False, event_hooks=hooks, **options)
