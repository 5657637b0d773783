"""Requests nobody should send, against the acknowledge endpoint deployed from template.yaml: every
one gets a status (a clean 4xx refusal), none crashes the function, none changes the incident, and
refusals are counted in a bounded way (one metric, a log line), never stored one item each."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from typing import Any

import pytest

from bedrock_watch.webhooks import sign_pagerduty, sign_slack
from sandbox.recorder import Recorder
from tests.integration.escalation.stack import (
    PD_WEBHOOK_SECRET,
    SLACK_SIGNING_SECRET,
    EscalationStack,
)

pytestmark = pytest.mark.integration


def _raw(stack: EscalationStack, event_changes: dict[str, Any]) -> dict[str, Any]:
    """A function-URL request with some fields replaced as a hostile client would send them."""
    from sandbox.events import load_event

    event = json.loads(json.dumps(load_event("escalation/function-url-request")))
    http = event["requestContext"]["http"]
    for key, value in event_changes.items():
        if key in ("method", "path"):
            http[key] = value
            if key == "path":
                event["rawPath"] = value
        else:
            event[key] = value
    return stack.invoke("EscalationAckFunction", event)


def _slack_signed(body: str, secret: str = SLACK_SIGNING_SECRET) -> dict[str, str]:
    now = int(time.time())
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(now),
        "x-slack-signature": sign_slack(secret, now, body.encode()),
    }


def _refusal_items(stack: EscalationStack) -> list[dict[str, Any]]:
    return [i for i in stack.table.scan(ConsistentRead=True)["Items"] if str(i["pk"]).startswith("REFUSAL")]


@pytest.mark.parametrize(
    "query",
    [
        {"incident": "inc-x", "token": "é.ü"},  # non-ASCII token: hmac.compare_digest refuses str
        {"incident": "inc-\u2603", "token": "abc.\u00ff\u00fe"},
        {"incident": "", "token": ""},
        {"incident": "inc-x", "token": "a" * 5000},
    ],
    ids=["non-ascii-token", "non-ascii-incident-and-mac", "empty", "huge"],
)
def test_a_malformed_link_is_refused_with_403_not_a_crash(
    paged: tuple[EscalationStack, dict[str, Any]], query: dict[str, str]
) -> None:
    stack, before = paged

    response = stack.http("GET", "/ack", query=query)

    assert response["statusCode"] == 403
    assert stack.incident() == before


@pytest.mark.parametrize(
    ("body", "encoded"),
    [
        ("not base64 at all!!", True),
        (base64.b64encode(b"\xff\xfe\xfa not utf-8").decode(), True),
    ],
    ids=["not-base64", "not-utf8"],
)
def test_a_body_that_cannot_be_decoded_is_refused_with_400(
    paged: tuple[EscalationStack, dict[str, Any]], body: str, encoded: bool
) -> None:
    stack, before = paged

    link = _raw(stack, {"method": "POST", "path": "/ack", "body": body, "isBase64Encoded": encoded})
    assert link["statusCode"] == 400, link
    assert "body" in link["body"]
    # the webhooks check the signature over the raw bytes first: unsigned, they are refused either way
    for path in ("/slack/actions", "/pagerduty/webhook"):
        response = _raw(stack, {"method": "POST", "path": path, "body": body, "isBase64Encoded": encoded})
        assert response["statusCode"] in (400, 403), (path, response)
    assert stack.incident() == before


@pytest.mark.parametrize(
    "header",
    ["v0=\u00e9\u00e9", "v0=" + "ff" * 32 + "\u2603"],
    ids=["non-ascii", "trailing-snowman"],
)
def test_a_non_ascii_signature_header_is_refused(
    paged: tuple[EscalationStack, dict[str, Any]], header: str
) -> None:
    stack, before = paged
    body = urllib.parse.urlencode({"payload": "{}"})

    slack = stack.http(
        "POST",
        "/slack/actions",
        body=body,
        headers={"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": header},
    )
    pagerduty = stack.http(
        "POST", "/pagerduty/webhook", body="{}", headers={"X-PagerDuty-Signature": header.replace("v0", "v1")}
    )

    assert (slack["statusCode"], pagerduty["statusCode"]) == (403, 403)
    assert stack.incident() == before


@pytest.mark.parametrize(
    "payload",
    [
        "[]",
        '"a string"',
        "42",
        "null",
        '{"actions": "not a list"}',
        '{"actions": [1, "x", null]}',
        '{"actions": [{"action_id": "bedrock_watch_ack", "value": {"a": 1}}], "user": "x"}',
    ],
)
def test_a_correctly_signed_slack_payload_of_an_unexpected_type_gets_a_clean_answer(
    paged: tuple[EscalationStack, dict[str, Any]], payload: str
) -> None:
    stack, before = paged
    body = urllib.parse.urlencode({"payload": payload})

    response = stack.http("POST", "/slack/actions", body=body, headers=_slack_signed(body))

    assert response["statusCode"] in (200, 400, 403), response
    assert stack.incident() == before


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '"x"',
        '{"event": "x"}',
        '{"event": {"event_type": "incident.acknowledged", "data": []}}',
        '{"event": {"event_type": "incident.acknowledged", "data": {"incident_key": ["a"]}, "agent": 5}}',
        "not json",
    ],
)
def test_a_correctly_signed_pagerduty_webhook_of_an_unexpected_type_gets_a_clean_answer(
    paged: tuple[EscalationStack, dict[str, Any]], body: str
) -> None:
    stack, before = paged
    headers = {"X-PagerDuty-Signature": sign_pagerduty(PD_WEBHOOK_SECRET, body.encode())}

    response = stack.http("POST", "/pagerduty/webhook", body=body, headers=headers)

    assert response["statusCode"] in (200, 400), response
    assert stack.incident() == before


def test_refused_requests_are_counted_not_stored_one_item_each(
    paged: tuple[EscalationStack, dict[str, Any]],
) -> None:
    stack, before = paged

    # When an anonymous client sends fifty forged links
    for n in range(50):
        assert (
            stack.http("GET", "/ack", query={"incident": f"inc-{n}", "token": f"x.{n}"})["statusCode"] == 403
        )

    # Then the incident table holds no item per refusal (it would fill for 90 days otherwise)
    assert _refusal_items(stack) == []
    # and the refusals were counted: one metric (RefusedRequests, no dimensions) the logs carry as EMF
    documents = stack.emf_documents("EscalationAckFunction", "RefusedRequests")
    assert sum(d["RefusedRequests"] for d in documents) == 50
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]] for d in documents)
    assert {d["reason"] for d in documents} == {"signature does not match (forged or tampered link)"}
    assert stack.incident() == before


def test_the_name_typed_on_the_ack_form_cannot_ping_or_link_in_slack(
    paged: tuple[EscalationStack, dict[str, Any]], recorder: Recorder
) -> None:
    stack, _ = paged
    page = recorder.requests("/slack/devops")[0].json()
    button = next(b for b in page["blocks"] if b["type"] == "actions")["elements"][0]
    link = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(button["url"]).query))
    typed = "<!channel> <https://evil.example/login|Click to re-authenticate> & more"

    response = stack.http(
        "POST",
        "/ack",
        body=urllib.parse.urlencode({**link, "by": typed}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response["statusCode"] == 200
    stack.finished()
    notice = recorder.requests("/slack/devops")[-1].json()
    text = json.dumps(notice)
    assert "<!channel>" not in text
    assert "<https://evil.example" not in text
    assert "&lt;!channel&gt;" in text
    # the HTML answer escapes it too
    assert "<!channel>" not in response["body"]
    assert stack.incident()["acknowledgedBy"].startswith("<!channel>")  # stored as typed
