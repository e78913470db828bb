"""The expanded names the reports service reads and writes (the internal form of entities).

Reports are Smart Data Models `IssueReporting` entities as the IssueTracking @context expands them.
They are written and read with smartby's reports @context (`REPORTS_CONTEXT`, shipped in
smartby/data/contexts and served at /open311/v2/context.jsonld): IssueTracking's terms with the
`open311` prefix its terms `open311:metadata` and `open311:type` need to be processed as JSON-LD
(IssueTracking's own document fails so), and the report's links: `refStreetlight` (the
Streetlighting model's term) and `refAlert` (smartby's).
"""

from __future__ import annotations

REPORTS_CONTEXT = "https://smartby.org/contexts/reports.jsonld"
CONTEXT_FILE = "smartby-reports.context.jsonld"

_ISSUE = "https://smartdatamodels.org/dataModel.IssueTracking/"

ISSUE_REPORTING = _ISSUE + "IssueReporting"
RESOLUTION_STATUS = _ISSUE + "resolutionStatus"
REPORT_ID = _ISSUE + "reportId"
REF_ALERT = "https://smartby.org/ns/reports/refAlert"
ALERT = "https://smartdatamodels.org/dataModel.Alert/Alert"
VALID_TO = "https://smartdatamodels.org/dataModel.Alert/validTo"

OPEN = "Open"
CLOSED = "Closed"
CLOSED_STATES = frozenset({CLOSED, "Closed."})
"""resolutionStatus values Open311 reads as closed (the schema's own list spells it "Closed.")."""
