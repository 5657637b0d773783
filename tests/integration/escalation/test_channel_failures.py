"""A failing channel is retried, and if it keeps failing it is recorded and reported — never lost."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sandbox.recorder import BROKEN_CHUNKED_BODY, MALFORMED_STATUS_LINE, Recorder, Reply
from tests.integration.escalation.stack import EscalationStack, policy

pytestmark = pytest.mark.integration

ONE_TIER = policy(("devops", 0, ["sns", "slack:devops", "pagerduty:devops"]), final=60)


def _run_first_page(stack: EscalationStack) -> tuple[str, dict[str, object]]:
    alarm = stack.create_alarm("ModelErrors-chat")
    stack.put(stack.alarm_event(alarm))
    return alarm, stack.wait_paged("devops")


def _finish(stack: EscalationStack, alarm: str) -> None:
    stack.put(stack.alarm_event(alarm, state="OK"))
    stack.finished()


def test_a_channel_answering_500_then_200_is_retried_and_the_page_delivered(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given Slack fails once with a 500
    recorder.script("/slack/devops", Reply(500, b"oops"), Reply(200, b"ok"))
    stack = make_stack(ONE_TIER)

    # When tier 1 is paged
    alarm, incident = _run_first_page(stack)

    # Then the page was retried and delivered, and no failure is recorded
    assert [r.status for r in recorder.requests("/slack/devops")] == [500, 200]
    assert "slack:devops" in incident["pagedTiers"][0]["delivered"]
    assert incident["channelFailures"] == []
    _finish(stack, alarm)


def test_a_429_is_retried_after_the_retry_after_delay(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    recorder.script("/pagerduty", Reply(429, b"rate limited", {"Retry-After": "1"}), Reply(202, b"{}"))
    stack = make_stack(ONE_TIER)

    alarm, incident = _run_first_page(stack)

    attempts = recorder.requests("/pagerduty")
    assert [r.status for r in attempts] == [429, 202]
    assert "pagerduty:devops" in incident["pagedTiers"][0]["delivered"]
    _finish(stack, alarm)


def test_a_channel_failing_forever_is_recorded_and_reported_to_the_tiers_other_channels(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given Slack answers 500 to everything
    recorder.script("/slack/devops", Reply(500, b"down"), forever=True)
    stack = make_stack(ONE_TIER)

    # When tier 1 is paged
    alarm, incident = _run_first_page(stack)

    # Then Slack was tried several times, and the failure is on the incident
    assert len(recorder.requests("/slack/devops")) == 3
    [failure] = incident["channelFailures"]
    assert failure["channel"] == "slack:devops"
    assert "HTTP 500 after 3 attempts" in failure["error"]
    assert incident["pagedTiers"][0]["delivered"] == ["sns", "pagerduty:devops"]
    # and the tier's other channels were told which channel failed
    notices = [m for m in stack.sns_messages() if "a paging channel failed" in m["Subject"]]
    assert len(notices) == 1
    assert "slack:devops" in notices[0]["Message"]
    pd = [r.json() for r in recorder.requests("/pagerduty")]
    assert any(
        "slack:devops" in e["payload"]["custom_details"]["summary"]
        for e in pd
        if e["payload"]["class"] == "channel_failure"
    )
    _finish(stack, alarm)


def test_when_every_channel_of_a_tier_fails_the_topic_gets_a_fallback_and_escalation_continues(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given tier 1's only channel is down and tier 2 is reachable
    recorder.script("/slack/devops", Reply(503, b"down"), forever=True)
    stack = make_stack(policy(("devops", 0, ["slack:devops"]), ("senior", 60, ["slack:senior"]), final=1))
    alarm = stack.create_alarm("ModelErrors-chat")

    # When the alarm fires
    stack.put(stack.alarm_event(alarm))

    # Then the undelivered page is announced on the topic and tier 2 is paged without waiting
    incident = stack.wait_paged("senior")
    fallback = [
        m for m in stack.sns_messages() if m["Subject"] == "bedrock-watch: a page could not be delivered"
    ]
    assert len(fallback) == 1
    assert "tier devops could not be paged" in fallback[0]["Message"]
    assert incident["pagedTiers"][0]["delivered"] == []
    assert len(recorder.requests("/slack/senior")) == 1
    _finish(stack, alarm)


def test_an_invalid_policy_still_tells_someone_the_alarm_fired(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a policy with a typo in a channel type, typed into the function's environment by hand
    # after the deploy (the stack's ConfigurationCheck refuses it in the EscalationPolicy
    # parameter, tests/integration/deploy), so the engine's own check is the last line of defence
    stack = make_stack(ONE_TIER)
    function = stack.names["EscalationOpenFunction"]
    env = stack.lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    stack.lam.update_function_configuration(
        FunctionName=function,
        Environment={"Variables": {**env, "ESCALATION_POLICY": policy(("devops", 0, ["slak"]))}},
    )
    alarm = stack.create_alarm("ModelErrors-chat")

    # When the alarm fires
    stack.put(stack.alarm_event(alarm))

    # Then the execution fails, after publishing the alarm and the policy error to the topic
    [execution] = stack.finished()
    assert execution["status"] == "FAILED"
    [notice] = stack.sns_messages()
    assert notice["Subject"] == "bedrock-watch: escalation policy invalid, alarm not escalated"
    assert alarm in notice["Message"]
    assert "unknown channel type 'slak'" in notice["Message"]


def test_a_finished_remediation_joins_the_open_incidents_timeline(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    from sandbox.events import load_event
    from tests.integration.escalation.stack import wait_for

    stack = make_stack(ONE_TIER)
    alarm, _ = _run_first_page(stack)
    event = load_event("escalation/remediation-finished")
    event["detail"]["alarmName"] = alarm

    stack.put(event)

    entry = wait_for(
        "the remediation on the timeline",
        lambda: next((e for e in stack.incident()["timeline"] if e["event"] == "remediation finished"), None),
    )
    assert "route=chat, action=failover, outcome=applied" in entry["detail"]
    _finish(stack, alarm)


@pytest.mark.parametrize(
    "raw", [MALFORMED_STATUS_LINE, BROKEN_CHUNKED_BODY], ids=["malformed-status-line", "broken-chunked-body"]
)
def test_a_vendor_answering_garbage_is_a_delivery_failure_retried_reported_and_recorded(
    make_stack: Callable[..., EscalationStack], recorder: Recorder, raw: bytes
) -> None:
    # Given PagerDuty answers with bytes that are not HTTP (http.client raises HTTPException)
    recorder.script("/pagerduty", Reply(raw=raw), forever=True)
    stack = make_stack(
        policy(("devops", 0, ["sns", "slack:devops", "pagerduty:devops"]), ("senior", 60, ["sns"]), final=60)
    )

    # When tier 1 is paged
    alarm, incident = _run_first_page(stack)

    # Then PagerDuty was retried like any failing vendor, the failure is recorded on the incident
    assert len(recorder.requests("/pagerduty")) == 3
    [failure] = incident["channelFailures"]
    assert failure["channel"] == "pagerduty:devops"
    assert "after 3 attempts" in failure["error"]
    # and the tier's other channels got the page and the report; the next tier is not paged early
    assert incident["pagedTiers"][0]["delivered"] == ["sns", "slack:devops"]
    assert any("pagerduty:devops" in json.dumps(r.json()) for r in recorder.requests("/slack/devops")[1:])
    assert [p["tier"] for p in stack.incident()["pagedTiers"]] == ["devops"]
    _finish(stack, alarm)
