"""invocation_metrics: one CloudWatch Logs subscription delivery of Bedrock invocation records in,
EMF metrics out (stdout, one write). Async invoke: an undecodable envelope raises EnvelopeError,
is retried, then lands in the on-failure queue. Never logs record content."""

from __future__ import annotations

import sys
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.metering import Meter, MeteringSettings

logger = Logger()
# Built once per container: settings from the environment, the price table, the profile cache and
# the application guard all live as long as the container does.
METER = Meter.from_settings(MeteringSettings.from_env())


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = METER.meter_event(event)
    if result.emf:
        sys.stdout.write(result.emf)
        sys.stdout.flush()
    summary = result.summary.as_dict()
    logger.info("metered batch", **summary)
    return summary
