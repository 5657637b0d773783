"""budget_guard: every 15 minutes, month-to-date spend, burn rate and month-end projection as EMF.

Scheduled by EventBridge Scheduler. The event may carry {"now": "<ISO-8601 UTC>"} to assess a
past moment (a drill or a backfill); otherwise the current time is used.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.budgets import BudgetGuardSettings, emf_documents, guard_budgets
from bedrock_watch.config import aws_client, event_now
from bedrock_watch.owncost import (
    OwnCostError,
    OwnCostSettings,
    is_hourly_run,
    own_cost_document,
    own_monthly_bill,
    read_own_usage,
)

logger = Logger()
# Read once at cold start: a budget of 0 or malformed budgets JSON fails the first invocation
# with a ConfigurationError that names the variable and the entry.
SETTINGS = BudgetGuardSettings.from_env()
OWN_COST = OwnCostSettings.from_env()
STATES_PER_MACHINE: dict[str, int] = {}  # state machines do not change while a container lives
_CLIENTS: dict[str, Any] = {}


def _client(service: str) -> Any:
    """One client per service for the container's life (standard retries), built on first use."""
    if service not in _CLIENTS:
        _CLIENTS[service] = aws_client(service)
    return _CLIENTS[service]


def publish_own_cost(now: datetime) -> float | None:
    """The stack's own estimated monthly bill as EMF; None (logged) when it cannot be read, so a
    failing estimate never stops the budgets."""
    try:
        usage = read_own_usage(
            OWN_COST, now, _client("cloudwatch"), _client("stepfunctions"), STATES_PER_MACHINE
        )
    except OwnCostError as err:
        logger.error("own cost not estimated", error=str(err))
        return None
    bill = own_monthly_bill(OWN_COST, usage)
    sys.stdout.write(
        json.dumps(own_cost_document(bill, OWN_COST.namespace, now), separators=(",", ":")) + "\n"
    )
    logger.info(
        "own cost estimated",
        monthly_usd=round(bill.total, 2),
        custom_metrics=usage.custom_metrics,
        alarms=len(usage.alarms),
    )
    return bill.total


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = event_now(event)
    statuses = guard_budgets(SETTINGS, now, _client("cloudwatch"))
    for document in emf_documents(statuses, SETTINGS.namespace, now):
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    own_cost = publish_own_cost(now) if is_hourly_run(now, OWN_COST.schedule) else None
    stack = statuses[0]
    logger.info(
        "budgets assessed",
        month_to_date_usd=round(stack.month_to_date_usd, 2),
        utilization_percent=round(stack.utilization_percent, 2),
        projected_month_end_usd=round(stack.projected_month_end_usd, 2),
        applications=len(statuses) - 1,
    )
    return {
        "now": now.isoformat(),
        "own_monthly_cost_usd": own_cost,
        "scopes": [
            {
                "application": status.application,
                "month_to_date_usd": status.month_to_date_usd,
                "utilization_percent": status.utilization_percent,
                "projected_month_end_usd": status.projected_month_end_usd,
            }
            for status in statuses
        ],
    }
