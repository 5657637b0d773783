"""template.yaml goes through CloudFormation's transforms as AWS runs them (tests.infra.translated).

moto and the sandbox read the SAM template directly, so a property SAM rejects once
AWS::LanguageExtensions has resolved it (an event Pattern that became a string), or a loop that
unrolls differently on AWS than in the sandbox, would only show in a failed change set.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.cfn_expand import expand_foreach, parameter_values
from sandbox.template import load_template
from tests.infra.translated import Deployment, TranslationError, language_extensions, translate

# Parameter sets that switch on every condition and loop the template has.
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "every option on": {
        "MonitoredRegions": ["eu-west-1", "us-west-2"],
        "EscalationAlarmPrefixes": ["payments-", "search-"],
        "EnableInvocationLogging": "true",
        "CreateInvocationLogGroup": "true",
        "InvocationLogLargeDataToS3": "true",
        "MonitoredModels": [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0=chat=2000000",
            "amazon.nova-pro-v1:0=chat=1000000",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6=summarise=500000",
        ],
    },
}


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_both_transforms_accept_the_template(name: str) -> None:
    # Given the template and a configuration; When CloudFormation runs its transforms
    template = translate(CONFIGURATIONS[name])

    # Then nothing of SAM or of the language extensions is left for CloudFormation to reject
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::Serverless::")}
    assert not [k for k in template["Resources"] if k.startswith("Fn::ForEach::")]
    assert "Transform" not in template or not template["Transform"]


def test_an_event_pattern_that_resolves_to_text_fails_the_sam_transform() -> None:
    # Given a SAM event whose Pattern is built with !Sub, as the escalation rules once were
    template = load_template()
    function = json.loads(json.dumps(template["Resources"]["EscalationEventsFunction"]))
    function["Properties"]["Events"]["Built"] = {
        "Type": "EventBridgeRule",
        "Properties": {"Pattern": {"Fn::Sub": '{"source": ["${AWS::StackName}"]}'}},
    }
    broken = {**template, "Resources": {**template["Resources"], "EscalationEventsFunction": function}}
    deployment = Deployment()

    # When AWS::LanguageExtensions has resolved it, Then the SAM transform refuses the deployment
    from tests.infra.translated import sam_transform

    with pytest.raises(TranslationError, match="Property 'Pattern' should be a map"):
        sam_transform(language_extensions(broken, deployment), deployment)


def _unrolled(overrides: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(logical id -> type) as the sandbox unrolls the loops, and as AWS's transform does."""
    template = load_template()
    ours = expand_foreach(template, parameter_values(template, overrides))["Resources"]
    theirs = language_extensions(template, Deployment.of(overrides))["Resources"]
    return {k: v["Type"] for k, v in ours.items()}, {k: v["Type"] for k, v in theirs.items()}


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_the_sandbox_unrolls_fn_foreach_as_aws_does(name: str) -> None:
    ours, theirs = _unrolled(CONFIGURATIONS[name])

    assert ours == theirs


def test_entries_that_lose_their_difference_in_a_logical_id_are_refused_by_aws_and_the_sandbox() -> None:
    # Given two MonitoredModels entries that differ only in punctuation, which &{Entry} drops
    overrides = {"MonitoredModels": ["a.b=chat=1100", "a.b=chat1=100"]}

    # When the loop unrolls, Then AWS's transform and the sandbox both refuse, naming the clash
    with pytest.raises(TranslationError, match="conflict"):
        language_extensions(load_template(), Deployment.of(overrides))
    from sandbox.cfn_expand import TemplateError

    with pytest.raises(TemplateError, match="twice"):
        _unrolled(overrides)
