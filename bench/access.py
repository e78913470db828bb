"""The cost of access control (docs/security.md): GET and PATCH of one entity with
SMARTBY_AUTH=required and an API key, beside the same without authentication, in the same run.

The secured server counts both rate limits (per key and per address, in memory) with limits high
enough never to refuse, so their cost is in the figure. Each server has a database of its own: on a
shared one the second server would start with the first one's PATCHes still to be fed to the city
services, and pay for them while it is measured."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import servers, wrk

V1 = "/ngsi-ld/v1"
ENTITY = {
    "id": "urn:ngsi-ld:TrafficFlowObserved:1",
    "type": "TrafficFlowObserved",
    "intensity": {"type": "Property", "value": 1},
    "averageVehicleSpeed": {"type": "Property", "value": 1.5},
}


def _key(database: str) -> str:
    """A writer's key for the default tenant, made with `smartby keys create` (its last line)."""
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartby",
            "keys",
            "create",
            "--name",
            "bench",
            "--role",
            "writer",
            "-d",
            database,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return output.splitlines()[-1]


@dataclass
class Measured:
    rate: wrk.WrkResult
    cpu_us: float
    """CPU time the server used per request answered, in microseconds: it depends less than the
    rate on what else the machine runs at the time."""


def _measured(
    server: servers.Server, url: str, seconds: int, headers: dict[str, str], **options: Any
) -> Measured:
    before = server.cpu_seconds()
    result = wrk.run(url, seconds=seconds, headers=headers, **options)
    used = server.cpu_seconds() - before
    return Measured(result, used / max(1.0, result.requests_per_s * seconds) * 1e6)


def _best(runs: list[Measured]) -> Measured:
    """The best rate, with the least CPU per request of the runs."""
    fastest = max(runs, key=lambda run: run.rate.requests_per_s)
    return Measured(fastest.rate, min(run.cpu_us for run in runs))


UNREACHED = "1000000/minute"
"""The rate limits of the secured server: counted on every request, never reached."""
ROUNDS = 2
"""Each measurement is made this many times, the two servers taking turns, and the best kept: the
load of a shared machine drifts during a run, and one server measured after the other would pay
for it."""


def run(report: Any, workdir: Path, seconds: int) -> None:
    secured = f"sqlite:///{workdir / 'access-auth.db'}"
    key = _key(secured)
    both = [
        (servers.smartby(f"sqlite:///{workdir / 'access-open.db'}"), {}),
        (
            servers.smartby(secured, auth="required", rate_limit=UNREACHED, rate_limit_address=UNREACHED),
            {"Authorization": f"Bearer {key}"},
        ),
    ]
    try:
        measured: dict[tuple[str, int], list[Measured]] = {}
        for server, headers in both:
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
                client.post(f"{V1}/entityOperations/upsert", json=[ENTITY]).raise_for_status()
        for what, path, options in (("GET", "", {}), ("PATCH", "/attrs", {"script": "patch.lua"})):
            for _ in range(ROUNDS):
                for which, (server, headers) in enumerate(both):
                    url = f"{server.url}{V1}/entities/{ENTITY['id']}{path}"
                    result = _measured(server, url, seconds, headers, **options)
                    measured.setdefault((what, which), []).append(result)
    finally:
        for server, _ in both:
            server.stop()
    open_get, auth_get = _best(measured["GET", 0]), _best(measured["GET", 1])
    open_patch, auth_patch = _best(measured["PATCH", 0]), _best(measured["PATCH", 1])
    for what, secured_, open_ in (("GET", auth_get, open_get), ("PATCH", auth_patch, open_patch)):
        report.add(
            f"{what} one entity with an API key (SMARTBY_AUTH=required), 1 worker, requests/s",
            f"{secured_.rate.requests_per_s:,.0f} (p99 {secured_.rate.latency_p99_ms:.1f} ms)",
            f"{open_.rate.requests_per_s:,.0f} without authentication",
            f"{secured_.rate.requests_per_s / open_.rate.requests_per_s:.2f}",
            ">= 0.90 (auth costs under 10 %)",
        )
        report.add(
            f"{what} one entity with an API key, server CPU per request (µs)",
            f"{secured_.cpu_us:.1f}",
            f"{open_.cpu_us:.1f} without authentication",
            f"{open_.cpu_us / secured_.cpu_us:.2f}",
            ">= 0.90 (open's CPU / secured's)",
        )
        errors = secured_.rate.errors + open_.rate.errors
        if errors:
            report.notes.append(f"access, {what}: {errors} non-2xx responses")
