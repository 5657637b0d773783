"""The escalation part of template.yaml and statemachines/escalation.asl.json, checked statically."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import pytest

import bedrock_watch
from bedrock_watch.errors import BedrockWatchError
from bedrock_watch.escalation import EscalationSettings
from sandbox.events import load_event
from sandbox.intrinsics import Resolver
from sandbox.template import STATEMACHINES, load_asl, load_template, parameter_defaults, resources
from tests.infra.aws_reference import star_only

ESCALATION_FUNCTIONS = (
    "EscalationOpenFunction",
    "EscalationPageFunction",
    "EscalationAckFunction",
    "EscalationEventsFunction",
)


# Actions AWS does not scope to a resource: "*" is the only valid Resource for them.
def _states(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in definition["States"].values():
        yield state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"])


def test_asl_placeholders_and_definition_substitutions_match_both_ways() -> None:
    text = (STATEMACHINES / "escalation.asl.json").read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    substitutions = set(resources()["EscalationStateMachine"]["Properties"]["DefinitionSubstitutions"])

    assert placeholders == substitutions


def test_the_escalation_workflow_is_standard() -> None:
    # it waits up to hours for a human; Express workflows stop after 5 minutes
    assert resources()["EscalationStateMachine"]["Properties"]["Type"] == "STANDARD"


def _exception_classes() -> set[str]:
    names = set()
    for module in pkgutil.walk_packages(bedrock_watch.__path__, "bedrock_watch."):
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, type) and issubclass(value, BedrockWatchError):
                names.add(value.__name__)
    return names


def test_every_error_the_asl_catches_or_retries_is_a_real_exception_class() -> None:
    caught = {
        name
        for state in _states(load_asl("escalation"))
        for handler in state.get("Catch", []) + state.get("Retry", [])
        for name in handler["ErrorEquals"]
        if not name.startswith(("States.", "Lambda."))
    }

    assert caught, "the ASL should catch our named errors"
    assert caught <= _exception_classes(), caught - _exception_classes()


def _statements(function: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in function["Properties"].get("Policies", []):
        if "Statement" in policy:
            yield from policy["Statement"]


@pytest.mark.parametrize("logical", ESCALATION_FUNCTIONS)
def test_function_iam_is_scoped_to_named_resources(logical: str) -> None:
    function = resources()[logical]
    for policy in function["Properties"].get("Policies", []):
        assert isinstance(policy, dict), f"{logical}: managed policy {policy!r} is not least privilege"
        for name in policy:
            assert "FullAccess" not in name, f"{logical}: {name}"
            assert "CrudPolicy" not in name, f"{logical}: {name}"
    for statement in _statements(function):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in a for a in actions), f"{logical}: wildcard action in {statement}"
        if statement["Resource"] == "*":
            # the IAM reference decides which actions AWS accepts only on "*"
            assert all(star_only(a) for a in actions), f"{logical}: {actions} on every resource"


def test_alarm_tags_are_readable_only_for_this_stacks_alarms_unless_prefixes_are_opted_in() -> None:
    statement = next(
        s
        for s in _statements(resources()["EscalationOpenFunction"])
        if s["Sid"] == "ReadAlarmTagsAndCompositeInputs"
    )
    assert sorted(statement["Action"]) == ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"]
    resolver = _resolver(prefixes=[""])

    assert (
        resolver.resolve(statement["Resource"]) == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:bw-prod.*"
    )


def test_the_state_machine_may_invoke_exactly_the_functions_it_calls() -> None:
    props = resources()["EscalationStateMachine"]["Properties"]
    invoked = {v["Fn::GetAtt"][0] for v in props["DefinitionSubstitutions"].values() if "Fn::GetAtt" in v}
    allowed = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in props["Policies"] if "LambdaInvokePolicy" in p
    }

    assert invoked == allowed


def test_only_the_ack_function_has_a_public_url() -> None:
    with_url = {
        k
        for k, v in resources(type_="AWS::Serverless::Function").items()
        if "FunctionUrlConfig" in v["Properties"]
    }
    # the only other public URL is remediation's approval-link endpoint (signed links too)
    assert with_url == {"EscalationAckFunction", "RemediationApprovalLinkFunction"}


def test_incidents_are_encrypted_and_expire_and_pages_are_encrypted() -> None:
    table = resources()["IncidentsTable"]["Properties"]
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert resources()["EscalationTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "TopicKey"}


def test_the_async_resolver_has_an_on_failure_destination() -> None:
    config = resources()["EscalationEventsFunction"]["Properties"]["EventInvokeConfig"]
    assert config["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def _resolver(prefixes: list[str]) -> Resolver:
    refs = {
        **parameter_defaults(),
        "AWS::StackName": "bw-prod",
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "EscalationAlarmPrefixes": prefixes,
    }
    return Resolver(refs, {}, load_template()["Conditions"])


def _pattern(rule: str, prefixes: list[str]) -> Any:
    from moto.events.models import EventPattern

    raw = resources()[rule]["Properties"]["EventPattern"]
    return EventPattern.load(_resolver(prefixes).resolve(raw))


def _alarm(name: str, state: str = "ALARM") -> dict[str, Any]:
    event = load_event("escalation/alarm" if state == "ALARM" else "escalation/ok")
    return {**event, "detail": {**event["detail"], "alarmName": name}}


@pytest.mark.parametrize(
    ("prefixes", "alarm", "escalated"),
    [
        ([""], "bw-prod.ModelErrors", True),
        ([""], "bw-staging.ModelErrors", False),
        # another stack whose name starts with this one's ("bw-prod-eu") is not this stack
        ([""], "bw-prod-eu.ModelErrors", False),
        ([""], "bw-prod-ModelErrors", False),
        ([""], "payments-latency", False),
        (["payments-", "search-"], "payments-latency", True),
        (["payments-", "search-"], "search-errors", True),
        (["payments-", "search-"], "bw-prod.ModelErrors", True),
        (["payments-", "search-"], "billing-errors", False),
    ],
)
def test_alarm_rules_match_this_stacks_alarms_and_the_opted_in_prefixes(
    prefixes: list[str], alarm: str, escalated: bool
) -> None:
    fired = _pattern("EscalationStateMachineAlarmFired", prefixes)
    cleared = _pattern("EscalationEventsFunctionAlarmOk", prefixes)

    assert fired.matches_event(_alarm(alarm)) is escalated
    assert cleared.matches_event(_alarm(alarm, "OK")) is escalated
    assert not fired.matches_event(_alarm(alarm, "OK"))
    assert not cleared.matches_event(_alarm(alarm))


@pytest.mark.parametrize("logical", ESCALATION_FUNCTIONS)
def test_every_escalation_function_gets_the_settings_it_reads(logical: str) -> None:
    template = load_template()
    env = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **resources()[logical]["Properties"]["Environment"]["Variables"],
    }
    names = {
        "IncidentsTable": "t",
        "EscalationTopic": "arn:aws:sns:us-east-1:1:t",
        "EscalationChannelSecret": "arn:s1",
        "LinkSigningSecret": "arn:s2",
    }
    resolver = _resolver([""])
    resolver = Resolver(
        {**resolver.refs, **names},
        {"EscalationAckFunctionUrl.FunctionUrl": "https://x/"},
        resolver.conditions,
    )

    settings = EscalationSettings.from_env({k: str(v) for k, v in resolver.resolve(env).items()})

    assert settings.table_name == "t"
