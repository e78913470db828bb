"""Energy renovation (docs/renovation.md): heat meters' registers to hourly and daily use, heating
degree days, climate-normalised annual use, the Danish energy label estimate and ranked retrofit
candidates.

Modules: `meters` (register to use), `degree_days`, `normalisation` (the least-squares fit),
`labels` (the Danish scales), `retrofit` (savings, ranking, the worst 16 %), pure; `buildings`
(buildings, meters and weather stations through the broker), `performance` (a building's year),
`indicators` (the KeyPerformanceIndicators), `endpoints`, and `service` (the wiring).
"""

from __future__ import annotations

from smartby.services.energy.service import service

__all__ = ["service"]
