"""What moto does not do for invocation logging: Bedrock refuses a role IAM has not propagated yet
(ValidationException until it can assume it), so the Put is retried with backoff, and gives up
with the error after about a minute; the resource's properties are checked as they arrive."""

from __future__ import annotations

from typing import Any

import pytest

from bedrock_watch.errors import ConfigurationError
from bedrock_watch.invocation_logging import PUT_ATTEMPTS, InvocationLogging, LoggingRequest, handle

ROLE = "arn:aws:iam::123456789012:role/bedrock-watch/bw/logging"
PROPS = {
    "Enabled": "true",
    "LogGroupName": "/aws/bedrock/modelinvocations",
    "RoleArn": ROLE,
    "PreviousParameter": "/bw/invocation-logging/previous",
    "ReplaceExisting": "false",
    "TextBodies": "true",
    "LargeDataBucket": "",
}


class _Exceptions:
    class ValidationException(Exception):
        pass

    class ParameterNotFound(Exception):
        pass


class FakeBedrock:
    """Refuses the first `refusals` Puts as Bedrock does while the role is not usable yet."""

    exceptions = _Exceptions

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.config: dict[str, Any] = {}
        self.puts = 0

    def get_model_invocation_logging_configuration(self) -> dict[str, Any]:
        return {"loggingConfig": self.config}

    def put_model_invocation_logging_configuration(self, loggingConfig: dict[str, Any]) -> None:
        self.puts += 1
        if self.puts <= self.refusals:
            raise self.exceptions.ValidationException("Failed to validate permissions for log group")
        self.config = loggingConfig


class FakeSsm:
    exceptions = _Exceptions

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get_parameter(self, Name: str) -> dict[str, Any]:
        if Name not in self.values:
            raise self.exceptions.ParameterNotFound(Name)
        return {"Parameter": {"Value": self.values[Name]}}

    def put_parameter(self, Name: str, Value: str, **_: Any) -> None:
        self.values[Name] = Value

    def delete_parameter(self, Name: str) -> None:
        self.values.pop(Name, None)


class FakeLogs:
    def describe_log_groups(self, logGroupNamePrefix: str) -> dict[str, Any]:
        return {"logGroups": [{"logGroupName": "/aws/bedrock/modelinvocations"}]}


def test_a_role_iam_has_not_propagated_yet_is_waited_for() -> None:
    # Given Bedrock refuses the new role three times, then accepts it
    bedrock, sleeps = FakeBedrock(refusals=3), []
    logging = InvocationLogging(bedrock, FakeSsm(), FakeLogs(), sleep=sleeps.append)
    # When logging is enabled
    handle(logging, request_type="Create", properties=PROPS)
    # Then it was retried with growing waits and is on
    assert bedrock.puts == 4
    assert sleeps == [2.0, 4.0, 8.0]
    assert bedrock.config["cloudWatchConfig"] == {"logGroupName": PROPS["LogGroupName"], "roleArn": ROLE}


def test_a_role_that_never_works_fails_after_about_a_minute() -> None:
    bedrock, sleeps = FakeBedrock(refusals=100), []
    logging = InvocationLogging(bedrock, FakeSsm(), FakeLogs(), sleep=sleeps.append)
    with pytest.raises(_Exceptions.ValidationException, match="Failed to validate permissions"):
        handle(logging, request_type="Create", properties=PROPS)
    assert bedrock.puts == PUT_ATTEMPTS
    assert 45 <= sum(sleeps) <= 90  # within the function's 120 s timeout, with room to answer


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Enabled": "yes"}, "Enabled must be true or false, got 'yes'"),
        ({"RoleArn": ""}, "RoleArn is required"),
        ({"PreviousParameter": " "}, "PreviousParameter is required"),
    ],
)
def test_malformed_properties_are_named(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LoggingRequest.from_properties({**PROPS, **change})


def test_an_update_that_replaced_the_role_still_recognises_the_stacks_own_setting() -> None:
    # Given the stack enabled logging through its old role
    bedrock, ssm = FakeBedrock(refusals=0), FakeSsm()
    logging = InvocationLogging(bedrock, ssm, FakeLogs(), sleep=lambda s: None)
    old = {**PROPS, "RoleArn": ROLE.replace("logging", "logging-old")}
    handle(logging, request_type="Create", properties=old)
    # When an update brings a new role, the old setting is the stack's own: replaced, no conflict
    handle(logging, request_type="Update", properties=PROPS, old_properties=old)
    assert bedrock.config["cloudWatchConfig"]["roleArn"] == ROLE
    assert ssm.values == {PROPS["PreviousParameter"]: "off"}


def test_the_sample_event_asks_for_text_records_to_the_group_and_nothing_else() -> None:
    from sandbox.events import load_event

    request = LoggingRequest.from_properties(
        load_event("deploy/invocation-logging-create")["ResourceProperties"]
    )
    assert request.configuration() == {
        "cloudWatchConfig": {"logGroupName": "/aws/bedrock/modelinvocations", "roleArn": request.role_arn},
        "textDataDeliveryEnabled": True,
        "imageDataDeliveryEnabled": False,
        "embeddingDataDeliveryEnabled": False,
        "videoDataDeliveryEnabled": False,
    }
