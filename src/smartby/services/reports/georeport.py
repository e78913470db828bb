"""GeoReport v2's documents in its two formats: a JSON array (or object), or XML whose root names the
list and whose children name its items (`<services><service>...`), and its error format:
`[{"code": 400, "description": "..."}]`, `<errors><error><code>400</code>...`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

from smartby.ngsild.errors import NgsiLdError
from smartby.services.reports.catalogue import BY_CODE
from smartby.services.reports.parameters import FORMATS
from smartby.services.service import JSON, ServiceRequest, ServiceResponse

XML = "text/xml"
"""GeoReport v2's XML media type (Starlette adds `; charset=utf-8`)."""
ERROR_SCHEMA: Mapping[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot carry: shown as U+FFFD in an XML answer."""
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
}


def _path(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(schema)}


def _query(name: str, description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": dict(schema),
    }


def _listed(pattern: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern}


FORMAT = _path("format", {"type": "string", "enum": ["json", "xml"]})
CODE = _path("code", {"type": "string", "pattern": "^[a-z-]{1,40}$"})
REQUEST_ID = _path("id", {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"})
_CODES = "(" + "|".join(re.escape(code) for code in BY_CODE) + ")"
_DATE = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}
REQUESTS_QUERY = (
    _query("service_request_id", "Comma list of ids", _listed(r"^[A-Za-z0-9-]{1,64}(,[A-Za-z0-9-]{1,64})*$")),
    _query("service_code", "Comma list of service codes", _listed(f"^{_CODES}(,{_CODES})*$")),
    _query("status", "Comma list: open, closed", _listed("^(open|closed)(,(open|closed))?$")),
    _query("start_date", "W3C date-time with its zone, or a date", _DATE),
    _query("end_date", "W3C date-time with its zone, or a date", _DATE),
)


def request_schema(
    codes: Sequence[str], west: float, south: float, east: float, north: float
) -> dict[str, Any]:
    """A report's fields (form or JSON) as JSON Schema: what a citizen's app sends."""
    text = {"type": "string", "maxLength": 254}
    return {
        "type": "object",
        "required": ["service_code", "lat", "long"],
        "properties": {
            "service_code": {"type": "string", "enum": list(codes)},
            "lat": {"type": "number", "minimum": south, "maximum": north},
            "long": {"type": "number", "minimum": west, "maximum": east},
            "description": {"type": "string", "maxLength": 4000},
            "media_url": {
                "type": "string",
                "format": "uri",
                "pattern": "^https?://[^\\s]+$",
                "maxLength": 2048,
            },
            "address_string": {"type": "string", "maxLength": 400},
            "email": {"type": "string", "format": "email", "maxLength": 254},
            **{name: text for name in ("first_name", "last_name", "phone", "device_id", "account_id")},
        },
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else NOT_XML.sub("\ufffd", str(value))


def _fill(element: ElementTree.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for name, item in value.items():
            _fill(ElementTree.SubElement(element, name), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ElementTree.SubElement(element, ITEM_NAMES.get(element.tag, "item")), item)
    else:
        element.text = _text(value)


def xml(root: str, value: Sequence[Any] | Mapping[str, Any]) -> bytes:
    element = ElementTree.Element(root)
    _fill(element, value)
    written: bytes = ElementTree.tostring(element, encoding="utf-8", xml_declaration=True)
    return written


def answer(
    fmt: str, root: str, value: Sequence[Any] | Mapping[str, Any], status: int = 200
) -> ServiceResponse:
    """`value` as the format asks: JSON as it is, XML under `root`."""
    if fmt == "xml":
        return ServiceResponse(xml(root, value), status, XML)
    return ServiceResponse(value, status, JSON)


def error(request: ServiceRequest, problem: NgsiLdError) -> ServiceResponse:
    """Any error of the reports service's endpoints, in Open311's error format (XML for a `.xml`
    request, JSON otherwise)."""
    suffix = request.path.get("format", "json")
    fmt = suffix if suffix in FORMATS else "json"
    return answer(fmt, "errors", [{"code": problem.status, "description": problem.detail}], problem.status)
