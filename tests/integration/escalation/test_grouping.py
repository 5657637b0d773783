"""One incident per root cause, through the real escalation workflow: alarms of one cause join the
incident the first one opened (an update to the channels already paged, never a page of their own),
a higher severity re-plans it, an acknowledgement stops all of it, and it resolves when every alarm
is OK. Per-application budgets page per application through contributor events."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.events import load_event
from sandbox.intrinsics import ACCOUNT_ID, REGION
from sandbox.recorder import Recorder
from tests.contracts.pagerduty import assert_events_v2
from tests.integration.escalation.stack import EscalationStack, policy, wait_for

pytestmark = pytest.mark.integration

SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
# devops now, seniors a minute later: nothing escalates while a test looks, unless it should
TWO_TIERS = policy(
    ("devops", 0, ["sns", "slack:devops", "pagerduty:devops"]), ("senior", 60, ["slack:senior"]), final=60
)


def _about(stack: EscalationStack, alarm: str, model: str, at: str, state: str = "ALARM") -> dict[str, Any]:
    event = stack.alarm_event(alarm, state=state, at=at)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {"ModelId": model}
    return event


def _running(stack: EscalationStack) -> list[dict[str, Any]]:
    return [e for e in stack.executions() if e["status"] == "RUNNING"]


def test_alarms_of_one_model_join_one_incident_and_send_updates_not_pages(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a model's throttle alarm opened an incident and devops was paged
    stack = make_stack(TWO_TIERS)
    throttle = stack.create_alarm("model-throttle-rate-critical", Area="traffic", Route="chat")
    errors = stack.create_alarm("model-server-error-rate-critical", Area="traffic", Route="chat")
    latency = stack.create_alarm(
        "model-latency-p95-warning", Area="traffic", Route="chat", Severity="warning"
    )
    stack.put(_about(stack, throttle, SONNET, "2026-11-26T14:05:10.430+0000"))
    first = stack.wait_paged("devops")

    # When the same model's error-rate and latency alarms fire a minute later
    stack.put(_about(stack, errors, SONNET, "2026-11-26T14:06:10.430+0000"))
    stack.put(_about(stack, latency, SONNET, "2026-11-26T14:07:10.430+0000"))
    wait_for("both joined", lambda: len(stack.incident()["alarms"]) == 3 or None)
    stack.finished(2)  # the two joining executions end at once

    # Then there is one incident listing the three alarms, and devops got two updates, no new page
    [incident] = stack.incidents()
    assert incident["incidentId"] == first["incidentId"]
    assert sorted(incident["alarms"]) == sorted([throttle, errors, latency])
    assert [p["tier"] for p in incident["pagedTiers"]] == ["devops"]
    slack = [r.json()["text"] for r in recorder.requests("/slack/devops")]
    assert slack[0].startswith(f"[CRITICAL] {throttle} is in ALARM")
    assert [t.split(":")[0] for t in slack[1:]] == [f"[CRITICAL] Update on {throttle}"] * 2
    assert sorted(t.split(": ", 1)[1] for t in slack[1:]) == sorted(
        [f"{errors} is in ALARM too", f"{latency} is in ALARM too"]
    )
    # PagerDuty: one alert — the updates are triggers on the same dedup_key, never a new incident
    pd = [r.json() for r in recorder.requests("/pagerduty")]
    for body in pd:
        assert_events_v2(body)
    assert {e["dedup_key"] for e in pd} == {incident["incidentId"]}
    assert [e["payload"]["class"] for e in pd] == ["page", "update", "update"]
    assert len(_running(stack)) == 1  # one escalation for the incident
    stack.put(_about(stack, throttle, SONNET, "2026-11-26T14:20:00.000+0000", "OK"))
    stack.put(_about(stack, errors, SONNET, "2026-11-26T14:20:00.000+0000", "OK"))
    stack.put(_about(stack, latency, SONNET, "2026-11-26T14:20:00.000+0000", "OK"))
    stack.finished(3)


def test_an_ack_on_the_first_tier_stops_every_alarm_of_that_cause_from_escalating(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a storm on one model: throttle and error-rate alarms on one incident, devops paged
    stack = make_stack(policy(("devops", 0, ["slack:devops"]), ("senior", 2, ["slack:senior"]), final=2))
    throttle = stack.create_alarm("model-throttle-rate-critical", Area="traffic")
    errors = stack.create_alarm("error-rate-critical", Area="traffic")
    stack.put(_about(stack, throttle, SONNET, "2026-11-26T14:05:10.430+0000"))
    incident = stack.wait_paged("devops")
    stack.put(stack.alarm_event(errors, at="2026-11-26T14:05:40.430+0000"))  # stack-wide: joins
    wait_for("the error-rate alarm joined", lambda: len(stack.incident()["alarms"]) == 2 or None)

    # When devops acknowledges on the first tier
    stack.invoke("EscalationAckFunction", {"incidentId": incident["incidentId"], "acknowledgedBy": "Sam"})
    stack.finished(2)
    # and a third alarm of the same cause fires afterwards
    latency = stack.create_alarm("model-latency-p95-critical", Area="traffic")
    stack.put(_about(stack, latency, SONNET, "2026-11-26T14:06:10.430+0000"))
    stack.finished(3)

    # Then nobody past the first tier is ever paged for any of them, and nothing is still running
    [only] = stack.incidents()
    assert only["status"] == "acknowledged"
    assert sorted(only["alarms"]) == sorted([throttle, errors, latency])
    assert recorder.requests("/slack/senior") == []
    assert [p["tier"] for p in only["pagedTiers"]] == ["devops"]
    assert _running(stack) == []


def test_a_critical_alarm_joining_a_warning_incident_escalates_it_as_critical(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a warning incident: devops paged on SNS and Slack (the warning policy)
    document = json.loads(
        policy(
            ("devops", 0, ["sns", "slack:devops", "pagerduty:devops"]),
            ("senior", 1, ["slack:senior"]),
            final=60,
        )
    )
    document["warning"]["tiers"][0]["channels"] = ["sns", "slack:devops"]
    stack = make_stack(json.dumps(document))
    warning = stack.create_alarm("error-rate-warning", Area="traffic", Severity="warning")
    critical = stack.create_alarm("error-rate-critical", Area="traffic")
    stack.put(stack.alarm_event(warning))
    stack.wait_paged("devops")

    # When the critical error-rate alarm of the same cause joins it
    stack.put(stack.alarm_event(critical, at="2026-11-26T14:05:20.000+0000"))

    # Then the incident is critical: devops's new channel (PagerDuty) is paged, SNS and Slack get
    # the update instead of a second page, and seniors are paged on the critical plan
    incident = stack.wait_paged("senior")
    assert incident["severity"] == "critical"
    assert [r.json()["event_action"] for r in recorder.requests("/pagerduty")] == ["trigger"]
    slack = [r.json()["text"] for r in recorder.requests("/slack/devops")]
    assert slack[0].startswith("[WARNING]")
    assert "Update on" in slack[1]
    assert len(slack) == 2
    assert len(stack.incidents()) == 1
    stack.put(stack.alarm_event(warning, state="OK", at="2026-11-26T14:30:00.000+0000"))
    stack.put(stack.alarm_event(critical, state="OK", at="2026-11-26T14:30:00.000+0000"))
    stack.finished(2)


def test_the_incident_resolves_when_every_alarm_is_ok_and_the_notice_says_so(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    stack = make_stack(TWO_TIERS)
    throttle = stack.create_alarm("model-throttle-rate-critical", Area="traffic")
    errors = stack.create_alarm("model-server-error-rate-critical", Area="traffic")
    stack.put(_about(stack, throttle, SONNET, "2026-11-26T14:05:10.430+0000"))
    stack.wait_paged("devops")
    stack.put(_about(stack, errors, SONNET, "2026-11-26T14:05:30.430+0000"))
    wait_for("joined", lambda: len(stack.incident()["alarms"]) == 2 or None)

    # When one alarm is OK again, the incident stays open and keeps escalating
    stack.put(_about(stack, throttle, SONNET, "2026-11-26T14:10:00.000+0000", "OK"))
    wait_for("the OK recorded", lambda: stack.incident()["alarms"][throttle]["state"] == "OK" or None)
    assert stack.incident()["status"] == "open"
    assert not any(r.json()["text"].startswith("[RESOLVED]") for r in recorder.requests("/slack/devops"))

    # When the last one is OK too, it resolves, and the channels hear that every alarm is OK
    stack.put(_about(stack, errors, SONNET, "2026-11-26T14:11:00.000+0000", "OK"))
    stack.finished(2)
    assert stack.incident()["status"] == "resolved"
    notice = recorder.requests("/slack/devops")[-1].json()
    assert notice["text"].startswith("[RESOLVED]")
    assert "Every alarm of this incident is OK again" in str(notice)
    assert [e["event_action"] for e in (r.json() for r in recorder.requests("/pagerduty"))][-1] == "resolve"


def test_two_alarms_of_one_cause_arriving_at_the_same_moment_page_once(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    stack = make_stack(TWO_TIERS)
    a = stack.create_alarm("model-throttle-rate-critical", Area="traffic")
    b = stack.create_alarm("model-server-error-rate-critical", Area="traffic")

    # both ALARM events put on the bus together (two executions start at once)
    stack.events.put_events(
        Entries=[
            {
                "Source": "aws.cloudwatch",
                "DetailType": "CloudWatch Alarm State Change",
                "Detail": json.dumps(_about(stack, name, SONNET, "2026-11-26T14:05:10.430+0000")["detail"]),
                "Resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}"],
            }
            for name in (a, b)
        ]
    )
    wait_for(
        "both on the incident", lambda: len((stack.incidents() or [{}])[0].get("alarms", {})) == 2 or None
    )
    stack.wait_paged("devops")

    assert len(stack.incidents()) == 1
    assert len(recorder.requests("/slack/devops")) in (1, 2)  # the page, and an update if it joined after
    assert recorder.requests("/slack/devops")[0].json()["text"].split(" is in ALARM")[0] in (
        f"[CRITICAL] {a}",
        f"[CRITICAL] {b}",
    )
    assert [p["tier"] for p in stack.incident()["pagedTiers"]] == ["devops"]
    for name in (a, b):
        stack.put(_about(stack, name, SONNET, "2026-11-26T14:20:00.000+0000", "OK"))
    stack.finished(2)


def _contributor(stack: EscalationStack, application: str, at: str, state: str = "ALARM") -> dict[str, Any]:
    event = copy.deepcopy(load_event("escalation/contributor-alarm"))
    event["detail"]["alarmContributor"]["attributes"] = {"Application": application}
    event["detail"]["alarmContributor"]["id"] = application[:16]
    event["detail"]["state"].update({"value": state, "timestamp": at})
    return event


def test_a_second_application_over_budget_pages_and_the_page_names_it(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given the per-application budget alarm (Metrics Insights, GROUP BY Application) in ALARM for
    # support-bot: CloudWatch sent the alarm's own state change and the contributor's
    stack = make_stack(TWO_TIERS)
    stack.create_alarm("application-budget-critical", Area="spend")
    alarm_level = load_event("escalation/contributor-alarm")
    alarm_level = {
        **alarm_level,
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {k: v for k, v in alarm_level["detail"].items() if k != "alarmContributor"},
    }
    alarm_level["detail"]["state"] = {
        **alarm_level["detail"]["state"],
        "reason": "1 out of 1 time series evaluated to ALARM",
    }
    stack.put(alarm_level)
    stack.put(_contributor(stack, "support-bot", "2026-11-26T14:15:04.919+0000"))
    first = stack.wait_paged("devops")

    # When code-review crosses its budget while the alarm is already in ALARM (only a contributor
    # event: the alarm's own state does not change)
    stack.put(_contributor(stack, "code-review", "2026-11-26T14:45:04.919+0000"))

    # Then code-review has an incident and a page of its own, naming the application
    def second() -> dict[str, Any] | None:
        others = [i for i in stack.incidents() if i["incidentId"] != first["incidentId"] and i["pagedTiers"]]
        return others[0] if others else None

    incident = wait_for("a page for code-review", second)
    assert incident["context"]["application"] == "code-review"
    assert "[Application=code-review]" in incident["alarmName"]
    page = next(r.json() for r in recorder.requests("/slack/devops") if "code-review" in r.json()["text"])
    assert "[Application=code-review] is in ALARM" in page["text"]
    facts = [f["text"] for b in page["blocks"] if "fields" in b for f in b["fields"]]
    assert "*Application*\ncode-review" in facts
    # and the alarm's own state change paged nobody twice: two incidents, one per application
    assert len(stack.incidents()) == 2
    assert first["context"]["application"] == "support-bot"
    for app, at in (
        ("support-bot", "2026-11-26T15:00:00.000+0000"),
        ("code-review", "2026-11-26T15:00:00.000+0000"),
    ):
        stack.put(_contributor(stack, app, at, "OK"))
    stack.finished(3)
