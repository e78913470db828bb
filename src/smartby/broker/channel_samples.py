"""The built-in channel templates (`smartby channels add --template teams|slack|sms|email`) and the
sample Alert a channel's test sends (docs/alert-channels.md).

Each template puts every value through `tojson`, so the JSON it makes is valid whatever an alert
holds; a missing attribute falls back with `or`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartby.records.channels import Kind

TITLE = (
    '{% set title = "[" ~ (alert.severity or "alert") ~ "] " ~ (alert.subCategory or alert.category'
    ' or entity.type) ~ " at " ~ (alert.alertSource or entity.id) %}'
    "{% set since = alert.validFrom or alert.dateIssued or notifiedAt %}"
)

SLACK = (
    TITLE
    + """
{
  "text": {{ title | tojson }},
  "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": {{ title | truncate(150, true) | tojson }}}},
    {"type": "section", "fields": [
      {"type": "mrkdwn", "text": {{ ("*Severity*\\n" ~ (alert.severity or "-")) | tojson }}},
      {"type": "mrkdwn", "text": {{ ("*Source*\\n" ~ (alert.alertSource or "-")) | tojson }}},
      {"type": "mrkdwn", "text": {{ ("*Since*\\n" ~ since) | tojson }}},
      {"type": "mrkdwn", "text": {{ ("*Alert*\\n" ~ entity.id) | tojson }}}
    ]},
    {"type": "section", "text": {"type": "mrkdwn", "text": {{ (alert.description or title) | tojson }}}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": {{ ("smartby · " ~ notifiedAt) | tojson }}}]}
  ]
}
"""
)

TEAMS = (
    TITLE
    + """
{
  "type": "message",
  "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive",
    "contentUrl": null,
    "content": {
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
      "type": "AdaptiveCard",
      "version": "1.4",
      "body": [
        {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true,
         "text": {{ title | tojson }}},
        {"type": "FactSet", "facts": [
          {"title": "Severity", "value": {{ (alert.severity or "-") | string | tojson }}},
          {"title": "Source", "value": {{ (alert.alertSource or "-") | string | tojson }}},
          {"title": "Since", "value": {{ since | string | tojson }}},
          {"title": "Alert", "value": {{ entity.id | tojson }}}
        ]},
        {"type": "TextBlock", "wrap": true, "text": {{ (alert.description or "") | string | tojson }}}
      ]
    }
  }]
}
"""
)

SMS = (
    TITLE
    + """
{% set text = title ~ ((": " ~ alert.description) if alert.description else "") %}
{
  "message": {{ text | truncate(160, true, "...", 0) | tojson }},
  "priority": {{ ("high" if alert.severity in ("high", "critical") else "normal") | tojson }},
  "reference": {{ entity.id | tojson }}
}
"""
)

EMAIL_SUBJECT = (
    "[smartby] {{ alert.severity or 'alert' }}: {{ alert.subCategory or alert.category or entity.type }}"
    " at {{ alert.alertSource or entity.id }}"
)
EMAIL = """{{ alert.description or "An alert needs attention." }}

Alert:     {{ entity.id }}
Category:  {{ alert.category or "-" }} / {{ alert.subCategory or "-" }}
Severity:  {{ alert.severity or "-" }}
Source:    {{ alert.alertSource or "-" }}
Valid:     {{ alert.validFrom or alert.dateIssued or "-" }} to {{ alert.validTo or "open" }}

Sent by smartby at {{ notifiedAt }} (subscription {{ subscriptionId }}).
"""


@dataclass(frozen=True)
class Sample:
    kind: Kind
    template: str
    subject: str = ""


SAMPLES = {
    "teams": Sample("webhook", TEAMS),
    "slack": Sample("webhook", SLACK),
    "sms": Sample("webhook", SMS),
    "email": Sample("email", EMAIL, EMAIL_SUBJECT),
}


def sample_alert(moment: str) -> dict[str, Any]:
    """The Alert a channel's test renders (keyValues, as templates see alerts)."""
    return {
        "id": "urn:ngsi-ld:Alert:channel-test",
        "type": "Alert",
        "category": "weather",
        "subCategory": "cloudburst",
        "severity": "high",
        "alertSource": "urn:ngsi-ld:WeatherObserved:botanical-garden",
        "description": "A test from smartby: 16.2 mm of rain in 30 minutes (this is not a real alert).",
        "dateIssued": moment,
        "validFrom": moment,
        "location": {"type": "Point", "coordinates": [12.5734, 55.6867]},
    }
