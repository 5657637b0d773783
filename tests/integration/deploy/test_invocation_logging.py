"""EnableInvocationLogging: the stack turns Bedrock model-invocation logging on to the group it
meters, never silently replaces somebody else's logging, and puts back what was there when it is
deleted or told to stop.

The stack's logging resources (and the metering function that waits for them) are deployed by
sandbox.stack from template.yaml; moto implements Get/Put/DeleteModelInvocationLoggingConfiguration
(it does not check that Bedrock could assume the role or write to the group: the role's trust and
scope are asserted on what was created, and the wait for IAM in tests/unit/deploy)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from sandbox.intrinsics import ACCOUNT_ID, REGION
from sandbox.stack import Stack, template_subset
from sandbox.template import load_template

pytestmark = pytest.mark.integration

GROUP = "/aws/bedrock/modelinvocations"
ON = {"EnableInvocationLogging": "true", "CreateInvocationLogGroup": "true"}
THEIRS = {
    "cloudWatchConfig": {
        "logGroupName": "/team/bedrock-audit",
        "roleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/team-bedrock-logging",
    },
    "textDataDeliveryEnabled": True,
    "imageDataDeliveryEnabled": True,
    "embeddingDataDeliveryEnabled": False,
    "videoDataDeliveryEnabled": False,
}


def bedrock() -> Any:
    return boto3.client("bedrock", region_name=REGION)


def logging_config() -> dict[str, Any]:
    config: dict[str, Any] = bedrock().get_model_invocation_logging_configuration().get("loggingConfig") or {}
    return config


def deploy(**parameters: str) -> Stack:
    template = template_subset(load_template(), ("InvocationLog", "InvocationMetrics"))
    return Stack(template, parameters=parameters).create()


def previous(stack: Stack) -> str | None:
    ssm = boto3.client("ssm", region_name=REGION)
    try:
        value: str = ssm.get_parameter(Name=f"/{stack.stack_name}/invocation-logging/previous")["Parameter"][
            "Value"
        ]
    except ssm.exceptions.ParameterNotFound:
        return None
    return value


def test_enabling_logging_points_bedrock_at_the_group_the_stack_meters(aws: None) -> None:
    # Given logging is off in the region
    assert logging_config() == {}
    # When the stack is deployed with logging on and its own log group
    stack = deploy(**ON)
    assert stack.rollback_reason() is None, stack.report()
    assert {"InvocationLogging", "InvocationMetricsFunction"} <= set(stack.resources), stack.report()
    # Then Bedrock logs text records to that group through the stack's role, nothing else
    role_arn = stack.attribute("InvocationLoggingRole", "Arn")
    assert logging_config() == {
        "cloudWatchConfig": {"logGroupName": GROUP, "roleArn": role_arn},
        "textDataDeliveryEnabled": True,
        "imageDataDeliveryEnabled": False,
        "embeddingDataDeliveryEnabled": False,
        "videoDataDeliveryEnabled": False,
    }
    # the group exists with the stack's retention, and the meter is subscribed to it
    logs = boto3.client("logs", region_name=REGION)
    [group] = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    assert group["retentionInDays"] == 30
    [subscription] = logs.describe_subscription_filters(logGroupName=GROUP)["subscriptionFilters"]
    assert subscription["destinationArn"] == stack.arn("InvocationMetricsFunction")
    # the role can be assumed only by Bedrock acting for this account and region, under the
    # stack's path (the only role the custom resource may pass)
    role = boto3.client("iam").get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
    assert role["Path"] == f"/bedrock-watch/{stack.stack_name}/"
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:*"},
    }
    # and what was there before (nothing) is remembered
    assert previous(stack) == "off"

    # When the stack is deleted, logging is off again, as it was
    stack.send_custom_resource("InvocationLogging", "Delete")
    assert logging_config() == {}
    assert previous(stack) is None


def test_somebody_elses_logging_is_not_replaced_and_the_deployment_says_where_it_goes(aws: None) -> None:
    # Given another team already logs the region's invocations to their own group
    bedrock().put_model_invocation_logging_configuration(loggingConfig=THEIRS)
    # When the stack is deployed with logging on (and not told to replace)
    stack = deploy(**ON)
    # Then the deployment fails naming the current destination and both ways out
    reason = stack.rollback_reason() or ""
    assert reason.startswith("InvocationLogging: Received response status [FAILED] from custom resource.")
    assert "already on in this region, to CloudWatch Logs group /team/bedrock-audit" in reason
    assert "InvocationLoggingReplaceExisting=true" in reason
    assert "InvocationLogGroupName=/team/bedrock-audit" in reason
    # their logging is untouched and the meter was not subscribed to anything
    assert logging_config() == THEIRS
    assert "InvocationMetricsFunction" not in stack.resources


def test_replacing_when_told_to_and_putting_theirs_back_on_delete(aws: None) -> None:
    bedrock().put_model_invocation_logging_configuration(loggingConfig=THEIRS)
    # When the stack is told to replace the existing configuration
    stack = deploy(**ON, InvocationLoggingReplaceExisting="true", InvocationLogTextBodies="false")
    assert stack.rollback_reason() is None, stack.report()
    assert logging_config()["cloudWatchConfig"]["logGroupName"] == GROUP
    assert logging_config()["textDataDeliveryEnabled"] is False
    assert json.loads(previous(stack) or "{}") == THEIRS
    # Then deleting the stack gives the other team exactly their configuration back
    stack.send_custom_resource("InvocationLogging", "Delete")
    assert logging_config() == THEIRS


def test_turning_logging_off_in_an_update_restores_what_was_there(aws: None) -> None:
    stack = deploy(**ON)
    assert logging_config()["cloudWatchConfig"]["logGroupName"] == GROUP
    properties = {**stack.resources["InvocationLogging"].properties, "Enabled": "false"}
    stack.send_custom_resource("InvocationLogging", "Update", properties)
    assert logging_config() == {}
    assert previous(stack) is None


def test_a_setting_changed_by_hand_since_is_left_alone_on_delete(aws: None) -> None:
    stack = deploy(**ON)
    bedrock().put_model_invocation_logging_configuration(loggingConfig=THEIRS)
    stack.send_custom_resource("InvocationLogging", "Delete")
    assert logging_config() == THEIRS
    assert previous(stack) is None


def test_a_destination_group_that_does_not_exist_is_named(aws: None) -> None:
    stack = deploy(EnableInvocationLogging="true")
    assert (
        "InvocationLogGroupName: log group /aws/bedrock/modelinvocations does not exist; create it or set "
        in (stack.rollback_reason() or "")
    )
    assert logging_config() == {}


def test_large_bodies_go_to_a_private_encrypted_bucket_when_asked(aws: None) -> None:
    stack = deploy(**ON, InvocationLogLargeDataToS3="true")
    assert stack.rollback_reason() is None, stack.report()
    bucket = str(stack.physical_id("InvocationLogLargeDataBucket"))
    assert logging_config()["cloudWatchConfig"]["largeDataDeliveryS3Config"] == {
        "bucketName": bucket,
        "keyPrefix": "large-data",
    }
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_by_default_the_stack_leaves_logging_alone(aws: None) -> None:
    bedrock().put_model_invocation_logging_configuration(loggingConfig=THEIRS)
    stack = deploy()
    assert stack.rollback_reason() is None, stack.report()
    assert logging_config() == THEIRS
    assert "InvocationLoggingRole" in stack.omitted
    stack.send_custom_resource("InvocationLogging", "Delete")
    assert logging_config() == THEIRS
