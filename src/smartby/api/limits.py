"""What one request may carry (docs/limits.md): a URL of bounded length without NUL bytes, and a body
of bounded shape (entities per batch, attributes per entity, elements per array). Each limit is a
setting; a request past one is answered with a ProblemDetails before any work is done for it."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from smartby.ngsild.errors import BadRequestData, NgsiLdError
from smartby.settings import Settings


class PayloadTooLarge(NgsiLdError):
    type_name = "InvalidRequest"
    status = 413
    title = "Request body too large"


def check_url(scope: Scope, settings: Settings) -> None:
    """The query string's length, and no NUL byte in the path or the query (PostgreSQL keeps none in
    text, and no NGSI-LD name or value needs one)."""
    query: bytes = scope.get("query_string", b"")
    if len(query) > settings.max_query_length:
        raise BadRequestData(
            f"The query string is longer than {settings.max_query_length} characters "
            "(SMARTBY_MAX_QUERY_LENGTH); send long selections in a POST /entityOperations/query"
        )
    raw_path: bytes = scope.get("raw_path") or scope.get("path", "").encode()
    if b"%00" in query or b"%00" in raw_path or "\x00" in scope.get("path", ""):
        raise BadRequestData("The URL holds a NUL character (%00)")


def check_body(data: Any, settings: Settings, *, document: bool = False) -> None:
    """A body's shape: entities of a batch, attributes of each entity, elements of each array. A
    `document` (an @context to host, a device) is not entities: only its arrays are counted."""
    if document:
        _check_arrays([data], settings.max_array_elements)
        return
    if isinstance(data, list):
        if len(data) > settings.max_batch_entities:
            raise PayloadTooLarge(
                f"A batch holds at most {settings.max_batch_entities} entities (SMARTBY_MAX_BATCH_ENTITIES), "
                f"this one {len(data)}"
            )
        entities = data
    else:
        entities = [data]
    for entity in entities:
        if isinstance(entity, dict) and len(entity) > settings.max_attributes:
            raise PayloadTooLarge(
                f"An entity has at most {settings.max_attributes} attributes (SMARTBY_MAX_ATTRIBUTES), "
                f"{entity.get('id', 'this one')!r} has {len(entity)}"
            )
    _check_arrays(entities, settings.max_array_elements)


def _check_arrays(data: list[Any], most: int) -> None:
    pending: list[Any] = list(data)
    while pending:
        item = pending.pop()
        if type(item) is dict:
            pending.extend(value for value in item.values() if type(value) in (dict, list))
        elif type(item) is list:
            if len(item) > most:
                raise PayloadTooLarge(
                    f"An array holds at most {most} elements (SMARTBY_MAX_ARRAY_ELEMENTS), "
                    f"one here {len(item)}"
                )
            pending.extend(value for value in item if type(value) in (dict, list))
