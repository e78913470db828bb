"""Identities for the access-control tests: an identity provider's signing keys served as a JWKS by
a real HTTP server, the tokens it (or a forger) signs, and settings that turn authentication on."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

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
