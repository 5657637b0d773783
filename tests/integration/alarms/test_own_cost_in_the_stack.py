"""The budget guard's hourly own-cost run in the deployed stack: its first run of an hour reads
the stack's inventory (ListMetrics, DescribeAlarms, DescribeStateMachine, GetMetricData) under the
role template.yaml gives it — tests/conftest.py checks every recorded call against that role —
and publishes OwnMonthlyCostUSD, which the executive dashboard reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from sandbox.runtime import running

pytestmark = pytest.mark.integration


def test_the_first_guard_run_of_an_hour_prices_the_stack_under_its_own_role() -> None:
    # Given the stack, deployed before a whole hour in the past (the guard reads spend up to then)
    hour = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    with running(start=hour - timedelta(minutes=15)) as sb:
        namespace = sb.stack.parameters["MetricsNamespace"]
        assert sb.store.get(namespace, "OwnMonthlyCostUSD").values == []  # the deploy-time run is not hourly

        # When the guard runs at the top of the hour (the time passed as Scheduler would deliver it)
        answer = boto3.client("lambda").invoke(
            FunctionName=sb.stack.function_name("BudgetGuardFunction"),
            Payload=json.dumps({"now": hour.isoformat()}).encode(),
        )
        result = json.loads(answer["Payload"].read())

        # Then it priced the stack from its live inventory and published the figure once
        assert "FunctionError" not in answer, result
        assert result["own_monthly_cost_usd"] > 0.0
        [published] = sb.store.get(namespace, "OwnMonthlyCostUSD").values
        assert published == pytest.approx(result["own_monthly_cost_usd"], abs=1e-4)  # EMF keeps 4 decimals
