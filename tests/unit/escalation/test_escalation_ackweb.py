"""What the acknowledge endpoint reads from Slack and PagerDuty, and the pages it shows."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from bedrock_watch.ackweb import page, pagerduty_ack, slack_ack
from bedrock_watch.signing import InvalidSignature
from sandbox.events import load_event


def _slack_body(payload: dict[str, object]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def test_the_slack_acknowledge_button_yields_the_token_and_the_user() -> None:
    press = slack_ack(_slack_body(load_event("escalation/slack-block-actions")))

    assert press is not None
    assert press.token == "REPLACE-with-the-signed-token-from-the-page"
    assert press.user == "ana (Slack)"


def test_other_slack_interactions_are_not_acknowledgements() -> None:
    payload = load_event("escalation/slack-block-actions")
    payload["actions"][0]["action_id"] = "open_dashboard"
    assert slack_ack(_slack_body(payload)) is None


def test_a_slack_request_without_a_payload_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="no valid interaction payload"):
        slack_ack("token=abc")


def test_pagerduty_incident_acknowledged_yields_our_incident_id_and_who() -> None:
    assert pagerduty_ack(json.dumps(load_event("escalation/pagerduty-incident-acknowledged"))) == (
        "inc-REPLACE-with-the-bedrock-watch-incident-id",
        "Priya Patel (PagerDuty)",
    )


@pytest.mark.parametrize("event_type", ["incident.triggered", "incident.resolved", "incident.annotated"])
def test_other_pagerduty_events_are_ignored(event_type: str) -> None:
    webhook = load_event("escalation/pagerduty-incident-acknowledged")
    webhook["event"]["event_type"] = event_type
    assert pagerduty_ack(json.dumps(webhook)) is None


def test_pages_escape_what_they_echo() -> None:
    html = page("Acknowledge <script>", "x", {"token": '"><script>alert(1)</script>'})

    assert "<script>" not in html
    assert '<form method="post"' in html
