"""The emulator answers as AWS where moto does not: the token of a closed task, a scan during
writes."""

from __future__ import annotations

import json
import sys
import threading
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


def test_a_scan_while_another_thread_writes_never_breaks_as_dynamodb_never_does(aws: None) -> None:
    # Given a table another thread keeps adding items to (in-process Lambdas and Step Functions
    # tasks write from their own threads while a test reads)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName="busy",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    written = threading.Event()

    def write() -> None:
        writer = boto3.client("dynamodb", region_name=REGION)
        for i in range(1500):
            writer.put_item(TableName="busy", Item={"pk": {"S": f"item-{i}"}})
        written.set()

    # When the test scans it over and over meanwhile, with thread switches as often as Python
    # allows (moto walks a plain dict: without the shim's lock this fails within a few scans)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=write)
    try:
        thread.start()
        scans = 0
        while not written.is_set() or scans == 0:
            dynamodb.scan(TableName="busy")  # Then no scan fails
            scans += 1
    finally:
        thread.join()
        sys.setswitchinterval(interval)
    assert dynamodb.scan(TableName="busy", Select="COUNT")["Count"] == 1500


def test_an_operation_moto_lacks_is_answered_behind_a_real_client_and_recorded_with_its_role(
    aws: None,
) -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ParamValidationError

    from sandbox import calls
    from sandbox.fake_profiles import inference_profiles, model_arn

    send_before = BaseClient._make_request  # type: ignore[attr-defined]
    bedrock = boto3.client("bedrock", region_name=REGION)
    with inference_profiles() as profiles, calls.recording() as log:
        arn = profiles.add("chat-prod", [model_arn(REGION, "anthropic.claude-sonnet-4-5-20250929-v1:0")])
        role = "arn:aws:iam::123456789012:role/bedrock-watch-InvocationMetricsFunctionRole-X"
        with calls.acting_as(role):
            # the answer is parsed from the wire by botocore: timestamps become datetimes
            answer = bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
            assert answer["models"] == [{"modelArn": profiles.profiles[arn]["models"][0]["modelArn"]}]
            assert answer["createdAt"].tzinfo is not None
            # an unknown profile is the service's own error class, as Bedrock answers it
            with pytest.raises(bedrock.exceptions.ResourceNotFoundException):
                bedrock.get_inference_profile(inferenceProfileIdentifier=arn + "0")
            # the client validates before anything is sent
            with pytest.raises(ParamValidationError):
                bedrock.get_inference_profile(inferenceProfileIdentifier=7)  # type: ignore[arg-type]
            profiles.fail("ThrottlingException")
            with pytest.raises(bedrock.exceptions.ThrottlingException):
                bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
    assert profiles.calls == [arn, arn + "0", arn]
    recorded = [(c.role_arn, c.service, c.operation, c.params) for c in log.calls]
    assert recorded[0] == (role, "bedrock", "GetInferenceProfile", {"inferenceProfileIdentifier": arn})
    assert len(recorded) == 4  # the refused call too: the recorder sees what the code asked for
    # and once the context ends, every client talks to moto again
    from sandbox import shims

    assert not shims._FAKES
    assert BaseClient._make_request is send_before  # type: ignore[attr-defined]


def test_an_execution_still_running_when_the_emulator_stops_is_stopped_with_it(aws: None) -> None:
    # Without this, a waiting escalation of one test wakes up inside the next test's emulator
    # (the sandbox names resources deterministically) and pages into its queues.
    from sandbox.shims import ended_executions

    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    machine = sfn.create_state_machine(
        name="waits", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    with ended_executions():
        run = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        assert sfn.describe_execution(executionArn=run)["status"] == "RUNNING"
    _wait(lambda: sfn.describe_execution(executionArn=run)["status"] != "RUNNING", "the execution to stop")
    assert sfn.describe_execution(executionArn=run)["status"] == "ABORTED"
