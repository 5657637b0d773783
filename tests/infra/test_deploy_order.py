"""Deploy order on the template as AWS creates it: a function runs only once its log group exists.

CloudFormation creates a resource only after everything it refers to (Ref, Fn::GetAtt, Fn::Sub,
DependsOn). If a function can run before its log group is created — a custom resource, a log
subscription or an event rule invoking it during the deployment — Lambda creates the group
itself and CloudFormation then fails the stack with "already exists" (FACTS §9). moto creates
resources in whatever order the sandbox asks, so only the translated template shows this.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from sandbox.intrinsics import references
from tests.infra.translated import render, translate

# Resources that make a function run (during the deployment as much as after it), and where
# they name it.
INVOKERS = {
    "AWS::CloudFormation::CustomResource",
    "AWS::Logs::SubscriptionFilter",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Events::Rule",
    "AWS::Scheduler::Schedule",
    "AWS::SNS::Subscription",
    "AWS::StepFunctions::StateMachine",
    "AWS::Lambda::EventInvokeConfig",
}


class CircularDependency(ValueError):
    """Resources that wait for each other: CloudFormation refuses the template."""


def dependencies(resources: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Each resource's transitive dependencies, as CloudFormation orders creation."""
    direct = {
        logical_id: frozenset(
            (references(resource.get("Properties") or {}) | set(_as_list(resource.get("DependsOn"))))
            & set(resources)
        )
        for logical_id, resource in resources.items()
    }

    visiting: list[str] = []

    @functools.cache
    def closure(logical_id: str) -> frozenset[str]:
        if logical_id in visiting:
            cycle = [*visiting[visiting.index(logical_id) :], logical_id]
            raise CircularDependency(" -> ".join(cycle))
        visiting.append(logical_id)
        out: set[str] = set()
        for dep in direct[logical_id]:
            out |= {dep, *closure(dep)}
        visiting.pop()
        return frozenset(out)

    return {logical_id: closure(logical_id) for logical_id in resources}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _is_invoker(resource: Mapping[str, Any]) -> bool:
    type_ = str(resource.get("Type"))
    return type_ in INVOKERS or type_.startswith("Custom::")


def order_problems(resources: Mapping[str, Any], rendered: Mapping[str, Any] | None = None) -> list[str]:
    """Every way a function of `resources` could run before its log group exists.

    `rendered` (the same resources with intrinsics resolved) lets an invoker that names a
    function by a name or ARN it builds itself, rather than by a reference, be caught too.
    """
    try:
        deps = dependencies(resources)
    except CircularDependency as err:
        return [f"circular dependency: {err}"]
    rendered = rendered or {}
    problems: list[str] = []
    groups: dict[str, str] = {}
    for name, fn in resources.items():
        if fn.get("Type") != "AWS::Lambda::Function":
            continue
        ref = (fn.get("Properties") or {}).get("LoggingConfig", {}).get("LogGroup")
        group = ref.get("Ref") if isinstance(ref, dict) and ref.keys() == {"Ref"} else None
        if group is None or resources.get(group, {}).get("Type") != "AWS::Logs::LogGroup":
            problems.append(f"{name}: LoggingConfig.LogGroup is not a Ref to a log group of the stack")
            continue
        if name in deps[group]:
            problems.append(f"{name}: its log group {group} depends on it, so is created after it")
        groups[name] = group
    names = {
        fn: str(rendered[fn]["Properties"]["FunctionName"])
        for fn in groups
        if "FunctionName" in (rendered.get(fn, {}).get("Properties") or {})
    }
    for invoker, resource in resources.items():
        if not _is_invoker(resource):
            continue
        text = json.dumps(rendered.get(invoker, {}).get("Properties") or {})
        named = {
            fn for fn, physical in names.items() if f":function:{physical}" in text or f'"{physical}"' in text
        }
        for fn in sorted((references(resource.get("Properties") or {}) & set(groups)) | named):
            if groups[fn] not in deps[invoker]:
                problems.append(f"{invoker} can run {fn} before its log group {groups[fn]} exists")
    return problems


def test_every_function_runs_only_after_its_log_group_exists() -> None:
    # Given the template as CloudFormation creates it, When creation order is derived from references
    template = translate()
    problems = order_problems(template["Resources"], render(template))

    # Then no function can run before its log group is there
    assert not problems, "\n".join(problems)


def test_a_log_group_named_after_its_function_is_found() -> None:
    # Given the layout issue #9 found: a log group named /aws/lambda/<function>, no LoggingConfig,
    # and a custom resource that runs the function during the deployment
    resources = {
        "Seeder": {"Type": "AWS::Lambda::Function", "Properties": {"Role": "arn"}},
        "SeederLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${Seeder}"}},
        },
        "Routes": {
            "Type": "Custom::Routes",
            "Properties": {"ServiceToken": {"Fn::GetAtt": ["Seeder", "Arn"]}},
        },
    }

    # Then the check names it
    assert order_problems(resources) == [
        "Seeder: LoggingConfig.LogGroup is not a Ref to a log group of the stack"
    ]

    # And pointing LoggingConfig at that group only makes the two wait for each other
    resources["Seeder"]["Properties"]["LoggingConfig"] = {"LogGroup": {"Ref": "SeederLogGroup"}}
    [problem] = order_problems(resources)
    assert problem.startswith("circular dependency: ")


def test_an_invoker_that_names_a_function_without_referring_to_it_is_found() -> None:
    # Given a function created after its log group, and a log subscription that names it by an ARN
    # it builds itself: nothing makes CloudFormation wait for the function (or its group)
    resources = {
        "Meter": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "bw-meter",
                "LoggingConfig": {"LogGroup": {"Ref": "MeterLogGroup"}},
            },
        },
        "MeterLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": "/aws/lambda/bw/meter"},
        },
        "Subscription": {
            "Type": "AWS::Logs::SubscriptionFilter",
            "Properties": {
                "DestinationArn": {"Fn::Sub": "arn:aws:lambda:${AWS::Region}:1:function:bw-meter"}
            },
        },
    }
    rendered = {
        "Meter": resources["Meter"],
        "Subscription": {"Properties": {"DestinationArn": "arn:aws:lambda:us-east-1:1:function:bw-meter"}},
    }

    # Then the check names it
    assert order_problems(resources, rendered) == [
        "Subscription can run Meter before its log group MeterLogGroup exists"
    ]

    # And a reference (what SAM generates) makes the subscription wait
    resources["Subscription"]["Properties"]["DestinationArn"] = {"Fn::GetAtt": ["Meter", "Arn"]}
    assert order_problems(resources, rendered) == []
