"""The cost model's arithmetic: alarms priced as AWS prices them, tiered metrics, one bill."""

from __future__ import annotations

import pytest

from bedrock_watch import costmodel
from bedrock_watch.costmodel import AlarmUnits, Usage, alarm_units, monthly_bill


def stat(metric: str, period: int = 300) -> dict[str, object]:
    return {"Metric": {"Namespace": "NS", "MetricName": metric}, "Period": period, "Stat": "Sum"}


def test_alarms_are_priced_per_metric_they_read_as_cloudwatch_bills_them() -> None:
    single = {"MetricName": "Latency", "Period": 300}
    errors, requests = {"Id": "a", "MetricStat": stat("Errors")}, {"Id": "b", "MetricStat": stat("Requests")}
    math = {"Metrics": [errors, requests, {"Id": "r", "Expression": "100 * a / b"}]}
    anomaly = {"ThresholdMetricId": "band", "Metrics": [{"Id": "m", "MetricStat": stat("Requests")},
               {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m, 3)"}]}  # fmt: skip
    insights = {
        "Metrics": [{"Id": "q", "Expression": 'SELECT MAX(BudgetUtilization) FROM SCHEMA("NS", Application)'}]
    }
    fast = {"MetricName": "Requests", "Period": 10}
    composite = {"AlarmRule": 'ALARM("a") AND ALARM("b")'}
    assert alarm_units(single) == AlarmUnits(metrics=1, alarms=1)
    assert alarm_units(math) == AlarmUnits(metrics=2, alarms=1)  # the expression costs nothing
    assert alarm_units(anomaly) == AlarmUnits(metrics=3, alarms=1)  # the metric and its two bounds
    assert alarm_units(insights, lambda query: 7) == AlarmUnits(metrics=7, alarms=1)
    assert alarm_units(insights, lambda query: 0) == AlarmUnits(metrics=1, alarms=1)
    assert alarm_units(fast) == AlarmUnits(high_resolution_metrics=1, alarms=1)
    assert alarm_units(composite) == AlarmUnits(composites=1, alarms=1)


def test_custom_metrics_are_tiered_and_the_bill_adds_its_lines() -> None:
    assert costmodel.custom_metrics_usd(100) == pytest.approx(30.0)
    assert costmodel.custom_metrics_usd(12_000) == pytest.approx(3000 + 200)
    bill = monthly_bill(
        Usage(
            custom_metric_months=60,
            alarms=AlarmUnits(metrics=40, high_resolution_metrics=2, composites=1, alarms=30),
            dashboards=4,
            log_ingested_gb=10,
            log_stored_gb=10,
            insights_scanned_gb=100,
            lambda_requests=2e6,
            lambda_gb_seconds=10_000,
            state_transitions=4e4,
            get_metric_data_metrics=50_000,
            api_requests=2000,
        )
    )
    expected = {
        "custom metrics": 18.0,
        "alarms": 4.0 + 0.6,
        "composite alarms": 0.5,
        "dashboards": 3.0,  # one beyond the free three
        "log ingestion": 5.0,
        "log storage": 0.3,
        "Logs Insights": 0.5,
        "Lambda requests": 0.4,
        "Lambda compute": 0.133,
        "Step Functions": 1.0,
        "GetMetricData": 0.5,
        "other API requests": 0.02,
    }
    assert {line.item: round(line.usd, 3) for line in bill.lines} == pytest.approx(expected)
    assert bill.total == pytest.approx(sum(expected.values()), abs=1e-3)
