"""price_sync: once a day, the AWS Price List's Bedrock prices into the price document the meter
loads (S3). Changes beyond MAX_PRICE_CHANGE_RATIO of the shipped table are held, not applied.
Publishes PriceAgeHours, PriceSyncFailed and PriceChangesHeld as EMF, also when the sync fails
(then it raises, so the scheduled invoke is retried and lands in the failure queue). The event may
carry {"now": "<ISO-8601 UTC>"} (drills), as the budget guard's does."""

from __future__ import annotations

import json
import sys
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch import pricesync
from bedrock_watch.config import event_now
from bedrock_watch.pricesync import (
    PriceDocumentStore,
    PriceSyncSettings,
    document_age_hours,
    metrics_document,
)

logger = Logger()
SETTINGS = PriceSyncSettings.from_env()
STORE = PriceDocumentStore(SETTINGS.bucket)


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = event_now(event)
    try:
        result = pricesync.sync_prices(SETTINGS, now, pricing=pricesync.make_pricing_client(), store=STORE)
    except Exception:
        try:
            previous, _ = STORE.read()
        except Exception:  # the store is what failed: the age is that of the shipped table
            previous = None
        age = document_age_hours(previous, now)
        _emit(metrics_document(SETTINGS.namespace, now, age_hours=age, failed=True, held=0))
        logger.exception(
            "price sync failed; the meter keeps the prices it has", price_age_hours=round(age, 1)
        )
        raise
    _emit(metrics_document(SETTINGS.namespace, now, age_hours=0.0, failed=False, held=len(result.held)))
    summary = {
        "synced_at": result.document["synced_at"],
        "applied": [change.as_dict() for change in result.applied],
        "held": result.document["held"],
        "unchanged": result.unchanged,
        "unknown_models": result.unknown_models,
    }
    logger.info(
        "prices synced", **{k: v for k, v in summary.items() if k != "applied"}, applied=len(result.applied)
    )
    return summary
