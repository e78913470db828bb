"""The operations metrics smartby counts, in the Prometheus format (docs/operations.md).

Any part may count here; `smartby.api.operations` serves them at `/metrics`. With several server
processes, `smartby serve` sets PROMETHEUS_MULTIPROC_DIR to a directory of its own before the
workers start, and prometheus-client keeps each process's values in files there, so one scrape of
any worker shows the sum of all of them.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "smartby_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "smartby_http_request_duration_seconds",
    "Seconds from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
NOTIFICATIONS_SENT = Counter(
    "smartby_notifications_delivered",
    "Notifications delivered (HTTP 2xx or MQTT publish), by endpoint scheme.",
    ["scheme"],
)
NOTIFICATION_FAILURES = Counter(
    "smartby_notification_failures",
    "Notification delivery attempts that failed, by endpoint scheme.",
    ["scheme"],
)
READINGS = Counter("smartby_ingest_readings", "Device readings committed as context.")
DEAD_LETTERS = Counter(
    "smartby_dead_letters",
    "Uplinks kept as dead letters, by why (unknown-device, unauthorized, undecodable, rejected, failed).",
    ["status"],
)
RATE_LIMITED = Counter(
    "smartby_rate_limited",
    "Requests refused with 429 by a rate limit, by limit (address: per client address; principal: "
    "per key or token).",
    ["limit"],
)
READS_STOPPED = Counter(
    "smartby_reads_stopped",
    "Queries and temporal reads stopped before their end: their request was cancelled "
    "(its client went away).",
)
