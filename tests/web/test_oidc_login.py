"""The dashboard's sign-in through an OpenID Connect provider (docs/security.md): the authorization
code flow with PKCE against a small but real identity provider served over HTTP here (discovery,
JWKS, an authorization endpoint that sends the browser back with a code, a token endpoint that checks
the PKCE verifier), followed by hand with httpx, and once in Chromium."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import orjson
import pytest
from joserfc import jwt
from playwright.sync_api import Browser
from pydantic import SecretStr

from conftest import LiveServer
from identity import AUDIENCE, IdentityProvider
from smartby.api.app import create_app
from smartby.api.oidc_login import code_challenge
from smartby.assembly import assemble
from smartby.settings import Settings
from web.readmodel import testbed as tb
from web.test_browser import Watched
from web.test_browser_login import _keys

CLIENT_ID = "smartby-dashboard"
SMARTBY = "http://smartby.test"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str


@dataclass
class Keycloak:
    """An identity provider of one realm, over real HTTP: it signs in whoever asks (as `subject`
    with `roles`), and hands out tokens for a code only to the holder of its PKCE verifier."""

    keys: IdentityProvider
    host: str = "127.0.0.1"
    roles: list[str] = field(default_factory=lambda: ["reader"])
    lifetime: float = 300
    client_secret: str | None = None
    nonce: str | None = None
    """A nonce of its own in the id_token (a replayed token's), instead of the sign-in's."""
    grants: dict[str, Grant] = field(default_factory=dict)
    exchanges: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/realms/city/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif path == "/realms/city/auth":
                    self._authorize({k: v[0] for k, v in parse_qs(query).items()})
                elif path == "/jwks.json":
                    self._json(200, provider.keys_document())
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = provider.token(form, self.headers.get("authorization"))
                self._json(status, body)

            def _authorize(self, query: dict[str, str]) -> None:
                if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
                    self._json(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                provider.grants[code] = Grant(
                    query["client_id"], query["redirect_uri"], query["code_challenge"], query["nonce"]
                )
                self.send_response(302)
                back = urlencode({"code": code, "state": query["state"]})
                self.send_header("location", f"{query['redirect_uri']}?{back}")
                self.send_header("content-length", "0")
                self.end_headers()

            def _json(self, status: int, body: Any) -> None:
                data = orjson.dumps(body)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://{self.host}:{self.server.server_address[1]}/realms/city"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict[str, Any]:
        base = self.issuer.rsplit("/realms/", 1)[0]
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{base}/jwks.json",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def keys_document(self) -> Any:
        return orjson.loads(httpx.get(self.keys.jwks_url).content)

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.exchanges.append(form)
        grant = self.grants.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant", "error_description": "Code not valid"}
        if form.get("redirect_uri") != grant.redirect_uri or form.get("client_id") != grant.client_id:
            return 400, {"error": "invalid_grant", "error_description": "Incorrect redirect_uri"}
        if code_challenge(form.get("code_verifier", "")) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        if self.client_secret is not None:
            expected = base64.b64encode(f"{grant.client_id}:{self.client_secret}".encode()).decode()
            if authorization != f"Basic {expected}":
                return 401, {"error": "unauthorized_client"}
        return 200, self.token_response(grant.nonce, grant.client_id)

    def token_response(self, nonce: str, client_id: str) -> dict[str, Any]:
        issued = int(time.time())
        common = {"iss": self.issuer, "sub": "kirsten", "iat": issued, "exp": int(issued + self.lifetime)}
        access = {**common, "aud": AUDIENCE, "realm_access": {"roles": self.roles}, "smartby_tenants": [""]}
        identity = {**common, "aud": client_id, "nonce": self.nonce or nonce, "name": "Kirsten"}
        header = {"alg": "RS256", "kid": "city-1"}
        return {
            "access_token": jwt.encode(header, access, self.keys.key),
            "id_token": jwt.encode(header, identity, self.keys.key),
            "token_type": "Bearer",
            "expires_in": int(self.lifetime),
        }


def configured(settings: Settings, idp: Keycloak, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "auth": "required",
            "oidc_issuer": idp.issuer,
            "oidc_audience": AUDIENCE,
            "oidc_roles_claim": "realm_access.roles",
            "oidc_tenants_claim": "smartby_tenants",
            "oidc_client_id": CLIENT_ID,
            **more,
        }
    )


@pytest.fixture(scope="module")
def keys() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    yield provider
    provider.close()


@pytest.fixture
def idp(keys: IdentityProvider) -> Iterator[Keycloak]:
    provider = Keycloak(keys)
    yield provider
    provider.close()


@pytest.fixture
def base_settings(tmp_path: Path) -> Settings:
    return Settings(database=f"sqlite:///{tmp_path / 'city.db'}", remote_contexts=False, _env_file=None)  # type: ignore[call-arg]


async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    parts = assemble(settings)
    await parts.broker.open()
    try:
        transport = httpx.ASGITransport(app=create_app(parts))
        async with httpx.AsyncClient(transport=transport, base_url=SMARTBY) as http:
            yield http
    finally:
        await parts.broker.close()


@pytest.fixture
async def smartby(base_settings: Settings, idp: Keycloak) -> AsyncIterator[httpx.AsyncClient]:
    async for http in serve(configured(base_settings, idp)):
        yield http


async def to_provider(http: httpx.AsyncClient) -> httpx.URL:
    """The sign-in's first leg: smartby's redirect to the provider's authorization endpoint."""
    started = await http.get("/dashboard/oidc/login")
    assert started.status_code == 302, started.text
    return httpx.URL(started.headers["location"])


async def back_from_provider(authorize: httpx.URL) -> httpx.URL:
    """The provider signs the user in and sends the browser back to smartby with a code."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(authorize)
    assert answer.status_code == 302, answer.text
    return httpx.URL(answer.headers["location"])


async def sign_in(http: httpx.AsyncClient) -> httpx.Response:
    back = await back_from_provider(await to_provider(http))
    return await http.get(back.raw_path.decode())


async def test_the_whole_sign_in_gives_the_dashboard_its_session(
    smartby: httpx.AsyncClient, idp: Keycloak
) -> None:
    assert (await smartby.get("/dashboard/api/overview")).status_code == 401
    authorize = await to_provider(smartby)
    assert authorize.copy_with(query=None) == httpx.URL(f"{idp.issuer}/auth")
    asked = dict(authorize.params)
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == f"{SMARTBY}/dashboard/oidc/callback"
    assert asked["scope"] == "openid profile" and asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32 and len(asked["code_challenge"]) == 43

    back = await back_from_provider(authorize)
    finished = await smartby.get(back.raw_path.decode())
    assert finished.status_code == 302 and finished.headers["location"] == "/"
    session = next(c for c in finished.headers.get_list("set-cookie") if c.startswith("smartby_session="))
    attributes = {part.strip().lower() for part in session.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= attributes
    assert "secure" not in attributes  # plain http here; https gets Secure
    exchanged = idp.exchanges[-1]
    assert code_challenge(exchanged["code_verifier"]) == asked["code_challenge"]
    assert exchanged["redirect_uri"] == asked["redirect_uri"] and "client_secret" not in exchanged

    answer = await smartby.get("/dashboard/api/overview")
    assert answer.status_code == 200 and "tiles" in answer.json()
    # The code was spent, and the sign-in's cookie with it: the same callback again is refused.
    again = await smartby.get(back.raw_path.decode())
    assert again.status_code == 400 and again.json()["status"] == 400

    signed_out = await smartby.get("/dashboard/oidc/logout")
    assert signed_out.status_code == 302
    assert (await smartby.get("/dashboard/api/overview")).status_code == 401


async def test_the_cookie_counts_only_for_reading_the_dashboard(
    smartby: httpx.AsyncClient, idp: Keycloak
) -> None:
    idp.roles = ["admin"]
    assert (await sign_in(smartby)).status_code == 302
    assert (await smartby.get("/dashboard/api/overview")).status_code == 200
    entity = {"id": "urn:ngsi-ld:Streetlight:csrf", "type": "Streetlight"}
    for method, path, body in (
        ("GET", "/ngsi-ld/v1/entities?type=Streetlight", None),
        ("POST", "/ngsi-ld/v1/entities", entity),
        ("POST", "/ngsi-ld/v1/entityOperations/upsert", [entity]),
        ("GET", "/admin/v1/keys", None),
        ("GET", "/metrics", None),
    ):
        # As a browser would send it: the cookie goes wherever its path allows, here given by hand.
        cookie = {"Cookie": f"smartby_session={smartby.cookies['smartby_session']}"}
        answer = await smartby.request(method, path, json=body, headers=cookie)
        assert answer.status_code == 401, (method, path, answer.status_code)
    answer = await smartby.post("/dashboard/api/overview")
    assert answer.status_code in (401, 405)


async def test_a_state_that_is_not_this_browsers_is_refused(smartby: httpx.AsyncClient) -> None:
    back = await back_from_provider(await to_provider(smartby))
    forged = back.copy_set_param("state", "someone-elses-state")
    answer = await smartby.get(forged.raw_path.decode())
    assert answer.status_code == 400 and "state" in answer.json()["detail"]
    assert "smartby_session" not in smartby.cookies
    # Without the sign-in's cookie (another browser, or more than ten minutes later): refused too.
    async with httpx.AsyncClient(transport=smartby._transport, base_url=SMARTBY) as stranger:
        answer = await stranger.get(back.raw_path.decode())
    assert answer.status_code == 400 and answer.json()["type"].endswith("BadRequestData")


async def test_a_code_without_its_verifier_is_refused(smartby: httpx.AsyncClient, idp: Keycloak) -> None:
    authorize = await to_provider(smartby)
    # An attacker who caught the redirect to the provider swaps the challenge for one of theirs.
    verifier = secrets.token_urlsafe(48)
    hijacked = authorize.copy_set_param("code_challenge", code_challenge(verifier))
    back = await back_from_provider(hijacked)
    answer = await smartby.get(back.raw_path.decode())
    assert answer.status_code == 403
    assert "PKCE verification failed" in answer.json()["detail"]
    assert "smartby_session" not in smartby.cookies
    # The provider's own check: the verifier hashes to the challenge (RFC 7636 appendix B).
    assert code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    digest = hashlib.sha256(verifier.encode()).digest()
    assert code_challenge(verifier) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_the_provider_saying_no_is_a_4xx(smartby: httpx.AsyncClient) -> None:
    await to_provider(smartby)
    answer = await smartby.get(
        "/dashboard/oidc/callback", params={"error": "access_denied", "error_description": "User said no"}
    )
    assert answer.status_code == 403 and "access_denied User said no" in answer.json()["detail"]


async def test_a_token_without_a_role_is_refused(smartby: httpx.AsyncClient, idp: Keycloak) -> None:
    idp.roles = ["offline_access"]
    answer = await sign_in(smartby)
    assert answer.status_code == 403 and "role" in answer.json()["detail"]
    assert "smartby_session" not in smartby.cookies


async def test_an_id_token_of_another_sign_in_is_refused(smartby: httpx.AsyncClient, idp: Keycloak) -> None:
    idp.nonce = secrets.token_urlsafe(32)
    answer = await sign_in(smartby)
    assert answer.status_code == 403 and "id_token" in answer.json()["detail"]
    assert "smartby_session" not in smartby.cookies


async def test_an_expired_session_is_a_401(smartby: httpx.AsyncClient, idp: Keycloak) -> None:
    assert (await sign_in(smartby)).status_code == 302
    assert (await smartby.get("/dashboard/api/overview")).status_code == 200
    idp.lifetime = -60  # the cookie a browser still holds after its token's expiry
    expired = idp.token_response("someone", CLIENT_ID)["access_token"]
    smartby.cookies.clear()
    answer = await smartby.get("/dashboard/api/overview", headers={"Cookie": f"smartby_session={expired}"})
    assert answer.status_code == 401 and answer.json()["status"] == 401


async def test_a_confidential_client_sends_its_secret(base_settings: Settings, idp: Keycloak) -> None:
    idp.client_secret = "s3cret"
    async for http in serve(configured(base_settings, idp, oidc_client_secret=SecretStr("s3cret"))):
        assert (await sign_in(http)).status_code == 302
        assert (await http.get("/dashboard/api/overview")).status_code == 200
    async for http in serve(configured(base_settings, idp, oidc_client_secret=SecretStr("wrong"))):
        answer = await sign_in(http)
        assert answer.status_code == 403 and answer.json()["status"] == 403


async def test_behind_a_proxy_the_redirect_uri_is_the_configured_one(
    base_settings: Settings, idp: Keycloak
) -> None:
    public = "https://city.example.dk/smartby/dashboard/oidc/callback"
    async for http in serve(configured(base_settings, idp, oidc_redirect_url=public)):
        started = await http.get("/dashboard/oidc/login")
        assert httpx.URL(started.headers["location"]).params["redirect_uri"] == public
        pending = next(c for c in started.headers.get_list("set-cookie") if "smartby_oidc_login=" in c)
        assert "secure" in pending.lower() and "samesite=lax" in pending.lower()


async def test_without_a_client_id_there_is_no_sign_in(base_settings: Settings, idp: Keycloak) -> None:
    async for http in serve(configured(base_settings, idp, oidc_client_id="")):
        answer = await http.get("/dashboard/oidc/login")
        assert answer.status_code == 404 and answer.json()["status"] == 404
        assert "Sign in with" not in (await http.get("/")).text


async def test_an_unreachable_provider_is_not_a_500(base_settings: Settings, idp: Keycloak) -> None:
    idp.close()
    async for http in serve(configured(base_settings, idp)):
        answer = await http.get("/dashboard/oidc/login")
        assert answer.status_code == 502 and answer.json()["status"] == 502


# ----------------------------------------------------------------------------------------------------
# in a browser


@pytest.fixture(scope="module")
def browser_city(
    tmp_path_factory: pytest.TempPathFactory, keys: IdentityProvider
) -> Iterator[tuple[str, Keycloak]]:
    """smartby on 127.0.0.1 and its identity provider on `localhost`: another site, as in a city."""
    idp = Keycloak(keys, host="localhost")
    database = tmp_path_factory.mktemp("oidc") / "city.db"
    settings = configured(
        Settings(database=f"sqlite:///{database}", remote_contexts=False, _env_file=None),  # type: ignore[call-arg]
        idp,
    )
    writer = asyncio.run(_keys(settings))["writer"]
    live = LiveServer(settings)
    live.start()
    try:
        with httpx.Client(base_url=live.url, timeout=30, headers={"X-Api-Key": writer}) as http:
            tb.upsert_http_sync(
                http, [tb.streetlight("oidc-0001", 12.55, 55.67, "on", "ok", datetime.now(UTC))]
            )
        yield live.url, idp
    finally:
        live.stop()
        idp.close()


def test_signing_in_through_the_provider_in_a_browser(
    browser_city: tuple[str, Keycloak], browser: Browser
) -> None:
    url, idp = browser_city
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    watched = Watched(context.new_page())
    try:
        page = watched.page
        page.goto(url)
        page.wait_for_selector("#login:not([hidden])", timeout=20_000)
        assert page.inner_text("#login-oidc") == f"Sign in with {urlsplit(idp.issuer).hostname}"
        page.click("#login-oidc")
        page.wait_for_function("() => window.smartby && window.smartby.firstDrawMs !== null", timeout=20_000)
        assert page.url.rstrip("/") == url
        assert page.is_hidden("#login")
        assert watched.js("window.smartby.ids") == ["urn:ngsi-ld:Streetlight:oidc-0001"]
        assert watched.js("document.cookie") == ""  # HttpOnly: the page's scripts never see the token
        assert [error for error in watched.errors if "401" not in error] == []
    finally:
        context.close()
