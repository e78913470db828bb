"""OpenID Connect bearer tokens (docs/security.md): JWTs of the city's identity provider (Keycloak,
Entra ID), checked with `joserfc` against the issuer's signing keys (its JWKS, fetched over HTTP
and cached, or read from a file), for issuer, audience and expiry. The token's role and tenants come
from claims the settings name.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from smartby.api.access import Principal
from smartby.records.keys import ROLES
from smartby.settings import Settings

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
"""Signatures with the issuer's public keys only: no `none`, no shared-secret HMAC."""
REFETCH_SECONDS = 30.0
"""A token signed by a key the cached JWKS lacks makes it fetched again, at most this often."""


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (`realm_access.roles`)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.replace(",", " ").split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class SigningKeys:
    """The issuer's JWKS, from a file or fetched over HTTP and kept for `oidc_jwks_cache` seconds."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._keys: KeySet | None = None
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    async def get(self, refresh: bool = False) -> KeySet:
        clock = time.monotonic()
        stale = clock - self._fetched > self.settings.oidc_jwks_cache
        if self._keys is not None and not stale and not (refresh and clock - self._fetched > REFETCH_SECONDS):
            return self._keys
        async with self._lock:
            if self._keys is None or time.monotonic() - self._fetched > min(
                REFETCH_SECONDS, self.settings.oidc_jwks_cache
            ):
                self._keys = KeySet.import_key_set(await self._load())
                self._fetched = time.monotonic()
        return self._keys

    async def decode(self, token: str) -> jwt.Token:
        """The token's header and claims once its signature checks out (JoseError otherwise); a key
        the cached JWKS lacks makes it fetched again."""
        try:
            return jwt.decode(token, await self.get(), algorithms=ALGORITHMS)
        except JoseError:
            return jwt.decode(token, await self.get(refresh=True), algorithms=ALGORITHMS)

    async def _load(self) -> Any:
        settings = self.settings
        if settings.oidc_jwks_file is not None:
            return orjson.loads(await asyncio.to_thread(settings.oidc_jwks_file.read_bytes))
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
            url = settings.oidc_jwks_url
            if not url:
                discovery = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
                url = (await client.get(discovery)).raise_for_status().json()["jwks_uri"]
            return (await client.get(url)).raise_for_status().json()


class BearerTokens:
    """Turns a JWT into a principal when it is valid (None otherwise)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = SigningKeys(settings)
        self.claims = JWTClaimsRegistry(
            iss={"essential": True, "value": settings.oidc_issuer},
            aud={"essential": True, "value": settings.oidc_audience},
            exp={"essential": True},
            sub={"essential": True},
        )

    async def __call__(self, token: str) -> Principal | None:
        try:
            decoded = await self.keys.decode(token)
            self.claims.validate(decoded.claims)
        except (JoseError, ValueError, httpx.HTTPError, OSError, KeyError):
            return None
        claims = decoded.claims
        roles = _names(claim(claims, self.settings.oidc_roles_claim))
        held = [role for role in ROLES if role in roles]
        if not held:
            return None
        tenants = tuple(_names(claim(claims, self.settings.oidc_tenants_claim)) or [""])
        return Principal(str(claims["sub"]), held[-1], tenants)


def bearer_tokens(settings: Settings) -> BearerTokens | None:
    """The token authenticator the settings configure (None: no issuer, API keys only)."""
    return BearerTokens(settings) if settings.oidc_issuer else None
