"""Step Functions tasks: page one step of the plan (waiting on a task token) or send the final notice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.escalation import build

logger = Logger()
ENGINE = build()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("action") == "final":
        return ENGINE.final_notice(event["incidentId"])
    return ENGINE.page(event["incidentId"], event["step"], event["taskToken"])
