"""The stack builder on moto: the real template, then every resource kind on a small fixture template.

The first test reads template.yaml and asserts by resource *kind*, so it keeps passing (and keeps
checking) as resources are added to the template.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from sandbox import shims
from sandbox.clock import SimClock
from sandbox.metrics import MetricKey, MetricStore
from sandbox.stack import SUPPORTED_TYPES, Stack
from sandbox.template import load_template, load_yaml, parameter_defaults, resources

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


@pytest.fixture
def stack(aws: None) -> Stack:
    return Stack().create()


def test_every_resource_of_the_template_is_created_or_reported_with_a_reason(stack: Stack) -> None:
    declared = resources()
    reported = {u.logical_id for u in stack.unsupported}
    for logical_id, spec in declared.items():
        if spec["Type"] in SUPPORTED_TYPES or spec["Type"].startswith("Custom::"):
            assert logical_id in stack.resources or logical_id in stack.omitted, (
                f"{logical_id} ({spec['Type']}) was neither created nor omitted by its Condition: "
                f"{[u for u in stack.unsupported if u.logical_id == logical_id]}"
            )
        else:
            assert logical_id in reported or logical_id in stack.omitted, f"{logical_id} vanished silently"
    assert all(u.reason for u in stack.unsupported)
    assert "not created" in stack.report() or not stack.unsupported
    # a resource that already existed fails a real deployment (e.g. a log group Lambda made first)
    assert not [u for u in stack.unsupported if "already exists" in u.reason]


def test_the_template_outputs_resolve_to_created_resources(stack: Stack) -> None:
    values, errors = stack.outputs()
    declared = load_template().get("Outputs", {})
    assert set(values) | set(errors) == {k for k in declared if not k.startswith("Fn::ForEach")}
    unsupported = {u.logical_id for u in stack.unsupported}
    # an output may only fail to resolve because it names a resource the sandbox reported
    for name, why in errors.items():
        assert any(logical_id in why for logical_id in unsupported), f"output {name}: {why}"
    if "InvocationMetricsFunctionArn" in values:
        assert values["InvocationMetricsFunctionArn"] == stack.arn("InvocationMetricsFunction")


def test_functions_get_their_code_environment_and_log_subscriptions(stack: Stack) -> None:
    template = load_template()
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    client = boto3.client("lambda")
    logs = boto3.client("logs")
    for logical_id, spec in resources(type_="AWS::Serverless::Function").items():
        if logical_id not in stack.resources:
            continue  # not created: the first test names the reason
        config = client.get_function(FunctionName=stack.function_name(logical_id))["Configuration"]
        env = config["Environment"]["Variables"]
        own = spec["Properties"].get("Environment", {}).get("Variables", {})
        assert set(globals_env) | set(own) <= set(env), f"{logical_id} lacks Globals or own variables"
        assert env["STACK_NAME"] == stack.stack_name
        for event in spec["Properties"].get("Events", {}).values():
            if event["Type"] == "CloudWatchLogs":
                group = stack.resolver.resolve(event["Properties"]["LogGroupName"])
                filters = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
                assert [f["destinationArn"] for f in filters] == [config["FunctionArn"]]


def test_log_groups_queues_and_alarms_exist_in_moto(stack: Stack) -> None:
    logs = boto3.client("logs")
    retention = parameter_defaults()["LogRetentionDays"]
    for logical_id in stack.of_type("AWS::Logs::LogGroup"):
        name = stack.physical_id(logical_id)
        group = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
        assert group["retentionInDays"] == retention
    sqs = boto3.client("sqs")
    for logical_id in stack.of_type("AWS::SQS::Queue"):
        assert sqs.get_queue_attributes(QueueUrl=stack.physical_id(logical_id), AttributeNames=["QueueArn"])
    described = boto3.client("cloudwatch").describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    names = {a["AlarmName"] for a in described["MetricAlarms"] + described["CompositeAlarms"]}
    assert {a.name for a in stack.metric_alarms + stack.composite_alarms} <= names


# ---------------------------------------------------------------------- every kind, on a fixture
FIXTURE = Path(__file__).with_name("fixture_template.yaml")


@pytest.fixture
def fixture_stack(aws: None) -> Iterator[tuple[Stack, MetricStore, SimClock]]:
    clock = SimClock(start=T0, scale=60)
    store = MetricStore(clock.now)
    with store.attach():
        yield Stack(load_yaml(FIXTURE.read_text()), stack_name="fx", now=clock.now).create(), store, clock


def test_each_resource_kind_is_created_and_the_rest_is_reported(
    fixture_stack: tuple[Stack, MetricStore, SimClock],
) -> None:
    stack, _, _ = fixture_stack
    unsupported = {u.logical_id: u.reason for u in stack.unsupported}
    assert "moto does not enforce IAM" in unsupported["Policy"]
    assert "no creator" in unsupported["Api"]
    assert "not loopback" in unsupported["Topic.Subscription[1]"]
    assert stack.omitted == {"ProdOnly": "Condition IsProd is false"}
    emulated = {e.logical_id for e in stack.emulated}
    assert {"Both", "Detector"} <= emulated
    # each kind really exists in moto
    assert boto3.client("ssm").get_parameter(Name="/fx/routes/chat")["Parameter"]["Value"] == (
        '{"active":"a.model","version":1}'
    )
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=stack.physical_id("Key"))[
        "SecretString"
    ]
    assert len(secret) == 40
    assert secret.isalnum()
    assert boto3.client("dynamodb").describe_table(TableName=stack.physical_id("Table"))["Table"][
        "SSEDescription"
    ]["Status"]
    assert (
        boto3.client("dynamodb").describe_table(TableName=stack.physical_id("Simple"))["Table"]["KeySchema"][
            0
        ]["AttributeName"]
        == "id"
    )
    definition = boto3.client("stepfunctions").describe_state_machine(stateMachineArn=stack.arn("Machine"))[
        "definition"
    ]
    assert stack.arn("Emitter") in definition
    assert (
        boto3.client("cloudwatch").get_dashboard(DashboardName=stack.physical_id("Board"))["DashboardBody"]
        == '{"widgets":[]}'
    )
    # a custom resource answered through its response URL; its Data feeds GetAtt (as a string)
    assert stack.physical_id("Seeded") == "seeded"
    assert boto3.client("ssm").get_parameter(Name=stack.physical_id("SeedCount"))["Parameter"]["Value"] == "3"
    composite = boto3.client("cloudwatch").describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert [(a["AlarmName"], a["StateValue"]) for a in composite] == [("fx-both", "INSUFFICIENT_DATA")]
    # escalation and remediation read alarm tags through ListTagsForResource
    tags = boto3.client("cloudwatch").list_tags_for_resource(ResourceARN=composite[0]["AlarmArn"])["Tags"]
    assert tags == [{"Key": "Severity", "Value": "critical"}]


def test_function_output_becomes_metrics_that_get_metric_data_sees(
    fixture_stack: tuple[Stack, MetricStore, SimClock],
) -> None:
    stack, store, clock = fixture_stack
    clock.advance(30)
    # When the function runs twice (its EMF goes to stdout) and something calls PutMetricData
    lam = boto3.client("lambda")
    for cost in (1.25, 0.5):
        lam.invoke(FunctionName=stack.function_name("Emitter"), Payload=json.dumps({"cost": cost}).encode())
    boto3.client("cloudwatch").put_metric_data(
        Namespace="Fixture", MetricData=[{"MetricName": "CostUSD", "Value": 0.25, "Timestamp": clock.now()}]
    )
    # Then the store holds the samples at the simulated time…
    key = MetricKey.of("Fixture", "CostUSD")
    assert store.statistic(key, "Sum", T0, T0 + timedelta(minutes=1)) == 2.0
    # …and GetMetricData (the budget guard's read) answers from it
    result = boto3.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "c",
                "MetricStat": {
                    "Metric": {"Namespace": "Fixture", "MetricName": "CostUSD"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=T0,
        EndTime=T0 + timedelta(minutes=5),
    )["MetricDataResults"][0]
    assert result["Values"] == [2.0]


def test_alarm_state_changes_reach_rule_targets_and_describe_alarms(
    fixture_stack: tuple[Stack, MetricStore, SimClock],
) -> None:
    stack, store, clock = fixture_stack
    evaluator = stack.evaluator(store)
    store.seed("Fixture", "CostUSD", [2.0, 1.0], timestamp=T0 + timedelta(seconds=5))
    clock.advance(70)
    changes = evaluator.evaluate()
    assert [(c.alarm, c.current.value) for c in changes] == [("fx-spend", "ALARM"), ("fx-both", "ALARM")]
    # the rule's SQS target received CloudWatch-shaped events
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.physical_id("Inbox"), MaxNumberOfMessages=10)["Messages"]
    events = [json.loads(m["Body"]) for m in messages]
    assert {e["detail"]["alarmName"] for e in events} == {"fx-spend", "fx-both"}
    spend = next(e for e in events if e["detail"]["alarmName"] == "fx-spend")
    assert spend["source"] == "aws.cloudwatch"
    assert spend["detail"]["state"]["reason"].startswith(
        "Threshold Crossed: 1 out of the last 1 datapoints [3.0"
    )
    # the alarm's SNS action got CloudWatch's notification
    notified = sqs.receive_message(QueueUrl=stack.physical_id("Mailbox"))["Messages"]
    message = json.loads(notified[0]["Body"])
    assert (message["AlarmName"], message["OldStateValue"], message["NewStateValue"]) == (
        "fx-spend",
        "INSUFFICIENT_DATA",
        "ALARM",
    )
    assert message["Trigger"]["Threshold"] == 1.0
    # and DescribeAlarms shows the new state
    alarm = boto3.client("cloudwatch").describe_alarms(AlarmNames=["fx-spend"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"] == spend["detail"]["state"]["reason"]


def test_schedules_fire_on_the_simulated_clock_with_the_scheduled_time(
    fixture_stack: tuple[Stack, MetricStore, SimClock],
) -> None:
    stack, _, clock = fixture_stack
    before = clock.now()
    clock.advance(3600)
    fired = stack.fire_schedules(before, clock.now())
    assert [when.minute for _, when in fired] == [15, 30, 45, 0]
    events: list[Any] = [
        i.event for i in shims.INVOCATIONS if i.function_name == stack.function_name("Emitter")
    ]
    assert events[0] == {"scheduledTime": "2026-11-26T19:15:00Z"}


_RACING_LOG_GROUP = """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      Runtime: python3.13
      InlineCode: "def handler(event, context):\\n    return None\\n"
  FnLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /aws/lambda/${Fn}
"""


def test_a_log_group_named_after_its_function_fails_the_deploy_as_on_aws(aws: None) -> None:
    # Given a log group that waits for its function (the name refers to it), when the function
    # has logged first (the sandbox assumes it has: on AWS a custom resource or subscription can
    # run it), then the deployment fails as CloudFormation's does, instead of adopting the group.
    stack = Stack(load_yaml(_RACING_LOG_GROUP), stack_name="fx").create()

    failed = {u.logical_id: u.reason for u in stack.unsupported}
    group = f"/aws/lambda/{stack.physical_id('Fn')}"
    assert group.startswith("/aws/lambda/fx-Fn-")  # CloudFormation's generated name: a random suffix
    assert failed["FnLogGroup"] == f"CREATE_FAILED: log group {group} already exists"
    assert stack.rollback_reason() == f"FnLogGroup: log group {group} already exists"


def test_a_function_writes_to_the_log_group_its_logging_config_names(aws: None) -> None:
    template = load_yaml(
        _RACING_LOG_GROUP.replace("${Fn}", "fx/own")
        .replace(
            "      Runtime: python3.13\n",
            "      Runtime: python3.13\n      LoggingConfig: {LogGroup: !Ref FnLogGroup}\n",
        )
        .replace("return None", "print('hello')")
    )
    with shims.in_process_lambdas():
        stack = Stack(template, stack_name="fx").create()
        boto3.client("lambda").invoke(FunctionName=stack.physical_id("Fn"), Payload=b"{}")
    logs = boto3.client("logs")
    assert [
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    ] == ["/aws/lambda/fx/own"]
    events = logs.filter_log_events(logGroupName="/aws/lambda/fx/own")["events"]
    assert [e["message"] for e in events] == ["hello"]


def test_generated_names_are_cloudformations_stack_logical_id_and_a_random_suffix(aws: None) -> None:
    # Two creations of one template never share a resource name (CloudFormation appends a random
    # suffix), so nothing left running from one can reach the other's resources by name; and a
    # long name is cut before the suffix, which always survives.
    first = Stack(load_yaml(_RACING_LOG_GROUP), stack_name="fx").create()
    names = (
        first.physical_id("Fn"),
        Stack(load_yaml(_RACING_LOG_GROUP), stack_name="fy").create().physical_id("Fn"),
    )
    assert names[0].startswith("fx-Fn-")
    assert names[1].startswith("fy-Fn-")
    assert names[0].removeprefix("fx-") != names[1].removeprefix("fy-")
    long = Stack(load_yaml(_RACING_LOG_GROUP), stack_name="s" * 60).create().physical_id("Fn")
    assert len(long) == 64
    assert long.rsplit("-", 1)[1].isalnum()
    assert len(long.rsplit("-", 1)[1]) == 12
