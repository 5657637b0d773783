"""What the acknowledge endpoint reads and writes: vendor callback payloads and the HTML pages.

A GET on the signed link only shows a confirmation form: mail scanners and chat unfurlers fetch
links, and must not acknowledge an incident on someone's behalf. The POST of that form does.
"""

from __future__ import annotations

import html
import json
import urllib.parse
from dataclasses import dataclass

from bedrock_watch.channels.slack import ACK_ACTION_ID
from bedrock_watch.signing import InvalidSignature


@dataclass(frozen=True, slots=True)
class SlackAck:
    token: str
    user: str


def parse_form(body: str) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (first value of each field)."""
    return {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}


def slack_ack(body: str) -> SlackAck | None:
    """The acknowledge button press in a Slack interaction payload, or None for other interactions."""
    try:
        payload = json.loads(parse_form(body).get("payload", ""))
    except json.JSONDecodeError:
        raise InvalidSignature("Slack request carries no valid interaction payload") from None
    for action in payload.get("actions") or []:
        if action.get("action_id") == ACK_ACTION_ID and action.get("value"):
            user = payload.get("user") or {}
            name = user.get("username") or user.get("name") or user.get("id") or "unknown Slack user"
            return SlackAck(str(action["value"]), f"{name} (Slack)")
    return None


def pagerduty_ack(body: str) -> tuple[str, str] | None:
    """(incident id, who) of a v3 `incident.acknowledged` webhook, or None for other events.

    Our incident id is the Events API dedup_key, which PagerDuty reports as `incident_key`.
    """
    try:
        event = json.loads(body).get("event") or {}
    except (json.JSONDecodeError, AttributeError):
        return None
    if event.get("event_type") != "incident.acknowledged":
        return None
    data = event.get("data") or {}
    incident_key = data.get("incident_key")
    if not incident_key:
        return None
    agent = (event.get("agent") or {}).get("summary") or "unknown PagerDuty user"
    return str(incident_key), f"{agent} (PagerDuty)"


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
