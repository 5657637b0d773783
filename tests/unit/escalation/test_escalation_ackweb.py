"""What the acknowledge endpoint reads from Slack and PagerDuty, and the pages it shows."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from bedrock_watch.ackweb import page, pagerduty_ack, slack_ack
from bedrock_watch.webrequest import BadRequest
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
    with pytest.raises(BadRequest, match="no valid interaction payload"):
        slack_ack("token=abc")


@pytest.mark.parametrize("payload", ["[]", '"x"', "7", "null"])
def test_a_slack_payload_that_is_not_an_object_is_a_bad_request(payload: str) -> None:
    with pytest.raises(BadRequest, match="not a JSON object"):
        slack_ack(urllib.parse.urlencode({"payload": payload}))


@pytest.mark.parametrize(
    "webhook",
    [
        [],
        "x",
        {"event": "x"},
        {"event": {"event_type": "incident.acknowledged", "data": []}},
        {"event": {"event_type": "incident.acknowledged", "data": {"incident_key": ["a"]}}},
    ],
)
def test_a_pagerduty_webhook_of_another_shape_is_not_an_acknowledgement(webhook: object) -> None:
    assert pagerduty_ack(webhook) is None


def test_pagerduty_incident_acknowledged_yields_our_incident_id_and_who() -> None:
    assert pagerduty_ack(load_event("escalation/pagerduty-incident-acknowledged")) == (
        "inc-REPLACE-with-the-bedrock-watch-incident-id",
        "Priya Patel (PagerDuty)",
    )


@pytest.mark.parametrize("event_type", ["incident.triggered", "incident.resolved", "incident.annotated"])
def test_other_pagerduty_events_are_ignored(event_type: str) -> None:
    webhook = load_event("escalation/pagerduty-incident-acknowledged")
    webhook["event"]["event_type"] = event_type
    assert pagerduty_ack(webhook) is None


def test_pages_escape_what_they_echo() -> None:
    html = page("Acknowledge <script>", "x", {"token": '"><script>alert(1)</script>'})

    assert "<script>" not in html
    assert '<form method="post"' in html
