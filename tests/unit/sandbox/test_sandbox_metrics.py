"""The metric store: EMF parsing, CloudWatch statistics and percentiles, exact dimension matching."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.metrics import EmfError, MetricKey, MetricStore, UnsupportedStatistic, parse_emf, percentile

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def emf(**members: object) -> str:
    doc = {
        "_aws": {
            "Timestamp": int(T0.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": "BedrockWatch",
                    "Dimensions": [[], ["ModelId"], ["ModelId", "Application"]],
                    "Metrics": [
                        {"Name": "Requests", "Unit": "Count"},
                        {"Name": "Latency", "Unit": "Milliseconds"},
                    ],
                }
            ],
        },
        "ModelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "Application": "chat",
        **members,
    }
    return json.dumps(doc)


def test_each_dimension_set_of_an_emf_document_is_its_own_metric() -> None:
    # Given one EMF document with three dimension sets and an array of latency samples
    samples = parse_emf(emf(Requests=3, Latency=[120, 340, 560]))
    # Then each (metric, dimension set) pair yields the document's values
    keys = {(s.key.name, s.key.dimensions) for s in samples}
    model = ("ModelId", "anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert keys == {
        ("Requests", ()),
        ("Requests", (model,)),
        ("Requests", (("Application", "chat"), model)),
        ("Latency", ()),
        ("Latency", (model,)),
        ("Latency", (("Application", "chat"), model)),
    }
    latency = next(s for s in samples if s.key.name == "Latency" and not s.key.dimensions)
    assert latency.values == (120.0, 340.0, 560.0)
    assert latency.unit == "Milliseconds"
    assert latency.timestamp == T0


def test_lines_that_are_not_emf_yield_nothing() -> None:
    assert parse_emf("Permissions are correctly set for Amazon Bedrock logs.") == []
    assert parse_emf('{"level": "INFO", "message": "batch done"}') == []


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ('{"_aws": {"CloudWatchMetrics": []}}', "Timestamp"),
        ('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Metrics": []}]}}', "Namespace"),
        (
            '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["ModelId"]],'
            ' "Metrics": [{"Name": "Requests"}]}]}, "Requests": 1}',
            "dimension 'ModelId'",
        ),
        (
            '{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]],'
            ' "Metrics": [{"Name": "Requests"}]}]}, "Requests": "many"}',
            "non-numeric",
        ),
    ],
)
def test_emf_that_cloudwatch_would_reject_is_reported(document: str, problem: str) -> None:
    with pytest.raises(EmfError, match=problem):
        parse_emf(document)


def test_a_rejected_document_is_recorded_and_the_rest_of_the_output_still_counts() -> None:
    store = MetricStore(lambda: T0)
    added = store.ingest_emf('{"_aws": {"Timestamp": "soon"}}\n' + emf(Requests=2, Latency=[1]))
    assert added == 6  # 2 metrics x 3 dimension sets, one value each
    assert len(store.emf_errors) == 1


def test_statistics_over_a_period_follow_cloudwatch_definitions() -> None:
    # Given 3 EMF documents in one minute and one in the next
    store = MetricStore(lambda: T0)
    for requests in (2, 3, 5):
        store.ingest_emf(emf(Requests=requests, Latency=[100]), received_at=T0 + timedelta(seconds=10))
    store.ingest_emf(emf(Requests=7, Latency=[100]), received_at=T0 + MINUTE)
    key = MetricKey.of("BedrockWatch", "Requests")
    # Then Sum/Average/Min/Max/SampleCount cover only the minute asked for
    assert store.statistic(key, "Sum", T0, T0 + MINUTE) == 10
    assert store.statistic(key, "SampleCount", T0, T0 + MINUTE) == 3
    assert store.statistic(key, "Average", T0, T0 + MINUTE) == pytest.approx(10 / 3)
    assert store.statistic(key, "Minimum", T0, T0 + MINUTE) == 2
    assert store.statistic(key, "Maximum", T0, T0 + MINUTE) == 5
    assert store.datapoints(key, "Sum", 60, T0, T0 + 2 * MINUTE) == [(T0, 10.0), (T0 + MINUTE, 7.0)]
    # and a period with no data is missing, not zero
    assert store.statistic(key, "Sum", T0 + 2 * MINUTE, T0 + 3 * MINUTE) is None


def test_a_metric_without_dimensions_is_not_the_sum_of_its_dimensioned_versions() -> None:
    # Given one document publishing CostUSD under [] and [ModelId]
    store = MetricStore(lambda: T0)
    store.seed("BedrockWatch", "CostUSD", 1.25)
    store.seed("BedrockWatch", "CostUSD", 1.25, dimensions={"ModelId": "m"})
    # Then the [] metric holds the spend once (moto's own GetMetricData would add both)
    assert store.statistic(MetricKey.of("BedrockWatch", "CostUSD"), "Sum", T0, T0 + MINUTE) == 1.25


@pytest.mark.parametrize(
    ("p", "expected"),
    [(50, 1000.0), (90, 1800.0), (95, 1900.0), (99, 2000.0), (100, 2000.0), (0, 100.0), (96, 2000.0)],
)
def test_percentiles_use_the_nearest_rank_of_the_samples(p: float, expected: float) -> None:
    # 20 samples 100, 200, … 2000: p95 is the 19th smallest, p96 the 20th (19.2 rounds up)
    samples = [(100.0 * i, 1.0) for i in range(1, 21)]
    assert percentile(samples, p) == expected


def test_put_metric_data_counts_weight_the_percentile() -> None:
    store = MetricStore(lambda: T0)
    store.ingest_put_metric_data(
        "AWS/Bedrock",
        [{"MetricName": "InvocationLatency", "Values": [100, 9000], "Counts": [99, 1], "Timestamp": T0}],
    )
    key = MetricKey.of("AWS/Bedrock", "InvocationLatency")
    assert store.statistic(key, "p99", T0, T0 + MINUTE) == 100
    assert store.statistic(key, "p99.5", T0, T0 + MINUTE) == 9000
    assert store.statistic(key, "SampleCount", T0, T0 + MINUTE) == 100


def test_statistic_sets_have_no_percentiles() -> None:
    store = MetricStore(lambda: T0)
    store.ingest_put_metric_data(
        "N",
        [{"MetricName": "M", "StatisticValues": {"Sum": 10, "SampleCount": 4, "Minimum": 1, "Maximum": 4}}],
    )
    key = MetricKey.of("N", "M")
    assert store.statistic(key, "Average", T0, T0 + MINUTE) == 2.5
    assert store.statistic(key, "p50", T0, T0 + MINUTE) is None


def test_document_timestamps_outside_cloudwatchs_window_are_dropped() -> None:
    store = MetricStore(lambda: T0)
    old = emf(Requests=1).replace(
        str(int(T0.timestamp() * 1000)), str(int((T0 - timedelta(days=15)).timestamp() * 1000))
    )
    assert store.ingest_emf(old, use_document_time=True) == 0
    assert store.ingest_emf(emf(Requests=1), use_document_time=True) == 3


def test_an_unknown_statistic_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedStatistic, match="'IQM'"):
        MetricStore().statistic(MetricKey.of("N", "M"), "IQM", T0, T0 + MINUTE)
