"""Metric math over the store: the expressions the template's alarms and budget guard use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.metricmath import (
    Contributors,
    Evaluation,
    MathError,
    Query,
    get_metric_data,
    grid_for,
    parse_insights,
)
from sandbox.metrics import MetricKey, MetricStore

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
GRID = [T0.timestamp() + 60 * k for k in range(4)]


def store_with(series: dict[str, list[float | None]]) -> MetricStore:
    store = MetricStore(lambda: T0)
    for name, values in series.items():
        for k, value in enumerate(values):
            if value is not None:
                store.seed("N", name, value, timestamp=T0 + timedelta(minutes=k, seconds=1))
    return store


def run(expression: str, series: dict[str, list[float | None]]) -> object:
    queries = {
        name.lower(): Query(id=name.lower(), metric=MetricKey.of("N", name), stat="Sum", period=60)
        for name in series
    }
    queries["e"] = Query(id="e", expression=expression)
    return Evaluation(store_with(series), queries, GRID, 60).value("e")


def values(result: object) -> list[float | None]:
    assert isinstance(result, dict)
    return [result.get(t) for t in GRID]


def test_arithmetic_between_series_keeps_only_timestamps_both_have() -> None:
    result = run("100 * errors / requests", {"Errors": [1, None, 3, 0], "Requests": [100, 50, 0, 10]})
    # minute 1: errors missing; minute 2: division by zero -> no value
    assert values(result) == [1.0, None, None, 0.0]


def test_fill_turns_missing_into_a_value_and_repeat_carries_forward() -> None:
    assert values(run("FILL(errors, 0)", {"Errors": [1, None, 3, None]})) == [1.0, 0.0, 3.0, 0.0]
    assert values(run("FILL(errors, REPEAT)", {"Errors": [1, None, 3, None]})) == [1.0, 1.0, 3.0, 3.0]
    assert values(run("FILL(errors, LINEAR)", {"Errors": [1, None, 3, None]})) == [1.0, 2.0, 3.0, None]


def test_if_with_comparison_and_logic() -> None:
    result = run(
        "IF(requests > 10 AND errors >= 1, errors, 0)", {"Requests": [5, 50, 50, 50], "Errors": [2, 2, 0, 1]}
    )
    assert values(result) == [0.0, 2.0, 0.0, 1.0]


def test_sum_of_an_array_is_a_series_and_of_one_series_a_scalar() -> None:
    series = {"A": [1, 2, None, 4], "B": [10, None, None, 40]}
    assert values(run("SUM([a, b])", series)) == [11.0, 2.0, None, 44.0]
    assert values(run("MAX(METRICS())", series)) == [10.0, 2.0, None, 40.0]
    assert run("SUM(a)", series) == 7.0
    assert run("AVG(b)", series) == 25.0


def test_period_and_unary_functions() -> None:
    assert values(run("a / PERIOD(a)", {"A": [60, 120, 0, 30]})) == [1.0, 2.0, 0.0, 0.5]
    assert values(run("ABS(-a) + CEIL(a / 7)", {"A": [7, 8, 0, 1]})) == [8.0, 10.0, 0.0, 2.0]


@pytest.mark.parametrize(
    ("expression", "problem"), [("a +", "expected"), ("RATE(a)", "RATE"), ("zz * 2", "unknown id 'zz'")]
)
def test_unsupported_or_broken_expressions_fail_loudly(expression: str, problem: str) -> None:
    with pytest.raises(MathError, match=problem):
        run(expression, {"A": [1, 2, 3, 4]})


def test_get_metric_data_answers_like_cloudwatch() -> None:
    store = store_with({"CostUSD": [0.5, 0.25, None, 1.0]})
    results = get_metric_data(
        store,
        [
            {
                "Id": "cost",
                "MetricStat": {
                    "Metric": {"Namespace": "N", "MetricName": "CostUSD"},
                    "Period": "60",
                    "Stat": "Sum",
                },
                "ReturnData": False,
            },
            {"Id": "total", "Expression": "SUM(cost)", "Label": "spend"},
            {"Id": "doubled", "Expression": "cost * 2"},
        ],
        T0,
        T0 + timedelta(minutes=4),
        "TimestampAscending",
    )
    by_id = {r["id"]: r for r in results}
    assert set(by_id) == {"total", "doubled"}  # ReturnData false is not returned
    assert by_id["doubled"]["values"] == [1.0, 0.5, 2.0]
    assert by_id["doubled"]["timestamps"][0] == T0
    assert by_id["total"]["label"] == "spend"


def test_grid_is_epoch_aligned() -> None:
    grid = grid_for(T0 + timedelta(seconds=90), T0 + timedelta(minutes=5), 120)
    assert [datetime.fromtimestamp(t, UTC).minute for t in grid] == [0, 2, 4]


def test_metrics_insights_group_by_gives_one_series_per_group_over_exact_schemas() -> None:
    store = MetricStore(lambda: T0)
    for app, values in {"chat": [50.0, 80.0], "search": [10.0, 20.0]}.items():
        for k, value in enumerate(values):
            store.seed(
                "N",
                "BudgetUtilization",
                value,
                dimensions={"Application": app},
                timestamp=T0 + timedelta(minutes=k),
            )
    # a different schema (no dimensions, or an extra one) is not selected
    store.seed("N", "BudgetUtilization", 99.0, timestamp=T0)
    store.seed(
        "N", "BudgetUtilization", 99.0, dimensions={"Application": "chat", "ModelId": "m"}, timestamp=T0
    )
    queries = {
        "u": Query(
            id="u",
            expression='SELECT MAX(BudgetUtilization) FROM SCHEMA("N", Application) GROUP BY Application',
            period=60,
        )
    }
    result = Evaluation(store, queries, GRID, 60).value("u")
    assert isinstance(result, Contributors)
    assert {label: [s.get(t) for t in GRID] for label, s in result.series.items()} == {
        "Application=chat": [50.0, 80.0, None, None],
        "Application=search": [10.0, 20.0, None, None],
    }


def test_metrics_insights_where_and_aggregate_without_group() -> None:
    store = store_with({})
    for app, value in (("chat", 3.0), ("search", 4.0), ("batch", 100.0)):
        store.seed("N", "Requests", value, dimensions={"Application": app}, timestamp=T0)
    query = parse_insights("SELECT SUM(Requests) FROM \"N\" WHERE Application != 'batch'")
    assert query.stat == "Sum"
    queries = {
        "q": Query(
            id="q", expression="SELECT SUM(Requests) FROM \"N\" WHERE Application != 'batch'", period=60
        )
    }
    assert Evaluation(store, queries, GRID, 60).value("q") == {GRID[0]: 7.0}
    with pytest.raises(MathError, match="outside the subset"):
        parse_insights("SELECT PERCENTILE(Requests, 95) FROM N")
