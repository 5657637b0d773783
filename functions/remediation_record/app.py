"""Step `Record`: the audit record, and the text the workflow notifies with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.config import env_str
from bedrock_watch.remediation import record_outcome

logger = Logger()
AUDIT_TABLE = env_str("AUDIT_TABLE")
DYNAMODB = boto3.client("dynamodb")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = record_outcome(DYNAMODB, AUDIT_TABLE, event, now=datetime.now(UTC))
    logger.info("remediation finished", summary=summary["cause"])
    return summary
