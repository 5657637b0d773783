"""Route declarations, IAM derivation, savings, health, outcomes and alarm triggers."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bedrock_watch.custom_resource import respond
from bedrock_watch.profiles import ProfileResolver
from bedrock_watch.remediation import (
    Price,
    estimate_savings_per_hour,
    model_health,
    pricebook_lookup,
    requests_for_alarm,
    requests_for_schedule,
    summarise,
)
from bedrock_watch.routes import (
    InvalidRoute,
    Route,
    RouteSpec,
    base_model_id,
    invoke_arns,
    parse_declarations,
    seeder_reply,
)
from sandbox.events import load_event
from sandbox.template import parameter_defaults

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_the_template_default_routes_parse() -> None:
    specs = parse_declarations(parameter_defaults()["Routes"])
    assert "chat" in specs
    assert specs["chat"].cheaper


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "Routes is not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"Chat!": {"primary": "a.b-v1:0"}}', "route name 'Chat!'"),
        ('{"chat": {"fallbacks": []}}', "routes.chat.primary"),
        ('{"chat": {"primary": "a.b-v1:0", "fallbacks": "x"}}', "routes.chat.fallbacks"),
        ('{"chat": {"primary": "a.b-v1:0", "fallbacks": ["a.b-v1:0"]}}', "must not repeat the primary"),
        ('{"chat": {"primary": "a.b-v1:0", "cheapest": "x.y"}}', "unknown field"),
        ('{"chat": {"primary": "a.b-v1:0", "fallbacks": ["ok.model", "bad model"]}}', r"fallbacks\[1\]"),
    ],
)
def test_bad_declarations_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidRoute, match=message):
        parse_declarations(text)


def test_the_probe_may_invoke_the_models_of_the_routes_providers_only() -> None:
    specs = {
        "chat": RouteSpec(
            primary="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            fallbacks=(
                "anthropic.claude-3-haiku-20240307-v1:0",
                "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            ),
            cheaper="arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123",
        ),
        "summarise": RouteSpec(primary="amazon.nova-lite-v1:0"),
    }
    # the application profile wraps a Meta model (InferenceProfileMap or GetInferenceProfile)
    profiles = ProfileResolver({str(specs["chat"].cheaper): "us.meta.llama3-3-70b-instruct-v1:0"})
    arns = invoke_arns(
        specs, partition="aws", region="us-east-1", account="111122223333", resolve=profiles.resolve
    )
    assert arns == [
        "arn:aws:bedrock:*::foundation-model/anthropic.*",
        "arn:aws:bedrock:us-east-1:111122223333:inference-profile/*.anthropic.*",
        "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/*",
        # invoking a profile is authorised on the model it wraps too, in whichever region serves it
        "arn:aws:bedrock:*::foundation-model/meta.*",
        "arn:aws:bedrock:*::foundation-model/amazon.*",
    ]


def test_an_application_profile_whose_model_cannot_be_named_is_refused_naming_the_route() -> None:
    # Given a route over an application profile GetInferenceProfile cannot resolve (no map entry)
    profile = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/abc123"
    specs = {"chat": RouteSpec(primary="us.anthropic.claude-sonnet-4-5-20250929-v1:0", cheaper=profile)}
    denied = ProfileResolver({}, client=_DeniedBedrock())

    # When the seeder computes the probe's resources, Then the deployment fails saying what to do
    with pytest.raises(
        InvalidRoute, match=rf"Routes: chat: cannot tell which model {profile} wraps.*InferenceProfileMap"
    ):
        seeder_reply(
            specs, partition="aws", region="us-east-1", account="111122223333", resolve=denied.resolve
        )


class _DeniedBedrock:
    def get_inference_profile(self, **_: object) -> object:
        raise PermissionError("AccessDeniedException")


def test_a_reply_too_large_for_cloudformation_is_refused_naming_the_cause() -> None:
    # Given routes over so many providers that their IAM resources outgrow a custom-resource reply
    models = [f"us.p{i:03d}.model-v1:0" for i in range(40)]
    specs = {"chat": RouteSpec(primary=models[0], fallbacks=tuple(models[1:]))}

    # When the seeder builds its reply, Then the deployment fails saying why
    with pytest.raises(InvalidRoute, match="custom-resource reply: use models of fewer providers"):
        seeder_reply(specs, partition="aws", region="us-east-1", account="111122223333")


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("arn:aws:bedrock:us-east-1:1:inference-profile/eu.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
    ],
)
def test_base_model_id(model: str, base: str) -> None:
    assert base_model_id(model) == base


def test_savings_per_hour_from_last_hours_tokens() -> None:
    prices = {"big": Price(3.0, 15.0), "small": Price(1.0, 5.0)}
    saved = estimate_savings_per_hour(
        "big", "small", input_tokens_per_hour=2_000_000, output_tokens_per_hour=100_000, prices=prices.get
    )
    # (2 x 3 + 0.1 x 15) - (2 x 1 + 0.1 x 5) = 7.5 - 2.5
    assert saved == 5.0


def test_savings_are_unknown_when_a_model_is_unpriced() -> None:
    assert (
        estimate_savings_per_hour(
            "big",
            "mystery",
            input_tokens_per_hour=1,
            output_tokens_per_hour=1,
            prices={"big": Price(1, 1)}.get,
        )
        is None
    )


class FakeCloudWatch:
    def __init__(self, sums: dict[str, float]) -> None:
        self.sums = sums
        self.queries: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.queries = kwargs["MetricDataQueries"]
        return {
            "MetricDataResults": [
                {"Id": q["Id"], "Values": [self.sums.get(q["Id"], 0.0)]} for q in self.queries
            ]
        }


def test_health_at_lean_reads_aws_bedrock_alone() -> None:
    # Given no per-model metric of ours (MetricDetail=lean) and AWS/Bedrock seeing server errors
    cw = FakeCloudWatch({"aws_invocations": 40, "aws_server": 12})
    health = model_health(cw, namespace=None, model="us.amazon.nova-pro-v1:0", start=NOW, end=NOW)
    # Then only AWS/Bedrock is asked (GetMetricData is billed per metric) and it judges alone
    assert {q["MetricStat"]["Metric"]["Namespace"] for q in cw.queries} == {"AWS/Bedrock"}
    assert health.failure_rate == pytest.approx(12 / 40)


def test_health_takes_the_worse_of_our_meter_and_aws_bedrock() -> None:
    # our meter saw few errors; AWS/Bedrock saw throttles that were never logged
    cw = FakeCloudWatch({"bw_requests": 100, "bw_errors": 1, "aws_invocations": 60, "aws_throttles": 40})
    health = model_health(cw, namespace="BedrockWatch", model="us.amazon.nova-pro-v1:0", start=NOW, end=NOW)
    assert health.failure_rate == pytest.approx(0.4)
    dims = {q["Id"]: q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for q in cw.queries}
    assert dims["bw_requests"] == "amazon.nova-pro-v1:0"  # the meter's normalised id
    assert dims["aws_invocations"] == "us.amazon.nova-pro-v1:0"  # AWS/Bedrock's id as called


def test_aws_bedrock_invocations_already_hold_the_failed_requests() -> None:
    # Given 100 accepted requests of which 10 failed on the server side, and 25 throttled ones
    # (AWS/Bedrock: Invocations counts accepted requests, failed ones included, never throttles)
    cw = FakeCloudWatch({"bw_requests": 0, "aws_invocations": 100, "aws_server": 10, "aws_throttles": 25})
    # When the health of the model is read
    health = model_health(cw, namespace="BedrockWatch", model="us.amazon.nova-pro-v1:0", start=NOW, end=NOW)
    # Then the attempts are 125 (not 135: the errors are not counted twice), 35 of them failed
    assert (health.requests, health.failures) == (125, 35)
    # and client errors (the caller's fault) are not read at all: they say nothing of the model
    read = {q["MetricStat"]["Metric"]["MetricName"] for q in cw.queries}
    assert read >= {"Invocations", "InvocationThrottles"}
    assert "InvocationClientErrors" not in read


def test_summary_of_a_rollback_reports_before_after_and_the_reason() -> None:
    state = {
        "outcome": "rolled_back",
        "request": {"action": "failover", "route": "chat", "executionName": "x1", "executionArn": "arn:x1"},
        "plan": {"previous": "a", "target": "b"},
        "applied": {"previous": "a", "active": "b"},
        "error": {"Error": "VerificationFailed", "Cause": json.dumps({"errorMessage": "b failed 12 of 40"})},
    }
    summary = summarise(state, now=NOW)
    assert summary["event"]["before"] == "a"
    assert summary["event"]["after"] == "a"
    assert summary["error"] == "VerificationFailed"
    assert "b failed 12 of 40" in summary["cause"]
    assert summary["item"]["outcome"] == {"S": "rolled_back"}


def test_summary_of_a_downgrade_carries_the_estimated_savings() -> None:
    state = {
        "outcome": "applied",
        "request": {"action": "downgrade", "route": "chat", "executionName": "x2"},
        "plan": {"previous": "a", "target": "b", "savingsPerHourUSD": 4.25},
        "applied": {"previous": "a", "active": "b"},
    }
    summary = summarise(state, now=NOW)
    assert summary["event"]["estimatedSavingsPerHourUSD"] == 4.25
    assert summary["item"]["estimatedSavingsPerHourUSD"] == {"N": "4.25"}


def test_alarm_events_become_remediation_inputs() -> None:
    alarm, ok = load_event("remediation/alarm-state-alarm"), load_event("remediation/alarm-state-ok")
    tags = {"Remediation": "failover", "Route": "chat"}
    (failover,) = requests_for_alarm(alarm, tags, [])
    assert failover["action"] == "failover"
    assert failover["alarmName"] == alarm["detail"]["alarmName"]
    assert requests_for_alarm(ok, tags, [])[0]["action"] == "failback"
    assert requests_for_alarm(alarm, {"Remediation": "none", "Route": "chat"}, []) == []
    assert requests_for_alarm(alarm, {"Remediation": "failover"}, []) == []  # no route to act on


def test_an_alarm_first_reporting_ok_starts_no_failback() -> None:
    # Given a freshly deployed failover alarm going INSUFFICIENT_DATA -> OK (no episode ended)
    ok = copy.deepcopy(load_event("remediation/alarm-state-ok"))
    ok["detail"]["previousState"]["value"] = "INSUFFICIENT_DATA"
    # Then no failback starts (it would hold the route's lock through the cool-down)
    assert requests_for_alarm(ok, {"Remediation": "failover", "Route": "chat"}, []) == []


def test_budget_alarms_downgrade_every_budget_route_once() -> None:
    budget = load_event("remediation/budget-alarm")
    reqs = requests_for_alarm(budget, {"Remediation": "downgrade", "Route": "chat"}, ["chat", "summarise"])
    assert [(r["action"], r["route"]) for r in reqs] == [("downgrade", "chat"), ("downgrade", "summarise")]


def test_month_start_restores_only_routes_on_their_cheaper_variant() -> None:
    spec = RouteSpec(primary="p.model", fallbacks=("f.model",), cheaper="c.model")
    routes = [
        Route(name="chat", spec=spec, active="c.model"),
        Route(name="summarise", spec=spec, active="f.model"),  # failed over: not a budget measure
        Route(name="embed", spec=spec, active="p.model"),
    ]
    assert [(r["action"], r["route"]) for r in requests_for_schedule(routes)] == [("restore", "chat")]


def cfn_event() -> dict[str, Any]:
    return {
        "ResponseURL": "https://example.invalid/",
        "StackId": "s",
        "RequestId": "r",
        "LogicalResourceId": "RoutesDeclaration",
    }


def test_custom_resource_reports_success_with_data() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    with respond(cfn_event(), send=lambda url, body: sent.append((url, json.loads(body)))) as reply:
        reply.data = {"Routes": "chat"}
        reply.physical_id = "/s/routes"
    ((_url, body),) = sent
    assert body["Status"] == "SUCCESS"
    assert body["Data"] == {"Routes": "chat"}
    assert body["PhysicalResourceId"] == "/s/routes"


def test_custom_resource_reports_failure_with_the_reason_and_never_raises() -> None:
    sent: list[dict[str, Any]] = []
    with respond(cfn_event(), send=lambda url, body: sent.append(json.loads(body))):
        parse_declarations("{")
    assert sent[0]["Status"] == "FAILED"
    assert "Routes is not valid JSON" in sent[0]["Reason"]


def test_savings_use_the_shipped_price_table() -> None:
    # Given last hour's traffic of 1M input and 100K output tokens on Sonnet 4.5
    prices = pricebook_lookup()
    saved = estimate_savings_per_hour(
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        input_tokens_per_hour=1_000_000,
        output_tokens_per_hour=100_000,
        prices=prices,
    )
    # Then moving it to Haiku 4.5 saves (3 - 1) x 1 + (15 - 5) x 0.1 dollars per hour (FACTS §5)
    assert saved == pytest.approx(3.0)
    # and a geographic profile carries its 10 % surcharge on both sides
    geo = prices("us.anthropic.claude-haiku-4-5-20251001-v1:0")
    assert geo == Price(pytest.approx(1.1), pytest.approx(5.5))  # type: ignore[arg-type]
    assert prices("mystery.model-v1:0") is None
