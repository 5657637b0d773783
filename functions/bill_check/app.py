"""bill_check: once a day, the newest settled day of the Bedrock bill (one Cost Explorer request)
against the meter's CostUSD for that day; BillingDriftPercent per model family and overall as
EMF. The event may carry {"now": "<ISO-8601 UTC>"} (drills, backfills)."""

from __future__ import annotations

import json
import sys
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch import billing
from bedrock_watch.config import event_now

logger = Logger()
SETTINGS = billing.BillCheckSettings.from_env()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = event_now(event)
    ce, cloudwatch = billing.make_clients()
    check = billing.check_bill(SETTINGS, now, ce=ce, cloudwatch=cloudwatch)
    for document in billing.emf_documents(check, SETTINGS.namespace, now):
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    drifts = {
        d.family: {
            "metered_usd": round(d.metered_usd, 4),
            "billed_usd": round(d.billed_usd, 4),
            "drift_percent": d.percent,
        }
        for d in check.drifts
    }
    logger.info(
        "bill checked", day=check.day.isoformat(), drifts=drifts, outside_meter_usd=check.outside_meter
    )
    return {"day": check.day.isoformat(), "drifts": drifts, "outside_meter_usd": check.outside_meter}
