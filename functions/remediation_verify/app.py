"""Step `Verify`: the route reads back as written and the target is not failing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.config import env_float, env_str
from bedrock_watch.contract import BY_MODEL, DEFAULT_METRIC_DETAIL, spec
from bedrock_watch.remediation import verify_switch
from bedrock_watch.routes import RouteStore

logger = Logger()


class Settings(NamedTuple):
    route_prefix: str
    state_table: str
    namespace: str | None  # None: the meter publishes nothing per model, AWS/Bedrock alone judges
    max_failure_rate: float


SETTINGS = Settings(
    route_prefix=env_str("ROUTE_PREFIX"),
    state_table=env_str("STATE_TABLE"),
    namespace=env_str("METRICS_NAMESPACE")
    if BY_MODEL in spec("Requests").dimension_sets(env_str("METRIC_DETAIL", DEFAULT_METRIC_DETAIL))
    else None,
    max_failure_rate=env_float("VERIFY_MAX_FAILURE_RATE", minimum=0.0),
)
STORE = RouteStore(SETTINGS.route_prefix, SETTINGS.state_table)
CLOUDWATCH = boto3.client("cloudwatch")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = verify_switch(
        STORE,
        CLOUDWATCH,
        route=event["route"],
        expected=event["expected"],
        namespace=SETTINGS.namespace,
        max_failure_rate=SETTINGS.max_failure_rate,
        window_seconds=int(event["settleSeconds"]),
        now=datetime.now(UTC),
    )
    logger.info("verified", route=event["route"], **result)
    return result
