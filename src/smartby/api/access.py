"""Who may do what, in one place: each route and method mapped to what it needs, and the ASGI layer
that checks it when SMARTBY_AUTH=required (docs/security.md).

`ROUTES` names every route of the API; a path under a prefix of `DEFAULT_PREFIXES`'s kind (a city
service's `/name/v1/...`) that it does not name needs a reader to GET and a writer otherwise. The
isolation test (tests/api/test_isolation.py) fails for a route of the OpenAPI that neither covers.

A request is authenticated by an API key (`Authorization: Bearer <key>` or `X-Api-Key: <key>`) or an
OpenID Connect bearer token (`smartby.api.tokens`), which a GET of the dashboard's API may also carry
in the dashboard's session cookie (`smartby.api.dashboard_session`). Without one: 401. With a role
on the request's tenant (NGSILD-Tenant) too weak: 403. With no role on that tenant at all: 404, as
if the tenant's resources did not exist. Device uplinks keep their device keys: they pass to
ingestion, which checks them. With authentication on, a tenant is made by an admin, never by its first write.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

import orjson
from starlette.types import Message, Receive, Scope, Send

from smartby.api.dashboard_session import session_token
from smartby.api.devices import Unauthorized
from smartby.api.keyring import Keyring
from smartby.api.middleware import Inner, Layer
from smartby.api.problems import problem_response
from smartby.broker import DEFAULT_TENANT
from smartby.broker.audit import AuditLog
from smartby.ngsild.errors import NgsiLdError, NonexistentTenant, ResourceNotFound
from smartby.records import audit
from smartby.records.keys import ALL_TENANTS, ROLES, ApiKey

Need = Literal["public", "device", "authenticated", "reader", "writer", "admin", "operator"]
"""What a request needs: nothing (`public`); a device key, checked by ingestion, or a writer's key
(`device`); any valid key or token (`authenticated`); a role on the request's tenant; or the admin
role on every tenant (`operator`: tenants and keys)."""

ROUTES: dict[str, dict[str, Need]] = {
    # NGSI-LD: entities, batch, discovery, contexts
    "/ngsi-ld/v1/entities": {"GET": "reader", "POST": "writer", "DELETE": "admin"},
    "/ngsi-ld/v1/entities/{entityId}": {
        "GET": "reader",
        "PATCH": "writer",
        "PUT": "writer",
        "DELETE": "writer",
    },
    "/ngsi-ld/v1/entities/{entityId}/attrs": {"POST": "writer", "PATCH": "writer"},
    "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}": {
        "PATCH": "writer",
        "PUT": "writer",
        "DELETE": "writer",
    },
    "/ngsi-ld/v1/entityOperations/create": {"POST": "writer"},
    "/ngsi-ld/v1/entityOperations/upsert": {"POST": "writer"},
    "/ngsi-ld/v1/entityOperations/update": {"POST": "writer"},
    "/ngsi-ld/v1/entityOperations/merge": {"POST": "writer"},
    "/ngsi-ld/v1/entityOperations/delete": {"POST": "writer"},
    "/ngsi-ld/v1/entityOperations/query": {"POST": "reader"},
    "/ngsi-ld/v1/types": {"GET": "reader"},
    "/ngsi-ld/v1/types/{type}": {"GET": "reader"},
    "/ngsi-ld/v1/attributes": {"GET": "reader"},
    "/ngsi-ld/v1/attributes/{attrId}": {"GET": "reader"},
    "/ngsi-ld/v1/jsonldContexts": {"GET": "reader", "POST": "writer"},
    "/ngsi-ld/v1/jsonldContexts/{contextId}": {"GET": "reader", "DELETE": "admin"},
    # temporal: reads, writes, deletes of history
    "/ngsi-ld/v1/temporal/entities": {"GET": "reader", "POST": "writer"},
    "/ngsi-ld/v1/temporal/entities/{entityId}": {"GET": "reader", "DELETE": "admin"},
    "/ngsi-ld/v1/temporal/entityOperations/query": {"POST": "reader"},
    "/ngsi-ld/v1/temporal/entities/{entityId}/attrs": {"POST": "writer"},
    "/ngsi-ld/v1/temporal/entities/{entityId}/attrs/{attrId}/{instanceId}": {
        "PATCH": "writer",
        "DELETE": "admin",
    },
    "/ngsi-ld/v1/temporal/entities/{entityId}/attrs/{attrId}": {"DELETE": "admin"},
    # subscriptions and federation
    "/ngsi-ld/v1/subscriptions": {"GET": "admin", "POST": "admin"},
    "/ngsi-ld/v1/subscriptions/{subscriptionId}": {"GET": "admin", "PATCH": "admin", "DELETE": "admin"},
    "/ngsi-ld/v1/csourceRegistrations": {"GET": "reader", "POST": "admin"},
    "/ngsi-ld/v1/csourceRegistrations/{registrationId}": {
        "GET": "reader",
        "PATCH": "admin",
        "DELETE": "admin",
    },
    "/ngsi-ld/v1/csourceSubscriptions": {"GET": "admin", "POST": "admin"},
    "/ngsi-ld/v1/csourceSubscriptions/{subscriptionId}": {
        "GET": "admin",
        "PATCH": "admin",
        "DELETE": "admin",
    },
    # devices: the registry is an admin's, uplinks a device's, commands a writer's
    "/ingest/v1/devices": {"GET": "admin", "POST": "admin"},
    "/ingest/v1/devices/{deviceId}": {"GET": "admin", "PUT": "admin", "DELETE": "admin"},
    "/ingest/v1/devices/{deviceId}/commands": {"GET": "reader", "POST": "writer"},
    "/ingest/v1/devices/{deviceId}/commands/{commandId}": {"GET": "reader"},
    "/ingest/v1/profiles": {"GET": "admin"},
    "/ingest/v1/profiles/{name}": {"GET": "admin", "PUT": "admin", "DELETE": "admin"},
    "/ingest/v1/deadletters": {"GET": "admin", "DELETE": "admin"},
    "/ingest/v1/deadletters/{letterId}": {"GET": "admin", "DELETE": "admin"},
    "/ingest/v1/stats": {"GET": "reader"},
    "/ingest/v1/devices/{deviceId}/up": {"POST": "device"},
    "/ingest/v1/chirpstack": {"POST": "device"},
    "/ingest/v1/ttn": {"POST": "device"},
    # operations
    "/version": {"GET": "public"},
    "/health": {"GET": "public"},
    "/health/ready": {"GET": "public"},
    "/metrics": {"GET": "authenticated"},
    # access control itself
    "/admin/v1/keys": {"GET": "operator", "POST": "operator"},
    "/admin/v1/keys/{name}": {"GET": "operator", "DELETE": "operator"},
    "/admin/v1/keys/{name}/rotate": {"POST": "operator"},
    "/admin/v1/tenants": {"GET": "operator", "POST": "operator"},
    "/admin/v1/audit": {"GET": "operator"},
    # alert channels (docs/alert-channels.md): an admin's of the tenant, as its subscriptions are
    "/admin/v1/channels": {"GET": "admin", "POST": "admin"},
    "/admin/v1/channels/{name}": {"GET": "admin", "PUT": "admin", "PATCH": "admin", "DELETE": "admin"},
    "/admin/v1/channels/{name}/test": {"POST": "admin"},
    # citizen reports (Open311 GeoReport v2): public, as citizens' apps call them; POST is limited per
    # client address, and an api_key field it carries must be a valid key (docs/security.md)
    "/open311/v2/services.{format}": {"GET": "public"},
    "/open311/v2/services/{code}.{format}": {"GET": "public"},
    "/open311/v2/requests.{format}": {"GET": "public", "POST": "public"},
    "/open311/v2/requests/{id}.{format}": {"GET": "public"},
    "/open311/v2/context.jsonld": {"GET": "public"},
    # the dashboard: its pages carry no data (they ask for a key), its API is a reader's
    "/": {"GET": "public"},
    "/dashboard/static/{name}": {"GET": "public"},
    "/dashboard/api/{path:path}": {"GET": "reader"},
    "/dashboard/oidc/login": {"GET": "public"},
    "/dashboard/oidc/callback": {"GET": "public"},
    "/dashboard/oidc/logout": {"GET": "public", "POST": "public"},
    "/docs": {"GET": "public"},
    "/docs/oauth2-redirect": {"GET": "public"},
    "/openapi.json": {"GET": "public"},
}
RESERVED_PREFIXES = ("/ngsi-ld/", "/ingest/", "/admin/", "/dashboard/")
"""Prefixes whose routes must each be in ROUTES: one missing needs an operator (fails closed)."""
SERVICE_PREFIX = re.compile(r"^/[a-z][a-z0-9-]*/v[0-9]+/")
"""A city service's endpoints (`/freshness/v1/...`, `/lighting/v1/...`): by default a reader's to
GET, a writer's otherwise."""
READS = frozenset({"GET", "HEAD"})
_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}


def _pattern(template: str) -> str:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(
        (".+" if part.endswith(":path}") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return f"{regex}/?$"


_ROUTE = re.compile("|".join(f"(?P<r{i}>{_pattern(template)})" for i, template in enumerate(ROUTES)))
"""Every template of ROUTES in one expression, in their order (the first that matches wins): one
match a request, not one per template."""
_METHODS = list(ROUTES.values())
_TEMPLATES = list(ROUTES)


def route_of(path: str) -> str | None:
    """The template in ROUTES that `path` matches (None: none does)."""
    route = _ROUTE.match(path)
    return None if route is None or route.lastgroup is None else _TEMPLATES[int(route.lastgroup[1:])]


def needed(method: str, path: str) -> tuple[Need, bool]:
    """What a request needs, and whether ROUTES or a service default said so (False: nobody did,
    and the answer fails closed)."""
    method = "GET" if method == "HEAD" else method
    route = _ROUTE.match(path)
    if route is not None and route.lastgroup is not None:
        need = _METHODS[int(route.lastgroup[1:])].get(method)
        if need is not None:
            return need, True
        return ("authenticated", True) if method == "OPTIONS" else ("operator", False)
    if path.startswith(RESERVED_PREFIXES):
        return "operator", False
    if SERVICE_PREFIX.match(path):
        return ("reader" if method in READS else "writer"), True
    return "authenticated", False  # an unknown path: a 404, to someone who may know it


@dataclass(frozen=True)
class Principal:
    """Who a request is: a key's name or a token's subject, with a role on some tenants."""

    name: str
    role: str
    tenants: tuple[str, ...]

    def grants(self, tenant: str) -> bool:
        return ALL_TENANTS in self.tenants or tenant in self.tenants

    def may(self, need: Need, tenant: str) -> bool:
        if need in ("public", "authenticated", "device"):
            return True
        if need == "operator":
            return self.role == "admin" and ALL_TENANTS in self.tenants
        return _RANK[self.role] >= _RANK[need]


Authenticator = Callable[[str], Awaitable[Principal | None]]
"""Turns a bearer token into a principal (None: not one this authenticator knows)."""


class Forbidden(NgsiLdError):
    type_name = "InvalidRequest"
    status = 403
    title = "Forbidden"


def credential(scope: Scope) -> str | None:
    """The key or token a request presents: `Authorization: Bearer ...`, else `X-Api-Key` (the
    standard header wins when a request carries both)."""
    api_key = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return str(token).strip()
        elif name == b"x-api-key" and value and api_key is None:
            api_key = str(value.decode("latin-1")).strip()
    return api_key


def tenant_of(scope: Scope) -> str:
    """The tenant a request names (NGSILD-Tenant; the default tenant without it)."""
    for name, value in scope["headers"]:
        if name == b"ngsild-tenant":
            return str(value.decode("latin-1")) or DEFAULT_TENANT
    return DEFAULT_TENANT


def record_refusal(state: Any, method: str, path: str, status: int, detail: str) -> None:
    """Record the refusal of the request under way in the audit log (docs/audit.md): access
    control's 401, 403 and hiding 404, a rate limit's 429. `state` is the application's."""
    action = audit.current()
    if action.operation is None:
        action.operation = f"{method} {route_of(path) or path}"
    log: AuditLog = state.broker.audit
    log.refused(status, detail)


class Guard(Layer):
    """The ASGI layer that lets a request through only with what its route needs."""

    def __init__(self, inner: Inner, keyring: Keyring, tokens: Authenticator | None = None) -> None:
        super().__init__(inner)
        self.keyring = keyring
        self.tokens = tokens
        self._principals: dict[str, tuple[ApiKey, Principal]] = {}
        """The principal of each key name, with the key record it was made of."""

    def _refused(self, method: str, path: str, status: int, detail: str) -> None:
        record_refusal(self.inner.state, method, path, status, detail)

    async def principal(self, presented: str) -> Principal | None:
        if self.tokens is not None and presented.count(".") == 2 and presented.startswith("eyJ"):
            return await self.tokens(presented)
        key = await self.keyring.verify(presented)
        if key is None:
            return None
        made = self._principals.get(key.name)
        if made is None or made[0] is not key:
            if len(self._principals) > 10_000:
                self._principals.clear()
            made = self._principals[key.name] = (key, Principal(key.owner, key.role, key.tenants))
        return made[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        need, _ = needed(method, path)
        if need == "public":
            await self.inner(scope, receive, send)
            return
        presented = credential(scope) or session_token(scope)
        who = None if presented is None else await self.principal(presented)
        action = audit.current()
        if who is None:
            if need == "device":  # a device key, or none: ingestion decides
                await self.inner(scope, receive, send)
                return
            self._refused(method, path, 401, "no credentials" if presented is None else "invalid credentials")
            error: NgsiLdError = Unauthorized(
                "This request needs an API key or a bearer token (Authorization: Bearer ...)"
                if presented is None
                else "The key or token is not valid (unknown, revoked or expired)"
            )
            await problem_response(error, {"WWW-Authenticate": 'Bearer realm="smartby"'})(
                scope, receive, send
            )
            return
        action.actor = who.name
        tenant = tenant_of(scope)
        refused = await self._refusal(who, need, method, path, tenant)
        if refused is not None:
            self._refused(method, path, refused.status, refused.detail)
            await problem_response(refused)(scope, receive, send)
            return
        if path.rstrip("/") == SUBSCRIPTIONS:
            if method == "POST":
                send = self._owning(send, who, tenant)
            elif ALL_TENANTS not in who.tenants:
                others = await self.keyring.records.others_subscriptions(tenant, who.name)
                if others:
                    send = _without(send, others)
        scope.setdefault("state", {})["principal"] = who  # for the rate limit per key (api.rate_limits)
        await self.inner(scope, receive, send)

    async def _refusal(
        self, who: Principal, need: Need, method: str, path: str, tenant: str
    ) -> NgsiLdError | None:
        if need in ("reader", "writer", "admin", "device"):
            if not who.grants(tenant):
                return ResourceNotFound(f"No resource at {path}")
            if (
                tenant != DEFAULT_TENANT
                and method not in READS
                and not await self.keyring.tenant_exists(tenant)
            ):
                return NonexistentTenant(
                    f"No tenant {tenant!r}: with authentication on an admin creates tenants"
                )
        if not who.may("writer" if need == "device" else need, tenant):
            return Forbidden(f"{method} {path} needs the {need} role; {who.name} is a {who.role}")
        subscription = _SUBSCRIPTION.match(path) if path.startswith(SUBSCRIPTIONS) else None
        if subscription is not None and ALL_TENANTS not in who.tenants:
            owner = await self.keyring.records.subscription_owner(tenant, subscription.group(1))
            if owner is not None and owner != who.name:
                return ResourceNotFound(f"No subscription {subscription.group(1)}")
        return None

    def _owning(self, send: Send, who: Principal, tenant: str) -> Send:
        """A send that records who made the subscription it answers the creation of."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 201:
                for name, value in message.get("headers", []):
                    if name.lower() == b"location":
                        identifier = value.decode("latin-1").rsplit("/", 1)[-1]
                        await self.keyring.records.own_subscription(tenant, unquote(identifier), who.name)
            await send(message)

        return sending


SUBSCRIPTIONS = "/ngsi-ld/v1/subscriptions"
_SUBSCRIPTION = re.compile(r"^/ngsi-ld/v1/subscriptions/([^/]+)/?$")


def _without(send: Send, hidden: set[str]) -> Send:
    """A send that leaves the subscriptions `hidden` (others') out of a list of subscriptions; the
    page's NGSILD-Results-Count is lowered by as many."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def sending(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if start is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = list(start.get("headers", []))
        if start["status"] == 200:
            listed = orjson.loads(body)
            if isinstance(listed, list):
                kept = [item for item in listed if not (isinstance(item, dict) and item.get("id") in hidden)]
                body = orjson.dumps(kept)
                headers = [_recounted(name, value, len(listed) - len(kept)) for name, value in headers]
                headers = [
                    (name, str(len(body)).encode()) if name.lower() == b"content-length" else (name, value)
                    for name, value in headers
                ]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return sending


def _recounted(name: bytes, value: bytes, removed: int) -> tuple[bytes, bytes]:
    if name.lower() == b"ngsild-results-count" and removed:
        return name, str(max(0, int(value) - removed)).encode()
    return name, value
