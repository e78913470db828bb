"""What a city service is: a small typed object the runtime runs.

A distribution registers a service factory, `(Settings) -> Service`, in the `smartby.services`
entry-point group, as smartby registers its own:

    [project.entry-points."smartby.services"]
    freshness = "smartby.services.freshness:service"

The service's parts are all optional: what it watches and a handler for batches of those changes;
periodic jobs; HTTP endpoints, served under the service's prefix (`/{name}/v1` unless it says
otherwise) by the API, which turns the plain responses here into HTTP ones.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from smartby.ngsild.errors import NgsiLdError
from smartby.records.service_feed import ClaimedChange

if TYPE_CHECKING:
    from smartby.services.runtime import ServiceContext

NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

ServiceChange = ClaimedChange
"""One entity's change as a service is fed it: `before` and `after` hold the entity's id, types and
the watched attributes (expanded names, the internal form), None when it did not exist."""

Handler = Callable[["ServiceContext", Sequence[ServiceChange]], Awaitable[None]]
ErrorRenderer = Callable[["ServiceRequest", NgsiLdError], "ServiceResponse"]
"""A request's error (an NGSI-LD error: its `status` and `detail`) in the service's own format."""


@dataclass(frozen=True)
class Job:
    """Something a service does every `period` seconds of its clock, once across all processes.
    `run` gets the moment the run was due (each period's is different)."""

    name: str
    period: float
    run: Callable[[ServiceContext, datetime], Awaitable[None]]


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class ServiceRequest:
    query: Mapping[str, str]
    path: Mapping[str, str]
    tenant: str
    body: Any = None
    """The body as JSON, or as a mapping of field to value when it came as `FORM` (an endpoint that
    `accepts` it)."""
    media_type: str = JSON
    """The body's media type as the API read it."""
    client: str | None = None
    """The name of the API key the endpoint's `key_field` presented (checked by the API)."""


@dataclass(frozen=True)
class ServiceResponse:
    body: Any
    status: int = 200
    media_type: str = JSON
    """JSON (or any `+json` type): `body` is rendered as JSON; any other: the text or bytes to send."""


@dataclass(frozen=True)
class Endpoint:
    """`method path` under the service's prefix; the path may name parts as `{id}`."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    handler: Callable[[ServiceContext, ServiceRequest], Awaitable[ServiceResponse]]
    summary: str = ""
    accepts: tuple[str, ...] = (JSON,)
    """Media types of the bodies it reads (`JSON`, `FORM`)."""
    key_field: str | None = None
    """A body field that may carry an API key: when given, the API checks it (403 if it is not a
    valid key) and names its key in `ServiceRequest.client`."""
    parameters: tuple[Mapping[str, Any], ...] = ()
    """Its path and query parameters as OpenAPI parameter objects, for the OpenAPI document."""
    body_schema: Mapping[str, Any] | None = None
    """The JSON Schema of the body it reads (in each media type it `accepts`), for the document."""
    answers: tuple[str, ...] = (JSON,)
    """Media types of its successful answers, for the document."""


@dataclass(frozen=True)
class Service:
    name: str
    """Lower case letters, digits and dashes: the feed, the job leases and the prefix are named so."""
    description: str = ""
    types: tuple[str, ...] = ()
    """Entity types watched (expanded IRIs); none: every type but `ignored`."""
    attributes: tuple[str, ...] = ()
    """Attributes watched (expanded IRIs); none: a change of any attribute."""
    ignored: tuple[str, ...] = ()
    """Types never fed when `types` is empty (a service's own results, for one)."""
    brief: bool = False
    """Fed each attribute instance's observedAt (and datasetId) only, not its value, and of the
    entity before the change only its id, types and scope: for a service that judges when things
    were observed, at a fraction of the feed's cost."""
    handle: Handler | None = None
    jobs: tuple[Job, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    prefix: str = ""
    """Where its endpoints are served; empty: /{name}/v1."""
    errors: ErrorRenderer | None = None
    """How its endpoints' errors are rendered, when its protocol has an error format of its own
    (none: NGSI-LD ProblemDetails)."""
    error_schema: Mapping[str, Any] | None = None
    """The JSON Schema of what `errors` renders as JSON, for the OpenAPI document."""

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"Service name {self.name!r}: lower case letters, digits and dashes")
        for job in self.jobs:
            if job.period <= 0:
                raise ValueError(f"Job {self.name}/{job.name}: the period must be positive")

    @property
    def watches(self) -> bool:
        return self.handle is not None

    @property
    def mount(self) -> str:
        return self.prefix or f"/{self.name}/v1"
