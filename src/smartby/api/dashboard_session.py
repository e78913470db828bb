"""The dashboard's session cookie (docs/security.md): after a sign-in through the city's identity
provider (`smartby.api.oidc_login`) the browser holds the provider's access token in an HttpOnly,
SameSite=Strict cookie on `/dashboard`. It stands for `Authorization: Bearer` on GET requests for
the dashboard's own API only (`Guard`), so no page of another site can make a browser write with it.
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import Scope

SESSION_COOKIE = "smartby_session"
SESSION_PATH = "/dashboard"
DASHBOARD_API = "/dashboard/api/"


def session_token(scope: Scope) -> str | None:
    """The token of the session cookie where the request is a GET for the dashboard's API (None
    otherwise: the cookie counts nowhere else)."""
    if scope["method"] != "GET" or not scope["path"].startswith(DASHBOARD_API):
        return None
    for name, value in scope["headers"]:
        if name == b"cookie":
            token = cookie_parser(value.decode("latin-1")).get(SESSION_COOKIE, "").strip()
            if token:
                return token
    return None
