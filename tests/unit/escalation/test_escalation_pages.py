"""Page rendering: the context a person needs, on every channel, and never prompt or response text."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bedrock_watch.channels import jsm, pagerduty, slack
from bedrock_watch.pages import Message, context_from_alarm, render
from sandbox.events import load_event

TAGS = {"Severity": "critical", "Runbook": "model-errors", "Remediation": "failover", "Route": "chat"}
ACK = "https://ack.example/ack?incident=inc-1&token=tok"


def _page(event: dict[str, Any] | None = None, tags: dict[str, str] | None = None, **kw: Any) -> Message:
    ctx = context_from_alarm(
        event or load_event("escalation/alarm"),
        TAGS if tags is None else tags,
        dashboard_name="bedrock-watch",
        runbook_base_url="https://docs.example/runbook.md",
        **kw,
    )
    return render(ctx, kind="page", incident_id="inc-1", tier="devops", ack_url=ACK, ack_token="tok")


def _everything(message: Message) -> str:
    """Every rendering of a message, as one string (plain text, Slack, PagerDuty, JSM)."""
    return "\n".join(
        [
            message.text(),
            json.dumps(slack.blocks(message)),
            json.dumps(pagerduty.event(message, "key", "bedrock-watch")),
            json.dumps(jsm.request(message, "https://jsm.example/v2/alerts")),
        ]
    )


def test_a_page_carries_the_llm_context_and_the_links() -> None:
    text = _page().text()

    assert "[CRITICAL] bedrock-watch.ModelErrors-chat is in ALARM" in text
    assert "Threshold Crossed: 2 out of the last 2 datapoints" in text  # state reason
    assert "Recent values: 37, 41 (threshold 25)" in text
    assert "Model: anthropic.claude-sonnet-4-5-20250929-v1:0" in text
    assert "Route: chat" in text
    assert "Application: support-bot" in text
    assert "Remediation: failover of route chat started automatically" in text
    assert (
        "Dashboard: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/bedrock-watch"
        in text
    )
    assert "Runbook: https://docs.example/runbook.md#model-errors" in text
    assert f"Acknowledge (stops escalation): {ACK}" in text


def test_a_page_without_remediation_or_budget_says_so_and_shows_no_burn_rate() -> None:
    text = _page(tags={"Severity": "warning", "Remediation": "none"}).text()

    assert "Remediation: none" in text
    assert "burn rate" not in text
    assert "[WARNING]" in text


def test_a_budget_alarm_page_shows_the_spend_burn_rate() -> None:
    event = load_event("escalation/alarm")
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"] = {
        "namespace": "BedrockWatch",
        "name": "ProjectedMonthEndSpendUSD",
        "dimensions": {},
    }
    text = _page(event, burn_rate_usd_per_hour=12.5).text()

    assert "Spend burn rate: $12.50/hour" in text


def test_a_full_runbook_url_tag_is_used_as_is() -> None:
    text = _page(tags={**TAGS, "Runbook": "https://wiki.example/llm"}).text()
    assert "Runbook: https://wiki.example/llm" in text


PROMPT = "USER PROMPT: my card number is 4111"
RESPONSE = "MODEL RESPONSE: here is the secret plan"


def test_no_prompt_or_response_text_reaches_any_channel_even_if_the_event_carries_it() -> None:
    event = copy.deepcopy(load_event("escalation/alarm"))
    # Whatever ends up in an event (a careless alarm author, a future field) must not be paged.
    event["detail"]["inputBodyJson"] = {"messages": [{"content": PROMPT}]}
    event["detail"]["outputBodyJson"] = {"output": RESPONSE}
    event["detail"]["configuration"]["prompt"] = PROMPT
    event["detail"]["state"]["reasonData"] = json.dumps(
        {"recentDatapoints": [41.0], "threshold": 25.0, "sample": PROMPT, "response": RESPONSE}
    )
    tags = {**TAGS, "Prompt": PROMPT, "LastResponse": RESPONSE}
    ctx = context_from_alarm(event, tags, dashboard_name="d", runbook_base_url="")

    for kind in ("page", "final", "channel_failure", "acknowledged", "resolved"):
        rendered = _everything(render(ctx, kind=kind, incident_id="inc-1", tier="devops", ack_url=ACK))  # type: ignore[arg-type]
        assert PROMPT not in rendered
        assert RESPONSE not in rendered
    assert PROMPT not in json.dumps(ctx.as_dict())  # nor what the incident record stores


def test_slack_page_has_an_acknowledge_button_carrying_the_signed_token() -> None:
    buttons = next(b for b in slack.blocks(_page()) if b["type"] == "actions")["elements"]

    assert buttons[0]["action_id"] == slack.ACK_ACTION_ID
    assert buttons[0]["value"] == "tok"
    assert buttons[0]["url"] == ACK


@pytest.mark.parametrize(
    ("kind", "action"), [("page", "trigger"), ("acknowledged", "acknowledge"), ("resolved", "resolve")]
)
def test_pagerduty_events_share_the_incident_id_as_dedup_key(kind: str, action: str) -> None:
    ctx = context_from_alarm(load_event("escalation/alarm"), TAGS, dashboard_name="d", runbook_base_url="")
    body = pagerduty.event(render(ctx, kind=kind, incident_id="inc-42", tier="devops"), "key", "src")  # type: ignore[arg-type]

    assert body["dedup_key"] == "inc-42"
    assert body["event_action"] == action
    if action == "trigger":
        assert body["payload"]["severity"] == "critical"
        assert body["payload"]["component"] == "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_warning_maps_to_pagerduty_warning_and_jsm_p3() -> None:
    message = _page(tags={"Severity": "warning"})
    assert pagerduty.event(message, "k", "s")["payload"]["severity"] == "warning"
    assert jsm.request(message, "https://jsm.example/v2/alerts")[1]["priority"] == "P3"


def test_jsm_acknowledge_and_close_address_the_alert_by_alias() -> None:
    ctx = context_from_alarm(load_event("escalation/alarm"), TAGS, dashboard_name="d", runbook_base_url="")
    ack_url, _ = jsm.request(
        render(ctx, kind="acknowledged", incident_id="inc-7", tier="all"), "https://j/v2/alerts"
    )
    close_url, _ = jsm.request(
        render(ctx, kind="resolved", incident_id="inc-7", tier="all"), "https://j/v2/alerts"
    )

    assert ack_url == "https://j/v2/alerts/inc-7/acknowledge?identifierType=alias"
    assert close_url == "https://j/v2/alerts/inc-7/close?identifierType=alias"


def test_a_composite_rule_names_its_inputs_once_by_name_or_arn() -> None:
    from bedrock_watch.pages import composite_children

    rule = (
        'ALARM("bw-signal-latency-rise") AND (ALARM(bw-signal-error-rate) OR '
        'NOT OK("arn:aws:cloudwatch:us-east-1:123456789012:alarm:bw-signal-latency-rise"))'
    )
    event = {"detail": {"configuration": {"alarmRule": rule}}}
    assert composite_children(event) == ["bw-signal-latency-rise", "bw-signal-error-rate"]
    assert composite_children({"detail": {"configuration": {"metrics": []}}}) == []
