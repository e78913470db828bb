"""schemathesis on the Open311 routes of smartby's OpenAPI document (the reports service on, as in a
city; the API's own fuzz test runs without services): whatever a client sends, no server error, and
every 4xx in Open311's error format; what the document calls valid is accepted."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from smartby.api.app import create_app
from smartby.assembly import assemble
from smartby.settings import Settings

schemathesis.checks.load_all_checks()
CHECKS = {check.__name__: check for check in schemathesis.checks.CHECKS.get_all()}
UNCHECKED = {
    # timing is no property of the API; unsupported_method and allow_header_conformance send other
    # methods, which FastAPI answers 405 as ProblemDetails before the service's routes are reached
    "max_response_time",
    "unsupported_method",
    "allow_header_conformance",
    # with authentication off nothing needs credentials
    "ignored_auth",
}
OPEN311 = "/open311/v2"


def open311_error(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """A 4xx carries Open311's error format: [{"code", "description"}], or its XML."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    if content_type.startswith("text/xml"):
        root = ElementTree.fromstring(response.content)
        assert root.tag == "errors" and root.findtext("error/code") == str(response.status_code)
        return None
    [error] = json.loads(response.content)
    assert error["code"] == response.status_code and isinstance(error["description"], str), error
    return None


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app on a database of its own; schemathesis's ASGI client runs its lifespan."""
    database = tmp_path_factory.mktemp("open311-fuzz") / "city.db"
    chosen = Settings(
        database=f"sqlite:///{database}", remote_contexts=False, services=["reports"], _env_file=None
    )  # type: ignore[call-arg]
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(assemble(chosen)))


OPERATIONS = [
    ("/open311/v2/services.{format}", "GET"),
    ("/open311/v2/services/{code}.{format}", "GET"),
    ("/open311/v2/requests.{format}", "GET"),
    ("/open311/v2/requests.{format}", "POST"),
    ("/open311/v2/requests/{id}.{format}", "GET"),
    ("/open311/v2/context.jsonld", "GET"),
]


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_the_open311_routes_hold_what_their_document_says(schema: Any, path: str, method: str) -> None:
    operation = schema[path][method]
    skipped = set(UNCHECKED)
    if method == "POST":
        # A form carries text only: an array or a number where the document names a string reaches
        # the server as that text (`lat=55.65` whatever its JSON type was), which it rightly reads.
        skipped.add("negative_data_rejection")
    checks = [check for name, check in CHECKS.items() if name not in skipped] + [open311_error]

    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=st.one_of([operation.as_strategy(mode) for mode in GenerationMode]))
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=checks)

    call()
