"""`python -m bench --only federation`: a query answered by a smartby that federates a second one
(10,000 entities each, the second registered as an inclusive context source), beside the same
query on one smartby holding all 20,000, in the same run."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

from bench import servers

V1 = "/ngsi-ld/v1"
EACH = 10_000


def _register(url: str, source: str) -> None:
    registration = {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "TrafficFlowObserved"}]}],
        "endpoint": source,
        "mode": "inclusive",
        "operations": ["retrieveOps"],
    }
    response = httpx.post(f"{url}{V1}/csourceRegistrations", json=registration, timeout=30)
    response.raise_for_status()


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


def run(
    report: Any,
    workdir: Path,
    seed: Callable[[str, list[dict[str, Any]]], None],
    traffic: Callable[[int], dict[str, Any]],
    latencies: Callable[[str, list[str], int], Coroutine[Any, Any, list[float]]],
) -> None:
    each = 1_000 if report.quick else EACH
    federating = servers.smartby(f"sqlite:///{workdir / 'federating.db'}")
    source = servers.smartby(f"sqlite:///{workdir / 'source.db'}")
    single = servers.smartby(f"sqlite:///{workdir / 'single.db'}")
    try:
        seed(federating.url, [traffic(n) for n in range(each)])
        seed(source.url, [traffic(n) for n in range(each, 2 * each)])
        seed(single.url, [traffic(n) for n in range(2 * each)])
        _register(federating.url, source.url)
        queries = [
            f"{V1}/entities?type=TrafficFlowObserved&q=intensity>{low}&limit=100&count=true"
            for low in range(0, 900, 60)
        ]
        rounds = 1 if report.quick else 5
        counted = httpx.get(federating.url + queries[0], timeout=60)
        counted.raise_for_status()
        alone = httpx.get(single.url + queries[0], timeout=60)
        ids = sorted(item["id"] for item in counted.json())
        same = (
            counted.headers["NGSILD-Results-Count"] == alone.headers["NGSILD-Results-Count"]
            and "NGSILD-Warning" not in counted.headers
            and len(ids) == len(alone.json())
        )
        checked = (
            "Both answered the first query with the same count "
            f"({alone.headers['NGSILD-Results-Count']}) and a full page."
            if same
            else "The answers differed: federated count "
            f"{counted.headers['NGSILD-Results-Count']}, single {alone.headers['NGSILD-Results-Count']} "
            f"{counted.headers.get('NGSILD-Warning', '')}."
        )
        federated = asyncio.run(latencies(federating.url, queries, rounds))
        one = asyncio.run(latencies(single.url, queries, rounds))
        report.add(
            f"Query by type and q answered from two federated brokers of {each:,} entities each "
            "(100 per page, count), p95 ms",
            f"{_p95(federated):.1f} (median {statistics.median(federated):.1f})",
            f"{_p95(one):.1f} (median {statistics.median(one):.1f}) one broker of {2 * each:,}",
            f"{_p95(federated) / _p95(one):.1f}",
            "-",
        )
        report.notes.append(
            "Federation: three smartby processes on SQLite, one worker each; the first holds "
            f"{each:,} TrafficFlowObserved entities and registers the second (another {each:,}) as an "
            f"inclusive context source for the type; the third holds all {2 * each:,}. The same "
            f"{len(queries)} queries (type, q on intensity, 100 per page, count) are sent {rounds} "
            "times to the first, which asks the second over HTTP and merges the answers, and to the "
            f"third. {checked}"
        )
    finally:
        federating.stop()
        source.stop()
        single.stop()
