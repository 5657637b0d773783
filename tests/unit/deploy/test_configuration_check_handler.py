"""The ConfigurationCheck handler answers CloudFormation: SUCCESS, or FAILED with the field named,
always within the 4,096-byte reply, and never blocks a stack's deletion."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from bedrock_watch.limits import CUSTOM_RESOURCE_RESPONSE_BYTES
from sandbox.events import load_event
from sandbox.shims import LambdaContext


@pytest.fixture
def answer(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Invoke the handler with an event; what it PUT to CloudFormation's response URL."""
    import bedrock_watch.custom_resource as custom_resource

    sent: list[bytes] = []
    monkeypatch.setattr(custom_resource, "_put", lambda url, body: sent.append(body))
    handler = importlib.import_module("functions.configuration_check.app").lambda_handler
    context = LambdaContext("configuration-check", "arn:aws:lambda:us-east-1:123456789012:function:c")

    def run(event: dict[str, Any]) -> dict[str, Any]:
        sent.clear()
        handler(event, context)
        [body] = sent
        assert len(body) < CUSTOM_RESOURCE_RESPONSE_BYTES // 2, len(body)
        reply: dict[str, Any] = json.loads(body)
        return reply

    return run


def test_the_sample_events_are_answered_success_and_failed_with_the_field(answer: Any) -> None:
    ok = answer(load_event("deploy/configuration-check-create"))
    assert (ok["Status"], ok["PhysicalResourceId"], ok["Data"]) == ("SUCCESS", "ConfigurationCheck", {})
    failed = answer(load_event("deploy/configuration-check-bad-policy"))
    assert failed["Status"] == "FAILED"
    assert failed["Reason"].startswith(
        "ConfigurationRefused: EscalationPolicy: critical.tiers[0].channels[1]: unknown channel type 'slak'"
    )


def test_an_update_to_a_bad_configuration_is_refused_and_keeps_the_physical_id(answer: Any) -> None:
    event = {**load_event("deploy/configuration-check-bad-policy"), "RequestType": "Update"}
    event["PhysicalResourceId"] = "ConfigurationCheck"
    reply = answer(event)
    assert (reply["Status"], reply["PhysicalResourceId"]) == ("FAILED", "ConfigurationCheck")


def test_a_stack_with_a_bad_configuration_can_still_be_deleted(answer: Any) -> None:
    event = {**load_event("deploy/configuration-check-bad-policy"), "RequestType": "Delete"}
    event["PhysicalResourceId"] = "ConfigurationCheck"
    assert answer(event)["Status"] == "SUCCESS"


def test_the_worst_refusal_still_fits_the_custom_resource_reply(answer: Any) -> None:
    # Given every checked parameter wrong, many times over, with the longest ids the template allows
    event = load_event("deploy/configuration-check-create")
    props = event["ResourceProperties"]
    props["MonitoredModels"] = [f"{'m' * 190}{i}.x-v1:0=nosuchroute{i}=0" for i in range(60)]
    props["EscalationPolicy"] = "{" * 500
    props["ApplicationBudgets"] = json.dumps({f"app{i}": -1 for i in range(100)})
    props["BudgetDowngradeRoutes"] = ",".join(f"nosuch{i}" for i in range(200))
    # When it is answered, the reply is FAILED and below the limit (asserted by the fixture)
    reply = answer(event)
    assert reply["Status"] == "FAILED"
    assert reply["Reason"].startswith("ConfigurationRefused: MonitoredModels: 60 entries, at most")
    assert reply["Reason"].endswith("more (run `bedrock-watch check`)")


def test_an_update_that_changes_a_monitored_models_route_or_quota_is_refused(answer: Any) -> None:
    # Given a deployed stack monitoring a model with a quota of 2,000,000 tokens per minute
    create = load_event("deploy/configuration-check-create")
    old = create["ResourceProperties"]
    [entry] = old["MonitoredModels"]
    model_id, route, _ = entry.split("=")
    # When an update raises that model's quota (same model, so the same alarm names)
    new = {**old, "MonitoredModels": [f"{model_id}={route}=4000000"]}
    event = {**create, "RequestType": "Update", "PhysicalResourceId": "ConfigurationCheck"}
    event |= {"ResourceProperties": new, "OldResourceProperties": old}
    reply = answer(event)
    # Then it is refused before any alarm is touched, naming the entry and the way through
    assert reply["Status"] == "FAILED"
    assert f"MonitoredModels[0]: '{model_id}={route}=4000000' changes the route or quota" in reply["Reason"]
    assert "Deploy once without the entry" in reply["Reason"]
    # while adding a model, or keeping the entry as it was, is an ordinary update
    second = "global.anthropic.claude-sonnet-4-5-20250929-v1:0=chat=1000000"
    grown = {**old, "MonitoredModels": [entry, second]}
    assert answer({**event, "ResourceProperties": grown})["Status"] == "SUCCESS"
    assert answer({**event, "ResourceProperties": old})["Status"] == "SUCCESS"
