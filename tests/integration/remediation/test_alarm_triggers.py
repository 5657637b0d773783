"""Remediations started by this stack's tagged alarms and by the month-start schedule."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.events import load_event
from tests.integration.remediation.conftest import failure_message
from tests.integration.remediation.harness import Stack, seed_routes


def put_alarm(stack: Stack, event: dict[str, Any], tags: dict[str, str]) -> None:
    """The alarm the event is about, with its tags, in the state the event reports."""
    cloudwatch = stack.client("cloudwatch")
    name = event["detail"]["alarmName"]
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=stack.params["MetricsNamespace"],
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    cloudwatch.set_alarm_state(
        AlarmName=name, StateValue=event["detail"]["state"]["value"], StateReason="test"
    )


def emit(stack: Stack, event: dict[str, Any]) -> None:
    """CloudWatch's state change event on the default bus (EventBridge routes it to the trigger)."""
    stack.client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Resources": event["resources"],
                "Detail": json.dumps(event["detail"]),
            }
        ]
    )


def executions(stack: Stack, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Wait until `count` executions exist and have finished; newest first."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
        if len(found) >= count:
            return [stack.wait(e["executionArn"]) for e in found]
        time.sleep(0.05)
    raise AssertionError(f"expected {count} executions")


FAILOVER_TAGS = {"Severity": "critical", "Remediation": "failover", "Route": "chat"}


def test_alarm_failover_then_ok_and_cooldown_fails_back(stack: Stack) -> None:
    before = stack.route()
    alarm = load_event("remediation/alarm-state-alarm")
    put_alarm(stack, alarm, FAILOVER_TAGS)

    # When the tagged alarm goes to ALARM
    emit(stack, alarm)
    (failover,) = executions(stack, 1)

    # Then the route fails over, and the remediation names the alarm
    assert failover["status"] == "SUCCEEDED", failure_message(failover)
    assert stack.route()["active"] == before["fallbacks"][0]
    assert stack.route()["changedBy"].endswith(f"(alarm:{alarm['detail']['alarmName']})")
    assert stack.finished_events()[0]["alarmName"] == alarm["detail"]["alarmName"]

    # When the alarm fires again (a re-notification), the route does not move further down
    emit(stack, alarm)
    again = executions(stack, 2)[0]
    assert again["status"] == "SUCCEEDED"
    assert stack.route()["active"] == before["fallbacks"][0]

    # When the alarm returns to OK and stays OK through the cool-down
    ok = load_event("remediation/alarm-state-ok")
    put_alarm(stack, ok, FAILOVER_TAGS)
    emit(stack, ok)
    failback = executions(stack, 3)[0]

    # Then the route returns to its primary through the same workflow
    assert failback["status"] == "SUCCEEDED", failure_message(failback)
    assert json.loads(failback["input"])["action"] == "failback"
    assert stack.route()["active"] == before["primary"]
    assert stack.lock() is None


def test_failback_is_cancelled_when_the_alarm_fires_again_during_the_cooldown(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack(FailbackCooldownSeconds=2)
    alarm, ok = load_event("remediation/alarm-state-alarm"), load_event("remediation/alarm-state-ok")
    put_alarm(stack, alarm, FAILOVER_TAGS)
    emit(stack, alarm)
    executions(stack, 1)
    on_fallback = stack.route()

    # the alarm goes OK, then back to ALARM before the cool-down ends (flapping)
    put_alarm(stack, ok, FAILOVER_TAGS)
    emit(stack, ok)
    stack.client("cloudwatch").set_alarm_state(
        AlarmName=alarm["detail"]["alarmName"], StateValue="ALARM", StateReason="flapping"
    )
    failback = executions(stack, 2)[0]

    assert failback["status"] == "SUCCEEDED"
    assert stack.route() == on_fallback
    assert [e["outcome"] for e in stack.finished_events()][-1] == "cancelled"


def test_alarms_tagged_remediation_none_start_nothing(stack: Stack) -> None:
    alarm = load_event("remediation/alarm-state-alarm")
    put_alarm(stack, alarm, {**FAILOVER_TAGS, "Remediation": "none"})

    result = stack.invoke("RemediationTriggerFunction", alarm)

    assert result == {"started": []}
    assert (
        stack.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
        == []
    )


def test_budget_alarm_downgrades_its_route_and_month_start_restores_it(stack: Stack) -> None:
    # Given two routes, and a budget alarm naming one of them in its Route tag
    routes = json.loads(stack.params["Routes"])
    stack.params["Routes"] = json.dumps({**routes, "summarise": routes["chat"]})
    seed_routes(stack, "Update", old_routes=json.dumps(routes))
    before = stack.route()
    budget = load_event("remediation/budget-alarm")
    put_alarm(stack, budget, {"Severity": "critical", "Remediation": "downgrade", "Route": "chat"})

    emit(stack, budget)
    (downgrade,) = executions(stack, 1)
    assert downgrade["status"] == "SUCCEEDED", failure_message(downgrade)
    assert stack.route()["active"] == before["cheaper"]

    # When the month ends: the template's month-start schedule fires at 00:05 UTC on the 1st
    fired = stack.sandbox.fire_schedules(
        datetime(2026, 11, 30, 23, 0, tzinfo=UTC), datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    )
    assert [(spec.logical_id, when) for spec, when in fired] == [
        ("RemediationTriggerFunction.Events.MonthStart", datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    ]
    # Then only the downgraded route is restored; summarise (on its primary) gets no execution
    started = stack.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)
    assert [json.loads(stack.wait(e["executionArn"])["input"])["route"] for e in started["executions"]] == [
        "chat",
        "chat",
    ]
    restore = executions(stack, 2)[0]
    assert restore["status"] == "SUCCEEDED", failure_message(restore)
    assert stack.route()["active"] == before["primary"]
    assert stack.route("summarise")["active"] == before["primary"]
    assert stack.lock() is None
