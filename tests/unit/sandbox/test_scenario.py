"""Drill scenarios: the shipped ones load, bad values are refused naming the field, and the stack
parameters derived from a scenario are scaled to real seconds."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sandbox.scenario import SCENARIOS, ScenarioError, load, parse
from sandbox.template import load_yaml

BASE: dict[str, Any] = load_yaml((SCENARIOS / "storm.yaml").read_text())


def variant(path: str, value: Any) -> dict[str, Any]:
    """BASE with the value at a dotted path (list indexes as numbers) replaced."""
    doc = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
def test_every_shipped_scenario_loads(name: str) -> None:
    scenario = load(name)
    assert scenario.name == name
    assert scenario.applications
    assert scenario.routes


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("duration_minutes", 0, "duration_minutes: must be at least 1"),
        ("scale", "fast", "scale: must be a number"),
        ("models.0.family", "gpt", "models[0].family: must be one of"),
        (
            "routes.chat.fallbacks",
            ["nope"],
            "routes.chat.fallbacks[0]: 'nope' is not one of the scenario's models",
        ),
        ("applications.0.route", "search", "applications[0].route: 'search' is not one of routes"),
        ("applications.0.error_rate", 1.5, "applications[0].error_rate: must be at most 1"),
        ("incidents.0.to_minute", 2, "incidents[0].to_minute: must be after from_minute (4)"),
        ("incidents.0.kind", "meteor", "incidents[0].kind: must be one of"),
        (
            "actions.0.acknowledge.tier",
            "cto",
            "actions[0].acknowledge.tier: 'cto' is not a tier of escalation",
        ),
        ("actions.0.acknowledge.via", "email", "actions[0].acknowledge.via: must be one of link, console"),
        ("parameters.Routes", "{}", "parameters.Routes: is set by the scenario's routes"),
        ("parameters.NoSuchParameter", 1, "parameters.NoSuchParameter: is not a parameter of template.yaml"),
        ("colour", "blue", "colour: unknown field"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse(variant(path, value))
    assert message in str(err.value)


def test_a_missing_field_is_named() -> None:
    doc = copy.deepcopy(BASE)
    del doc["applications"][0]["requests_per_minute"]
    with pytest.raises(ScenarioError, match=r"applications\[0\]\.requests_per_minute: is required"):
        parse(doc)


def test_stack_parameters_come_from_the_scenario_with_waits_in_real_seconds() -> None:
    scenario = parse(BASE)
    params = scenario.stack_parameters()
    # the monitored model is the route's primary with its quota; routes as the Routes parameter
    assert params["MonitoredModels"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0=chat=2000000"
    assert json.loads(params["Routes"])["chat"]["fallbacks"] == ["us.amazon.nova-pro-v1:0"]
    # simulated seconds / scale (120): 600 s tier delay -> 5 s, 360 s cool-down -> 3 s
    policy = json.loads(params["EscalationPolicy"])
    assert [t["after_seconds"] for t in policy["critical"]["tiers"]] == [0, 5]
    assert params["FailbackCooldownSeconds"] == 3
    assert params["VerifySettleSeconds"] == 1
    assert params["MonthlyBudgetUSD"] == 1000


def test_an_unknown_scenario_names_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no such file .*shipped: default, storm"):
        load("nope")
