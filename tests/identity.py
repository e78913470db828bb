"""Identities for the access-control tests: an identity provider's signing keys served as a JWKS by
a real HTTP server, the tokens it (or a forger) signs, and smartby with authentication on and keys
of each kind."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from smartby.api.app import create_app
from smartby.api.keyring import Keyring
from smartby.assembly import assemble
from smartby.settings import Settings

ISSUER = "https://idp.city.test/realms/city"
AUDIENCE = "smartby"


class IdentityProvider:
    """Signs tokens, and serves its public keys at `jwks_url` from a real HTTP server."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "city-1"})
        self.forger = RSAKey.generate_key(2048, parameters={"kid": "city-1"})
        """A key of the same id the provider never published."""
        body = orjson.dumps(KeySet([self.key]).as_dict(private=False))
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def token(
        self,
        roles: list[str],
        tenants: list[str],
        *,
        audience: str = AUDIENCE,
        lifetime: float = 300,
        forged: bool = False,
        subject: str = "someone",
    ) -> str:
        issued = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "sub": subject,
            "iat": issued,
            "exp": int(issued + lifetime),
            "realm_access": {"roles": roles},
            "smartby_tenants": tenants,
        }
        key = self.forger if forged else self.key
        return jwt.encode({"alg": "RS256", "kid": "city-1"}, claims, key)


def secured(settings: Settings, provider: IdentityProvider) -> Settings:
    """The settings with authentication required and the provider's tokens accepted."""
    return settings.model_copy(
        update={
            "auth": "required",
            "oidc_issuer": ISSUER,
            "oidc_audience": AUDIENCE,
            "oidc_jwks_url": provider.jwks_url,
            "oidc_roles_claim": "realm_access.roles",
            "oidc_tenants_claim": "smartby_tenants",
        }
    )


@dataclass
class City:
    http: httpx.AsyncClient
    keyring: Keyring
    keys: dict[str, str]
    provider: IdentityProvider

    def as_(self, name: str, tenant: str | None = "aarhus", header: str = "authorization") -> dict[str, str]:
        secret = self.keys[name]
        headers = (
            {"Authorization": f"Bearer {secret}"} if header == "authorization" else {"X-Api-Key": secret}
        )
        if tenant is not None:
            headers["NGSILD-Tenant"] = tenant
        return headers


async def open_city(settings: Settings, provider: IdentityProvider) -> AsyncIterator[City]:
    """smartby with authentication required: tenants aarhus and odense, and keys of each kind."""
    parts = assemble(secured(settings, provider))
    await parts.broker.open()
    try:
        app = create_app(parts)
        keyring: Keyring = app.state.keyring
        for tenant in ("aarhus", "odense"):
            await keyring.records.create_tenant(tenant)
        keys = {}
        for name, tenants, role in (
            ("operator", ["*"], "admin"),
            ("reader", ["aarhus"], "reader"),
            ("writer", ["aarhus"], "writer"),
            ("admin", ["aarhus"], "admin"),
            ("admin2", ["aarhus"], "admin"),
            ("stranger", ["odense"], "admin"),
            ("revoked", ["aarhus"], "admin"),
        ):
            keys[name] = (await keyring.create(name, tenants, role))[1]
        keys["expired"] = (
            await keyring.create("expired", ["aarhus"], "admin", expires="2020-01-01T00:00:00Z")
        )[1]
        await keyring.revoke("revoked")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://smartby.test") as http:
            yield City(http, keyring, keys, provider)
    finally:
        await parts.broker.close()
