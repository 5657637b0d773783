"""An approval link is single-use, but only once Step Functions took the answer: a click whose
answer fails for a reason other than "the workflow no longer waits" (throttled, unreachable,
refused) leaves the link working for the next click."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bedrock_watch.approvals import ApprovalNotPending, decide, request_approval

SECRET = b"link-signing-secret"
TABLE = "state"
NOW = datetime.now(UTC)  # the link is checked against the clock


class Sfn:
    """Step Functions' answer to SendTaskSuccess/SendTaskFailure: each call takes the next
    scripted outcome (an exception to raise, or None for accepted)."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.answered: list[tuple[str, str]] = []

    def _answer(self, kind: str, taskToken: str, **_: Any) -> None:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.answered.append((kind, taskToken))

    def send_task_success(self, **kwargs: Any) -> None:
        self._answer("success", **kwargs)

    def send_task_failure(self, **kwargs: Any) -> None:
        self._answer("failure", **kwargs)


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "SendTaskSuccess")


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _approve_token(dynamodb: Any) -> str:
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="remediation")["TopicArn"]
    links = request_approval(
        dynamodb=dynamodb,
        sns=sns,
        table_name=TABLE,
        topic_arn=topic,
        secret=SECRET,
        base_url="https://approve.example/",
        task_token="task-token-1",
        execution="run-1",
        request={"route": "chat", "action": "failover"},
        plan={"previous": "a", "why": "b"},
        target="global.x",
        timeout_seconds=900,
        now=NOW,
    )
    return urllib.parse.parse_qs(urllib.parse.urlsplit(links.approve).query)["token"][0]


def _click(dynamodb: Any, sfn: Sfn, token: str) -> Any:
    return decide(
        dynamodb=dynamodb,
        sfn=sfn,
        table_name=TABLE,
        secret=SECRET,
        token=token,
        decision="approve",
        decided_by="ana",
        now=NOW.timestamp() + 60,
    )


@pytest.mark.parametrize(
    "failure",
    [_client_error("ThrottlingException"), _client_error("AccessDeniedException"), ConnectionError("reset")],
    ids=["throttled", "refused", "unreachable"],
)
def test_a_click_step_functions_did_not_take_leaves_the_link_working(
    dynamodb: Any, failure: Exception
) -> None:
    token = _approve_token(dynamodb)
    sfn = Sfn(failure)
    with pytest.raises(type(failure)):
        _click(dynamodb, sfn, token)
    assert sfn.answered == []

    # The second click answers the workflow, and only then is the link used up
    result = _click(dynamodb, sfn, token)
    assert (result.route, result.target) == ("chat", "global.x")
    assert sfn.answered == [("success", "task-token-1")]
    with pytest.raises(ApprovalNotPending):
        _click(dynamodb, sfn, token)


def test_a_click_on_a_workflow_that_no_longer_waits_uses_the_link_up(dynamodb: Any) -> None:
    token = _approve_token(dynamodb)
    sfn = Sfn(_client_error("TaskTimedOut"))
    with pytest.raises(ApprovalNotPending):
        _click(dynamodb, sfn, token)
    with pytest.raises(ApprovalNotPending):
        _click(dynamodb, sfn, token)
    assert sfn.answered == []
