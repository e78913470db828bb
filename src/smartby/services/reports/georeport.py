"""GeoReport v2's documents in its two formats: a JSON array (or object), or XML whose root names the
list and whose children name its items (`<services><service>...`), and its error format:
`[{"code": 400, "description": "..."}]`, `<errors><error><code>400</code>...`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

from smartby.ngsild.errors import NgsiLdError
from smartby.services.reports.parameters import FORMATS
from smartby.services.service import JSON, ServiceRequest, ServiceResponse

XML = "application/xml"
ERROR_SCHEMA: Mapping[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


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
