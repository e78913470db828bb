"""Climate adaptation (docs/climate.md): rain gauges' rolling sums with DMI's cloudburst and heavy
rain as Alerts, and sewer basins' fill rate, time until full, flood risk and flooding.

Modules: `rain` (rolling sums, DMI's definitions, severity) and `basin` (fill rate by least squares,
time until full) are pure; `episodes` (the spells an Alert stands for), `alerts` (episodes made
Alerts), `gauges` (readings through the broker), `endpoints`, and `service` (the wiring).
"""

from __future__ import annotations

from smartby.services.climate.service import service

__all__ = ["service"]
