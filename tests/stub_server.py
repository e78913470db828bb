"""A real HTTP server in a thread, answering with a handler class of the test's: for the documents
and redirects smartby fetches."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


@contextlib.contextmanager
def served(handler: type[BaseHTTPRequestHandler], host: str = "localhost") -> Iterator[str]:
    """The base URL (`host`, a name resolving to loopback by default) of `handler` served on a free
    port of 127.0.0.1 until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Documents(BaseHTTPRequestHandler):
    """Answers GET with the body its class maps the path to (as JSON-LD), else 404."""

    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return
