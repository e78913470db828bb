"""Mobility monitoring (docs/mobility.md): congestion indicators per traffic segment and for the
city, the level of service, traffic jams and anomalous counts.

Modules: `congestion` (the measures as pure functions), `segments` (a segment's readings from
history and its day's figures), `daily` (the KeyPerformanceIndicators), `watch` (trafficJam and
anomaly alerts from the feed), `endpoints`, and `service` (the wiring).
"""

from __future__ import annotations

from smartby.services.mobility.service import service

__all__ = ["service"]
