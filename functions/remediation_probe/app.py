"""Step `Probe`: a one-token Converse call per candidate, first healthy one wins."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.remediation import ConverseProbe, choose_healthy

logger = Logger()
PROBE = ConverseProbe()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = choose_healthy(event["candidates"], PROBE)
    logger.info("probed", target=result.target, skipped=list(result.skipped))
    return result.to_dict()
