"""Step `Validate`: check the console or alarm input and the route, fill in the timings."""

from __future__ import annotations

from typing import Any, NamedTuple

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.config import env_int, env_str
from bedrock_watch.remediation import check_against_route, parse_request
from bedrock_watch.routes import RouteStore

logger = Logger()


class Settings(NamedTuple):
    route_prefix: str
    state_table: str
    settle_seconds: int
    cooldown_seconds: int
    approval_timeout_seconds: int
    lock_ttl_seconds: int


SETTINGS = Settings(
    route_prefix=env_str("ROUTE_PREFIX"),
    state_table=env_str("STATE_TABLE"),
    settle_seconds=env_int("SETTLE_SECONDS", minimum=0),
    cooldown_seconds=env_int("FAILBACK_COOLDOWN_SECONDS", minimum=0),
    approval_timeout_seconds=env_int("APPROVAL_TIMEOUT_SECONDS", minimum=1),
    lock_ttl_seconds=env_int("LOCK_TTL_SECONDS", minimum=60),
)
STORE = RouteStore(SETTINGS.route_prefix, SETTINGS.state_table)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_request(event.get("input"))
    check_against_route(request, STORE.get(request.route).route)
    logger.info("remediation requested", action=request.action, route=request.route, by=request.requested_by)
    # The lock must outlive every wait the execution may do, or a slow approval could lose it.
    waits = SETTINGS.settle_seconds + (SETTINGS.approval_timeout_seconds if request.require_approval else 0)
    return {
        "action": request.action,
        "route": request.route,
        "target": request.target,
        "reason": request.reason,
        "dryRun": request.dry_run,
        "requireApproval": request.require_approval,
        "alarmName": request.alarm_name,
        "requestedBy": request.requested_by,
        "executionName": event["executionName"],
        "executionArn": event["executionArn"],
        "settleSeconds": SETTINGS.settle_seconds,
        "cooldownSeconds": SETTINGS.cooldown_seconds
        if request.action == "failback" and request.alarm_name
        else 0,
        "approvalTimeoutSeconds": SETTINGS.approval_timeout_seconds,
        "lockTtlSeconds": SETTINGS.lock_ttl_seconds + waits,
    }
