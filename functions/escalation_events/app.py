"""EventBridge: an alarm back to OK resolves its incident; a finished remediation joins its timeline."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.escalation import build

logger = Logger()
ENGINE = build()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("source") == "bedrock-watch.remediation":
        return ENGINE.record_remediation(event.get("detail") or {})
    return ENGINE.resolve_alarm(event)
