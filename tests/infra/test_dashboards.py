"""The three dashboards, rendered from template.yaml as a deployment would (sandbox.cfn_expand):
valid JSON, the widgets the issue asks for, and only metrics the contract or AWS/Bedrock define,
so a typo in a metric name fails here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bedrock_watch import contract, emf
from sandbox import logs_insights
from sandbox.cfn_expand import render

NAMESPACE = "BedrockWatch"  # MetricsNamespace default
DASHBOARDS = ("OperationsDashboard", "ModelComparisonDashboard", "ExecutiveDashboard")
# AWS service metrics the pipeline-health widgets read: AWS's names, not ours.
AWS_SERVICE_METRICS = {
    "AWS/Lambda": {"Invocations", "Errors", "Throttles"},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible"},
    "AWS/BedrockMantle": {"Inferences"},  # the OpenAI-compatible endpoint's own metrics
}
_SEARCH = re.compile(r"SEARCH\('\{([^,}]+)(?:,([^}]*))?\}\s+MetricName=\"([^\"]+)\"")


def bodies(overrides: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    resources = render(overrides).resources
    return {name: json.loads(resources[name]["Properties"]["DashboardBody"]) for name in DASHBOARDS}


def references(body: dict[str, Any]) -> Iterator[tuple[str, str, frozenset[str], dict[str, Any]]]:
    """(namespace, metric name, dimension names, options) of every metric line and SEARCH expression.

    Metric lines are [namespace, name, dim, value, ..., {options}], where "." repeats the value
    in the same position of the line above; a SEARCH's schema keys are its dimension names."""
    for widget in body["widgets"]:
        previous: list[Any] = []
        for line in widget.get("properties", {}).get("metrics", []):
            options = line[-1] if line and isinstance(line[-1], dict) else {}
            values = line[:-1] if options else line
            if "expression" in options and not values:
                for namespace, dims, name in _SEARCH.findall(options["expression"]):
                    keys = frozenset(k.strip() for k in dims.split(",") if k.strip())
                    yield namespace, name, keys, options
                continue
            values = [previous[i] if v == "." else v for i, v in enumerate(values)]
            previous = values
            yield values[0], values[1], frozenset(values[2::2]), options


def metric_references(body: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, options) of every metric line and SEARCH expression."""
    for namespace, name, _, options in references(body):
        yield namespace, name, options


def check_metric(namespace: str, name: str) -> str | None:
    """Why a reference is wrong, or None."""
    if namespace == NAMESPACE:
        return None if name in contract.SPECS else f"{name} is not in the metric contract"
    if namespace == contract.AWS_BEDROCK_NAMESPACE:
        return None if name in contract.AWS_BEDROCK_METRICS else f"{name} is not an AWS/Bedrock metric"
    if namespace in AWS_SERVICE_METRICS:
        return None if name in AWS_SERVICE_METRICS[namespace] else f"{namespace} {name} is unexpected"
    return f"unknown namespace {namespace}"


@pytest.mark.parametrize("dashboard", DASHBOARDS)
def test_every_dashboard_metric_is_in_the_contract_or_aws_bedrock(dashboard: str) -> None:
    references = list(metric_references(bodies()[dashboard]))
    assert references, f"{dashboard} reads no metric"
    problems = [p for ns, name, _ in references if (p := check_metric(ns, name))]
    assert problems == []


def test_the_check_catches_a_typo_in_a_metric_name() -> None:
    body = {
        "widgets": [
            {
                "type": "metric",
                "properties": {
                    "metrics": [
                        [NAMESPACE, "Requests"],
                        [".", "Latncy"],
                        [
                            {
                                "expression": "SEARCH('{BedrockWatch,ModelId} "
                                "MetricName=\"CostUSd\"', 'Sum', 300)"
                            }
                        ],
                        ["AWS/Bedrock", "InvocationLatencies"],
                    ]
                },
            }
        ]
    }
    problems = [p for ns, name, _ in metric_references(body) if (p := check_metric(ns, name))]
    assert problems == [
        "Latncy is not in the metric contract",
        "CostUSd is not in the metric contract",
        "InvocationLatencies is not an AWS/Bedrock metric",
    ]


def metric_names(body: dict[str, Any]) -> set[str]:
    return {name for _, name, _ in metric_references(body)}


def test_operations_shows_traffic_errors_latency_tokens_cost_alarms_and_pipeline() -> None:
    body = bodies()["OperationsDashboard"]
    names = metric_names(body)
    error_classes = {
        "Throttles",
        "Timeouts",
        "ServerErrors",
        "ModelErrors",
        "ValidationErrors",
        "AuthErrors",
        "OtherErrors",
    }
    tokens = {"InputTokens", "CacheReadInputTokens", "CacheWriteInputTokens", "OutputTokens"}
    pipeline = {
        "MalformedRecords",
        "UnpricedRequests",
        "ModelInvocationLogsCloudWatchDeliveryFailure",
        "Errors",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
    }
    expected = {"Requests", "Errors", "InvocationThrottles", "OutputTokensPerSecond", "CostUSD"}
    assert expected | error_classes | tokens | pipeline <= names
    percentiles = {
        (name, options.get("stat")) for _, name, options in metric_references(body) if "stat" in options
    }
    for metric in ("Latency", "TimeToFirstToken"):
        assert {(metric, p) for p in ("p50", "p95", "p99")} <= percentiles
    cost = next(
        w for w in body["widgets"] if w.get("properties", {}).get("title", "").startswith("Cost per hour")
    )
    assert cost["properties"]["period"] == 3600


def test_alarm_status_widgets_list_alarms_that_exist() -> None:
    rendered = render().resources
    names = {
        r["Properties"]["AlarmName"]
        for r in rendered.values()
        if r["Type"].startswith("AWS::CloudWatch::") and "AlarmName" in r["Properties"]
    }
    for dashboard in ("OperationsDashboard", "ExecutiveDashboard"):
        [widget] = [w for w in bodies()[dashboard]["widgets"] if w["type"] == "alarm"]
        arns = widget["properties"]["alarms"]
        assert arns
        for arn in arns:
            assert arn.startswith("arn:aws:cloudwatch:us-east-1:123456789012:alarm:")
            assert arn.rsplit(":", 1)[1] in names, arn


def log_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in body["widgets"] if w["type"] == "log"]


def groups_of(widget: dict[str, Any]) -> list[str]:
    """The `by` fields of a log widget's stats command."""
    query = logs_insights.parse(widget["properties"]["query"])
    return [g.name for c in query.commands if c.kind == "stats" for g in c.by]


def test_model_comparison_is_per_model_and_new_models_appear_without_redeploying() -> None:
    body = bodies()["ModelComparisonDashboard"]
    for widget in body["widgets"]:
        title = widget["properties"]["title"]
        if widget["type"] == "log":
            # Logs Insights groups by whatever ModelId values the logs hold: no list to maintain
            assert "ModelId" in groups_of(widget), title
            continue
        searches = [
            line[0]["expression"]
            for line in widget["properties"]["metrics"]
            if "SEARCH(" in line[0].get("expression", "")
        ]
        assert searches, title
        for search in searches:
            [(namespace, dims, _)] = _SEARCH.findall(search)
            # AWS/Bedrock's per-model metrics are free; ours per model exist only from `model` up
            assert (namespace, dims) == (contract.AWS_BEDROCK_NAMESPACE, "ModelId"), search
    titles = " | ".join(w["properties"]["title"] for w in body["widgets"])
    for wanted in (
        "p95 InvocationLatency",
        "Error rate",
        "Cost per 1K requests",
        "Cost per 1M tokens",
        "Cache hit ratio",
        "Share of traffic",
        "Truncation rate",
        "Per model and application",
    ):
        assert wanted in titles
    share = next(w for w in body["widgets"] if w["properties"]["title"].startswith("Share of traffic"))
    assert share["properties"]["stacked"] is True
    [pairs] = [
        w for w in log_widgets(body) if w["properties"]["title"].startswith("Per model and application")
    ]
    assert groups_of(pairs) == ["ModelId", "Application"]
    assert pairs["properties"]["view"] == "table"


def test_executive_summary_explains_its_numbers() -> None:
    body = bodies()["ExecutiveDashboard"]
    [text] = [w for w in body["widgets"] if w["type"] == "text"]
    for number in (
        "Month-to-date spend",
        "Budget used",
        "Burn rate",
        "Projected month end",
        "Hours until exhausted",
        "Spend by model / by application",
        "Growth",
        "What watching costs",
    ):
        assert f"**{number}**" in text["properties"]["markdown"]
    assert "1000 USD" in text["properties"]["markdown"]  # the MonthlyBudgetUSD default
    names = metric_names(body)
    assert set(contract.BUDGET_METRICS) <= names
    assert contract.OWN_COST_METRIC in names  # what watching costs, beside what it watches
    searches = [o["expression"] for _, _, o in metric_references(body) if "expression" in o]
    assert any("{BedrockWatch,Application}" in s and "CostUSD" in s for s in searches)
    by = {w["properties"]["title"]: groups_of(w) for w in log_widgets(body)}
    assert by["Spend by model (USD, Logs Insights)"] == ["ModelId"]
    assert by["Top spenders: application and model (USD)"] == ["Application", "ModelId"]
    assert by["Spend by caller identity (USD)"] == ["Identity"]
    assert by["Spend by route (USD)"] == ["Route"]


def cross_region_lines(body: dict[str, Any]) -> dict[str, list[str]]:
    lines = {}
    for widget in body["widgets"]:
        title = widget.get("properties", {}).get("title", "")
        if title.endswith("by region (USD)") or title.endswith("by region (%)"):
            lines[title] = [line[-1]["region"] for line in widget["properties"]["metrics"]]
    return lines


def test_executive_summary_shows_only_this_region_by_default() -> None:
    lines = cross_region_lines(bodies()["ExecutiveDashboard"])
    assert len(lines) == 3
    assert all(regions == ["us-east-1"] for regions in lines.values())


def test_monitored_regions_add_a_line_per_region_to_every_cross_region_widget() -> None:
    body = bodies({"MonitoredRegions": "eu-west-1,ap-southeast-2"})["ExecutiveDashboard"]
    lines = cross_region_lines(body)
    assert all(regions == ["us-east-1", "eu-west-1", "ap-southeast-2"] for regions in lines.values())
    # every line of those widgets reads a budget metric of the contract, in its region
    for _, name, options in metric_references(body):
        if "region" in options:
            assert name in contract.BUDGET_METRICS


def unpublished_references(body: dict[str, Any], level: str) -> list[str]:
    problems = []
    for namespace, name, dims, _ in references(body):
        if namespace == NAMESPACE and name in contract.SPECS:
            published = {frozenset(s) for s in contract.spec(name).dimension_sets(level)}
            if dims not in published:
                problems.append(f"{name} {sorted(dims)} is not published at {level}")
    return problems


@pytest.mark.parametrize("level", contract.METRIC_DETAIL_LEVELS)
@pytest.mark.parametrize("dashboard", DASHBOARDS)
def test_every_dashboard_metric_is_published_at_its_dimension_set_at_every_level(
    dashboard: str, level: str
) -> None:
    body = bodies({"MetricDetail": level})[dashboard]
    assert unpublished_references(body, level) == []


# ---------------------------------------------------------------------------- Logs Insights widgets
DOCUMENT_FIELDS = emf.SCALAR_FIELDS | emf.SAMPLE_FIELDS | logs_insights.BUILTIN_FIELDS


def widget_problems(widget: dict[str, Any], log_group: str) -> list[str]:
    """What is wrong with one log widget: its query does not parse, reads another log group, names
    a field the metering EMF documents do not carry, or aggregates a per-request sample array."""
    title = widget["properties"].get("title", "?")
    try:
        query = logs_insights.parse(widget["properties"]["query"])
    except logs_insights.LogsInsightsError as err:
        return [f"{title}: {err}"]
    problems = []
    if query.sources != (log_group,):
        problems.append(f"{title}: reads {list(query.sources)}, not the metering log group")
    read = logs_insights.fields_read(query)
    problems += [f"{title}: no field {name}" for name in sorted(read.all - DOCUMENT_FIELDS)]
    problems += [
        f"{title}: {name} is a sample array, Logs Insights cannot sum it"
        for name in sorted(read.aggregated & emf.SAMPLE_FIELDS)
    ]
    return problems


@pytest.mark.parametrize("dashboard", DASHBOARDS)
def test_every_log_widget_parses_reads_the_metering_log_group_and_only_fields_it_carries(
    dashboard: str,
) -> None:
    rendered = render().resources
    # the rendered Ref: the widget names the template's log group, not a typed copy of its name
    log_group = rendered["InvocationMetricsFunction"]["Properties"]["LoggingConfig"]["LogGroup"]
    for widget in log_widgets(bodies()[dashboard]):
        assert widget_problems(widget, log_group) == []
        assert widget["properties"]["region"] == "us-east-1"
        assert widget["properties"]["view"] in {"table", "bar", "pie", "timeSeries"}


def test_the_log_widget_check_catches_a_typo_another_group_and_an_array_sum() -> None:
    def widget(query: str) -> dict[str, Any]:
        return {"type": "log", "properties": {"title": "t", "query": query}}

    group = "InvocationMetricsLogGroup"
    assert widget_problems(widget(f"SOURCE '{group}' | stats sum(CostUsd) by ModelId"), group) == [
        "t: no field CostUsd"
    ]
    assert widget_problems(widget("SOURCE 'other' | stats count(*)"), group) == [
        "t: reads ['other'], not the metering log group"
    ]
    assert widget_problems(widget(f"SOURCE '{group}' | stats avg(Latency) by ModelId"), group) == [
        "t: Latency is a sample array, Logs Insights cannot sum it"
    ]
    [problem] = widget_problems(widget(f"SOURCE '{group}' | stats sum(Requests) by"), group)
    assert problem == "t: query ends too early"


def test_the_dimension_check_catches_a_widget_on_an_unpublished_set() -> None:
    body = {
        "widgets": [
            {
                "properties": {
                    "metrics": [
                        [NAMESPACE, "Requests", "ModelId", "m"],
                        [
                            {
                                "expression": "SEARCH('{BedrockWatch,Application} "
                                "MetricName=\"Errors\"', 'Sum', 60)"
                            }
                        ],
                        [NAMESPACE, "CostUSD", "Application", "a"],
                    ]
                }
            }
        ]
    }
    assert unpublished_references(body, "lean") == [
        "Requests ['ModelId'] is not published at lean",
        "Errors ['Application'] is not published at lean",
    ]
