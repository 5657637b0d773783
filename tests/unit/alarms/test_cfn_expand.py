"""The Fn::ForEach expander and template rendering in sandbox/cfn_expand.py, on small templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.cfn_expand import TemplateError, expand_foreach, parameter_values, render, stand_ins

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Models": {
            "Type": "CommaDelimitedList",
            "Default": "anthropic.claude-3-haiku:0=chat,amazon.nova-lite=sum",
        },
        "Namespace": {"Type": "String", "Default": "BW"},
        "Threshold": {"Type": "Number", "Default": 5},
        "Regions": {"Type": "CommaDelimitedList", "Default": ""},
    },
    "Conditions": {"HasRegions": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Regions"}]}, ""]}]}},
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Fn::ForEach::PerModel": [
            "Entry",
            {"Ref": "Models"},
            {
                "Alarm&{Entry}": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": {
                            "Fn::Sub": [
                                "${AWS::StackName}-${Id}",
                                {"Id": {"Fn::Select": [0, {"Fn::Split": ["=", {"Ref": "Entry"}]}]}},
                            ]
                        },
                        "Description": "watching ${Entry}",
                        "Threshold": {"Ref": "Threshold"},
                        "Route": {"Fn::Select": [1, {"Fn::Split": ["=", {"Ref": "Entry"}]}]},
                    },
                }
            },
        ],
        "Body": {
            "Type": "Custom::Body",
            "Properties": {
                "Json": {
                    "Fn::ToJsonString": {
                        "ns": {"Ref": "Namespace"},
                        "queue": {"Fn::GetAtt": ["Queue", "Arn"]},
                    }
                },
                "Regions": {"Fn::If": ["HasRegions", {"Fn::Join": [",", {"Ref": "Regions"}]}, "none"]},
                "Literal": {"Fn::Sub": "${!NotAVariable}-${Queue}"},
            },
        },
    },
}


def test_foreach_makes_one_resource_per_item_with_alphanumeric_ids() -> None:
    expanded = expand_foreach(TEMPLATE)
    assert set(expanded["Resources"]) == {
        "Queue",
        "Body",
        "Alarmanthropicclaude3haiku0chat",
        "Alarmamazonnovalitesum",
    }
    alarm = expanded["Resources"]["Alarmamazonnovalitesum"]["Properties"]
    # ${Entry} in plain strings and Ref Entry are the item itself; other intrinsics stay as written
    assert alarm["Description"] == "watching amazon.nova-lite=sum"
    assert alarm["Route"] == {"Fn::Select": [1, {"Fn::Split": ["=", "amazon.nova-lite=sum"]}]}
    assert alarm["Threshold"] == {"Ref": "Threshold"}


def test_render_resolves_intrinsics_with_defaults_and_pseudo_parameters() -> None:
    rendered = render(template=TEMPLATE)
    alarm = rendered.resources["Alarmanthropicclaude3haiku0chat"]["Properties"]
    assert alarm["AlarmName"] == "bedrock-watch-anthropic.claude-3-haiku:0"
    assert alarm["Route"] == "chat"
    assert alarm["Threshold"] == "5"  # CloudFormation passes scalar parameters as strings
    body = rendered.resources["Body"]["Properties"]
    assert json.loads(body["Json"]) == {"ns": "BW", "queue": "Queue.Arn"}
    assert body["Regions"] == "none"
    assert body["Literal"] == "${NotAVariable}-Queue"


def test_overrides_change_collections_and_conditions() -> None:
    rendered = render({"Models": "a.b=x", "Regions": "eu-west-1,us-west-2"}, template=TEMPLATE)
    assert [k for k in rendered.resources if k.startswith("Alarm")] == ["Alarmabx"]
    assert rendered.conditions == {"HasRegions": True}
    assert rendered.resources["Body"]["Properties"]["Regions"] == "eu-west-1,us-west-2"


def test_a_loop_generating_the_same_id_twice_is_an_error() -> None:
    with pytest.raises(TemplateError, match="generates Alarmab twice"):
        render({"Models": "a.b,a-b"}, template=TEMPLATE)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Ref": "Nope"}, "Ref to unknown name Nope"),
        ({"Fn::Join": [{"Ref": "Namespace"}, ["a", "b"]]}, "delimiter must be a literal string"),
        ({"Fn::If": ["Missing", 1, 2]}, "unknown condition Missing"),
        ({"Fn::GetAtt": ["Ghost", "Arn"]}, "unknown resource Ghost"),
    ],
)
def test_what_cloudformation_would_reject_is_rejected(value: Any, message: str) -> None:
    resolver = stand_ins(parameter_values(TEMPLATE), frozenset({"Queue"}))
    with pytest.raises(TemplateError, match=message):
        resolver.resolve(value)


def test_no_value_drops_list_items_and_properties() -> None:
    resolver = stand_ins(parameters={})
    assert resolver.resolve(["a", {"Ref": "AWS::NoValue"}]) == ["a"]
    assert resolver.resolve({"A": 1, "B": {"Ref": "AWS::NoValue"}}) == {"A": 1}
