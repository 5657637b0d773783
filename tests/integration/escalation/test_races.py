"""Races the outside world produces: an acknowledgement landing while the next tier is being paged,
an alarm's OK arriving before its ALARM (EventBridge does not promise order). Under moto's
executing Step Functions with the real handlers; the racing party calls the engine directly from
the vendor's thread while the page function is still running."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.recorder import Recorded, Recorder, Reply
from tests.integration.escalation.stack import EscalationStack, policy, wait_for

pytestmark = pytest.mark.integration

THREE_TIERS = policy(
    ("devops", 0, ["slack:devops", "pagerduty:devops"]),
    ("senior", 1, ["slack:senior", "pagerduty:senior"]),
    ("management", 60, ["slack:management"]),
    final=60,
)


def test_an_ack_landing_while_the_next_tier_is_paged_reaches_that_tier_too(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given tier 2's page is on its way: Slack has it, PagerDuty is next
    stack = make_stack(THREE_TIERS)
    alarm = stack.create_alarm("Latency-chat")
    acked: list[str] = []

    def acknowledge_now(_: Recorded) -> None:
        # the devops on-call acknowledges (console) at this very moment
        incident = stack.incidents()[0]
        stack.engine().acknowledge(incident["incidentId"], by="Sam (devops)", via="console")
        acked.append(incident["incidentId"])

    recorder.script("/slack/senior", Reply(200, b"ok", before=acknowledge_now))

    # When the alarm fires and tier 2 is paged
    stack.put(stack.alarm_event(alarm))
    [execution] = stack.finished()
    wait_for("the tier-2 page recorded", lambda: len(stack.incident()["pagedTiers"]) == 2 or None)

    # Then escalation stopped there, and every channel that got a page also got the acknowledgement:
    # no PagerDuty trigger is left open for tier 2
    assert acked
    incident = stack.incident()
    assert incident["status"] == "acknowledged"
    assert [p["tier"] for p in incident["pagedTiers"]] == ["devops", "senior"]
    senior_pd = [
        r.json()["event_action"]
        for r in recorder.requests("/pagerduty")
        if r.json()["routing_key"] == "pd-key-senior"
    ]
    assert senior_pd == ["trigger", "acknowledge"]
    assert recorder.requests("/slack/senior")[-1].json()["text"].startswith("[ACK]")
    assert recorder.requests("/slack/management") == []
    assert execution["output_json"]["outcome"]["outcome"] == "acknowledged"


def test_an_ok_that_arrives_before_its_alarm_keeps_the_late_alarm_from_paging(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given an alarm that went to ALARM at 14:05 and back to OK at 14:06
    stack = make_stack(THREE_TIERS)
    alarm = stack.create_alarm("Errors")
    fired = stack.alarm_event(alarm, at="2026-11-26T14:05:10.430+0000")
    ok = stack.alarm_event(alarm, state="OK", at="2026-11-26T14:06:10.430+0000")
    ok["detail"]["previousState"]["timestamp"] = fired["detail"]["state"]["timestamp"]

    # When EventBridge delivers the OK first and the ALARM after it
    stack.put(ok)
    wait_for(
        "the OK handled",
        lambda: any(i.error_type is None for i in _invocations("EscalationEventsFunction")) or None,
    )
    stack.put(fired)

    # Then the late ALARM opens no incident that pages every tier: nobody is paged
    [execution] = stack.finished()
    assert execution["status"] == "SUCCEEDED"
    assert execution["output_json"]["incident"]["opened"] is False
    assert "already OK" in execution["output_json"]["incident"]["reason"]
    assert [i for i in stack.incidents() if i["pagedTiers"]] == []
    assert recorder.requests("/slack") == []
    assert recorder.requests("/pagerduty") == []

    # and the alarm's next real episode still pages
    stack.put(stack.alarm_event(alarm, at="2026-11-26T14:09:10.430+0000"))
    stack.wait_paged("devops")
    stack.put(stack.alarm_event(alarm, state="OK", at="2026-11-26T14:10:10.430+0000"))
    stack.finished(2)


def _invocations(logical: str) -> list:
    from sandbox.shims import INVOCATIONS

    return [i for i in INVOCATIONS if logical in i.function_name]
