"""Step `Plan`: which model becomes active and why (and, for a downgrade, the dollars saved)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.config import env_json, env_str
from bedrock_watch.remediation import (
    estimate_savings_per_hour,
    hourly_tokens,
    parse_request,
    plan,
    pricebook_lookup,
)
from bedrock_watch.routes import RouteStore

logger = Logger()


class Settings(NamedTuple):
    route_prefix: str
    state_table: str
    price_overrides: dict[str, Any]


SETTINGS = Settings(
    route_prefix=env_str("ROUTE_PREFIX"),
    state_table=env_str("STATE_TABLE"),
    price_overrides=env_json("PRICE_OVERRIDES", {}),
)
STORE = RouteStore(SETTINGS.route_prefix, SETTINGS.state_table)
CLOUDWATCH = boto3.client("cloudwatch")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(
        {k: v for k, v in event.items() if k in ("action", "route", "target", "alarmName")}
    )
    planned = plan(request, STORE.get(request.route))
    result = planned.to_dict()
    if request.action == "downgrade" and planned.target:
        now = datetime.now(UTC)
        inp, out = hourly_tokens(CLOUDWATCH, model=planned.previous, now=now)
        result["savingsPerHourUSD"] = estimate_savings_per_hour(
            planned.previous,
            planned.target,
            input_tokens_per_hour=inp,
            output_tokens_per_hour=out,
            prices=pricebook_lookup(SETTINGS.price_overrides),
        )
    logger.info("planned", route=planned.route, noop=planned.noop, why=planned.why)
    return result
