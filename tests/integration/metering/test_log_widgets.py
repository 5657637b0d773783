"""The dashboards' Logs Insights widgets, run over what the deployed metering function really printed.

The function is deployed from template.yaml with its defaults (MetricDetail=lean) on moto, fed
generated traffic through the subscription, and its log group read back: EMF documents, the
Powertools "metered batch" lines and all. Every log widget of the three dashboards runs over that
(sandbox.logs_insights); the figures are checked against an independent oracle, the same records
metered at MetricDetail=full and read as CloudWatch metrics per (model, application)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from bedrock_watch.metering import Meter, MeteringSettings
from sandbox import logs_insights
from sandbox.cfn_expand import render
from sandbox.log_tables import log_events, per_model_rows
from sandbox.metering import deploy_metering
from sandbox.metrics import MetricStore, read_emf
from sandbox.shims import in_process_lambdas
from sandbox.traffic import PROFILE_MAP, TrafficProfile, delivery_batches, generate

pytestmark = pytest.mark.integration
NS = "BedrockWatch"
ROUTES = ("chat", "summarise", None)


def routed_traffic() -> list[dict[str, Any]]:
    """Generated calls, some tagged with a route as bedrock_watch.routing tags them."""
    rng = random.Random(5)
    events = generate(TrafficProfile(seed=21, requests=900, duration_s=240))
    for event in events:
        record = json.loads(event["message"])
        route = rng.choice(ROUTES)
        if route and "requestMetadata" in record:
            record["requestMetadata"]["route"] = route
            event["message"] = json.dumps(record)
    return events


@pytest.fixture(scope="module")
def printed() -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(the deployed function's log events, the traffic it metered)."""
    traffic = routed_traffic()
    with mock_aws(), in_process_lambdas():
        stack = deploy_metering({"InferenceProfileMap": json.dumps(PROFILE_MAP)})
        assert stack.stack.parameters["MetricDetail"] == "lean"
        for batch in delivery_batches(traffic, seed=3):
            stack.write_invocation_logs(batch)
        yield log_events(stack.function_output()), traffic


def oracle(traffic: list[dict[str, Any]]) -> MetricStore:
    """The same calls metered at `full`: CloudWatch's view per model, application and pair."""
    meter = Meter.from_settings(MeteringSettings(metric_detail="full", profile_map=PROFILE_MAP))
    return read_emf([meter.meter_log_events(traffic).emf])


def widgets() -> list[tuple[str, dict[str, Any]]]:
    resources = render().resources
    out = []
    for dashboard in ("OperationsDashboard", "ModelComparisonDashboard", "ExecutiveDashboard"):
        body = json.loads(resources[dashboard]["Properties"]["DashboardBody"])
        out += [(dashboard, w) for w in body["widgets"] if w["type"] == "log"]
    return out


def rows_of(title: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    [widget] = [w for _, w in widgets() if w["properties"]["title"] == title]
    return logs_insights.run(widget["properties"]["query"], events)


def test_every_log_widget_runs_over_the_functions_real_output_without_touching_an_array(
    printed: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    events, _ = printed
    # the log group holds more than EMF (the function's own log lines); the queries filter them out
    assert any("Requests" not in e for e in events)
    assert len(widgets()) >= 9
    for dashboard, widget in widgets():
        rows = logs_insights.run(widget["properties"]["query"], events)  # NonScalarField would raise
        assert rows, f"{dashboard}: {widget['properties']['title']} shows nothing"
        read = logs_insights.fields_read(logs_insights.parse(widget["properties"]["query"]))
        for event in events:
            for name in read.aggregated & event.keys():
                assert not isinstance(event[name], list), name


def test_the_per_pair_table_equals_cloudwatchs_per_pair_sums_at_full_detail(
    printed: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    events, traffic = printed
    store = oracle(traffic)
    rows = rows_of("Per model and application (Logs Insights over the metering log)", events)
    assert len(rows) == len(store.keys(NS, "Requests")) - 1 - len(
        store.dimension_values(NS, "ModelId")
    ) - len(store.dimension_values(NS, "Application"))
    for row in rows:
        dims = {"ModelId": row["ModelId"], "Application": row["Application"]}
        assert row["requests"] == store.get(NS, "Requests", **dims).sum
        assert row["errors"] == store.get(NS, "Errors", **dims).sum
        assert (row["output"] or 0) == store.get(NS, "OutputTokens", **dims).sum
        assert (row["costUSD"] or 0) == pytest.approx(store.get(NS, "CostUSD", **dims).sum, abs=1e-9)
    # sorted by spend, as the widget says
    costs = [r["costUSD"] or 0 for r in rows]
    assert costs == sorted(costs, reverse=True)


def test_spend_by_model_identity_and_route_add_up_to_the_total(
    printed: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    events, traffic = printed
    store = oracle(traffic)
    total = store.get(NS, "CostUSD").sum
    by_model = rows_of("Spend by model (USD, Logs Insights)", events)
    for row in by_model:
        assert row["spendUSD"] == pytest.approx(store.get(NS, "CostUSD", ModelId=row["ModelId"]).sum)
    assert sum(r["spendUSD"] or 0 for r in by_model) == pytest.approx(total)
    by_identity = rows_of("Spend by caller identity (USD)", events)
    assert {r["Identity"] for r in by_identity} >= {
        "arn:aws:sts::111122223333:assumed-role/support-bot-role/session"
    }
    assert sum(r["spendUSD"] or 0 for r in by_identity) == pytest.approx(total)
    by_route = {r["Route"]: r for r in rows_of("Spend by route (USD)", events)}
    assert set(by_route) == {"chat", "summarise", None}  # None: calls that name no route
    assert sum(r["requests"] for r in by_route.values()) == store.get(NS, "Requests").sum


def test_the_per_model_rates_are_the_records_rates(
    printed: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    events, traffic = printed
    store = oracle(traffic)
    for row in rows_of("Error rate by model (%, metered: every error class, throttles included)", events):
        model = row["ModelId"]
        expected = (
            100 * store.get(NS, "Errors", ModelId=model).sum / store.get(NS, "Requests", ModelId=model).sum
        )
        assert row["errorRatePercent"] == pytest.approx(expected)
    for row in rows_of("Cost per 1M tokens by model (USD)", events):
        model = row["ModelId"]
        tokens = store.get(NS, "TotalTokens", ModelId=model).sum
        assert row["usdPer1mTokens"] == pytest.approx(
            1e6 * store.get(NS, "CostUSD", ModelId=model).sum / tokens
        )
    # and the drill's per-model table (the pair widget folded per model) matches CloudWatch's per model
    table = per_model_rows(events)
    for row in table[:-1]:
        assert row["requests"] == store.get(NS, "Requests", ModelId=row["model"]).sum
        assert row["p95_ms"] == store.get(NS, "Latency", ModelId=row["model"]).percentile(95)
    assert table[-1]["requests"] == store.get(NS, "Requests").sum == sum(r["requests"] for r in table[:-1])
