"""Slack with a bot token (chat.postMessage): one thread per incident. The page is the parent; an
alarm joining is a quiet reply, the acknowledgement and the resolution are replies also shown in
the channel. Slack's ok=false answers are delivery failures like any other."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from sandbox.recorder import Recorded, Recorder, Reply
from tests.integration.escalation.stack import EscalationStack, policy, wait_for

pytestmark = pytest.mark.integration

SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
API = "/slack/api/chat.postMessage"
ONE_TIER = policy(("devops", 0, ["slack:devops", "sns"]), final=60)


def _about(stack: EscalationStack, alarm: str, at: str, state: str = "ALARM") -> dict[str, Any]:
    event = stack.alarm_event(alarm, state=state, at=at)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {"ModelId": SONNET}
    return event


def _with_bot_token(stack: EscalationStack, recorder: Recorder) -> None:
    secret = stack.channel_secret()
    secret["slack"] |= {
        "botToken": "xoxb-test",
        "channels": {"devops": "C0DEVOPS"},
        "apiUrl": f"{recorder.url}/slack/api",
    }
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId=stack.names["EscalationChannelSecret"], SecretString=json.dumps(secret)
    )


class FakeSlackApi:
    def __init__(self) -> None:
        self._ts = (f"1795701900.{n:06d}" for n in itertools.count(1))

    def __call__(self, request: Recorded) -> Reply:
        body = {"ok": True, "channel": request.json()["channel"], "ts": next(self._ts)}
        return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def test_an_incident_is_one_slack_thread_from_page_to_resolution(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    recorder.respond(API, FakeSlackApi())
    stack = make_stack(ONE_TIER)
    _with_bot_token(stack, recorder)
    throttle = stack.create_alarm("model-throttle-rate-critical", Area="traffic", Route="chat")
    errors = stack.create_alarm("model-server-error-rate-critical", Area="traffic", Route="chat")

    # When the throttle alarm pages, another alarm of the same model joins, and both go OK
    stack.put(_about(stack, throttle, "2026-11-26T14:05:10.430+0000"))
    stack.wait_paged("devops")
    stack.put(_about(stack, errors, "2026-11-26T14:06:10.430+0000"))
    wait_for("the update", lambda: len(recorder.requests(API)) >= 2 or None)
    stack.put(_about(stack, throttle, "2026-11-26T14:20:00.000+0000", "OK"))
    stack.put(_about(stack, errors, "2026-11-26T14:20:00.000+0000", "OK"))
    wait_for("resolved", lambda: stack.incident()["status"] == "resolved" or None)
    posts = wait_for(
        "three posts", lambda: recorder.requests(API) if len(recorder.requests(API)) >= 3 else None
    )

    # Then the page is the thread's parent, the update a quiet reply, the resolution a broadcast reply
    page, update, resolved = (p.json() for p in posts)
    assert posts[0].headers["Authorization"] == "Bearer xoxb-test"
    assert page["channel"] == "C0DEVOPS"
    assert "thread_ts" not in page
    assert page["text"].startswith(f"[CRITICAL] {throttle} is in ALARM")
    assert (update["thread_ts"], update["reply_broadcast"]) == ("1795701900.000001", False)
    assert update["text"].startswith(f"[CRITICAL] Update on {throttle}")
    assert (resolved["thread_ts"], resolved["reply_broadcast"]) == ("1795701900.000001", True)
    assert resolved["text"].startswith("[RESOLVED]")
    assert stack.incident()["channelRefs"]["slack:devops"] == {
        "channel": "C0DEVOPS",
        "ts": "1795701900.000001",
    }
    assert recorder.requests("/slack/devops") == []  # the webhook is not used when the bot can post


def test_a_slack_api_refusal_is_a_failed_delivery_recorded_on_the_incident(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given the bot is not in the channel (Slack answers HTTP 200 with ok=false)
    refusal = json.dumps({"ok": False, "error": "not_in_channel"}).encode()
    recorder.script(API, Reply(200, refusal, {"Content-Type": "application/json"}), forever=True)
    stack = make_stack(ONE_TIER)
    _with_bot_token(stack, recorder)
    alarm = stack.create_alarm("model-throttle-rate-critical", Area="traffic", Route="chat")

    stack.put(_about(stack, alarm, "2026-11-26T14:05:10.430+0000"))

    incident = wait_for(
        "the failure", lambda: stack.incident() if stack.incident().get("channelFailures") else None
    )
    [failure] = incident["channelFailures"]
    assert failure["channel"] == "slack:devops"
    assert "not_in_channel" in failure["error"]
    assert any("Could not page through: slack:devops" in m["Message"] for m in stack.sns_messages())
