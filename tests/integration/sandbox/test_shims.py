"""The emulator answers as AWS where moto does not: the token of a closed task."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from sandbox.intrinsics import REGION

pytestmark = pytest.mark.integration


def _wait(probe: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_token_of_a_task_that_timed_out_gets_task_timed_out_not_invalid_token(aws: None) -> None:
    # Given an execution that handed out a task token and then timed out waiting for it
    sns, sqs, sfn = (boto3.client(s, region_name=REGION) for s in ("sns", "sqs", "stepfunctions"))
    topic = sns.create_topic(Name="tokens")["TopicArn"]
    queue = sqs.create_queue(QueueName="tokens")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                "Parameters": {"TopicArn": topic, "Message.$": "$$.Task.Token"},
                "TimeoutSeconds": 1,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="waits", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="one")["executionArn"]
    messages: list[str] = []
    _wait(
        lambda: (
            messages.extend(m["Body"] for m in sqs.receive_message(QueueUrl=queue).get("Messages", []))
            or messages
        ),
        "the token",
    )
    _wait(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", "the timeout")

    # When someone answers it now
    with pytest.raises(sfn.exceptions.TaskTimedOut):
        sfn.send_task_success(taskToken=messages[0], output="{}")

    # Then a token nobody issued is still InvalidToken
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_success(taskToken="not-a-token", output="{}")
