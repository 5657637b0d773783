"""The alarm evaluator against hand-computed CloudWatch semantics (no AWS, no moto).

Every alarm is given as CloudFormation properties, the way the template declares it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.alarms import (
    ALARM,
    INSUFFICIENT,
    OK,
    AlarmDefinitionError,
    AlarmEvaluator,
    CompositeAlarm,
    MetricAlarm,
    evaluate_rule,
    parse_rule,
)
from sandbox.clock import SimClock
from sandbox.metricmath import AnomalyModel
from sandbox.metrics import MetricStore

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
NS = "BedrockWatch"


class Harness:
    """A clock, a store and the events an evaluator publishes."""

    def __init__(self) -> None:
        self.clock = SimClock(start=T0, scale=60)
        self.store = MetricStore(self.clock.now)
        self.events: list[dict[str, Any]] = []

    def at_minute(self, minute: int, seconds: int = 30) -> datetime:
        return T0 + timedelta(minutes=minute, seconds=seconds)

    def put(self, name: str, minute: int, values: list[float], dims: Mapping[str, str] | None = None) -> None:
        self.store.seed(NS, name, values, dimensions=dims, timestamp=self.at_minute(minute))

    def evaluator(
        self, *metric: Mapping[str, Any], composites: tuple[Mapping[str, Any], ...] = ()
    ) -> AlarmEvaluator:
        alarms = [MetricAlarm.from_properties(p, region="us-east-1", account="123456789012") for p in metric]
        comps = [
            CompositeAlarm.from_properties(p, region="us-east-1", account="123456789012") for p in composites
        ]
        return AlarmEvaluator(
            alarms,
            comps,
            self.store,
            now=self.clock.now,
            sink=self.events.append,
            update_moto=False,
            anomaly=AnomalyModel(training_periods=10, min_training_points=5),
        )


P95_LATENCY = {
    "AlarmName": "latency-p95-critical",
    "AlarmDescription": "p95 latency above 5 s",
    "Namespace": NS,
    "MetricName": "Latency",
    "ExtendedStatistic": "p95",
    "Period": 60,
    "EvaluationPeriods": 3,
    "DatapointsToAlarm": 3,
    "Threshold": 5000,
    "ComparisonOperator": "GreaterThanThreshold",
    "TreatMissingData": "notBreaching",
    "Tags": [{"Key": "Severity", "Value": "critical"}],
}


def latencies(p95: float) -> list[float]:
    """20 samples whose nearest-rank p95 (the 19th smallest) is `p95`."""
    return [100.0] * 18 + [p95, 99_999.0]


def test_a_percentile_alarm_fires_after_three_breaching_minutes_with_cloudwatchs_reason() -> None:
    h = Harness()
    evaluator = h.evaluator(P95_LATENCY)
    # Given p95 latency of 1 s, then 5.2 s for three minutes
    h.put("Latency", 0, latencies(1000))
    for minute in (1, 2, 3):
        h.put("Latency", minute, latencies(5200))
    # When evaluated inside minute 3 (minute 3 not complete) and inside minute 4
    evaluator.evaluate(h.at_minute(3, 10))
    assert evaluator.state("latency-p95-critical") == OK  # only minutes 1-2 breach so far
    changes = evaluator.evaluate(h.at_minute(4, 10))
    # Then it goes to ALARM with CloudWatch's wording and figures
    assert [c.current.value for c in changes] == [ALARM]
    assert changes[0].current.reason == (
        "Threshold Crossed: 3 out of the last 3 datapoints [5200.0 (26/11/26 19:03:00), "
        "5200.0 (26/11/26 19:02:00), 5200.0 (26/11/26 19:01:00)] were greater than the threshold "
        "(5000.0) (minimum 3 datapoints for OK -> ALARM transition)."
    )
    data = json.loads(changes[0].current.reason_data)
    assert data["recentDatapoints"] == [5200.0, 5200.0, 5200.0]
    assert data["extendedStatistic"] == "p95"
    assert data["threshold"] == 5000.0


def test_the_state_change_event_has_the_shape_cloudwatch_sends() -> None:
    h = Harness()
    evaluator = h.evaluator(P95_LATENCY)
    for minute in (0, 1, 2):
        h.put("Latency", minute, latencies(6000))
    evaluator.evaluate(h.at_minute(3))
    event = h.events[-1]
    assert event["source"] == "aws.cloudwatch"
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency-p95-critical"]
    detail = event["detail"]
    assert detail["alarmName"] == "latency-p95-critical"
    assert detail["state"]["value"] == ALARM
    assert detail["previousState"] == {
        "value": INSUFFICIENT,
        "reason": "Unchecked: Initial alarm creation",
        "timestamp": "2026-11-26T19:00:00.000+0000",
    }
    assert detail["state"]["timestamp"] == "2026-11-26T19:03:30.000+0000"
    metric = detail["configuration"]["metrics"][0]
    assert metric["metricStat"] == {
        "metric": {"namespace": NS, "name": "Latency", "dimensions": {}},
        "period": 60,
        "stat": "p95",
    }
    assert detail["configuration"]["description"] == "p95 latency above 5 s"


def test_chart_gives_the_compared_series_and_threshold_per_period() -> None:
    h = Harness()
    evaluator = h.evaluator(P95_LATENCY)
    h.put("Latency", 1, latencies(5200))
    chart = evaluator.chart("latency-p95-critical", T0, T0 + timedelta(minutes=3))
    assert [(p.timestamp.minute, p.value, p.upper) for p in chart[""]] == [
        (0, None, 5000.0),
        (1, 5200.0, 5000.0),
        (2, None, 5000.0),
    ]


def test_m_of_n_needs_m_breaching_datapoints_among_the_last_n() -> None:
    h = Harness()
    alarm = {**P95_LATENCY, "EvaluationPeriods": 5, "DatapointsToAlarm": 3, "Statistic": "Maximum"}
    del alarm["ExtendedStatistic"]
    evaluator = h.evaluator(alarm)
    # ok, breach, ok, breach, ok -> 2 of 5: OK; then one more breach -> 3 of the last 5
    for minute, value in enumerate([10, 6000, 10, 6000, 10, 6000]):
        h.put("Latency", minute, [value])
    evaluator.evaluate(h.at_minute(5))
    assert evaluator.state("latency-p95-critical") == OK
    evaluator.evaluate(h.at_minute(6))
    assert evaluator.state("latency-p95-critical") == ALARM
    assert "3 out of the last 5 datapoints" in evaluator.states["latency-p95-critical"].reason


@pytest.mark.parametrize(
    ("treat", "expected"),
    [("missing", INSUFFICIENT), ("notBreaching", OK), ("breaching", ALARM), ("ignore", ALARM)],
)
def test_a_silent_metric_follows_the_missing_data_treatment(treat: str, expected: str) -> None:
    h = Harness()
    alarm = {**P95_LATENCY, "TreatMissingData": treat}
    evaluator = h.evaluator(alarm)
    # Given the alarm in ALARM after three breaching minutes
    for minute in (0, 1, 2):
        h.put("Latency", minute, latencies(7000))
    evaluator.evaluate(h.at_minute(3))
    assert evaluator.state("latency-p95-critical") == ALARM
    # When the metric stops for longer than the evaluation range (5 periods)
    evaluator.evaluate(h.at_minute(12))
    # Then the state is what the treatment says, in CloudWatch's words
    assert evaluator.state("latency-p95-critical") == expected
    if treat == "notBreaching":
        assert evaluator.states["latency-p95-critical"].reason == (
            "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints "
            "were treated as [NonBreaching]."
        )


def test_low_sample_percentiles_can_be_ignored() -> None:
    h = Harness()
    alarm = {**P95_LATENCY, "EvaluateLowSampleCountPercentile": "ignore", "TreatMissingData": "missing"}
    evaluator = h.evaluator(alarm)
    # p95 needs 10 / (1 - 0.95) = 200 samples; 20 per minute is too few
    for minute in (0, 1, 2):
        h.put("Latency", minute, latencies(9000))
    evaluator.evaluate(h.at_minute(3))
    assert evaluator.state("latency-p95-critical") == INSUFFICIENT


ERROR_RATE = {
    "AlarmName": "error-rate-critical",
    "ComparisonOperator": "GreaterThanThreshold",
    "Threshold": 2,
    "EvaluationPeriods": 2,
    "DatapointsToAlarm": 2,
    "TreatMissingData": "notBreaching",
    "Metrics": [
        {
            "Id": "rate",
            "Expression": "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)",
            "Label": "Error %",
        },
        {
            "Id": "errors",
            "ReturnData": False,
            "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"},
        },
        {
            "Id": "requests",
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": NS, "MetricName": "Requests"},
                "Period": 60,
                "Stat": "Sum",
            },
        },
    ],
}


def test_a_metric_math_error_rate_alarm_uses_the_expression_value() -> None:
    h = Harness()
    evaluator = h.evaluator(ERROR_RATE)
    # minute 0: 1 error in 100 (1 %); minutes 1-2: 3 in 100 (3 %); minute 3: no errors at all
    h.put("Requests", 0, [100])
    h.put("Errors", 0, [1])
    for minute in (1, 2):
        h.put("Requests", minute, [60, 40])
        h.put("Errors", minute, [3])
    h.put("Requests", 3, [100])
    evaluator.evaluate(h.at_minute(3))
    state = evaluator.states["error-rate-critical"]
    assert state.value == ALARM
    assert "[3.0 (26/11/26 19:02:00), 3.0 (26/11/26 19:01:00)]" in state.reason
    # FILL(errors, 0) turns the error-free minute into 0 %, which breaks the streak
    evaluator.evaluate(h.at_minute(4))
    assert evaluator.state("error-rate-critical") == OK
    assert "was not greater than the threshold (2.0)" in evaluator.states["error-rate-critical"].reason


def test_anomaly_band_alarm_fires_on_a_level_shift() -> None:
    h = Harness()
    alarm = {
        "AlarmName": "requests-anomaly",
        "ComparisonOperator": "GreaterThanUpperThreshold",
        "ThresholdMetricId": "band",
        "EvaluationPeriods": 1,
        "Metrics": [
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {"Namespace": NS, "MetricName": "Requests"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)"},
        ],
    }
    evaluator = h.evaluator(alarm)
    # ten minutes alternating 90 / 110 requests: mean 100, sd 10 -> band [80, 120]
    for minute in range(10):
        h.put("Requests", minute, [90 if minute % 2 else 110])
    h.put("Requests", 10, [119])
    evaluator.evaluate(h.at_minute(11))
    assert evaluator.state("requests-anomaly") == OK
    h.put("Requests", 11, [300])
    changes = evaluator.evaluate(h.at_minute(12))
    assert evaluator.state("requests-anomaly") == ALARM
    reason = changes[-1].current.reason
    assert reason.startswith(
        "Thresholds Crossed: 1 out of the last 1 datapoints [300.0 (26/11/26 19:11:00)] was"
    )
    assert "greater than the upper thresholds [" in reason
    data = json.loads(changes[-1].current.reason_data)
    # training window = minutes 1..10: nine alternating values and the 119
    assert data["recentUpperThresholds"][0] == pytest.approx(_upper([110, 90] * 4 + [90, 119]))


def _upper(values: list[float]) -> float:
    import statistics

    return statistics.fmean(values) + 2 * statistics.pstdev(values)


# ---------------------------------------------------------------------- composite alarms
@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        ('ALARM("a") AND ALARM("b")', {"a": ALARM, "b": ALARM}, True),
        ('ALARM("a") AND ALARM("b")', {"a": ALARM, "b": OK}, False),
        ("ALARM(a) OR OK(b)", {"a": OK, "b": OK}, True),
        (
            'NOT ALARM("a") AND (ALARM(b) OR INSUFFICIENT_DATA("c"))',
            {"a": OK, "b": OK, "c": INSUFFICIENT},
            True,
        ),
        ('ALARM("a") OR ALARM("b") AND FALSE', {"a": ALARM, "b": ALARM}, True),  # AND binds tighter
        ("(ALARM(a) OR TRUE) AND NOT FALSE", {"a": OK}, True),
        ('ALARM("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a")', {"a": ALARM}, True),
    ],
)
def test_composite_rules(rule: str, states: dict[str, str], expected: bool) -> None:
    assert evaluate_rule(parse_rule(rule), states) is expected


@pytest.mark.parametrize("rule", ['ALARM("a") AND', 'ALARM("a"', 'SOMETIMES("a")', ""])
def test_a_malformed_rule_is_rejected(rule: str) -> None:
    with pytest.raises(AlarmDefinitionError):
        parse_rule(rule)


def test_composite_fires_only_when_both_children_are_in_alarm_and_names_the_trigger() -> None:
    h = Harness()
    latency = {**P95_LATENCY, "EvaluationPeriods": 1, "DatapointsToAlarm": 1}
    composite = {
        "AlarmName": "degradation",
        "AlarmRule": 'ALARM("latency-p95-critical") AND ALARM("error-rate-critical")',
        "AlarmDescription": "latency and errors together",
    }
    evaluator = h.evaluator(latency, ERROR_RATE, composites=(composite,))
    # latency breaches alone first
    h.put("Latency", 0, latencies(8000))
    evaluator.evaluate(h.at_minute(1))
    assert evaluator.state("degradation") == OK
    # then errors breach for two minutes while latency stays high
    for minute in (1, 2):
        h.put("Latency", minute, latencies(8000))
        h.put("Requests", minute, [100])
        h.put("Errors", minute, [10])
    changes = evaluator.evaluate(h.at_minute(3))
    assert evaluator.state("degradation") == ALARM
    composite_change = next(c for c in changes if c.alarm == "degradation")
    assert composite_change.current.reason.startswith(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:error-rate-critical "
        "transitioned to ALARM at Thursday 26 November, 2026 19:03:30 UTC"
    )
    assert composite_change.event["detail"]["configuration"]["alarmRule"] == composite["AlarmRule"]
    # the composite is evaluated after its children: its event follows theirs
    assert [c.alarm for c in changes][-1] == "degradation"


def test_a_composite_naming_an_unknown_alarm_is_rejected() -> None:
    h = Harness()
    with pytest.raises(AlarmDefinitionError, match="unknown alarms"):
        h.evaluator(composites=({"AlarmName": "c", "AlarmRule": 'ALARM("nope")'},))


def test_an_alarm_without_threshold_is_rejected_with_its_name() -> None:
    bad = {k: v for k, v in P95_LATENCY.items() if k != "Threshold"}
    with pytest.raises(AlarmDefinitionError, match="latency-p95-critical"):
        MetricAlarm.from_properties(bad, region="us-east-1", account="123456789012")


def test_a_multi_time_series_alarm_is_in_alarm_while_any_contributor_is() -> None:
    h = Harness()
    alarm = {
        "AlarmName": "application-budget-critical",
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 90,
        "EvaluationPeriods": 1,
        "TreatMissingData": "ignore",
        "Metrics": [
            {
                "Id": "utilization",
                "Expression": (
                    f'SELECT MAX(BudgetUtilization) FROM SCHEMA("{NS}", Application) GROUP BY Application'
                ),
                "Period": 60,
            }
        ],
    }
    evaluator = h.evaluator(alarm)
    h.put("BudgetUtilization", 0, [40], {"Application": "chat"})
    h.put("BudgetUtilization", 0, [95], {"Application": "search"})
    h.put("BudgetUtilization", 0, [20], {"Application": "batch"})
    changes = evaluator.evaluate(h.at_minute(1))
    assert evaluator.state("application-budget-critical") == ALARM
    assert changes[0].current.reason == "1 out of 3 time series evaluated to ALARM"
    assert json.loads(changes[0].current.reason_data)["alarmingContributors"] == ["Application=search"]
    h.put("BudgetUtilization", 1, [60], {"Application": "search"})
    evaluator.evaluate(h.at_minute(2))
    assert evaluator.state("application-budget-critical") == OK


def test_the_templates_alarms_can_be_evaluated_without_moto_for_backtests() -> None:
    from pathlib import Path

    from sandbox.stack import template_alarms
    from sandbox.template import load_yaml

    fixture = Path(__file__).parents[2] / "integration" / "sandbox" / "fixture_template.yaml"
    # Given the fixture template's alarms, resolved without any AWS
    metric, composite, unsupported = template_alarms(load_yaml(fixture.read_text()), stack_name="fx")
    assert [a.name for a in metric] == ["fx-spend"]
    assert [a.rule for a in composite] == ['ALARM("fx-spend") AND NOT OK("fx-spend")']
    assert unsupported == []
    # When spend is replayed into a store and the alarms evaluated at the end of that minute
    h = Harness()
    h.store.seed("Fixture", "CostUSD", [1.5], timestamp=h.at_minute(0))
    evaluator = AlarmEvaluator(metric, composite, h.store, now=h.clock.now, update_moto=False)
    evaluator.evaluate(h.at_minute(1))
    # Then both would have fired
    assert evaluator.state("fx-spend") == ALARM
    assert evaluator.state("fx-both") == ALARM
