"""budget_guard against moto: CostUSD seeded with put_metric_data, read back with GetMetricData,
assessed, and published as EMF by the real handler."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
import pytest

from bedrock_watch.budgets import BudgetGuardSettings, Budgets, guard_budgets
from bedrock_watch.contract import BUDGET_METRICS
from sandbox.events import load_event

pytestmark = pytest.mark.integration

NAMESPACE = "BedrockWatch"
# events/alarms/budget_guard_at.json asks for this moment: 58h20m into November (720 h).
NOW = datetime(2026, 11, 3, 10, 20, tzinfo=UTC)


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    """moto CloudWatch, with one honest fix to its GetMetricData.

    moto 5.2.5 matches a MetricStat without Dimensions against datapoints of *every* dimension
    set (real CloudWatch matches only datapoints published with no dimensions), so the whole-stack
    query would add the per-application series on top. The shim runs such queries over the
    dimension-less datapoints only; everything else is moto's own code.
    """
    from moto import mock_aws
    from moto.cloudwatch.models import CloudWatchBackend

    original_query = CloudWatchBackend.get_metric_data
    original_all = CloudWatchBackend.get_all_metrics

    def get_metric_data(self: Any, queries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        results = []
        for query in queries:
            dimensionless = "MetricStat" in query and not query["MetricStat"]["Metric"].get("Dimensions")
            if dimensionless:
                only_dimensionless = lambda backend: [m for m in original_all(backend) if not m.dimensions]  # noqa: E731
                with mock.patch.object(CloudWatchBackend, "get_all_metrics", only_dimensionless):
                    results += original_query(self, [query], *args, **kwargs)
            else:
                results += original_query(self, [query], *args, **kwargs)
        return results

    with mock_aws(), mock.patch.object(CloudWatchBackend, "get_metric_data", get_metric_data):
        yield boto3.client("cloudwatch", region_name="us-east-1")


def seed(client: Any, application: str | None, start: datetime, hours: int, usd_per_hour: float) -> None:
    """What the metering EMF yields: CostUSD per request, here two datapoints per hour."""
    dimensions = [] if application is None else [{"Name": "Application", "Value": application}]
    for hour in range(hours):
        client.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": "CostUSD",
                    "Dimensions": dimensions,
                    "Timestamp": start + timedelta(hours=hour, minutes=minute),
                    "Value": usd_per_hour / 2,
                    "Unit": "None",
                }
                for minute in (5, 35)
            ],
        )


def seed_month(client: Any) -> None:
    november = datetime(2026, 11, 1, tzinfo=UTC)
    # Last month's spend must not count.
    seed(client, None, datetime(2026, 10, 31, 20, tzinfo=UTC), 4, 1000.0)
    # chat spends $3/h and search $1/h from 1 Nov 00:00 until 3 Nov 10:00 (58 full hours),
    # and the stack total is their sum, as the metering roll-up publishes it.
    seed(client, "chat", november, 58, 3.0)
    seed(client, "search", november, 58, 1.0)
    seed(client, None, november, 58, 4.0)


def test_guard_reads_month_to_date_spend_per_scope_from_cloudwatch(cloudwatch: Any) -> None:
    # Given a month of CostUSD in CloudWatch and budgets for the stack and two applications
    seed_month(cloudwatch)
    settings = BudgetGuardSettings(NAMESPACE, Budgets(1000.0, {"chat": 200.0, "search": 500.0}))

    # When the guard assesses them at 10:20 on 3 November
    stack, chat, search = guard_budgets(settings, NOW, client=cloudwatch)

    # Then month-to-date spend is the seeded sum: 58 h x $4 = $232 (October ignored)
    assert stack.application is None
    assert stack.month_to_date_usd == pytest.approx(232.0)
    assert stack.utilization_percent == pytest.approx(23.2)
    # burn rate over the trailing day: 24 full hours of $4 (the 10:00 hour is empty) over 24h20m
    assert stack.burn_rate_usd_per_hour == pytest.approx(96 / (24 + 1 / 3))
    # projection: 232 + rate * (720 - 58 1/3) remaining hours
    assert stack.projected_month_end_usd == pytest.approx(232 + 96 / (24 + 1 / 3) * (720 - 58 - 1 / 3))
    assert (chat.application, chat.month_to_date_usd) == ("chat", pytest.approx(174.0))
    assert chat.utilization_percent == pytest.approx(87.0)
    assert (search.application, search.month_to_date_usd) == ("search", pytest.approx(58.0))


# What the template gives the guard to price the stack's own usage (bedrock_watch.owncost).
OWN_COST_ENV = {
    "STACK_NAME": "bedrock-watch",
    "BUDGET_GUARD_SCHEDULE": "rate(15 minutes)",
    "LOG_RETENTION_DAYS": "30",
    "OWN_COST_METERING_FUNCTION": "bedrock-watch-InvocationMetricsFunction-abc",
    "OWN_COST_LOG_GROUPS": ",".join(
        ["/aws/lambda/bedrock-watch/invocation-metrics", "/aws/lambda/bedrock-watch/budget-guard"]
    ),
    "OWN_COST_STATE_MACHINES": "",
    "OWN_COST_COMPOSITE_ALARMS": "bedrock-watch.degradation",
    "OWN_COST_DASHBOARDS": ",".join(
        f"bedrock-watch-{name}" for name in ("operations", "model-comparison", "executive-summary")
    ),
}


def load_handler(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name, value in {**OWN_COST_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "budget_guard")
    sys.modules.pop("functions.budget_guard.app", None)
    return importlib.import_module("functions.budget_guard.app")


def test_handler_publishes_the_budget_metrics_as_emf(
    cloudwatch: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_month(cloudwatch)
    app = load_handler(
        monkeypatch,
        METRICS_NAMESPACE=NAMESPACE,
        MONTHLY_BUDGET_USD="1000",
        APPLICATION_BUDGETS='{"chat": 200}',
    )
    context = mock.Mock(function_name="budget_guard", aws_request_id="r1", memory_limit_in_mb=128)
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:budget_guard"

    event = load_event("alarms/budget_guard_at")
    assert datetime.fromisoformat(event["now"]) == NOW
    result = app.lambda_handler(event, context)

    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    emf = [d for d in documents if "CloudWatchMetrics" in d["_aws"]]
    assert [d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for d in emf] == [[[]], [["Application"]]]
    assert set(emf[0]) - {"_aws"} == set(BUDGET_METRICS)
    assert emf[0]["MonthToDateSpendUSD"] == pytest.approx(232.0)
    assert emf[1]["Application"] == "chat"
    assert emf[1]["BudgetUtilization"] == pytest.approx(87.0)
    assert result["scopes"][1]["application"] == "chat"


def test_a_scheduled_run_without_input_uses_the_current_time(
    cloudwatch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_handler(monkeypatch, METRICS_NAMESPACE=NAMESPACE, MONTHLY_BUDGET_USD="1000")
    context = mock.Mock(function_name="budget_guard", aws_request_id="r2", memory_limit_in_mb=128)
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:budget_guard"
    before = datetime.now(UTC)

    result = app.lambda_handler(load_event("alarms/budget_guard_scheduled"), context)

    assert datetime.fromisoformat(result["now"]) >= before
    assert result["scopes"] == [
        {
            "application": None,
            "month_to_date_usd": 0,
            "utilization_percent": 0.0,
            "projected_month_end_usd": 0.0,
        }
    ]


def test_a_zero_budget_fails_the_first_invocation_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bedrock_watch.errors import ConfigurationError

    with pytest.raises(
        ConfigurationError, match="MONTHLY_BUDGET_USD must be a positive number of USD, got '0'"
    ):
        load_handler(monkeypatch, METRICS_NAMESPACE=NAMESPACE, MONTHLY_BUDGET_USD="0")


def test_the_first_run_of_an_hour_also_publishes_the_stacks_own_monthly_cost(
    cloudwatch: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given this stack's alarms (one plain, one metric-math of two metrics) and another stack's,
    # three custom metrics, and a day of metering-log ingestion and metering-function runs
    prefix = "bedrock-watch."
    cloudwatch.put_metric_alarm(
        AlarmName=f"{prefix}latency", Namespace=NAMESPACE, MetricName="Latency", ExtendedStatistic="p95",
        Period=300, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.put_metric_alarm(
        AlarmName=f"{prefix}error-rate", EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {"Id": "e", "MetricStat": sum_of("Errors"), "ReturnData": False},
            {"Id": "r", "MetricStat": sum_of("Requests"), "ReturnData": False},
            {"Id": "rate", "Expression": "100 * e / r", "ReturnData": True},
        ],
    )  # fmt: skip
    cloudwatch.put_metric_alarm(
        AlarmName="bedrock-watch-prod.latency", Namespace=NAMESPACE, MetricName="Latency", Statistic="Sum",
        Period=300, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    at = datetime(2026, 11, 3, 10, 5, tzinfo=UTC)
    day = [at - timedelta(hours=h) for h in range(1, 24)]
    cloudwatch.put_metric_data(
        Namespace="AWS/Logs",
        MetricData=[
            {"MetricName": "IncomingBytes", "Timestamp": t, "Value": 2**30 / 23,
             "Dimensions": [{"Name": "LogGroupName", "Value": METERING_LOG_GROUP}]}
            for t in day
        ],
    )  # fmt: skip
    cloudwatch.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": name, "Timestamp": t, "Value": value / 23,
             "Dimensions": [{"Name": "FunctionName", "Value": "bedrock-watch-InvocationMetricsFunction-abc"}]}
            for t in day
            for name, value in (("Invocations", 10_000.0), ("Duration", 1_000_000.0))
        ],
    )  # fmt: skip
    seed_month(cloudwatch)
    app = load_handler(monkeypatch, METRICS_NAMESPACE=NAMESPACE, MONTHLY_BUDGET_USD="1000")
    context = mock.Mock(function_name="budget_guard", aws_request_id="r3", memory_limit_in_mb=128)
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:budget_guard"

    # When the guard runs at 10:05 (its first run of the hour) and at 10:20
    result = app.lambda_handler({"now": at.isoformat()}, context)
    later = app.lambda_handler({"now": (at + timedelta(minutes=15)).isoformat()}, context)

    # Then it publishes OwnMonthlyCostUSD once, with the bill's lines as fields
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [own] = [d for d in documents if "OwnMonthlyCostUSD" in d]
    assert own["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert own["OwnMonthlyCostUSD"] == pytest.approx(result["own_monthly_cost_usd"], abs=1e-4)
    assert later["own_monthly_cost_usd"] is None
    # alarms: this stack's 1 + 2 alarm metrics at $0.10 (not the other stack's), the composite $0.50
    assert own["cost.alarms"] == pytest.approx(0.30)
    assert own["cost.composite alarms"] == pytest.approx(0.50)
    # logs: 1 GB a day for 30.4 days at $0.50; Lambda: 10,000 runs and 1,000 s a day (plus the guard's)
    assert own["cost.log ingestion"] == pytest.approx(0.5 * 730 / 24, rel=1e-3)
    assert own["cost.Lambda requests"] > 0.2 * 10_000 * 730 / 24 / 1e6
    # custom metrics: those ListMetrics returns (seeded CostUSD series), at $0.30 each
    assert own["cost.custom metrics"] == pytest.approx(0.30 * own_metrics(cloudwatch))
    assert own["cost.dashboards"] == 0  # three, within the account's free three
    assert result["own_monthly_cost_usd"] == pytest.approx(
        sum(v for k, v in own.items() if k.startswith("cost."))
    )


METERING_LOG_GROUP = "/aws/lambda/bedrock-watch/invocation-metrics"


def sum_of(metric: str) -> dict[str, Any]:
    return {"Metric": {"Namespace": NAMESPACE, "MetricName": metric}, "Period": 300, "Stat": "Sum"}


def own_metrics(cloudwatch: Any) -> int:
    return len(cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"])
