"""Step `AcquireLock`: one remediation per route at a time (RouteLocked names the holder)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.config import env_str
from bedrock_watch.remediation import RouteLock

logger = Logger()
LOCK = RouteLock(env_str("STATE_TABLE"))


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return LOCK.acquire(
        event["route"],
        holder=event["executionName"],
        holder_arn=event["executionArn"],
        ttl_seconds=int(event["ttlSeconds"]),
        now=datetime.now(UTC),
    )
