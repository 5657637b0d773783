"""Custom::InvocationLogging: turn Bedrock model-invocation logging on for the stack, and back."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.custom_resource import respond
from bedrock_watch.invocation_logging import InvocationLogging, handle

logger = Logger()
LOGGING = InvocationLogging(
    bedrock=boto3.client("bedrock"), ssm=boto3.client("ssm"), logs=boto3.client("logs")
)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    # Always answer CloudFormation, or the stack waits an hour for a reply that never comes.
    with respond(event):
        outcome = handle(
            LOGGING,
            request_type=event["RequestType"],
            properties=event["ResourceProperties"],
            old_properties=event.get("OldResourceProperties"),
        )
        logger.info("invocation logging", request=event["RequestType"], outcome=outcome)
