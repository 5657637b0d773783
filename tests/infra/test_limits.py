"""AWS limits on the template as AWS transforms it, at the largest configuration bedrock-watch accepts.

moto enforces none of these; each bites only on a real account, at the first deployment with a
long stack name, many models or many routes (docs/limits.md lists them with their sources).
The "largest configuration" is built from bedrock_watch.limits, the numbers the deploy-time
validator and the offline check refuse beyond, so raising a maximum there re-runs these checks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bedrock_watch import limits
from bedrock_watch.custom_resource import respond
from bedrock_watch.errors import ConfigurationError
from bedrock_watch.routes import parse_declarations, seeder_reply
from sandbox.template import TEMPLATE, load_template
from tests.infra.translated import CUSTOM_REPLIES, Deployment, render, translate

LONGEST_STACK = "b" + "w" * (limits.STACK_NAME_CHARS - 1)
LONGEST_REGION = "ap-southeast-5"
LONGEST_PARTITION = "aws-us-gov"
ACCOUNT = "123456789012"


def _entry(i: int, *, model_chars: int = 30, route: str = "chat", quota: str = "2000000") -> str:
    model = f"p{i:02d}.{'m' * model_chars}"[:model_chars]
    return f"{model}={route}={quota}"


def most_models() -> list[str]:
    return [_entry(i) for i in range(limits.MAX_MONITORED_MODELS)]


def longest_models() -> list[str]:
    """Entries at every per-field maximum the MonitoredModels pattern allows."""
    return [
        _entry(i, model_chars=limits.MAX_MONITORED_MODEL_ID_CHARS, route="r" * 64, quota="9" * 12)
        for i in range(3)
    ]


def most_prefixes() -> list[str]:
    return [
        f"{i:02d}" + "p" * (limits.MAX_ESCALATION_ALARM_PREFIX_CHARS - 2)
        for i in range(limits.MAX_ESCALATION_ALARM_PREFIXES)
    ]


# ---------------------------------------------------------------- the maxima are what the template says


def test_the_template_allows_no_longer_model_id_than_the_limit() -> None:
    pattern = re.compile(load_template()["Parameters"]["MonitoredModels"]["AllowedPattern"])
    longest = "m" * limits.MAX_MONITORED_MODEL_ID_CHARS

    assert pattern.match(f"{longest}=chat=1")
    assert not pattern.match(f"{longest}m=chat=1")


def test_the_largest_configuration_passes_the_checks_and_one_more_does_not() -> None:
    limits.check_monitored_models(most_models())
    limits.check_monitored_models(longest_models())
    limits.check_escalation_alarm_prefixes(most_prefixes())

    with pytest.raises(
        ConfigurationError, match=f"MonitoredModels: {limits.MAX_MONITORED_MODELS + 1} entries"
    ):
        limits.check_monitored_models([*most_models(), _entry(99)])
    with pytest.raises(ConfigurationError, match="EscalationAlarmPrefixes: 21 prefixes"):
        limits.check_escalation_alarm_prefixes([*most_prefixes(), "x"])


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            ["a.b=chat=1100", "a.b=chat1=100"],
            r"MonitoredModels\[0\] .* and MonitoredModels\[1\] .* differ only",
        ),
        (["a.b-c=chat=1", "a.bc=chat=1"], "differ only in punctuation"),
        (["a.b=chat=1", "a.b=chat=1"], "repeat"),
        ([f"{'m' * 94}=chat=1"], r"MonitoredModels\[0\]: model id .* has 94 characters, at most 93"),
    ],
)
def test_entries_that_would_collide_or_overflow_are_refused_naming_them(
    entries: list[str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        limits.check_monitored_models(entries)


# ---------------------------------------------------------------- the stack


def test_the_stack_stays_under_500_resources_with_the_most_models() -> None:
    template = translate({"MonitoredModels": most_models()})
    count = len(template["Resources"])

    print(f"{count} resources with {limits.MAX_MONITORED_MODELS} monitored models")
    assert count <= limits.STACK_RESOURCES
    # and the maximum really is what drives the count: each model adds its alarms
    fewer = len(translate({"MonitoredModels": most_models()[:-1]})["Resources"])
    assert count - fewer == limits.ALARMS_PER_MONITORED_MODEL


def test_parameters_outputs_and_template_size_stay_under_cloudformation_limits() -> None:
    template = load_template()
    assert len(template["Parameters"]) <= 200
    assert len(translate().get("Outputs") or {}) <= 200
    # sam deploy uploads templates over 51,200 bytes to S3, where the limit is 1 MB
    assert Path(TEMPLATE).stat().st_size <= 1_000_000
    for name, spec in template["Parameters"].items():
        default = spec.get("Default")
        if default is not None:
            assert len(str(default).encode()) <= limits.PARAMETER_VALUE_BYTES, name


# Name limits per (resource type, property), from each service's API reference.
NAME_LIMITS = {
    ("AWS::CloudWatch::Alarm", "AlarmName"): limits.ALARM_NAME_CHARS,
    ("AWS::CloudWatch::CompositeAlarm", "AlarmName"): limits.ALARM_NAME_CHARS,
    ("AWS::CloudWatch::CompositeAlarm", "AlarmRule"): 10_240,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::StepFunctions::StateMachine", "StateMachineName"): 80,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::SSM::Parameter", "Name"): 2048,
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::DynamoDB::Table", "TableName"): 255,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::Scheduler::Schedule", "Name"): 64,
    ("AWS::SecretsManager::Secret", "Name"): 512,
    ("AWS::KMS::Alias", "AliasName"): 256,
}
LONGEST = {
    "MonitoredModels": longest_models(),
    "EscalationAlarmPrefixes": most_prefixes(),
    "MonitoredRegions": ["ap-southeast-5", "ap-northeast-3"],
}


@pytest.fixture(scope="module")
def longest_names() -> tuple[dict[str, Any], dict[str, Any]]:
    """(translated, rendered) with the longest stack name and the longest entries accepted."""
    deployment = {"stack_name": LONGEST_STACK, "region": LONGEST_REGION}
    template = translate(LONGEST, **deployment)
    return template, render(template, Deployment.of(LONGEST, **deployment))


def test_logical_ids_are_short_and_alphanumeric_with_the_longest_entries(
    longest_names: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    template, _ = longest_names
    for logical_id in template["Resources"]:
        assert re.fullmatch(r"[A-Za-z0-9]+", logical_id), logical_id
        assert len(logical_id) <= limits.LOGICAL_ID_CHARS, f"{logical_id}: {len(logical_id)} characters"


def test_names_fit_their_service_limits_with_the_longest_stack_name(
    longest_names: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, rendered = longest_names
    too_long = [
        f"{logical_id}.{prop}: {len(str(value))} characters, {type_} allows {limit}"
        for logical_id, resource in rendered.items()
        for (type_, prop), limit in NAME_LIMITS.items()
        if resource["Type"] == type_
        and (value := (resource.get("Properties") or {}).get(prop)) is not None
        and len(str(value)) > limit
    ]
    assert not too_long, "\n".join(too_long)


def test_tags_fit_their_limits(longest_names: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, rendered = longest_names
    for logical_id, resource in rendered.items():
        tags = (resource.get("Properties") or {}).get("Tags") or []
        pairs = tags.items() if isinstance(tags, dict) else [(t["Key"], t["Value"]) for t in tags]
        for key, value in pairs:
            assert len(str(key)) <= 128, (logical_id, key)
            assert len(str(value)) <= 256, (logical_id, key)


def test_event_patterns_fit_eventbridge_with_the_most_alarm_prefixes(
    longest_names: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, rendered = longest_names
    for logical_id, resource in rendered.items():
        pattern = (resource.get("Properties") or {}).get("EventPattern")
        if pattern is None:
            continue
        text = pattern if isinstance(pattern, str) else json.dumps(pattern, separators=(",", ":"))
        assert len(text) <= limits.EVENT_PATTERN_CHARS, f"{logical_id}: {len(text)} characters"


# ---------------------------------------------------------------- IAM policy sizes


def _policy_chars(document: Any) -> int:
    # IAM does not count whitespace
    return len(re.sub(r"\s", "", json.dumps(document)))


def test_role_policies_fit_iam_with_the_longest_configuration(
    longest_names: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, rendered = longest_names
    sizes = {}
    for logical_id, resource in rendered.items():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::IAM::Role":
            sizes[logical_id] = sum(_policy_chars(p["PolicyDocument"]) for p in props.get("Policies") or [])
            assert sizes[logical_id] <= limits.ROLE_INLINE_POLICIES_CHARS, (
                f"{logical_id}: {sizes[logical_id]}"
            )
            assert len(props.get("ManagedPolicyArns") or []) <= 10, logical_id
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            assert _policy_chars(props["PolicyDocument"]) <= limits.MANAGED_POLICY_CHARS, logical_id
    largest = max(sizes, key=sizes.__getitem__)
    print(f"largest inline policies: {largest}, {sizes[largest]} of {limits.ROLE_INLINE_POLICIES_CHARS}")


# ---------------------------------------------------------------- custom-resource replies


def _response_bytes(logical_id: str, data: dict[str, str]) -> int:
    """The size of the response body bedrock_watch.custom_resource sends, at the longest envelope."""
    bodies: list[bytes] = []
    event = {
        "ResponseURL": "https://cloudformation-custom-resource-response.example/",
        "StackId": f"arn:{LONGEST_PARTITION}:cloudformation:{LONGEST_REGION}:{ACCOUNT}:stack/{LONGEST_STACK}/"
        "6f2c9a30-3b8e-11f0-9c1e-0a1b2c3d4e5f",
        "RequestId": "5d478079-fe1a-4b5c-9c2d-6f3e2a1b0c9d",
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": f"/{LONGEST_STACK}/routes",
    }

    with respond(event, send=lambda _url, body: bodies.append(body)) as reply:
        reply.physical_id = event["PhysicalResourceId"]
        reply.data = data
    return len(bodies[0])


def test_every_custom_resource_has_a_modelled_reply() -> None:
    types = {r["Type"] for r in translate()["Resources"].values() if r["Type"].startswith("Custom::")}
    assert types <= set(CUSTOM_REPLIES), (
        f"model the reply of {sorted(types - set(CUSTOM_REPLIES))} in translated.py"
    )


def test_the_route_seeders_largest_reply_fits_cloudformations_limit() -> None:
    # Given the most Data the seeder ever sends (it refuses more, naming the cause)
    data = {"InvokeArns": "a" * (limits.ROUTES_REPLY_DATA_BYTES - len('{"InvokeArns": ""}'))}
    assert len(json.dumps(data)) == limits.ROUTES_REPLY_DATA_BYTES

    # When it is sent with the longest stack name, region and partition
    size = _response_bytes("RoutesDeclaration", data)

    # Then CloudFormation accepts the response
    print(f"largest route-seeder response: {size} of {limits.CUSTOM_RESOURCE_RESPONSE_BYTES} bytes")
    assert size <= limits.CUSTOM_RESOURCE_RESPONSE_BYTES


def _routes_over_every_geography(budget: int) -> str:
    """A Routes value near the parameter limit: many routes, each over several providers and profiles."""
    providers = [
        "anthropic",
        "amazon",
        "meta",
        "mistral",
        "cohere",
        "ai21",
        "deepseek",
        "openai",
        "qwen",
        "writer",
    ]
    geos = ["us", "eu", "apac", "jp", "au", "ca", "global"]
    routes: dict[str, Any] = {}
    i = 0
    while True:
        provider = providers[i % len(providers)]
        route = {
            "primary": f"{geos[i % len(geos)]}.{provider}.model-{i}-v1:0",
            "fallbacks": [
                f"{provider}.model-{i}-lite-v1:0",
                f"{geos[(i + 1) % len(geos)]}.{provider}.model-{i}-v2:0",
            ],
        }
        candidate = {**routes, f"route-{i}": route}
        if len(json.dumps(candidate).encode()) > budget:
            return json.dumps(routes)
        routes, i = candidate, i + 1


def test_routes_up_to_the_parameter_limit_deploy_with_a_reply_that_fits() -> None:
    # Given Routes as long as a parameter may be, over ten providers and every geography
    routes = _routes_over_every_geography(limits.PARAMETER_VALUE_BYTES)
    specs = parse_declarations(routes)

    # When the seeder answers, Then its reply fits (before, one ARN per model passed 4 KB at ~10 routes)
    data = seeder_reply(specs, partition=LONGEST_PARTITION, region=LONGEST_REGION, account=ACCOUNT)
    size = _response_bytes("RoutesDeclaration", data)
    print(f"{len(specs)} routes: route-seeder response {size} bytes")
    assert size <= limits.CUSTOM_RESOURCE_RESPONSE_BYTES
