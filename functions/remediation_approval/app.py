"""Step `RequestApproval` (.waitForTaskToken): keep the token, send signed approve/reject links to the
remediation topic and to the approvers' escalation channels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.approvals import approval_message, notify_approvers, request_approval
from bedrock_watch.channels.registry import ChannelFactory
from bedrock_watch.config import env_list, env_str
from bedrock_watch.secretstore import SecretCache

logger = Logger()


class Settings(NamedTuple):
    state_table: str
    topic_arn: str
    secret_arn: str
    approval_url: str
    approval_channels: list[str]
    channel_secret_arn: str
    escalation_topic_arn: str


SETTINGS = Settings(
    state_table=env_str("STATE_TABLE"),
    topic_arn=env_str("TOPIC_ARN"),
    secret_arn=env_str("LINK_SECRET_ARN"),
    approval_url=env_str("APPROVAL_URL"),
    approval_channels=env_list("APPROVAL_CHANNELS", ""),
    channel_secret_arn=env_str("ESCALATION_CHANNEL_SECRET_ARN"),
    escalation_topic_arn=env_str("ESCALATION_TOPIC_ARN"),
)
DYNAMODB = boto3.client("dynamodb")
SNS = boto3.client("sns")
SECRETS = SecretCache()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["request"]
    timeout = int(request["approvalTimeoutSeconds"])
    approval = request_approval(
        dynamodb=DYNAMODB,
        sns=SNS,
        table_name=SETTINGS.state_table,
        topic_arn=SETTINGS.topic_arn,
        secret=SECRETS.text(SETTINGS.secret_arn).encode(),
        base_url=SETTINGS.approval_url,
        task_token=event["taskToken"],
        execution=request["executionName"],
        request=request,
        plan=event["plan"],
        target=event["target"],
        timeout_seconds=timeout,
        now=datetime.now(UTC),
    )
    failures: list[str] = []
    if SETTINGS.approval_channels:
        vendor_secret = SECRETS.json(SETTINGS.channel_secret_arn)
        factory = ChannelFactory(vendor_secret, SNS, SETTINGS.escalation_topic_arn)
        message = approval_message(
            request=request,
            plan=event["plan"],
            target=event["target"],
            approval=approval,
            timeout_seconds=timeout,
        )
        failures = notify_approvers({ref: factory.build(ref) for ref in SETTINGS.approval_channels}, message)
        for failure in failures:
            logger.warning("approval request not delivered on a channel", failure=failure)
    logger.info("approval requested", route=request["route"], execution=request["executionName"])
    return {"requested": True, "channelFailures": failures}
