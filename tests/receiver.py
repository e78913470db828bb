"""A real HTTP server that receives notifications, in a thread: it records what arrives, answers
with the status it is told, and can be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/notify"
        self.received: list[Received] = []
        self.status = 200
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            orjson.loads(raw),
                            time.time(),
                        )
                    )
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def entity_ids(self) -> list[str]:
        with self._lock:
            return [entity["id"] for item in self.received for entity in item.body["data"]]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `count` notifications have arrived (fails after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} notifications arrived, expected {count}")
            await asyncio.sleep(0.01)
        return list(self.received)

    async def wait_for_entities(self, count: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.entity_ids()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.entity_ids())} entities notified, expected {count}")
            await asyncio.sleep(0.01)
        return self.entity_ids()
