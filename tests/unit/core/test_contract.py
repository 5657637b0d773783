"""The metric contract as data: which metric is published at which dimension set per MetricDetail
level, and the invariants every declaration (ours and those other parts add) must keep."""

from __future__ import annotations

import pytest

from bedrock_watch import contract
from bedrock_watch.contract import ALL, BY_APPLICATION, BY_MODEL, BY_PAIR, FULL, LEAN, MODEL

# The lean contract, written out: what a default deployment pays for. Changing it is a decision
# (docs/decisions.md) with a price, so this table changes with it on purpose.
LEAN_TABLE = {
    ALL: {
        "Requests",
        "Errors",
        "Throttles",
        "Timeouts",
        "ServerErrors",
        "ModelErrors",
        "ValidationErrors",
        "AuthErrors",
        "OtherErrors",
        "InputTokens",
        "CacheReadInputTokens",
        "CacheWriteInputTokens",
        "OutputTokens",
        "TotalTokens",
        "CostUSD",
        "UnpricedRequests",
        "Latency",
        "TimeToFirstToken",
        "OutputTokensPerSecond",
        "MalformedRecords",
    },
    BY_MODEL: set(),
    BY_APPLICATION: {"CostUSD"},
    BY_PAIR: set(),
}
EMF_UNITS = {"Count", "Milliseconds", "Seconds", "Percent", "Count/Second", "None", "Bytes"}


def test_lean_publishes_exactly_its_table_of_metering_metrics() -> None:
    for dimension_set, expected in LEAN_TABLE.items():
        assert set(contract.published_at(LEAN, dimension_set, contract.METERING)) == expected, dimension_set


def test_model_adds_every_metering_figure_per_model_and_full_adds_applications_and_pairs() -> None:
    metering = [n for n in contract.METERING_METRICS if n != "MalformedRecords"]
    assert set(contract.published_at(MODEL, ALL, contract.METERING)) == {*metering, "MalformedRecords"}
    assert set(contract.published_at(MODEL, BY_MODEL, contract.METERING)) == set(metering)
    assert set(contract.published_at(MODEL, BY_PAIR, contract.METERING)) == set()
    for dimension_set in contract.DIMENSION_SETS[1:]:
        assert set(contract.published_at(FULL, dimension_set, contract.METERING)) == set(metering)
    # a malformed line has no trustworthy model or application, at any level
    for level in contract.METRIC_DETAIL_LEVELS:
        assert contract.spec("MalformedRecords").dimension_sets(level) == (ALL,)


def test_levels_are_cumulative_for_every_declared_metric() -> None:
    for spec in contract.METRICS:
        previous: set[tuple[str, ...]] = set()
        for level in contract.METRIC_DETAIL_LEVELS:
            sets = set(spec.dimension_sets(level))
            assert previous <= sets, f"{spec.name} loses a dimension set at {level}"
            previous = sets


def test_every_declaration_is_well_formed() -> None:
    names = [s.name for s in contract.METRICS]
    assert len(names) == len(set(names))
    for spec in contract.METRICS:
        assert spec.unit in EMF_UNITS, spec.name
        assert spec.publisher, spec.name
        for dimension_set, level in spec.published.items():
            assert level in contract.METRIC_DETAIL_LEVELS, spec.name
            assert len(set(dimension_set)) == len(dimension_set), spec.name
            for dimension in dimension_set:
                assert spec.population(dimension), spec.name
        if any(spec.dimension_sets(level) for level in contract.METRIC_DETAIL_LEVELS):
            assert spec.read_by or spec.published == {}, f"{spec.name}: say what reads it"


def test_budget_metrics_are_per_budgeted_application_whatever_the_level() -> None:
    for name in contract.BUDGET_METRICS:
        spec = contract.spec(name)
        assert spec.publisher == contract.BUDGET_GUARD
        assert spec.dimension_sets(LEAN) == (ALL, BY_APPLICATION)
        assert spec.population(contract.DIMENSION_APPLICATION) == contract.POPULATION_BUDGETED_APPLICATIONS
    assert contract.spec("CostUSD").population(contract.DIMENSION_APPLICATION) == "applications"


def test_an_unknown_metric_or_level_is_named() -> None:
    with pytest.raises(KeyError, match="Latncy is not a metric of the contract"):
        contract.spec("Latncy")
    with pytest.raises(ValueError, match="MetricDetail must be one of lean, model, full, got 'verbose'"):
        contract.spec("Requests").dimension_sets("verbose")
    with pytest.raises(ValueError, match="declared at two levels"):
        contract.levels(lean=(ALL,), full=(ALL,))
