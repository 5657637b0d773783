"""The configuration check: every checked parameter's bad value is refused with the field named,
and the template's defaults pass (they are what a first `sam deploy` runs with)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bedrock_watch.deploycheck import (
    CHECKED_PARAMETERS,
    ConfigurationRefused,
    check_configuration,
    parse_monitored_models,
    summarise,
)
from bedrock_watch.limits import MAX_ESCALATION_ALARM_PREFIXES, MAX_MONITORED_MODELS
from bedrock_watch.routes import parse_declarations
from sandbox.events import load_event
from sandbox.template import parameter_defaults

SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
ROUTES = json.dumps(
    {
        "chat": {"primary": SONNET, "fallbacks": ["us.amazon.nova-pro-v1:0"], "cheaper": HAIKU},
        "search": {"primary": "amazon.nova-lite-v1:0"},
    }
)
TIER = {"name": "devops", "after_seconds": 0, "channels": ["sns"]}


def policy(*critical_channels: str) -> str:
    tiers = [TIER, {"name": "seniors", "after_seconds": 900, "channels": list(critical_channels)}]
    return json.dumps(
        {
            "critical": {"tiers": tiers, "final_ack_timeout_seconds": 60},
            "warning": {"tiers": [TIER], "final_ack_timeout_seconds": 60},
        }
    )


def good() -> dict[str, Any]:
    """A valid configuration as CloudFormation hands it to the custom resource."""
    return {
        "Routes": ROUTES,
        "MonitoredModels": [f"{SONNET}=chat=2000000", "amazon.nova-lite-v1:0=search=1000000"],
        "EscalationPolicy": policy("sns", "slack:senior"),
        "ApplicationBudgets": '{"support-bot": 400}',
        "PriceOverrides": '{"amazon.nova-pro-v1:0": {"input": 0.7}}',
        "InferenceProfileMap": json.dumps(
            {"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc": SONNET}
        ),
        "BudgetDowngradeRoute": "chat",
        "BudgetDowngradeRoutes": "",
    }


def test_the_template_defaults_pass() -> None:
    defaults = parameter_defaults()
    assert check_configuration({name: defaults[name] for name in CHECKED_PARAMETERS}) == []


def test_a_valid_configuration_passes_and_the_sample_event_is_one() -> None:
    assert check_configuration(good()) == []
    assert check_configuration(load_event("deploy/configuration-check-create")["ResourceProperties"]) == []


def test_the_policy_typo_of_the_issue_is_named_down_to_the_channel() -> None:
    problems = check_configuration({**good(), "EscalationPolicy": policy("slak")})
    assert problems == [
        "EscalationPolicy: critical.tiers[1].channels[0]: unknown channel type 'slak' "
        "(expected one of ['jsm', 'pagerduty', 'servicenow', 'slack', 'sns'])"
    ]
    [problem] = check_configuration(load_event("deploy/configuration-check-bad-policy")["ResourceProperties"])
    assert problem.startswith("EscalationPolicy: critical.tiers[0].channels[1]: unknown channel type 'slak'")


@pytest.mark.parametrize(
    ("parameter", "value", "problem"),
    [
        ("Routes", "{oops", "Routes is not valid JSON"),
        (
            "Routes",
            '{"Chat!": {"primary": "amazon.nova-lite-v1:0"}}',
            "Routes: route name 'Chat!' must match",
        ),
        (
            "Routes",
            '{"chat": {"primary": "amazon.nova-lite-v1:0", "fallbacks": "x"}}',
            "Routes: routes.chat.fallbacks must be a list",
        ),
        ("Routes", "{}", "Routes: declares no route"),
        ("MonitoredModels", [f"{SONNET}=chat"], "MonitoredModels[0]: '"),
        (
            "MonitoredModels",
            [f"{SONNET}=summarise=1000"],
            "MonitoredModels[0]: route 'summarise' is not declared",
        ),
        ("MonitoredModels", [f"{SONNET}=chat=0"], "MonitoredModels[0]: TPM quota '0' must be a whole number"),
        ("MonitoredModels", ["no spaces allowed=chat=1"], "MonitoredModels[0]: 'no spaces allowed' is not"),
        (
            "MonitoredModels",
            ["anthropic.claude-sonnet-4-5-20250929-v1:0=chat=1"],
            "MonitoredModels[0]: 'anthropic.claude-sonnet-4-5-20250929-v1:0' is not a model of route 'chat'",
        ),
        (
            "MonitoredModels",
            [f"{SONNET}=chat=1", f"{SONNET}=chat=1"],
            f"MonitoredModels[0] '{SONNET}=chat=1' and MonitoredModels[1] '{SONNET}=chat=1' repeat",
        ),
        (
            "EscalationAlarmPrefixes",
            ",".join(f"team{i}-" for i in range(MAX_ESCALATION_ALARM_PREFIXES + 1)),
            f"EscalationAlarmPrefixes: {MAX_ESCALATION_ALARM_PREFIXES + 1} prefixes",
        ),
        ("EscalationPolicy", "{", "EscalationPolicy: escalation policy is not valid JSON"),
        (
            "EscalationPolicy",
            '{"critical": {}}',
            "EscalationPolicy: escalation policy has no entry for severities",
        ),
        ("ApplicationBudgets", '{"chat": 0}', "ApplicationBudgets['chat'] must be a positive number of USD"),
        ("ApplicationBudgets", "[1]", "ApplicationBudgets must be a JSON object"),
        ("PriceOverrides", "{oops", "PriceOverrides: not valid JSON"),
        (
            "PriceOverrides",
            '{"new.model-v1:0": {"input": 1}}',
            "PriceOverrides: price for model 'new.model-v1:0'",
        ),
        (
            "PriceOverrides",
            '{"us.amazon.nova-pro-v1:0": {"input": 1}}',
            "PriceOverrides: price for model 'us.amazon.nova-pro-v1:0': use the base model id",
        ),
        ("InferenceProfileMap", "[]", "InferenceProfileMap: must be a JSON object, got list"),
        ("InferenceProfileMap", '{"anthropic.claude": "x"}', "InferenceProfileMap key 'anthropic.claude'"),
        (
            "InferenceProfileMap",
            json.dumps(
                {
                    "arn:aws:bedrock:us-east-1:1:application-inference-profile/a": (
                        "arn:aws:bedrock:us-east-1:1:application-inference-profile/b"
                    )
                }
            ),
            "InferenceProfileMap['arn:aws:bedrock:us-east-1:1:application-inference-profile/a']: ",
        ),
        ("BudgetDowngradeRoute", "summarise", "BudgetDowngradeRoute: route 'summarise' is not declared"),
        ("BudgetDowngradeRoute", "search", "BudgetDowngradeRoute: route 'search' declares no cheaper model"),
        ("BudgetDowngradeRoutes", "chat,search", "BudgetDowngradeRoutes: route 'search' declares no cheaper"),
    ],
)
def test_each_parameters_bad_value_is_named(parameter: str, value: Any, problem: str) -> None:
    # Given an otherwise valid configuration with one bad value
    problems = check_configuration({**good(), parameter: value})
    # Then exactly that parameter is reported, naming the field
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems[0]
    assert problems[0].startswith(parameter)


def test_a_broken_routes_document_does_not_also_blame_every_monitored_model() -> None:
    # Given Routes that cannot be read, route membership cannot be judged
    problems = check_configuration({**good(), "Routes": "{oops"})
    # Then Routes alone is reported, not every entry that names a route
    assert len(problems) == 1
    assert problems[0].startswith("Routes is not valid JSON")


def test_more_monitored_models_than_the_stack_can_hold_are_refused() -> None:
    routes = parse_declarations(
        json.dumps({"chat": {"primary": SONNET, "fallbacks": [f"m{i}.model-v1:0" for i in range(45)]}})
    )
    entries = [f"m{i}.model-v1:0=chat=1" for i in range(MAX_MONITORED_MODELS + 1)]
    models, problems = parse_monitored_models(entries, routes)
    assert problems == [
        f"MonitoredModels: {MAX_MONITORED_MODELS + 1} entries, at most {MAX_MONITORED_MODELS} "
        "(each adds 7 alarms; a stack holds at most 500 resources)"
    ]
    assert len(models) == MAX_MONITORED_MODELS + 1
    assert parse_monitored_models(entries[:-1], routes)[1] == []


def test_the_reason_fits_the_custom_resource_reply_however_many_problems() -> None:
    # Given a configuration wrong in a hundred places
    problems = [
        f"MonitoredModels[{i}]: route 'r{i}' is not declared in Routes (declared: chat)" for i in range(100)
    ]
    # When it is refused
    reason = str(ConfigurationRefused(problems))
    # Then the reason lists whole problems, says how many more there are, and stays short
    assert len(reason) <= 900
    assert reason.startswith("MonitoredModels[0]: route 'r0'")
    assert reason.endswith("more (run `bedrock-watch check`)")
    assert summarise(problems[:2]) == "; ".join(problems[:2])
    assert len(summarise(["x" * 5000])) <= 900
