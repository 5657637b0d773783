"""What the acknowledge endpoint reads and writes: vendor callback payloads and the HTML pages.

A GET on the signed link only shows a confirmation form: mail scanners and chat unfurlers fetch
links, and must not acknowledge an incident on someone's behalf. The POST of that form does.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from bedrock_watch.channels.slack import ACK_ACTION_ID
from bedrock_watch.webrequest import BadRequest, parse_form, text_of


@dataclass(frozen=True, slots=True)
class SlackAck:
    token: str
    user: str


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def slack_ack(body: str) -> SlackAck | None:
    """The acknowledge button press in a Slack interaction payload, or None for other interactions.

    BadRequest when the form carries no interaction payload object (Slack always sends one)."""
    raw = parse_form(body).get("payload", "")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("Slack request carries no valid interaction payload") from None
    if not isinstance(payload, dict):
        raise BadRequest("Slack interaction payload is not a JSON object")
    actions = payload.get("actions")
    for raw_action in actions if isinstance(actions, list) else []:
        action = _object(raw_action)
        token = text_of(action.get("value"))
        if action.get("action_id") == ACK_ACTION_ID and token:
            user = _object(payload.get("user"))
            name = (
                text_of(user.get("username"))
                or text_of(user.get("name"))
                or text_of(user.get("id"))
                or "unknown Slack user"
            )
            return SlackAck(token, f"{name[:100]} (Slack)")
    return None


def pagerduty_ack(payload: Any) -> tuple[str, str] | None:
    """(incident id, who) of a v3 `incident.acknowledged` webhook (parsed JSON), or None for
    other events and shapes.

    Our incident id is the Events API dedup_key, which PagerDuty reports as `incident_key`.
    """
    event = _object(_object(payload).get("event"))
    if event.get("event_type") != "incident.acknowledged":
        return None
    incident_key = text_of(_object(event.get("data")).get("incident_key"))
    if not incident_key:
        return None
    agent = text_of(_object(event.get("agent")).get("summary")) or "unknown PagerDuty user"
    return incident_key[:200], f"{agent[:100]} (PagerDuty)"


def servicenow_ack(payload: Any) -> tuple[str, str] | None:
    """(incident id, who) of the Business Rule's call ({"incident", "acknowledgedBy"}), or None.

    The incident id is our incident's, which the ServiceNow incident carries as correlation_id."""
    body = _object(payload)
    incident = text_of(body.get("incident"))
    if not incident:
        return None
    who = text_of(body.get("acknowledgedBy")) or "unknown ServiceNow user"
    return incident[:200], f"{who[:100]} (ServiceNow)"


_STYLE = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"


def page(title: str, message: str, form: dict[str, str] | None = None) -> str:
    """A small self-contained HTML page; with `form`, a POST form carrying those hidden fields."""
    body = f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
    if form is not None:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in form.items()
        )
        body += (
            f'<form method="post" action="ack">{hidden}'
            '<label>Your name <input name="by" required maxlength="100"></label> '
            '<button type="submit">Acknowledge and stop escalation</button></form>'
        )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
