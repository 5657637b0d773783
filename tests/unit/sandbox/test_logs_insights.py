"""The Logs Insights subset: what parses, what it reads, and what a query returns over log events."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import logs_insights as li

EVENTS: list[dict[str, Any]] = [
    {"@timestamp": 60_000, "ModelId": "a", "Application": "x", "Requests": 3, "Errors": 1, "CostUSD": 0.5},
    {"@timestamp": 90_000, "ModelId": "a", "Application": "y", "Requests": 1, "Errors": 0, "CostUSD": 0.25},
    {"@timestamp": 400_000, "ModelId": "b", "Application": "x", "Requests": 5, "Errors": 0},
    {"@timestamp": 400_000, "ModelId": "b", "Latency": [100, 200]},  # a continuation: samples only
    {"@timestamp": 400_000, "message": "metered batch", "records": 8},  # the function's own log line
]


def test_a_grouped_sum_with_arithmetic_over_aggregates_sorted_and_limited() -> None:
    # Given the per-model query the dashboards use
    query = (
        "SOURCE '/aws/lambda/s/invocation-metrics' | filter ispresent(Requests) "
        "| stats sum(Requests) as requests, 100 * sum(Errors) / sum(Requests) as errorRate, "
        "sum(CostUSD) as cost by ModelId | sort requests desc | limit 5"
    )
    # When it runs over the events
    rows = li.run(query, EVENTS)
    # Then each model's figures are sums over its documents; a group without cost is null
    assert rows == [
        {"ModelId": "b", "requests": 5.0, "errorRate": 0.0, "cost": None},
        {"ModelId": "a", "requests": 4.0, "errorRate": 25.0, "cost": 0.75},
    ]
    assert li.parse(query).sources == ("/aws/lambda/s/invocation-metrics",)


def test_bin_groups_by_the_window_start_and_an_earlier_alias_can_be_reused() -> None:
    rows = li.run(
        "filter ispresent(Requests) | stats sum(Requests) as r, sum(Errors) as e, e / r as share by bin(5m)",
        EVENTS,
    )
    assert rows == [
        {"bin(5m)": 0, "r": 4.0, "e": 1.0, "share": 0.25},
        {"bin(5m)": 300_000, "r": 5.0, "e": 0.0, "share": 0.0},
    ]


def test_aggregating_a_sample_array_is_refused_because_logs_insights_would_not_sum_it() -> None:
    with pytest.raises(li.NonScalarField, match=r"sum\(Latency\) met a non-scalar value"):
        li.run("stats sum(Latency) by ModelId", EVENTS)


def test_conditions_filter_with_and_or_not_and_comparisons() -> None:
    rows = li.run(
        "filter ModelId = 'a' and not (Errors > 0) or Requests >= 4 | fields ModelId, Requests * 2 as double",
        EVENTS,
    )
    assert [(r["ModelId"], r["double"]) for r in rows] == [("a", 2.0), ("b", 10.0)]


def test_division_by_zero_and_empty_input_give_null_not_an_error() -> None:
    assert li.run("stats sum(Errors) / sum(Errors) as x", EVENTS[1:2]) == [{"x": None}]
    assert li.run("stats count(*) as n, sum(Requests) as r", []) == [{"n": 0.0, "r": None}]


def test_fields_read_lists_what_the_query_takes_from_the_events_not_its_own_aliases() -> None:
    query = li.parse(
        "filter ispresent(Requests) | stats sum(CostUSD) as cost, count(Identity) as callers, "
        "cost / 2 as half by Route | sort cost desc | display Route, cost, Application"
    )
    read = li.fields_read(query)
    assert read.all == {"Requests", "CostUSD", "Identity", "Route", "Application"}
    assert read.aggregated == {"CostUSD"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("stats sum(Requests) by", "query ends too early"),
        ("stats pct(Latency, 95)", "function pct() at 6 is outside the supported subset"),
        ("parse @message 'x'", "expected a command (display, fields, filter, limit, sort, stats) at 0"),
        ("stats count(*) | limit 0", "limit needs a positive integer"),
        ("SOURCE logs | stats count(*)", "SOURCE needs a quoted log group name"),
        ("stats count(*) by bin(five)", "bin() needs a duration such as 5m"),
        ("stats sum(Requests) # comment", "unexpected character '#'"),
        ("stats Requests", "Requests in stats is neither an aggregate nor an earlier alias"),
    ],
)
def test_queries_outside_the_subset_are_refused_with_the_reason(query: str, message: str) -> None:
    with pytest.raises(li.LogsInsightsError) as refused:
        li.run(query, EVENTS)
    assert message in str(refused.value)
