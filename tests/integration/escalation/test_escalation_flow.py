"""The real escalation.asl.json under moto's executing Step Functions, real handlers in-process,
vendors on a local recorder: paging order, acknowledgement, auto-resolve, dedup, exhaustion."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from bedrock_watch.webhooks import sign_slack
from sandbox.events import load_event
from sandbox.recorder import Recorder
from sandbox.template import parameter_defaults
from tests.integration.escalation.stack import SLACK_SIGNING_SECRET, STACK, EscalationStack, policy, wait_for

pytestmark = pytest.mark.integration

FOUR_TIERS = policy(
    ("devops", 0, ["sns", "slack:devops", "pagerduty:devops"]),
    ("senior", 1, ["slack:senior", "pagerduty:senior"]),
    ("management", 2, ["slack:management", "jsm"]),
    ("executives", 3, ["slack:executives"]),
    final=1,
)


def _at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_tiers_are_paged_in_order_with_the_configured_delays(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a four-tier critical policy one second apart and a critical alarm of this stack
    stack = make_stack(FOUR_TIERS)
    alarm = stack.create_alarm("ModelErrors-chat", Route="chat", Remediation="none")

    # When the alarm goes to ALARM and nobody acknowledges
    stack.put(stack.alarm_event(alarm))
    [execution] = stack.finished()

    # Then every tier was paged once, in order, each no earlier than its delay after the incident
    # opened (a page's "at" is stamped after delivery, so the opening is the schedule's origin)
    incident = stack.incident()
    pages = [p for p in incident["pagedTiers"] if p["kind"] == "page"]
    assert [p["tier"] for p in pages] == ["devops", "senior", "management", "executives"]
    start = _at(incident["openedAt"])
    for page, due in zip(pages, (0, 1, 2, 3), strict=True):
        assert _at(page["at"]) - start >= due - 0.1, (page["tier"], _at(page["at"]) - start)
    # and each tier's own channels got the page
    assert [r.path for r in recorder.requests("/slack")] == [
        "/slack/devops",
        "/slack/senior",
        "/slack/management",
        "/slack/executives",
        "/slack/executives",  # the final notice
    ]
    assert len(recorder.requests("/jsm")) == 1
    assert execution["status"] == "SUCCEEDED"


def test_exhaustion_leaves_the_incident_open_unacknowledged_and_tells_the_last_tier(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a two-tier policy
    stack = make_stack(
        policy(("devops", 0, ["slack:devops"]), ("executives", 1, ["sns", "slack:executives"]), final=1)
    )
    alarm = stack.create_alarm("Spend")

    # When nobody acknowledges any page
    stack.put(stack.alarm_event(alarm))
    [execution] = stack.finished()

    # Then the incident stays open, marked exhausted and unacknowledged
    incident = stack.incident()
    assert incident["status"] == "open"
    assert incident["exhausted"] is True
    assert "acknowledgedBy" not in incident
    assert [p["kind"] for p in incident["pagedTiers"]] == ["page", "page", "final"]
    # and the final notice went to the last tier's channels, saying it is unacknowledged
    final = recorder.requests("/slack/executives")[-1].json()
    assert final["text"].startswith("[CRITICAL] UNACKNOWLEDGED")
    assert any("UNACKNOWLEDGED" in m["Subject"] for m in stack.sns_messages())
    assert execution["status"] == "SUCCEEDED"


SLOW_AFTER_TWO = policy(
    ("devops", 0, ["slack:devops"]),
    ("senior", 1, ["slack:senior", "pagerduty:senior"]),
    ("management", 60, ["slack:management", "jsm"]),
    final=60,
)


def _slack_button_press(stack: EscalationStack, recorder: Recorder, tier: str, user: str) -> dict[str, Any]:
    """Press the Acknowledge button of the page Slack received for `tier`, as Slack would post it."""
    page = recorder.requests(f"/slack/{tier}")[-1].json()
    button = next(b for b in page["blocks"] if b["type"] == "actions")["elements"][0]
    payload = load_event("escalation/slack-block-actions")
    payload["user"]["username"] = user
    payload["actions"][0]["value"] = button["value"]
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    now = int(time.time())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(now),
        "X-Slack-Signature": sign_slack(SLACK_SIGNING_SECRET, now, body.encode()),
    }
    return stack.http("POST", "/slack/actions", body=body, headers=headers)


def test_an_ack_at_tier_two_stops_escalation_before_tier_three(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given tier 2 has just been paged
    stack = make_stack(SLOW_AFTER_TWO)
    alarm = stack.create_alarm("Latency-chat")
    stack.put(stack.alarm_event(alarm))
    stack.wait_paged("senior")

    # When a senior engineer presses Acknowledge in Slack
    response = _slack_button_press(stack, recorder, "senior", "ana")

    # Then escalation stops at once (the execution ends without waiting for tier 3's minute)
    [execution] = stack.finished()
    assert execution["output_json"]["outcome"] == {
        "outcome": "acknowledged",
        "by": "ana (Slack)",
        "via": "slack",
    }
    assert response["statusCode"] == 200
    assert "Acknowledged by ana (Slack)" in response["body"]
    incident = stack.incident()
    assert incident["status"] == "acknowledged"
    assert incident["acknowledgedBy"] == "ana (Slack)"
    # and tier 3 is never paged
    assert recorder.requests("/slack/management") == []
    assert recorder.requests("/jsm") == []
    assert [p["tier"] for p in incident["pagedTiers"]] == ["devops", "senior"]
    # and the channels already paged hear who acknowledged
    assert recorder.requests("/slack/senior")[-1].json()["text"].startswith("[ACK]")
    assert recorder.requests("/pagerduty")[-1].json()["event_action"] == "acknowledge"


def test_ok_before_ack_resolves_the_incident_and_tells_every_paged_channel(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given tiers 1 and 2 were paged on SNS, Slack and PagerDuty
    stack = make_stack(
        SLOW_AFTER_TWO.replace('["slack:devops"]', '["sns", "slack:devops", "pagerduty:devops"]')
    )
    alarm = stack.create_alarm("Throttles")
    stack.put(stack.alarm_event(alarm))
    stack.wait_paged("senior")

    # When the alarm returns to OK before anyone acknowledged
    stack.put(stack.alarm_event(alarm, state="OK", at="2026-11-26T14:21:10.430+0000"))

    # Then the execution stops as resolved and the incident is resolved, never acknowledged
    [execution] = stack.finished()
    assert execution["output_json"]["outcome"] == {"outcome": "resolved"}
    incident = stack.incident()
    assert incident["status"] == "resolved"
    assert "acknowledgedBy" not in incident
    # and every channel that was paged is told, PagerDuty with a resolve on the same dedup_key
    assert recorder.requests("/slack/devops")[-1].json()["text"].startswith("[RESOLVED]")
    assert recorder.requests("/slack/senior")[-1].json()["text"].startswith("[RESOLVED]")
    resolves = [r.json() for r in recorder.requests("/pagerduty") if r.json()["event_action"] == "resolve"]
    assert {(r["routing_key"], r["dedup_key"]) for r in resolves} == {
        ("pd-key-devops", incident["incidentId"]),
        ("pd-key-senior", incident["incidentId"]),
    }
    assert any(m["Subject"].startswith("[RESOLVED]") for m in stack.sns_messages())
    assert recorder.requests("/slack/management") == []


def test_duplicate_alarm_events_open_one_incident_and_page_each_tier_once(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given an alarm whose ALARM event EventBridge delivers twice (at-least-once)
    stack = make_stack(SLOW_AFTER_TWO)
    alarm = stack.create_alarm("Errors")
    event = stack.alarm_event(alarm)

    # When both copies arrive
    stack.put(event)
    stack.put(event)

    # Then the second execution ends as a duplicate, and there is one incident with one page
    duplicate = stack.finished()[0]
    assert duplicate["output_json"]["incident"]["opened"] is False
    stack.wait_paged("senior")
    assert len(stack.incidents()) == 1
    assert len(recorder.requests("/slack/devops")) == 1
    assert len(recorder.requests("/slack/senior")) == 1
    stack.put(stack.alarm_event(alarm, state="OK"))
    stack.finished(2)


def test_a_repeated_alarm_transition_while_open_is_folded_into_the_open_incident(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given an open incident
    stack = make_stack(SLOW_AFTER_TWO)
    alarm = stack.create_alarm("Errors")
    stack.put(stack.alarm_event(alarm))
    stack.wait_paged("devops")

    # When the alarm enters ALARM again (e.g. via INSUFFICIENT_DATA) before it was ever OK
    stack.put(stack.alarm_event(alarm, at="2026-11-26T14:09:00.000+0000"))
    stack.finished()

    # Then no second incident opens and nobody is paged again; the timeline notes it
    [incident] = stack.incidents()
    assert "alarm entered ALARM again" in [e["event"] for e in incident["timeline"]]
    assert len(recorder.requests("/slack/devops")) == 1
    stack.put(stack.alarm_event(alarm, state="OK"))
    stack.finished(2)


def test_a_flapping_alarm_alarm_ok_alarm_opens_two_incidents(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given an alarm that fired, was paged, and returned to OK
    stack = make_stack(SLOW_AFTER_TWO)
    alarm = stack.create_alarm("Errors")
    stack.put(stack.alarm_event(alarm, at="2026-11-26T14:05:10.430+0000"))
    stack.wait_paged("devops")
    stack.put(stack.alarm_event(alarm, state="OK", at="2026-11-26T14:06:10.430+0000"))
    stack.finished()

    # When it fires again
    stack.put(stack.alarm_event(alarm, at="2026-11-26T14:07:10.430+0000"))

    # Then a second incident opens and pages again
    def two_paged_incidents() -> list[dict[str, Any]] | None:
        incidents = stack.incidents()
        return incidents if len(incidents) == 2 and all(i["pagedTiers"] for i in incidents) else None

    incidents = wait_for("a second, paged incident", two_paged_incidents)
    assert sorted(i["status"] for i in incidents) == ["open", "resolved"]
    assert len({i["incidentId"] for i in incidents}) == 2
    stack.put(stack.alarm_event(alarm, state="OK", at="2026-11-26T14:08:10.430+0000"))
    stack.finished(2)
    assert len(recorder.requests("/slack/devops")) >= 2


def test_a_budget_alarm_page_carries_the_current_spend_burn_rate(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given the budget guard published a burn rate of $12.50/hour
    stack = make_stack(policy(("devops", 0, ["slack:devops"]), final=60))
    stack.cw.put_metric_data(
        Namespace={**parameter_defaults(), **stack.parameters}["MetricsNamespace"],
        MetricData=[{"MetricName": "BurnRateUSDPerHour", "Value": 12.5}],
    )
    alarm = stack.create_alarm("BudgetForecast")
    event = stack.alarm_event(alarm)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"] = {
        "namespace": "BedrockWatch",
        "name": "ProjectedMonthEndSpendUSD",
        "dimensions": {},
    }

    # When the budget alarm fires
    stack.put(event)
    stack.wait_paged("devops")

    # Then the page shows the spend burn rate
    page = recorder.requests("/slack/devops")[0].json()
    facts = [f["text"] for b in page["blocks"] if "fields" in b for f in b["fields"]]
    assert "*Spend burn rate*\n$12.50/hour" in facts
    stack.put(stack.alarm_event(alarm, state="OK"))
    stack.finished()


def test_a_warning_alarm_follows_the_warning_policy_and_its_repeat(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a warning policy that pages devops and repeats once a second later
    document = json.loads(policy(("devops", 0, ["slack:devops"]), ("senior", 1, ["slack:senior"]), final=1))
    document["warning"] = {
        "tiers": [{"name": "devops", "after_seconds": 0, "channels": ["slack:devops"]}],
        "repeat": 1,
        "repeat_after_seconds": 1,
        "final_ack_timeout_seconds": 1,
    }
    stack = make_stack(json.dumps(document))
    alarm = stack.create_alarm("Truncations", Severity="warning")

    # When the warning alarm fires and nobody acknowledges
    stack.put(stack.alarm_event(alarm))
    stack.finished()

    # Then only devops is paged: twice (the repeat), then the final notice; seniors never
    incident = stack.incident()
    assert incident["severity"] == "warning"
    assert [(p["tier"], p["kind"]) for p in incident["pagedTiers"]] == [
        ("devops", "page"),
        ("devops", "page"),
        ("devops", "final"),
    ]
    assert recorder.requests("/slack/senior") == []
    assert recorder.requests("/slack/devops")[0].json()["text"].startswith("[WARNING]")


def test_a_composite_input_alarm_never_pages_on_its_own(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a signal alarm that only feeds the degradation composite (tagged as such in the template)
    stack = make_stack(FOUR_TIERS)
    alarm = stack.create_alarm("signal-latency-rise", Signal="composite-input")

    # When it goes to ALARM
    stack.put(stack.alarm_event(alarm))

    # Then the execution ends without an incident and nobody is paged
    [execution] = stack.finished()
    assert execution["output_json"]["incident"]["opened"] is False
    assert "composite input" in execution["output_json"]["incident"]["reason"]
    assert stack.incidents() == []
    assert recorder.requests("/slack") == []


def test_a_composite_alarm_page_shows_what_its_inputs_say(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given the degradation composite's two inputs, both in ALARM with CloudWatch's reasons
    stack = make_stack(SLOW_AFTER_TWO)
    latency = stack.create_alarm("signal-latency-rise", Signal="composite-input")
    errors = stack.create_alarm("signal-error-rate-above-normal", Signal="composite-input")
    for name, reason in (
        (latency, "Threshold Crossed: 3 out of the last 3 datapoints [71.0, 66.2, 58.9] were >= 50.0"),
        (errors, "Threshold Crossed: 3 out of the last 3 datapoints [1.8, 2.4, 3.1] were > 0.5"),
    ):
        stack.cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=reason)

    # When the composite (its rule names both) goes to ALARM
    event = stack.alarm_event(f"{STACK}.degradation")
    event["detail"]["configuration"] = {"alarmRule": f'ALARM("{latency}") AND ALARM("{errors}")'}
    stack.put(event)

    # Then devops's page carries each input's state and figures, not just the composite's name
    stack.wait_paged("devops")
    text = json.dumps(recorder.requests("/slack/devops")[-1].json())
    assert f"{latency}: ALARM" in text
    assert "[71.0, 66.2, 58.9]" in text
    assert f"{errors}: ALARM" in text
    assert "[1.8, 2.4, 3.1]" in text
    stack.put(stack.alarm_event(event["detail"]["alarmName"], state="OK"))
    stack.finished()
