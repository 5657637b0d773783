"""The stack's own bill: the README table is the cost model's output, the reference fleet meets its
targets, what others add is priced without touching the model, and the budget guard's live
estimate reads every resource it prices."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bedrock_watch import contract, costmodel
from bedrock_watch.contract import ALL, BY_MODEL, MetricSpec, levels
from bedrock_watch.owncost import LAMBDA_GB
from sandbox import fleet_cost
from sandbox.template import ROOT, load_template, resources

README = (ROOT / "README.md").read_text()
REFERENCE = next(f for f in fleet_cost.FLEETS if f.name == "reference")


def test_the_readme_cost_table_is_what_the_cost_model_prints() -> None:
    section = README.split("### What it costs to run", 1)[1]
    printed = fleet_cost.table(fleet_cost.estimates())
    assert printed in section, "README's cost table is stale: run scripts/update_readme_cost_table.py"


def test_the_readme_levels_table_quotes_the_model_within_five_percent() -> None:
    rows = re.findall(r"^\| `(lean|model|full)`[^|]*\|[^|]*\| ≈ ([\d,]+) metrics", README, re.M)
    assert {level for level, _ in rows} == set(contract.METRIC_DETAIL_LEVELS)
    for level, quoted in rows:
        estimate = fleet_cost.estimate(REFERENCE, {"MetricDetail": level})
        assert float(quoted.replace(",", "")) == pytest.approx(estimate.distinct_metrics, rel=0.05), level


def test_the_reference_fleet_meets_both_targets_with_the_defaults() -> None:
    estimate = fleet_cost.estimate(REFERENCE)
    assert estimate.level == "lean"
    assert estimate.distinct_metrics <= 200
    assert estimate.bill.total <= 100
    # and the old contract (every figure at four dimension sets) is what the issue measured: thousands
    assert fleet_cost.estimate(REFERENCE, {"MetricDetail": "full"}).distinct_metrics > 4000


def test_alarms_are_counted_from_the_expanded_template() -> None:
    stack = fleet_cost.inventory()
    units = costmodel.total_alarm_units(stack.alarms, lambda query: 1)
    metric_alarms = len(resources(type_="AWS::CloudWatch::Alarm"))  # the ForEach loop is not one
    models = len(str(stack.parameters["MonitoredModels"]).split(","))
    assert units.alarms == metric_alarms + 7 * models + 1  # + 7 per monitored model, + the composite
    assert units.composites == 1
    more = fleet_cost.inventory({"MonitoredModels": "a.m=chat=1,b.m=chat=1,c.m=chat=1"})
    extra = costmodel.total_alarm_units(more.alarms, lambda query: 1).metrics - units.metrics
    per_model = costmodel.total_alarm_units(
        [a for a in more.alarms if "c.m" in str(a["AlarmName"])], lambda query: 1
    ).metrics
    assert extra == pytest.approx((3 - models) * per_model)


def test_a_metric_another_part_declares_is_priced_without_touching_the_cost_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a new per-model metric published by a scheduled function at `lean`
    before = fleet_cost.metric_counts(REFERENCE, "lean", 50)
    added = MetricSpec(
        "UnmeteredRequests", "Count", "bill_reconciler", levels(lean=(ALL, BY_MODEL)), read_by="x"
    )
    monkeypatch.setattr(contract, "METRICS", (*contract.METRICS, added))
    # Then the fleet's count grows by one metric for all traffic and one per model
    after = fleet_cost.metric_counts(REFERENCE, "lean", 50)
    assert after[0] - before[0] == pytest.approx(1 + REFERENCE.models)
    # and a population the model has no figure for is named, not guessed
    odd = replace(added, populations={"ModelId": "regions"})
    monkeypatch.setattr(contract, "METRICS", (*contract.METRICS, odd))
    with pytest.raises(ValueError, match="no fleet figure for population 'regions'"):
        fleet_cost.metric_counts(REFERENCE, "lean", 50)


def test_the_budget_guard_names_every_resource_its_live_estimate_prices() -> None:
    env = load_template()["Resources"]["BudgetGuardFunction"]["Properties"]["Environment"]["Variables"]

    def named(variable: str) -> set[str]:
        value = env[variable]["Fn::Join"][1]
        return {item["Ref"] for item in value}

    # every group the stack's own functions write; not the invocation log group it may create,
    # whose ingestion is the cost of Bedrock's invocation logging, whoever turned it on
    own_groups = set(resources(type_="AWS::Logs::LogGroup")) - {"InvocationLogGroup"}
    assert named("OWN_COST_LOG_GROUPS") == own_groups
    assert named("OWN_COST_STATE_MACHINES") == set(resources(type_="AWS::Serverless::StateMachine"))
    assert named("OWN_COST_COMPOSITE_ALARMS") == set(resources(type_="AWS::CloudWatch::CompositeAlarm"))
    assert named("OWN_COST_DASHBOARDS") == set(resources(type_="AWS::CloudWatch::Dashboard"))
    assert env["OWN_COST_METERING_FUNCTION"] == {"Ref": "InvocationMetricsFunction"}


def test_every_function_runs_at_the_memory_the_estimate_prices() -> None:
    template = load_template()
    assert template["Globals"]["Function"]["MemorySize"] == LAMBDA_GB * 1024
    overrides = [
        n
        for n, fn in resources(type_="AWS::Serverless::Function").items()
        if "MemorySize" in fn["Properties"]
    ]
    assert overrides == [], "a function with its own MemorySize: price it in bedrock_watch.owncost"
