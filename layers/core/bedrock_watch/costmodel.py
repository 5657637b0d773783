"""What running this stack costs its user: AWS list prices (FACTS §10) applied to what it uses.

One model, two callers. `bedrock-watch cost`, `make bench` and the README table count the stack's
resources from template.yaml and its usage from a fleet's traffic; the budget guard counts them from
the live account (DescribeAlarms, ListMetrics, AWS/Logs, AWS/Lambda and AWS/States metrics) and
publishes the result as OwnMonthlyCostUSD. Both price with `monthly_bill`, and both price alarms
with `alarm_units`, which reads an alarm as CloudFormation declares it and as DescribeAlarms
returns it (the two share their field names).

Prices are us-east-1 list prices before the free tier: the free tier (10 custom metrics, 10
alarm metrics, 5 GB of logs, 1 M API requests) is shared with everything else in the account, so it
is not assumed to be this stack's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

GB: Final = 1024**3
HOURS_PER_MONTH: Final = 730.0  # AWS prorates metric-months by the hour over a 730-hour month
DAYS_PER_MONTH: Final = HOURS_PER_MONTH / 24
_INSIGHTS_QUERY = re.compile(r"^\s*SELECT\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Prices:
    """USD list prices, us-east-1, late 2026 (FACTS §10)."""

    custom_metric_first_10k: float = 0.30  # per metric-month
    custom_metric_next_240k: float = 0.10
    alarm_metric: float = 0.10  # standard resolution, per alarm metric-month
    alarm_metric_high_resolution: float = 0.30
    composite_alarm: float = 0.50
    dashboard: float = 3.00  # per dashboard-month beyond the account's free three
    free_dashboards: int = 3
    logs_ingested_gb: float = 0.50
    logs_stored_gb_month: float = 0.03
    logs_insights_scanned_gb: float = 0.005
    get_metric_data_per_1000_metrics: float = 0.01
    api_per_1000_requests: float = 0.01  # ListMetrics, DescribeAlarms, … (beyond the shared free tier)
    lambda_gb_second: float = 0.0000133  # arm64
    lambda_per_million_requests: float = 0.20
    step_functions_per_million_transitions: float = 25.0


PRICES: Final = Prices()


# ---------------------------------------------------------------------------------- alarms
@dataclass(frozen=True, slots=True)
class AlarmUnits:
    """What CloudWatch bills an alarm (or a sum of alarms) for."""

    metrics: float = 0.0  # standard-resolution alarm metrics
    high_resolution_metrics: float = 0.0
    composites: int = 0
    alarms: int = 0

    def __add__(self, other: AlarmUnits) -> AlarmUnits:
        return AlarmUnits(
            self.metrics + other.metrics,
            self.high_resolution_metrics + other.high_resolution_metrics,
            self.composites + other.composites,
            self.alarms + other.alarms,
        )


def alarm_units(
    alarm: Mapping[str, Any], insights_metrics: Callable[[str], int] = lambda _q: 1
) -> AlarmUnits:
    """The billed units of one alarm, from its CloudFormation Properties or a DescribeAlarms entry.

    - composite (an `AlarmRule`): one composite alarm;
    - one metric (`MetricName`): one alarm metric (high resolution when the period is under 60 s);
    - metric math (`Metrics`): each metric it reads (each MetricStat); an anomaly-detection alarm
      (`ThresholdMetricId`, a band) counts 3 metrics per metric it reads (the metric and its bounds);
    - Metrics Insights (`SELECT …`): each metric the query analyses, `insights_metrics(query)`
      (at least one).
    """
    if "AlarmRule" in alarm:
        return AlarmUnits(composites=1, alarms=1)
    queries = alarm.get("Metrics") or []
    if not queries:
        period = alarm.get("Period", 60)
        fast = isinstance(period, int | float) and period < 60
        return AlarmUnits(
            metrics=0.0 if fast else 1.0, high_resolution_metrics=1.0 if fast else 0.0, alarms=1
        )
    count: float = 0.0
    high: float = 0.0
    for query in queries:
        expression = query.get("Expression")
        if isinstance(expression, str) and _INSIGHTS_QUERY.match(expression):
            count += max(1, insights_metrics(expression))
        stat = query.get("MetricStat")
        if stat:
            period = stat.get("Period", 60)
            if isinstance(period, int | float) and period < 60:
                high += 1
            else:
                count += 1
    if alarm.get("ThresholdMetricId"):
        count, high = 3 * count, 3 * high
    return AlarmUnits(metrics=count, high_resolution_metrics=high, alarms=1)


def total_alarm_units(
    alarms: Iterable[Mapping[str, Any]], insights_metrics: Callable[[str], int]
) -> AlarmUnits:
    total = AlarmUnits()
    for alarm in alarms:
        total = total + alarm_units(alarm, insights_metrics)
    return total


# ---------------------------------------------------------------------------------- the bill
@dataclass(frozen=True, slots=True)
class Usage:
    """One month of what the stack uses (quantities, not dollars)."""

    custom_metric_months: float = 0.0  # metrics x the share of the month's hours they receive data
    alarms: AlarmUnits = field(default_factory=AlarmUnits)
    dashboards: int = 0
    log_ingested_gb: float = 0.0
    log_stored_gb: float = 0.0  # average stored over the month (retention x daily ingestion)
    insights_scanned_gb: float = 0.0
    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    state_transitions: float = 0.0
    get_metric_data_metrics: float = 0.0
    api_requests: float = 0.0


@dataclass(frozen=True, slots=True)
class Line:
    item: str
    quantity: float
    unit: str
    usd: float


@dataclass(frozen=True, slots=True)
class Bill:
    lines: tuple[Line, ...]

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def usd(self, item: str) -> float:
        return sum(line.usd for line in self.lines if line.item == item)


def custom_metrics_usd(metric_months: float, prices: Prices = PRICES) -> float:
    first = min(metric_months, 10_000)
    return (
        first * prices.custom_metric_first_10k
        + max(metric_months - 10_000, 0) * prices.custom_metric_next_240k
    )


def monthly_bill(usage: Usage, prices: Prices = PRICES) -> Bill:
    """The month's bill, one line per AWS price dimension."""
    u = usage
    lines = (
        Line(
            "custom metrics",
            u.custom_metric_months,
            "metric-months",
            custom_metrics_usd(u.custom_metric_months, prices),
        ),
        Line(
            "alarms",
            u.alarms.metrics + u.alarms.high_resolution_metrics,
            f"alarm metrics ({u.alarms.alarms} alarms)",
            u.alarms.metrics * prices.alarm_metric
            + u.alarms.high_resolution_metrics * prices.alarm_metric_high_resolution,
        ),
        Line("composite alarms", u.alarms.composites, "alarms", u.alarms.composites * prices.composite_alarm),
        Line(
            "dashboards",
            u.dashboards,
            f"dashboards ({prices.free_dashboards} free per account)",
            max(u.dashboards - prices.free_dashboards, 0) * prices.dashboard,
        ),
        Line("log ingestion", u.log_ingested_gb, "GB", u.log_ingested_gb * prices.logs_ingested_gb),
        Line("log storage", u.log_stored_gb, "GB-months", u.log_stored_gb * prices.logs_stored_gb_month),
        Line(
            "Logs Insights",
            u.insights_scanned_gb,
            "GB scanned",
            u.insights_scanned_gb * prices.logs_insights_scanned_gb,
        ),
        Line(
            "Lambda requests",
            u.lambda_requests,
            "requests",
            u.lambda_requests / 1e6 * prices.lambda_per_million_requests,
        ),
        Line(
            "Lambda compute", u.lambda_gb_seconds, "GB-seconds", u.lambda_gb_seconds * prices.lambda_gb_second
        ),
        Line(
            "Step Functions",
            u.state_transitions,
            "state transitions",
            u.state_transitions / 1e6 * prices.step_functions_per_million_transitions,
        ),
        Line(
            "GetMetricData",
            u.get_metric_data_metrics,
            "metrics requested",
            u.get_metric_data_metrics / 1000 * prices.get_metric_data_per_1000_metrics,
        ),
        Line(
            "other API requests",
            u.api_requests,
            "requests",
            u.api_requests / 1000 * prices.api_per_1000_requests,
        ),
    )
    return Bill(lines)
