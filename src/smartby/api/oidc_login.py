"""The dashboard's sign-in through the city's OpenID Connect provider (Keycloak, Entra ID): the
authorization-code flow with PKCE (RFC 7636, S256), docs/security.md.

`/dashboard/oidc/login` sends the browser to the provider's authorization endpoint (found by
discovery, `<oidc_issuer>/.well-known/openid-configuration`) with a fresh state, nonce and code
challenge; the state, nonce and verifier wait in a short-lived HttpOnly cookie on
`/dashboard/oidc` (SameSite=Lax: the provider's redirect back is a cross-site navigation, which a
Strict cookie would not follow), so any of several smartby processes can finish the sign-in.
`/dashboard/oidc/callback` checks the state, exchanges the code for tokens at the token endpoint
(with the verifier, and the client secret of a confidential client), checks the id_token (signature,
issuer, audience = client id, expiry, nonce) and the access token as the API checks any bearer token
(`smartby.api.tokens`), and hands the browser the access token as the dashboard's session cookie
(`smartby.api.dashboard_session`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi import APIRouter, FastAPI
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from smartby.api.dashboard_session import SESSION_COOKIE, SESSION_PATH
from smartby.api.problems import problem_response
from smartby.api.tokens import BearerTokens
from smartby.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound
from smartby.settings import Settings

LOGIN_COOKIE = "smartby_oidc_login"
LOGIN_PATH = "/dashboard/oidc"
LOGIN_SECONDS = 600
"""How long a sign-in may stay at the identity provider."""
CALLBACK = "dashboard/oidc/callback"
LARGEST_COOKIE = 4000
"""Browsers keep cookies of up to about 4 KB."""
TIMEOUT = 10.0

router = APIRouter()


class SignInRefused(NgsiLdError):
    """The identity provider, or smartby, did not accept the sign-in."""

    type_name = "InvalidRequest"
    status = 403
    title = "Sign-in refused"


class ProviderUnreachable(NgsiLdError):
    """The identity provider did not answer as OpenID Connect says."""

    type_name = "InternalError"
    status = 502
    title = "Identity provider unreachable"


@dataclass(frozen=True)
class Endpoints:
    """Where the provider's discovery document says to sign in and to exchange codes."""

    authorization: str
    token: str
    basic_auth: bool
    """Send the client secret as HTTP Basic (client_secret_basic) rather than in the form."""


def code_challenge(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL(SHA256(verifier)), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _http_url(value: Any) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise ProviderUnreachable("The identity provider's discovery document lacks an endpoint")
    return value


def _said(text: str | None) -> str:
    """A provider's error text, fit to repeat in a problem detail."""
    return "".join(c for c in (text or "")[:200] if c.isprintable())


class OidcLogin:
    """The sign-in's settings, the provider's endpoints (discovered once, kept for an hour), and the
    token checks."""

    def __init__(self, settings: Settings, tokens: BearerTokens | None) -> None:
        self.settings = settings
        self.tokens = tokens
        self._endpoints: Endpoints | None = None
        self._discovered = 0.0

    @property
    def configured(self) -> bool:
        return self.tokens is not None and bool(self.settings.oidc_client_id)

    def redirect_uri(self, request: Request) -> str:
        return self.settings.oidc_redirect_url or f"{request.base_url}{CALLBACK}"

    def scopes(self) -> str:
        scopes = self.settings.oidc_scopes.split()
        return " ".join(scopes if "openid" in scopes else ["openid", *scopes])

    async def endpoints(self) -> Endpoints:
        if self._endpoints is not None and time.monotonic() - self._discovered < 3600:
            return self._endpoints
        issuer = self.settings.oidc_issuer
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
                answer = await client.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
                document = answer.raise_for_status().json()
        except (httpx.HTTPError, ValueError) as error:
            raise ProviderUnreachable(
                f"The identity provider's discovery failed: {type(error).__name__}"
            ) from error
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise ProviderUnreachable("The identity provider's discovery document is of another issuer")
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        self._endpoints = Endpoints(
            _http_url(document.get("authorization_endpoint")),
            _http_url(document.get("token_endpoint")),
            isinstance(methods, list) and "client_secret_basic" in methods,
        )
        self._discovered = time.monotonic()
        return self._endpoints

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """The provider's tokens for the code (RFC 6749 4.1.3, with RFC 7636 4.5's verifier)."""
        endpoints = await self.endpoints()
        settings = self.settings
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": settings.oidc_client_id,
            "code_verifier": verifier,
        }
        auth: httpx.BasicAuth | None = None
        if settings.oidc_client_secret is not None:
            secret = settings.oidc_client_secret.get_secret_value()
            if endpoints.basic_auth:
                auth = httpx.BasicAuth(settings.oidc_client_id, secret)
            else:
                form["client_secret"] = secret
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, auth=auth) as client:
                answer = await client.post(endpoints.token, data=form, headers={"Accept": "application/json"})
                body = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ProviderUnreachable(
                f"The identity provider's token endpoint failed: {type(error).__name__}"
            ) from error
        if not isinstance(body, dict):
            raise ProviderUnreachable("The identity provider's token endpoint answered no JSON object")
        if answer.status_code != 200:
            said = _said(str(body.get("error", answer.status_code)))
            described = _said(
                body.get("error_description") if isinstance(body.get("error_description"), str) else ""
            )
            raise SignInRefused(
                f"The identity provider did not exchange the code: {said} {described}".strip()
            )
        return body

    async def check_id_token(self, id_token: Any, nonce: str) -> None:
        """OpenID Connect Core 3.1.3.7: signed by the issuer, for this client, not expired, with
        the nonce this sign-in sent."""
        assert self.tokens is not None
        registry = JWTClaimsRegistry(
            iss={"essential": True, "value": self.settings.oidc_issuer},
            aud={"essential": True, "value": self.settings.oidc_client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            if not isinstance(id_token, str):
                raise ValueError("no id_token")
            registry.validate((await self.tokens.keys.decode(id_token)).claims)
        except (JoseError, ValueError, httpx.HTTPError, OSError, KeyError) as error:
            raise SignInRefused(
                f"The identity provider's id_token was not accepted ({type(error).__name__})"
            ) from error

    async def check_access_token(self, access_token: Any) -> str:
        """The access token, where the API would accept it as a bearer token."""
        assert self.tokens is not None
        if not isinstance(access_token, str) or await self.tokens(access_token) is None:
            raise SignInRefused(
                "The identity provider's access token is not one smartby accepts: it needs the "
                f"audience {self.settings.oidc_audience!r} and a role (reader, writer or admin) in "
                f"the {self.settings.oidc_roles_claim!r} claim"
            )
        if len(access_token) > LARGEST_COOKIE:
            raise SignInRefused("The identity provider's access token is too large for a browser cookie")
        return access_token


def mount(app: FastAPI, settings: Settings, tokens: BearerTokens | None) -> None:
    """The sign-in's routes; they answer 404 where no client id (or no issuer) is configured."""
    app.state.oidc_login = OidcLogin(settings, tokens)


def _login(request: Request) -> OidcLogin:
    login: OidcLogin = request.app.state.oidc_login
    if not login.configured:
        raise ResourceNotFound("No sign-in through an identity provider is configured here")
    return login


def _secure(redirect_uri: str) -> bool:
    return redirect_uri.startswith("https://")


@router.get(
    "/dashboard/oidc/login",
    summary="Dashboard: sign in through the city's identity provider (a redirect to it)",
    status_code=302,
    responses={302: {"description": "To the identity provider's authorization endpoint"}},
    openapi_extra={"parameters": []},
)
async def login(request: Request) -> Response:
    sign_in = _login(request)
    endpoints = await sign_in.endpoints()
    state, nonce, verifier = (secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))
    redirect_uri = sign_in.redirect_uri(request)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": sign_in.settings.oidc_client_id,
            "redirect_uri": redirect_uri,
            "scope": sign_in.scopes(),
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in endpoints.authorization else "?"
    response = RedirectResponse(f"{endpoints.authorization}{separator}{query}", status_code=302)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        LOGIN_COOKIE,
        f"{state}.{nonce}.{verifier}",
        max_age=LOGIN_SECONDS,
        path=LOGIN_PATH,
        secure=_secure(redirect_uri),
        httponly=True,
        samesite="lax",
    )
    return response


@router.get(
    "/dashboard/oidc/callback",
    summary="Dashboard: where the identity provider sends the browser back with a code",
    status_code=302,
    responses={302: {"description": "Signed in: to the dashboard, with its session cookie"}},
    openapi_extra={
        "parameters": [
            # RFC 6749 appendix A: code, state, error and error_description are printable ASCII.
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": "^[ -~]*$"},
            }
            for name in ("code", "state", "error", "error_description")
        ]
    },
)
async def callback(request: Request) -> Response:
    sign_in = _login(request)
    try:
        response = await _finish(sign_in, request)
    except NgsiLdError as error:
        response = problem_response(error)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH, httponly=True, samesite="lax")
    return response


async def _finish(sign_in: OidcLogin, request: Request) -> Response:
    params = request.query_params
    if "error" in params:
        said = _said(params.get("error"))
        described = _said(params.get("error_description"))
        raise SignInRefused(f"The identity provider refused the sign-in: {said} {described}".strip())
    pending = request.cookies.get(LOGIN_COOKIE, "").split(".")
    if len(pending) != 3 or not all(pending):
        raise BadRequestData(
            "No sign-in is under way in this browser (it took more than 10 minutes, or cookies are "
            "off): start again at /dashboard/oidc/login"
        )
    state, nonce, verifier = pending
    if not hmac.compare_digest(state.encode(), params.get("state", "").encode()):
        raise BadRequestData("The sign-in's state does not match: start again at /dashboard/oidc/login")
    code = params.get("code", "")
    if not code or len(code) > 4096:
        raise BadRequestData("The identity provider sent no code")
    redirect_uri = sign_in.redirect_uri(request)
    tokens = await sign_in.exchange(code, verifier, redirect_uri)
    await sign_in.check_id_token(tokens.get("id_token"), nonce)
    access_token = await sign_in.check_access_token(tokens.get("access_token"))
    expires_in = tokens.get("expires_in")
    response = RedirectResponse("/", status_code=302)
    response.set_cookie(
        SESSION_COOKIE,
        access_token,
        max_age=int(expires_in) if isinstance(expires_in, int) and expires_in > 0 else None,
        path=SESSION_PATH,
        secure=_secure(redirect_uri),
        httponly=True,
        samesite="strict",
    )
    return response


LOGOUT: dict[str, Any] = {
    "summary": "Dashboard: sign out (forgets the session cookie; the provider's own session stays)",
    "status_code": 302,
    "response_class": RedirectResponse,
    "responses": {302: {"description": "To the dashboard, without its session cookie"}},
    "openapi_extra": {"parameters": []},
}


@router.get("/dashboard/oidc/logout", **LOGOUT)
@router.post("/dashboard/oidc/logout", **LOGOUT)
async def logout(request: Request) -> Response:
    response = RedirectResponse("/", status_code=302)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(SESSION_COOKIE, path=SESSION_PATH, httponly=True, samesite="strict")
    return response
