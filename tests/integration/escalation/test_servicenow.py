"""The ServiceNow channel through the real escalation workflow, against a fake instance
(sandbox.recorder.FakeServiceNow): one ServiceNow incident per bedrock-watch incident, created on
the page, updated on grouping and escalation, In Progress on an acknowledgement (from ServiceNow's
signed Business Rule call), resolved when every alarm is OK; failures retried and reported."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from bedrock_watch.webhooks import sign_servicenow
from sandbox.recorder import MALFORMED_STATUS_LINE, FakeServiceNow, Recorder, Reply
from tests.integration.escalation.stack import SN_WEBHOOK_SECRET, EscalationStack, policy, wait_for

pytestmark = pytest.mark.integration

SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
TABLE = "/servicenow/api/now/table/incident"
# devops now, seniors three seconds later, each on its own assignment group
TIERS = policy(
    ("devops", 0, ["servicenow:devops", "slack:devops"]), ("senior", 3, ["servicenow:senior"]), final=60
)


def _about(stack: EscalationStack, alarm: str, at: str, state: str = "ALARM") -> dict[str, Any]:
    event = stack.alarm_event(alarm, state=state, at=at)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {"ModelId": SONNET}
    return event


def _with_failures(stack: EscalationStack) -> dict[str, Any] | None:
    incident = stack.incident()
    return incident if incident.get("channelFailures") else None


def _servicenow_ack(stack: EscalationStack, incident_id: str, by: str) -> dict[str, Any]:
    body = json.dumps({"incident": incident_id, "acknowledgedBy": by})
    now = int(time.time())
    return stack.http(
        "POST",
        "/servicenow/webhook",
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-BedrockWatch-Timestamp": str(now),
            "X-BedrockWatch-Signature": sign_servicenow(SN_WEBHOOK_SECRET, now, body.encode()),
        },
    )


def test_one_servicenow_incident_follows_the_bedrock_watch_incident_from_page_to_resolution(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    instance = FakeServiceNow()
    recorder.respond(TABLE, instance)
    stack = make_stack(TIERS)
    throttle = stack.create_alarm("model-throttle-rate-critical", Area="traffic", Route="chat")
    errors = stack.create_alarm("model-server-error-rate-critical", Area="traffic", Route="chat")

    # When the throttle alarm pages devops
    stack.put(_about(stack, throttle, "2026-11-26T14:05:10.430+0000"))
    incident = stack.wait_paged("devops")

    # Then ServiceNow has one incident for it, for the devops group, urgent, with the page's facts
    [record] = wait_for("a ServiceNow incident", lambda: list(instance.records.values()) or None)
    assert record["correlation_id"] == incident["incidentId"]
    assert record["assignment_group"] == "group-devops"
    assert (record["urgency"], record["impact"]) == ("1", "2")
    assert record["short_description"].startswith(f"[CRITICAL] {throttle} is in ALARM")
    assert f"Alarm: {throttle}" in record["description"]
    assert "token=" not in record["description"]  # no acknowledge link in a record that outlives it
    [create] = [r for r in recorder.requests(TABLE) if r.method == "POST"]
    assert (
        create.headers["Authorization"] == "Basic " + base64.b64encode(b"bedrock-watch:sn-password").decode()
    )
    assert create.query["sysparm_input_display_value"] == ["true"]  # the group by name
    refs = wait_for("the sys_id kept", lambda: stack.incident().get("channelRefs") or None)
    assert refs["servicenow:devops"] == {"sys_id": record["sys_id"], "number": record["number"]}

    # When another alarm of the same cause joins, and the seniors are paged three seconds later
    stack.put(_about(stack, errors, "2026-11-26T14:06:10.430+0000"))
    stack.wait_paged("senior")

    # Then it is still one ServiceNow incident: a work note for the join, the seniors' group now
    assert len(instance.records) == 1
    assert record["assignment_group"] == "group-senior"
    assert any(f"{errors} is in ALARM too" in note for note in record["work_notes"])

    # When someone acknowledges it in ServiceNow (the Business Rule's signed call)
    response = _servicenow_ack(stack, incident["incidentId"], "Ana [code]<b>x</b>[/code] <!channel>")
    assert response["statusCode"] == 200
    wait_for("In Progress", lambda: record.get("state") == "2" or None)

    # Then bedrock-watch's incident is acknowledged, and the note cannot switch ServiceNow to HTML
    acknowledged = stack.incident()
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledgedVia"] == "servicenow"
    note = record["work_notes"][-1]
    assert "[code]" not in note
    assert "Ana [code\u200b]<b>x</b>[/code\u200b]" in note

    # When both alarms are OK again
    stack.put(_about(stack, throttle, "2026-11-26T14:20:00.000+0000", "OK"))
    stack.put(_about(stack, errors, "2026-11-26T14:20:00.000+0000", "OK"))

    # Then the ServiceNow incident is resolved with a close code and notes, and nothing more was created
    wait_for("resolved in ServiceNow", lambda: record.get("state") == "6" or None)
    assert record["close_code"] == "Solution provided"
    assert "Every alarm of this incident is OK again" in record["close_notes"]
    assert len(instance.records) == 1
    assert [r.method for r in recorder.requests(TABLE)].count("POST") == 1


def test_a_servicenow_answer_that_is_not_http_is_retried_then_reported_to_the_tier(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given the instance answers the lookup with a malformed status line, every time
    recorder.script(TABLE, Reply(raw=MALFORMED_STATUS_LINE), forever=True)
    stack = make_stack(policy(("devops", 0, ["servicenow:devops", "slack:devops"]), final=60))
    alarm = stack.create_alarm("model-throttle-rate-critical", Area="traffic", Route="chat")

    # When the alarm pages devops
    stack.put(_about(stack, alarm, "2026-11-26T14:05:10.430+0000"))
    incident = wait_for("the failure recorded", lambda: _with_failures(stack))

    # Then ServiceNow was tried three times, the failure is on the incident and Slack was told
    assert len(recorder.requests(TABLE)) == 3
    [failure] = incident["channelFailures"]
    assert failure["channel"] == "servicenow:devops"
    assert "transport error" in failure["error"]
    slack = wait_for("the failure notice", lambda: recorder.requests("/slack/devops")[1:] or None)
    assert "Could not page through: servicenow:devops" in json.dumps(slack[0].json())


def test_a_servicenow_channel_without_credentials_fails_loudly_on_the_incident(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    stack = make_stack(policy(("devops", 0, ["servicenow:devops", "slack:devops"]), final=60))
    secret = stack.channel_secret()
    secret["servicenow"]["password"] = ""
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId=stack.names["EscalationChannelSecret"], SecretString=json.dumps(secret)
    )
    alarm = stack.create_alarm("model-throttle-rate-critical", Area="traffic", Route="chat")
    stack.put(_about(stack, alarm, "2026-11-26T14:05:10.430+0000"))
    incident = wait_for("the failure recorded", lambda: _with_failures(stack))
    assert "servicenow.password is not set" in incident["channelFailures"][0]["error"]
    assert recorder.requests(TABLE) == []
