"""Every public function URL of template.yaml answers every request with a status — never an
unhandled exception, never a 5xx for input a client controls — checked with generated requests
(hypothesis): arbitrary methods, paths, headers (non-ASCII included), query strings and bodies
(valid or broken base64, non-UTF-8 bytes), and correctly signed vendor payloads of any JSON type."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedrock_watch.webhooks import sign_pagerduty, sign_servicenow, sign_slack
from sandbox.events import load_event
from sandbox.template import resources
from tests.integration.escalation.stack import (
    PD_WEBHOOK_SECRET,
    SLACK_SIGNING_SECRET,
    SN_WEBHOOK_SECRET,
    EscalationStack,
    policy,
)
from tests.integration.remediation.harness import Stack as RemediationStack

pytestmark = pytest.mark.integration

FUZZED = {"EscalationAckFunction", "RemediationApprovalLinkFunction"}
EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ACK_PATHS = ["/ack", "/slack/actions", "/pagerduty/webhook", "/servicenow/webhook", "/", "/ack/", "/x"]
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]

texts = st.text(max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str | None, bool]:
    """(body, isBase64Encoded): text, base64 of any bytes, or junk marked as base64."""
    kind = draw(st.sampled_from(["none", "text", "base64", "junk-base64", "form", "json"]))
    if kind == "none":
        return None, draw(st.booleans())
    if kind == "text":
        return draw(st.text(max_size=200)), False
    if kind == "base64":
        return base64.b64encode(draw(st.binary(max_size=200))).decode(), True
    if kind == "junk-base64":
        return draw(st.text(max_size=60)), True
    if kind == "form":
        fields = draw(
            st.dictionaries(st.sampled_from(["incident", "token", "by", "payload", "decision"]), texts)
        )
        return urllib.parse.urlencode(fields), False
    return json.dumps(draw(json_values)), False


@st.composite
def requests(draw: st.DrawFn, paths: list[str]) -> dict[str, Any]:
    event = json.loads(json.dumps(load_event("escalation/function-url-request")))
    method = draw(st.sampled_from(METHODS) | st.text(max_size=8))
    path = draw(st.sampled_from(paths) | st.text(max_size=30))
    event["rawPath"] = path
    event["requestContext"]["http"].update({"method": method, "path": path})
    headers = draw(st.dictionaries(texts, texts, max_size=4))
    for name in (
        "x-slack-signature",
        "x-slack-request-timestamp",
        "x-pagerduty-signature",
        "x-bedrockwatch-signature",
        "x-bedrockwatch-timestamp",
    ):
        if draw(st.booleans()):
            headers[name] = draw(texts)
    event["headers"] = headers
    query = draw(
        st.none() | st.dictionaries(st.sampled_from(["incident", "token", "decision", "x"]) | texts, texts)
    )
    event["queryStringParameters"] = query
    event["rawQueryString"] = urllib.parse.urlencode(query or {})
    event["body"], event["isBase64Encoded"] = draw(bodies())
    return event


@st.composite
def signed_webhooks(draw: st.DrawFn) -> dict[str, Any]:
    """A request a vendor signed correctly, carrying a payload of any JSON type."""
    event = json.loads(json.dumps(load_event("escalation/function-url-request")))
    vendor = draw(st.sampled_from(["slack", "pagerduty", "servicenow"]))
    value = draw(json_values)
    now = int(time.time())
    if vendor == "slack":
        body = urllib.parse.urlencode({"payload": json.dumps(value)})
        headers = {
            "x-slack-request-timestamp": str(now),
            "x-slack-signature": sign_slack(SLACK_SIGNING_SECRET, now, body.encode()),
        }
        path = "/slack/actions"
    elif vendor == "pagerduty":
        body = json.dumps(value)
        headers = {"x-pagerduty-signature": sign_pagerduty(PD_WEBHOOK_SECRET, body.encode())}
        path = "/pagerduty/webhook"
    else:
        body = json.dumps(value)
        headers = {
            "x-bedrockwatch-timestamp": str(now),
            "x-bedrockwatch-signature": sign_servicenow(SN_WEBHOOK_SECRET, now, body.encode()),
        }
        path = "/servicenow/webhook"
    event["rawPath"] = path
    event["requestContext"]["http"].update({"method": "POST", "path": path})
    event["headers"] = headers
    event["queryStringParameters"] = None
    event["body"], event["isBase64Encoded"] = body, False
    return event


def _answered(response: dict[str, Any]) -> None:
    assert isinstance(response, dict), response
    assert isinstance(response.get("statusCode"), int), response
    assert 200 <= response["statusCode"] < 500, response
    assert isinstance(response.get("body"), str)
    assert response.get("headers", {}).get("content-type")


def test_every_public_function_url_is_fuzzed_here() -> None:
    with_url = {
        k
        for k, v in resources(type_="AWS::Serverless::Function").items()
        if "FunctionUrlConfig" in v["Properties"]
    }
    assert with_url == FUZZED


@pytest.fixture
def ack_stack(make_stack: Callable[..., EscalationStack]) -> Iterator[tuple[EscalationStack, str]]:
    stack = make_stack(policy(("devops", 0, ["slack:devops"]), ("senior", 60, ["sns"]), final=60))
    alarm = stack.create_alarm("ModelErrors-chat")
    stack.put(stack.alarm_event(alarm))
    stack.wait_paged("devops")
    yield stack, alarm
    stack.put(stack.alarm_event(alarm, state="OK"))
    stack.finished()


@EXAMPLES
@given(event=requests(ACK_PATHS))
def test_the_acknowledge_url_answers_any_request_with_a_status(
    ack_stack: tuple[EscalationStack, str], event: dict[str, Any]
) -> None:
    stack, _ = ack_stack
    _answered(stack.invoke("EscalationAckFunction", event))
    assert stack.incident()["status"] == "open"


@EXAMPLES
@given(event=signed_webhooks())
def test_the_acknowledge_url_answers_signed_payloads_of_any_type(
    ack_stack: tuple[EscalationStack, str], event: dict[str, Any]
) -> None:
    stack, _ = ack_stack
    _answered(stack.invoke("EscalationAckFunction", event))
    assert stack.incident()["status"] == "open"


@pytest.fixture
def approval_stack(aws: None) -> RemediationStack:
    from sandbox.fake_bedrock import fake_converse
    from tests.integration.remediation.harness import deploy

    with fake_converse():
        return deploy()


@EXAMPLES
@given(event=requests(["/", "/approve", "/x"]))
def test_the_approval_url_answers_any_request_with_a_status(
    approval_stack: RemediationStack, event: dict[str, Any]
) -> None:
    response = approval_stack.invoke("RemediationApprovalLinkFunction", event)
    assert "errorType" not in response, response
    _answered(response)
