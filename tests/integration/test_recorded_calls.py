"""IAM against what the code calls: the recording, the mapping to IAM, and the check.

tests/conftest.py runs the check after every test (every function and state machine the tests
exercise, including ones added later); these tests show that the recording sees calls by their
role, that each call maps to what AWS authorises, and that a missing permission is reported.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from sandbox import calls
from sandbox.calls import ApiCall
from sandbox.intrinsics import ACCOUNT_ID, REGION
from sandbox.stack import Stack, template_subset
from sandbox.template import load_template
from tests.infra.called import Need, check, needs

pytestmark = pytest.mark.integration

MODEL = f"arn:aws:bedrock:{REGION}::foundation-model/"
PROFILE = f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:inference-profile/"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:"
FUNCTION = "arn:aws:lambda:us-east-1:1:function:f"


@pytest.fixture
def stack(aws: None) -> Stack:
    """The escalation slice of template.yaml, as the sandbox deploys it."""
    return Stack(template_subset(load_template(), ("Escalation", "Incidents"))).create()


def _role(stack: Stack, function: str) -> str:
    return str(stack.attribute(f"{function}Role", "Arn"))


def _call(role: str, service: str, operation: str, via: str = "lambda", **params: Any) -> ApiCall:
    return ApiCall(role, service, operation, params, REGION, via)


def test_a_handlers_calls_are_recorded_with_the_role_it_runs_as(stack: Stack) -> None:
    # Given the alarm-OK function of a deployed stack
    log = calls.active()
    assert log is not None, "tests/conftest.py records every test's calls"
    before = len(log.calls)

    # When an alarm of the stack returns to OK
    event = json.loads(json.dumps(_ok_event()))
    boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=stack.physical_id("EscalationEventsFunction"), Payload=json.dumps(event)
    )

    # Then its record of the OK (on the alarm's pointer item) is recorded as a call by its role
    made = [c for c in log.calls[before:] if c.role_arn == _role(stack, "EscalationEventsFunction")]
    assert ("dynamodb", "UpdateItem") in {(c.service, c.operation) for c in made}
    assert {c.via for c in made} == {"lambda"}


def _ok_event() -> dict[str, Any]:
    from sandbox.events import load_event

    event = load_event("escalation/ok")
    return {**event, "detail": {**event["detail"], "alarmName": "bedrock-watch.nothing-open"}}


def test_a_state_machine_task_is_recorded_with_the_machines_role(aws: None) -> None:
    # Given a state machine whose task writes to DynamoDB through the service integration
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/some-machine-role"
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "t", "Item": {"pk": {"S": "x"}}},
                "End": True,
            }
        },
    }
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=role)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="one")
    while sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING":
        time.sleep(0.05)

    # When the emulator's executions are read, Then the task is a call by the machine's role
    log = calls.active()
    assert log is not None
    calls.collect_state_machine_tasks()
    [task] = [c for c in log.calls if c.role_arn == role]
    assert (task.service, task.operation, task.via) == ("dynamodb", "putItem", "states")
    assert needs(task, ACCOUNT_ID) == [
        Need("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/t", "dynamodb.putItem")
    ]
    log.calls.remove(task)  # a role of no template: nothing for the after-test check to say


@pytest.mark.parametrize(
    ("call", "wanted"),
    [
        (
            _call("r", "bedrock-runtime", "Converse", modelId="anthropic.claude-3-haiku-20240307-v1:0"),
            [("bedrock:InvokeModel", f"{MODEL}anthropic.claude-3-haiku-20240307-v1:0")],
        ),
        (
            _call("r", "bedrock-runtime", "ConverseStream", modelId="us.amazon.nova-pro-v1:0"),
            [
                ("bedrock:InvokeModelWithResponseStream", f"{PROFILE}us.amazon.nova-pro-v1:0"),
                ("bedrock:InvokeModelWithResponseStream", f"{MODEL}amazon.nova-pro-v1:0"),
            ],
        ),
        (
            _call("r", "secretsmanager", "GetSecretValue", SecretId="channels"),
            [("secretsmanager:GetSecretValue", f"{SECRET}channels-??????")],
        ),
        (
            _call("r", "ssm", "GetParameter", Name="/bw/routes/chat"),
            [("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/bw/routes/chat")],
        ),
        (
            _call(
                "r", "dynamodb", "TransactWriteItems",
                TransactItems=[{"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}],
            ),
            [
                ("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/a"),
                ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/b"),
            ],
        ),
        (
            _call("r", "aws-sdk:cloudwatch", "describeAlarms", via="states", AlarmNames=["bw.errors"]),
            [("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:bw.errors")],
        ),
        (
            _call("r", "lambda", "invoke", via="states", FunctionName=FUNCTION),
            [("lambda:InvokeFunction", FUNCTION)],
        ),
        (_call("r", "states", "SendTaskSuccess", taskToken="t"), [("states:SendTaskSuccess", "*")]),
        (_call("r", "cloudwatch", "PutMetricData", Namespace="n"), [("cloudwatch:PutMetricData", "*")]),
    ],
)  # fmt: skip
def test_each_call_maps_to_what_aws_authorises(call: ApiCall, wanted: list[tuple[str, str]]) -> None:
    assert [(n.action, n.resource) for n in needs(call, ACCOUNT_ID)] == wanted


def test_a_call_the_role_does_not_allow_is_reported_naming_the_function_action_and_resource(
    stack: Stack,
) -> None:
    # Given the page function deleting an incident, which its role never allowed
    table = stack.attribute("IncidentsTable", "Arn")
    call = _call(
        _role(stack, "EscalationPageFunction"),
        "dynamodb",
        "DeleteItem",
        TableName=stack.physical_id("IncidentsTable"),
    )

    # When the check reads it against the role as AWS holds it
    problems = check([call], [stack])

    # Then it names the function, the permission and the resource
    assert problems == [
        f"EscalationPageFunction (lambda) calls dynamodb.DeleteItem: needs dynamodb:DeleteItem on {table}, "
        "which its role EscalationPageFunctionRole does not allow"
    ]


def test_publishing_to_a_topic_under_the_stacks_key_needs_the_key(stack: Stack) -> None:
    topic = stack.physical_id("EscalationTopic")
    key = stack.attribute("TopicKey", "Arn")

    # Given the page function publishing a page: its role holds the topic and its key
    assert (
        check([_call(_role(stack, "EscalationPageFunction"), "sns", "Publish", TopicArn=topic)], [stack])
        == []
    )

    # When a role that holds neither publishes, Then the check names the topic and the key
    problems = check(
        [_call(_role(stack, "EscalationStateMachineAlarmFired"), "sns", "Publish", TopicArn=topic)], [stack]
    )
    assert any("sns:Publish" in p for p in problems)
    assert any(f"kms:GenerateDataKey on {key}" in p for p in problems)
