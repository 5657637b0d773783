"""Steps `Apply` and `Rollback`: switch the route's active model with the version check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.config import env_str
from bedrock_watch.remediation import apply_switch
from bedrock_watch.routes import RouteStore

logger = Logger()
STORE = RouteStore(env_str("ROUTE_PREFIX"), env_str("STATE_TABLE"))


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = apply_switch(
        STORE,
        route=event["route"],
        model=event["model"],
        expected_ssm_version=int(event["expectedVersion"]),
        by=event["by"],
        reason=event["reason"],
        now=datetime.now(UTC),
    )
    logger.info("route switched", **result)
    return result
