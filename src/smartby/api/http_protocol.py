"""The HTTP/1.1 protocol smartby serves with: uvicorn's httptools protocol, answering a request it
cannot parse (a URL longer than httptools reads, 64 KiB, a malformed request line or header) with a
ProblemDetails body like every other refusal, not uvicorn's plain text."""

from __future__ import annotations

from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from smartby.ngsild.errors import BadRequestData


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = orjson.dumps(BadRequestData(_detail(msg)).problem())
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def _detail(msg: str) -> str:
    return (
        f"{msg} (a URL is read up to 64 KiB, its query string up to SMARTBY_MAX_QUERY_LENGTH; "
        "send long selections in a POST /ngsi-ld/v1/entityOperations/query)"
    )


def server_options() -> dict[str, Any]:
    """What `uvicorn.run` or `uvicorn.Config` take, besides the app and where to listen, to serve smartby."""
    return {"http": ProblemHttpToolsProtocol}
