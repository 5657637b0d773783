"""Cost Explorer for the sandbox: moto answers `ce:GetCostAndUsage` from a queue of results set
through its own API (`/moto-api/static/ce/cost-and-usage-results`); this builds answers in the
API reference's shape (ResultsByTime[].Groups[] keyed by SERVICE and USAGE_TYPE) and queues them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

MOTO_CE_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"


def cost_and_usage(
    days: Mapping[date, Mapping[str, float]], service: str = "Amazon Bedrock"
) -> dict[str, Any]:
    """A GetCostAndUsage answer: for each day, usage type -> USD."""
    return {
        "GroupDefinitions": [
            {"Type": "DIMENSION", "Key": "SERVICE"},
            {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
        ],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": [
                    {
                        "Keys": [service, usage],
                        "Metrics": {"UnblendedCost": {"Amount": f"{usd:.10f}", "Unit": "USD"}},
                    }
                    for usage, usd in usages.items()
                ],
                "Estimated": False,
            }
            for day, usages in sorted(days.items())
        ],
        "DimensionValueAttributes": [],
    }


def queue_bills(answers: Iterable[Mapping[str, Any]]) -> None:
    """Queue answers for moto's Cost Explorer (inside mock_aws): each new request takes the next."""
    import requests

    response = requests.post(MOTO_CE_RESULTS, json={"results": list(answers)}, timeout=10)
    response.raise_for_status()
