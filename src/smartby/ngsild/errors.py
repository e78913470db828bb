"""NGSI-LD error types (ETSI GS CIM 009, clause 5.5.2) as exceptions.

Each class carries its type URI and HTTP status; the API layer renders any of them as an
RFC 7807 ProblemDetails body, so code below the API only ever raises.
"""

from __future__ import annotations

from typing import Any, ClassVar

ERRORS_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiLdError(Exception):
    """Base of every NGSI-LD error. `title` is the short name, `detail` the explanation."""

    type_name: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return ERRORS_BASE + self.type_name

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidRequest(NgsiLdError):
    type_name = "InvalidRequest"
    status = 400
    title = "Invalid request"


class BadRequestData(NgsiLdError):
    type_name = "BadRequestData"
    status = 400
    title = "Bad request data"


class AlreadyExists(NgsiLdError):
    type_name = "AlreadyExists"
    status = 409
    title = "Already exists"


class OperationNotSupported(NgsiLdError):
    type_name = "OperationNotSupported"
    status = 422
    title = "Operation not supported"


class ResourceNotFound(NgsiLdError):
    type_name = "ResourceNotFound"
    status = 404
    title = "Resource not found"


class InternalError(NgsiLdError):
    type_name = "InternalError"
    status = 500
    title = "Internal error"


class TooComplexQuery(NgsiLdError):
    type_name = "TooComplexQuery"
    status = 403
    title = "Too complex query"


class TooManyResults(NgsiLdError):
    type_name = "TooManyResults"
    status = 403
    title = "Too many results"


class LdContextNotAvailable(NgsiLdError):
    type_name = "LdContextNotAvailable"
    status = 503
    title = "@context not available"


class NoMultiTenantSupport(NgsiLdError):
    type_name = "NoMultiTenantSupport"
    status = 501
    title = "No multi-tenant support"


class NonexistentTenant(NgsiLdError):
    type_name = "NonexistentTenant"
    status = 404
    title = "Nonexistent tenant"


class NotAcceptable(NgsiLdError):
    """HTTP 406: the Accept header asks for a media type smartby cannot produce."""

    type_name = "NotAcceptable"
    status = 406
    title = "Not acceptable"


class UnsupportedMediaType(NgsiLdError):
    """HTTP 415: the request body's Content-Type is not JSON or JSON-LD."""

    type_name = "UnsupportedMediaType"
    status = 415
    title = "Unsupported media type"


class Conflict(NgsiLdError):
    """HTTP 409 for a conflict other than an existing entity (e.g. a context still in use)."""

    type_name = "Conflict"
    status = 409
    title = "Conflict"


class QueryTimedOut(TooComplexQuery):
    """A query that ran past the server's time budget for one request (SMARTBY_QUERY_TIMEOUT):
    the standard's TooComplexQuery, answered 503 as the budget depends on the server's load."""

    status = 503
    title = "Query took too long"
