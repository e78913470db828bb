"""Start smartby and the baseline server as real processes, and measure what they hold."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process on a free port; `url` is its base URL."""

    def __init__(self, command: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/ngsi-ld/v1/types", timeout=1)
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    error = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(f"server did not start: {error[-2000:]}") from None
                time.sleep(0.1)

    def pids(self) -> list[int]:
        """The server process and its worker processes."""
        found = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            found.extend(int(p) for p in children.read_text().split())
        return found

    def rss_mb(self) -> float:
        """Resident memory of the process serving requests (the worker if there are workers)."""
        pids = self.pids()
        pid = pids[-1]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the process serving requests has used so far."""
        fields = Path(f"/proc/{self.pids()[-1]}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def smartby(database: str, workers: int = 1, **settings: str) -> Server:
    port = free_port()
    env = {
        "SMARTBY_DATABASE": database,
        "SMARTBY_WORKERS": str(workers),
        "SMARTBY_LOG_LEVEL": "warning",
        **{f"SMARTBY_{k.upper()}": v for k, v in settings.items()},
    }
    command = [sys.executable, "-m", "smartby", "serve", "--port", str(port)]
    return Server(command, env, port)


def baseline(workers: int = 1) -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.baseline_app:app",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--no-server-header",
    ]
    return Server(command, {}, port)
