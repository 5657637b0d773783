"""Intrinsic functions resolved as a deployment would, and the simulated clock and schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.clock import SimClock
from sandbox.intrinsics import (
    IntrinsicError,
    Resolver,
    UnresolvedReference,
    expand_template,
    references,
    resolve_parameters,
)
from sandbox.stack import schedule_times
from sandbox.template import load_template, load_yaml

TEMPLATE = load_yaml(
    """
Parameters:
  Models: {Type: CommaDelimitedList, Default: "a.model, b.model"}
  Budget: {Type: Number, Default: 1000}
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
Mappings:
  Tiers: {dev: {delay: "60"}, prod: {delay: "300"}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition NotProd, !Or [!Equals [!Ref Budget, 1000], !Condition IsProd]]
Resources: {}
"""
)
RESOURCES = {
    ("Fn", None): "stack-Fn",
    ("Fn", "Arn"): "arn:aws:lambda:us-east-1:123456789012:function:stack-Fn",
    ("Queue", None): "https://sqs/q",
}


def resolver(**overrides: Any) -> Resolver:
    def lookup(logical_id: str, attribute: str | None) -> Any:
        if (logical_id, attribute) not in RESOURCES:
            raise UnresolvedReference(logical_id, attribute)
        return RESOURCES[(logical_id, attribute)]

    return Resolver.for_template(TEMPLATE, resolve_parameters(TEMPLATE, overrides), "stack", lookup)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "Budget"}, 1000),
        ({"Ref": "Models"}, ["a.model", "b.model"]),
        ({"Ref": "AWS::StackName"}, "stack"),
        ({"Fn::Sub": "/aws/lambda/${Fn}"}, "/aws/lambda/stack-Fn"),
        (
            {"Fn::Sub": "${Fn.Arn}:${AWS::Region}:${!Literal}"},
            "arn:aws:lambda:us-east-1:123456789012:function:stack-Fn:us-east-1:${Literal}",
        ),
        ({"Fn::Sub": ["${X}-${Budget}", {"X": {"Ref": "Env"}}]}, "dev-1000"),
        ({"Fn::GetAtt": ["Fn", "Arn"]}, "arn:aws:lambda:us-east-1:123456789012:function:stack-Fn"),
        ({"Fn::GetAtt": "Fn.Arn"}, "arn:aws:lambda:us-east-1:123456789012:function:stack-Fn"),
        ({"Fn::Join": [",", {"Ref": "Models"}]}, "a.model,b.model"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}, "y"),
        ({"Fn::If": ["IsProd", "p", "d"]}, "d"),
        ({"Fn::FindInMap": ["Tiers", {"Ref": "Env"}, "delay"]}, "60"),
        ({"Fn::FindInMap": ["Tiers", "qa", "delay", {"DefaultValue": "1"}]}, "1"),
        (
            {"Fn::ToJsonString": {"models": {"Ref": "Models"}, "n": 2}},
            '{"models":["a.model","b.model"],"n":2}',
        ),
        ({"Fn::Length": {"Ref": "Models"}}, 2),
        ({"A": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}, "B": 2}, {"B": 2}),
        ([1, {"Fn::If": ["IsProd", 2, {"Ref": "AWS::NoValue"}]}], [1]),
    ],
)
def test_intrinsics_resolve_as_cloudformation_does(expression: Any, expected: Any) -> None:
    assert resolver().resolve(expression) == expected


def test_conditions_combine_and_follow_overrides() -> None:
    assert resolver().condition("Both") is True
    assert resolver(Env="prod").condition("IsProd") is True
    assert resolver(Env="prod").resolve({"Fn::FindInMap": ["Tiers", {"Ref": "Env"}, "delay"]}) == "300"


def test_bad_parameters_and_references_are_named() -> None:
    with pytest.raises(IntrinsicError, match="Env='qa'"):
        resolver(Env="qa")
    with pytest.raises(IntrinsicError, match="does not declare"):
        resolver(Nope="1")
    with pytest.raises(UnresolvedReference, match="Table"):
        resolver().resolve({"Ref": "Table"})


def test_a_resolver_from_given_values_alone_stands_in_for_a_deployment() -> None:
    # the form tests use: Ref values, GetAtt values and the Conditions section, no lookup
    resolver = Resolver(
        {"Env": "prod", "Topic": "arn:aws:sns:us-east-1:123456789012:t", "AWS::StackName": "bw-prod"},
        {"Fn.Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"},
        {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
    )
    assert resolver.resolve({"Fn::Sub": "${AWS::StackName}:${Fn.Arn}:${AWS::Partition}"}) == (
        "bw-prod:arn:aws:lambda:us-east-1:123456789012:function:f:aws"
    )
    assert (
        resolver.resolve({"Fn::If": ["IsProd", {"Ref": "Topic"}, "none"]})
        == "arn:aws:sns:us-east-1:123456789012:t"
    )
    with pytest.raises(UnresolvedReference, match="Queue"):
        resolver.resolve({"Ref": "Queue"})


def test_references_find_every_logical_id_an_expression_depends_on() -> None:
    props = {"A": {"Fn::Sub": "${Fn}/${Queue.Arn}/${AWS::Region}/${!No}"}, "B": [{"Fn::GetAtt": "Table.Arn"}]}
    assert references(props) == {"Fn", "Queue", "Table"}


def test_foreach_is_left_for_the_hook_and_reported_when_there_is_none() -> None:
    template = {"Resources": {"Fn::ForEach::Models": ["M", {"Ref": "Models"}, {"Alarm${M}": {}}], "R": {}}}
    _, leftover = expand_template(template, {}, None)
    assert leftover == [("Resources", "Fn::ForEach::Models")]

    def hook(t: dict[str, Any], params: Any) -> dict[str, Any]:
        t["Resources"] = {"R": {}, "AlarmA": {}}
        return t

    expanded, leftover = expand_template(template, {}, hook)
    assert leftover == []
    assert set(expanded["Resources"]) == {"R", "AlarmA"}


def test_the_shipped_template_parameters_all_resolve_from_their_defaults() -> None:
    params = resolve_parameters(load_template())
    assert params["MetricsNamespace"] == "BedrockWatch"


# ---------------------------------------------------------------------- clock and schedules
T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def test_the_clock_moves_only_forward_and_notifies_listeners() -> None:
    clock = SimClock(start=T0, scale=60)
    seen: list[tuple[datetime, datetime]] = []
    clock.on_advance(lambda before, after: seen.append((before, after)))
    ticks = list(clock.ticks(60, T0 + timedelta(minutes=3)))
    assert ticks == [T0 + timedelta(minutes=k) for k in (1, 2, 3)]
    assert seen[0] == (T0, T0 + timedelta(minutes=1))
    assert clock.scaled(300) == 5.0  # a 5-minute tier delay runs as 5 real seconds
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_rate_schedules_fire_from_creation_and_cron_on_matching_minutes() -> None:
    fired = schedule_times("rate(15 minutes)", T0, T0, T0 + timedelta(hours=1))
    assert [t.minute for t in fired] == [15, 30, 45, 0]
    cron = schedule_times("cron(0/20 * * * ? *)", T0, T0, T0 + timedelta(hours=1))
    assert [t.minute for t in cron] == [20, 40, 0]
    assert schedule_times("rate(1 hour)", T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=59)) == []
