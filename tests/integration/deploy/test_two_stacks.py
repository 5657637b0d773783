"""Two stacks in one account and region, a dev `bedrock-watch` and a `bedrock-watch-prod`: each
pages for and remediates on its own alarms only, though one stack's name is a prefix of the
other's (`<stack>-…` would have matched both; `<stack>.` cannot, FACTS §9), and an alarm named
in `EscalationAlarmPrefixes` is still escalated by the stack that lists it.

Both stacks are the whole template.yaml deployed by sandbox.stack into the same moto account;
alarm state changes go onto the one default event bus, where both stacks' rules listen."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from bedrock_watch.contract import alarm_name_prefix
from sandbox.events import load_event
from sandbox.fake_bedrock import FakeBedrock, fake_converse
from sandbox.intrinsics import ACCOUNT_ID, REGION
from sandbox.stack import Stack

pytestmark = pytest.mark.integration

DEV, PROD = "bedrock-watch", "bedrock-watch-prod"
TIER = {"name": "devops", "after_seconds": 0, "channels": ["sns"]}
QUICK_POLICY = json.dumps(
    {
        "critical": {"tiers": [TIER], "final_ack_timeout_seconds": 1},
        "warning": {"tiers": [TIER], "final_ack_timeout_seconds": 1},
    }
)
QUICK = {"EscalationPolicy": QUICK_POLICY, "VerifySettleSeconds": 1, "FailbackCooldownSeconds": 1}
LEGACY_ALARM = "legacy-api-5xx"


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll until `probe` returns something truthy (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def bedrock(aws: None) -> Iterator[FakeBedrock]:
    with fake_converse() as fake:
        yield fake


@pytest.fixture
def stacks(bedrock: FakeBedrock) -> Iterator[dict[str, Stack]]:
    dev = Stack(stack_name=DEV, parameters={**QUICK, "EscalationAlarmPrefixes": "legacy-"}).create()
    prod = Stack(stack_name=PROD, parameters=QUICK).create()
    yield {DEV: dev, PROD: prod}
    # every execution ends before moto does, so no workflow thread outlives the test
    machines = ("EscalationStateMachine", "RemediationStateMachine")
    wait_for(
        "every execution to end",
        lambda: all(
            e["status"] != "RUNNING" for s in (dev, prod) for m in machines for e in executions(s, m)
        ),
    )


def fire(alarm: str) -> None:
    """The alarm goes to ALARM: moto's state, and CloudWatch's state-change event on the bus."""
    boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="Threshold Crossed: test"
    )
    event = copy.deepcopy(load_event("escalation/alarm"))
    event["detail"]["alarmName"] = alarm
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{alarm}"],
    }
    assert boto3.client("events", region_name=REGION).put_events(Entries=[entry])["FailedEntryCount"] == 0


def executions(stack: Stack, logical_id: str) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    found = sfn.list_executions(stateMachineArn=stack.physical_id(logical_id))["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in found]


def paged_alarms(stack: Stack) -> list[str]:
    return sorted(
        json.loads(e["input"])["detail"]["alarmName"] for e in executions(stack, "EscalationStateMachine")
    )


def remediated_alarms(stack: Stack) -> list[str]:
    return sorted(
        json.loads(e["input"]).get("alarmName", "") for e in executions(stack, "RemediationStateMachine")
    )


def active_model(stack: Stack) -> str:
    ssm = boto3.client("ssm", region_name=REGION)
    value = ssm.get_parameter(Name=f"/{stack.stack_name}/routes/chat")["Parameter"]["Value"]
    return str(json.loads(value)["active"])


def throttle_alarm(stack: Stack) -> str:
    [name] = [
        str(r.physical_id)
        for lid, r in stack.resources.items()
        if lid.startswith("ModelThrottleRateCritical") and r.type == "AWS::CloudWatch::Alarm"
    ]
    return name


def test_the_two_stacks_deploy_side_by_side(stacks: dict[str, Stack]) -> None:
    # No fixed name collides: every resource of both stacks was created
    for stack in stacks.values():
        assert stack.rollback_reason() is None, stack.report()
    dev, prod = stacks[DEV], stacks[PROD]
    assert dev.physical_id("EscalationStateMachine") != prod.physical_id("EscalationStateMachine")
    assert throttle_alarm(dev).startswith(alarm_name_prefix(DEV))
    assert throttle_alarm(prod).startswith(alarm_name_prefix(PROD))
    # the dev stack's name is a prefix of the prod stack's name, but not of its alarms' prefix
    assert throttle_alarm(prod).startswith(DEV)
    assert not throttle_alarm(prod).startswith(alarm_name_prefix(DEV))


def test_each_stack_pages_and_remediates_only_on_its_own_alarms(stacks: dict[str, Stack]) -> None:
    dev, prod = stacks[DEV], stacks[PROD]
    primary = active_model(dev)

    # When the prod stack's per-model throttle alarm fires
    fire(throttle_alarm(prod))
    # Then prod pages for it and fails its own chat route over
    wait_for("prod's page", lambda: paged_alarms(prod))
    wait_for(
        "prod's failover",
        lambda: [e for e in executions(prod, "RemediationStateMachine") if e["status"] == "SUCCEEDED"],
    )
    assert paged_alarms(prod) == [throttle_alarm(prod)]
    assert remediated_alarms(prod) == [throttle_alarm(prod)]
    assert active_model(prod) != primary
    # and the dev stack did nothing at all: no page, no remediation, its route untouched
    assert paged_alarms(dev) == []
    assert remediated_alarms(dev) == []
    assert active_model(dev) == primary

    # When the dev stack's alarm fires too
    fire(throttle_alarm(dev))
    wait_for("dev's page", lambda: paged_alarms(dev))
    wait_for(
        "dev's failover",
        lambda: [e for e in executions(dev, "RemediationStateMachine") if e["status"] == "SUCCEEDED"],
    )
    # Then each stack has handled exactly its own alarm, once
    assert paged_alarms(dev) == [throttle_alarm(dev)]
    assert remediated_alarms(dev) == [throttle_alarm(dev)]
    assert paged_alarms(prod) == [throttle_alarm(prod)]
    assert remediated_alarms(prod) == [throttle_alarm(prod)]


def test_an_alarm_named_in_escalation_alarm_prefixes_is_paged_by_that_stack_only(
    stacks: dict[str, Stack],
) -> None:
    # Given an alarm outside both stacks, matched by the dev stack's EscalationAlarmPrefixes
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName=LEGACY_ALARM,
        Namespace="Legacy/API",
        MetricName="5xx",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Tags=[{"Key": "Severity", "Value": "critical"}],
    )
    # When it fires
    fire(LEGACY_ALARM)
    # Then the dev stack pages for it, the prod stack does not, and nobody remediates on it
    wait_for("dev's page for the legacy alarm", lambda: paged_alarms(stacks[DEV]))
    assert paged_alarms(stacks[DEV]) == [LEGACY_ALARM]
    assert paged_alarms(stacks[PROD]) == []
    assert remediated_alarms(stacks[DEV]) == remediated_alarms(stacks[PROD]) == []
