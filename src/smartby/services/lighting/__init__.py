"""Intelligent street lighting (docs/lighting.md): lighting programs run on groups of street lights,
adaptive lighting by traffic, faults found from power readings, and the energy and CO2 saved.

Modules: `calendar` and `program` (the LightingProgram model and parser), `sun` and `schedule` (a
group's switching events), `inventory` (groups, lights and programs as read through the broker),
`switching` and `dispatch` (running programs), `adaptive` and `traffic` (EN 13201 classes by
traffic), `faults` and `diagnosis` (faults from power, as Alerts), `energy` (KPIs), `endpoints`,
and `service` (the wiring).
"""

from __future__ import annotations

from smartby.services.lighting.service import service

__all__ = ["service"]
