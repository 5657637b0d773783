"""Step `RequestApproval` (.waitForTaskToken): keep the token, publish signed approve/reject links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.approvals import request_approval
from bedrock_watch.config import env_str

logger = Logger()


class Settings(NamedTuple):
    state_table: str
    topic_arn: str
    secret_arn: str
    approval_url: str


SETTINGS = Settings(
    state_table=env_str("STATE_TABLE"),
    topic_arn=env_str("TOPIC_ARN"),
    secret_arn=env_str("LINK_SECRET_ARN"),
    approval_url=env_str("APPROVAL_URL"),
)
DYNAMODB = boto3.client("dynamodb")
SNS = boto3.client("sns")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["request"]
    request_approval(
        dynamodb=DYNAMODB,
        sns=SNS,
        table_name=SETTINGS.state_table,
        topic_arn=SETTINGS.topic_arn,
        secret=str(parameters.get_secret(SETTINGS.secret_arn, max_age=300)).encode(),
        base_url=SETTINGS.approval_url,
        task_token=event["taskToken"],
        execution=request["executionName"],
        request=request,
        plan=event["plan"],
        target=event["target"],
        timeout_seconds=int(request["approvalTimeoutSeconds"]),
        now=datetime.now(UTC),
    )
    logger.info("approval requested", route=request["route"], execution=request["executionName"])
    return {"requested": True}
