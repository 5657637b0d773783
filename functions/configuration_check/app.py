"""Custom::ConfigurationCheck: refuse a bad configuration at deploy time, naming the field."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.custom_resource import respond
from bedrock_watch.deploycheck import (
    CHECKED_PARAMETERS,
    ConfigurationRefused,
    check_configuration,
    check_update,
)

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    # Always answer CloudFormation, or the stack waits an hour for a reply that never comes.
    with respond(event):
        if event["RequestType"] == "Delete":
            return  # a stack with a bad configuration must still be deletable
        problems = check_configuration(event["ResourceProperties"])
        if event["RequestType"] == "Update":
            problems += check_update(event.get("OldResourceProperties") or {}, event["ResourceProperties"])
        if problems:
            logger.error("configuration refused", problems=problems)
            raise ConfigurationRefused(problems)
        logger.info("configuration accepted", request=event["RequestType"], checked=CHECKED_PARAMETERS)
