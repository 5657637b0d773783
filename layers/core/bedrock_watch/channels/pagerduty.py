"""PagerDuty Events API v2: trigger on a page, acknowledge and resolve with the same dedup_key.

dedup_key is the incident id, so every tier, the final notice, each alarm that joins the incident
(an update), the acknowledgement and the resolution land on one PagerDuty alert. PagerDuty
rate-limits per routing key (HTTP 429), which send_json backs off from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bedrock_watch.channels.http import HttpClient
from bedrock_watch.pages import Message

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
# Our two severities onto PagerDuty's four (critical | error | warning | info).
SEVERITY = {"critical": "critical", "warning": "warning"}
ACTION = {
    "page": "trigger",
    "final": "trigger",
    "channel_failure": "trigger",
    # a trigger on an open alert's dedup_key adds to that alert's log: an update, never a new page
    "update": "trigger",
    "digest": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}


def event(message: Message, routing_key: str, source: str) -> dict[str, Any]:
    """The Events API v2 body for a message."""
    action = ACTION[message.kind]
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": message.incident_id,
    }
    if action == "trigger":
        body["payload"] = {
            "summary": message.title[:1024],
            "source": source,
            "severity": SEVERITY.get(message.severity, "error"),
            "component": next((v for k, v in message.facts if k == "Model"), None),
            "group": next((v for k, v in message.facts if k == "Route"), None),
            "class": message.kind,
            "custom_details": {"summary": message.summary, **dict(message.facts)},
        }
        body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
        body["links"] = [{"href": url, "text": label} for label, url in message.links]
        if message.ack_url:
            body["links"].append({"href": message.ack_url, "text": "Acknowledge in bedrock-watch"})
        body["client"] = "bedrock-watch"
    return body


class PagerDutyChannel:
    def __init__(
        self,
        routing_key: str,
        target: str = "default",
        *,
        events_url: str = EVENTS_URL,
        source: str = "bedrock-watch",
        http: HttpClient | None = None,
    ) -> None:
        self.name = "pagerduty" if target == "default" else f"pagerduty:{target}"
        self._key = routing_key
        self._url = events_url
        self._source = source
        self._http = http or HttpClient()

    def send(self, message: Message, ref: Mapping[str, str] | None = None) -> dict[str, str] | None:
        self._http.post_json(self.name, self._url, event(message, self._key, self._source))
        return None
