"""Alarm state changes and the month-start schedule -> remediation executions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.config import env_list, env_str
from bedrock_watch.remediation import (
    alarm_tags,
    requests_for_alarm,
    requests_for_schedule,
    start_remediations,
)
from bedrock_watch.routes import RouteStore

logger = Logger()
STATE_MACHINE_ARN = env_str("STATE_MACHINE_ARN")
BUDGET_ROUTES = env_list("BUDGET_DOWNGRADE_ROUTES", "")
CLOUDWATCH = boto3.client("cloudwatch")
SFN = boto3.client("stepfunctions")
ROUTES = RouteStore(env_str("ROUTE_PREFIX"))  # read-only: no state table


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        requests = requests_for_alarm(event, alarm_tags(CLOUDWATCH, event["resources"][0]), BUDGET_ROUTES)
    elif event.get("action") == "restore":
        requests = requests_for_schedule(ROUTES.all())
    else:
        raise ValueError("event is neither an alarm state change nor the month-start schedule")
    started = start_remediations(SFN, STATE_MACHINE_ARN, requests, now=datetime.now(UTC))
    logger.info("remediations started", executions=started)
    return {"started": started}
