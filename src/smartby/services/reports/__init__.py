"""Citizen reports (docs/open311.md): Open311 GeoReport v2 requests kept as Smart Data Models
IssueReporting entities, routed to street lighting faults and flood alerts.

Modules: `catalogue` (the service types), `parameters` (Open311's parameters, parsed; pure),
`georeport` (its JSON and XML documents and errors), `reports` (a report as an entity and back),
`routing` (street light and flood), `endpoints`, `service` (the wiring).
"""

from __future__ import annotations

from smartby.services.reports.service import service

__all__ = ["service"]
