"""budget_guard: every 15 minutes, month-to-date spend, burn rate and month-end projection as EMF.

Scheduled by EventBridge Scheduler. The event may carry {"now": "<ISO-8601 UTC>"} to assess a
past moment (a drill or a backfill); otherwise the current time is used.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.budgets import BudgetGuardSettings, emf_documents, guard_budgets
from bedrock_watch.config import event_now

logger = Logger()
# Read once at cold start: a budget of 0 or malformed budgets JSON fails the first invocation
# with a ConfigurationError that names the variable and the entry.
SETTINGS = BudgetGuardSettings.from_env()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = event_now(event)
    statuses = guard_budgets(SETTINGS, now)
    for document in emf_documents(statuses, SETTINGS.namespace, now):
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
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
