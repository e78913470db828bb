"""Every error as an RFC 7807 ProblemDetails body (application/json)."""

from __future__ import annotations

import logging

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from smartby.ngsild.errors import (
    BadRequestData,
    InternalError,
    InvalidRequest,
    NgsiLdError,
    OperationNotSupported,
    ResourceNotFound,
)

PROBLEM_JSON = "application/json"
log = logging.getLogger("smartby.api")


class MethodNotAllowed(OperationNotSupported):
    """HTTP 405: the resource exists but not with this method."""

    status = 405


def problem_response(error: NgsiLdError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(error.problem()), status_code=error.status, media_type=PROBLEM_JSON, headers=headers
    )


def tenant_echo(request: Request) -> dict[str, str]:
    """The NGSILD-Tenant header to echo on a response, errors included (clause 6.3.14)."""
    tenant = request.headers.get("ngsild-tenant")
    return {"NGSILD-Tenant": tenant} if tenant and tenant.isprintable() and len(tenant) <= 256 else {}


async def ngsild_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, NgsiLdError)
    return problem_response(error, tenant_echo(request))


async def validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    details = "; ".join(
        f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', '')}"
        for item in error.errors()
    )
    return problem_response(BadRequestData(details or "Invalid request"))


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        mapped: NgsiLdError = ResourceNotFound(f"No resource at {request.url.path}")
    elif error.status_code == 405:
        mapped = OperationNotSupported(f"{request.method} is not supported on {request.url.path}")
        response = problem_response(mapped)
        response.status_code = 405
        if error.headers:
            response.headers.update(error.headers)
        return response
    elif 400 <= error.status_code < 500:
        mapped = InvalidRequest(str(error.detail))
        response = problem_response(mapped)
        response.status_code = error.status_code
        return response
    else:
        mapped = InternalError(str(error.detail))
    return problem_response(mapped)


async def unexpected_error(request: Request, error: Exception) -> Response:
    log.exception("Unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(InternalError("An unexpected error occurred; it has been logged"))


HANDLERS = {
    NgsiLdError: ngsild_error,
    RequestValidationError: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
