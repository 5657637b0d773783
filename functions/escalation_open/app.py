"""Step Functions task: open the incident of an ALARM event and return the paging plan."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.escalation import build

logger = Logger()
ENGINE = build()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return ENGINE.open_incident(event)
