"""The cardinality guard counted across the fleet: names other containers already publish count
against MaxApplications, budgeted names are always admitted, a failed listing falls back."""

from __future__ import annotations

from typing import Any

import pytest

from bedrock_watch.budgets import parse_application_budgets
from bedrock_watch.errors import ConfigurationError
from bedrock_watch.metering import ApplicationGuard, FleetApplications, MeteringSettings


class FakeCloudWatch:
    """ListMetrics of CostUSD per Application, as other containers have published them."""

    def __init__(self, names: list[str], *, fail: bool = False) -> None:
        self.names = names
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> FakeCloudWatch:
        assert operation == "list_metrics"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        if self.fail:
            raise RuntimeError("AccessDenied")
        metrics = [
            {"MetricName": "CostUSD", "Dimensions": [{"Name": "Application", "Value": name}]}
            for name in self.names
        ]
        return [{"Metrics": metrics[:2]}, {"Metrics": metrics[2:]}]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_names_the_fleet_already_publishes_count_against_the_cap() -> None:
    # Given a cap of 4 and three names other containers publish (one of them "other")
    fleet = FleetApplications("BedrockWatch", FakeCloudWatch(["a", "b", "c", "other"]), Clock())
    guard = ApplicationGuard(4, fleet)
    # When this container meets a published name, then two new ones
    # Then the published name is kept, one new name fits, the next is metered as other
    assert guard("b") == "b"
    assert guard("new-1") == "new-1"
    assert guard("new-2") == "other"
    # and the listing asked only for recently active CostUSD per Application
    [call] = fleet.client.calls  # type: ignore[union-attr]
    assert call == {
        "Namespace": "BedrockWatch",
        "MetricName": "CostUSD",
        "Dimensions": [{"Name": "Application"}],
        "RecentlyActive": "PT3H",
    }


def test_the_listing_is_refreshed_at_most_every_ten_minutes() -> None:
    clock = Clock()
    client = FakeCloudWatch(["a"])
    fleet = FleetApplications("NS", client, clock)
    guard = ApplicationGuard(10, fleet)
    for i in range(5):
        guard(f"app-{i}")
    assert len(client.calls) == 1
    clock.now = 601
    guard("app-late")
    assert len(client.calls) == 2


def test_budgeted_names_are_admitted_past_the_cap_and_a_failed_listing_counts_locally() -> None:
    fleet = FleetApplications("NS", FakeCloudWatch([], fail=True), Clock())
    guard = ApplicationGuard(1, fleet, reserved=frozenset({"billing"}))
    assert guard("first") == "first"
    assert guard("second") == "other"  # the container's own count still caps
    assert guard("billing") == "billing"  # a budget never meters into other


def test_the_deployed_function_counts_the_fleet_and_knows_the_budgets() -> None:
    settings = MeteringSettings.from_env(
        {"APPLICATION_GUARD_SCOPE": "fleet", "APPLICATION_BUDGETS": '{"chat": 100, "search": 20}'}
    )
    assert settings.fleet_guard is True
    assert settings.budgeted_applications == {"chat", "search"}
    assert MeteringSettings.from_env({}).fleet_guard is False


@pytest.mark.parametrize(
    ("budgets", "named"),
    [
        ("[1, 2]", "must be a JSON object"),
        ('{"chat": -5}', "APPLICATION_BUDGETS['chat']"),
        ("{not json", "is not valid JSON"),
    ],
)
def test_the_meter_refuses_application_budgets_the_budget_guard_would_refuse(
    budgets: str, named: str
) -> None:
    """One parser for both functions: the meter must reserve exactly the names the guard pages for."""
    with pytest.raises(ConfigurationError, match="APPLICATION_BUDGETS") as meter_error:
        MeteringSettings.from_env({"APPLICATION_BUDGETS": budgets})
    with pytest.raises(ConfigurationError) as guard_error:
        parse_application_budgets(budgets)
    assert named in str(meter_error.value)
    assert str(meter_error.value) == str(guard_error.value)
